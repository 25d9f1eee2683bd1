#!/usr/bin/env bash
# dscp_e2e: DSCP and ECN, stampd to stampd, IPv4 and IPv6.
#
#   dscp_e2e.sh STAMPD STAMPCTL
#
# The sender runs sessions with DSCP 46 (EF) and ECN ECT(1). The reflector
# first copies (its default): the replies must carry 46 / ECT(1) too. A
# reload to `dscp = 10, ecn = 0` must give DSCP 10 / Not-ECT from the next
# run on, and `dscp = "copy", ecn = 3` DSCP 46 / CE, which the sender counts
# as CE replies. Each time the sender's own report (summary JSON and
# per-reply lines) is checked and, when tshark is installed, a capture on
# the reflector's side judges both directions independently, IPv4 header
# checksums of the rewritten replies included. Exit 77: skipped, with the
# reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" jq "$@"

e2e_hosts dscp 46 A sender B reflector
e2e_sender_config a "$NS_A" <<EOT
[[session]]
name = "af41-v6"
target = "$B6"
count = 10
interval = "5ms"
dscp = 34
ecn = 2
EOT
reflector_config() { # DSCP ECN (TOML values)
  e2e_config b "$NS_B" <<EOT
[reflector]
dscp = $1
ecn = $2
EOT
}
reflector_config '"copy"' '"copy"'
e2e_start "$NS_B" b
e2e_start "$NS_A" a
ctl() { e2e_ctl "$NS_A" a "$@"; }
rctl() { e2e_ctl "$NS_B" b "$@"; }

HAVE_TSHARK=0
if command -v tshark >/dev/null; then
  HAVE_TSHARK=1
else
  echo "tshark is not installed: the wire is judged by the sender's reports only"
fi
TSHARK_PID=
capture_start() { # NAME
  [[ $HAVE_TSHARK == 1 ]] || return 0
  in_ns "$NS_B" tshark -q -n -i "$NS_B" -f "udp port 862" -w "$E2E_WORK/$1.pcapng" \
    2>"$E2E_WORK/$1.tshark.err" &
  TSHARK_PID=$!
  E2E_PIDS+=("$TSHARK_PID")
  for _ in $(seq 100); do
    # "Capturing on" comes a moment before the first packet is caught.
    grep -q 'Capturing on' "$E2E_WORK/$1.tshark.err" && sleep 1 && return 0
    kill -0 "$TSHARK_PID" 2>/dev/null || fail "tshark did not start: $(cat "$E2E_WORK/$1.tshark.err")"
    sleep 0.1
  done
  fail "tshark did not start capturing within 10 s"
}
# capture_check NAME PACKETS REQ_DSCP REQ_ECN REPLY_DSCP REPLY_ECN: the
# capture holds PACKETS requests and as many replies, each request marked
# REQ_DSCP/REQ_ECN, each reply REPLY_DSCP/REPLY_ECN, every IPv4 header
# checksum good.
capture_check() {
  [[ $HAVE_TSHARK == 1 ]] || return 0
  local name=$1
  # libpcap hands over the last packets when its ring block times out.
  sleep 1.5
  # SIGTERM, not SIGINT: a background job of a script ignores SIGINT.
  kill -TERM "$TSHARK_PID"
  for _ in $(seq 100); do kill -0 "$TSHARK_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$TSHARK_PID" 2>/dev/null && fail "tshark did not stop within 10 s of SIGTERM"
  wait "$TSHARK_PID" 2>/dev/null || true
  in_ns "$NS_B" tshark -n -r "$E2E_WORK/$name.pcapng" -o ip.check_checksum:TRUE -T fields \
    -E separator=, -e udp.srcport -e udp.dstport -e ip.dsfield.dscp -e ip.dsfield.ecn \
    -e ipv6.tclass.dscp -e ipv6.tclass.ecn -e ip.checksum.status \
    >"$E2E_WORK/$name.csv" 2>>"$E2E_WORK/$name.tshark.err"
  awk -F, -v n="$2" -v qd="$3" -v qe="$4" -v rd="$5" -v re="$6" '
    function bad(what) { nbad++; if (nbad <= 5) print "  " what ": " $0 }
    {
      v6 = ($3 == ""); dscp = v6 ? $5 : $3; ecn = v6 ? $6 : $4
      if ($2 == 862) {
        req++; if (v6) req6++
        if (dscp != qd || ecn != qe) bad("request not DSCP " qd " ECN " qe)
      } else if ($1 == 862) {
        rep++; if (v6) rep6++
        if (dscp != rd || ecn != re) bad("reply not DSCP " rd " ECN " re)
      } else bad("neither request nor reply")
      if (!v6 && $7 != 1) bad("IPv4 header checksum not good")
    }
    END {
      printf "tshark: %d requests (%d IPv6) DSCP/ECN %s/%s, %d replies (%d IPv6) %s/%s, %d bad\n",
             req, req6, qd, qe, rep, rep6, rd, re, nbad
      exit !(req == n && rep == n && req6 > 0 && rep6 > 0 && nbad == 0)
    }' "$E2E_WORK/$name.csv" || fail "$name: the capture does not show what it must (see above)"
}

# run NAME DSCP ECN WANT_DSCP WANT_ECN TARGET...: one 20-packet session per
# TARGET sent with DSCP/ECN; the sender must report every reply as
# WANT_DSCP/WANT_ECN.
run() {
  local name=$1 dscp=$2 ecn=$3 wd=$4 we=$5 target
  shift 5
  for target in "$@"; do
    ctl --json session start --target "$target" --count 20 --interval 5ms --timeout 1s \
      --dscp "$dscp" --ecn "$ecn" >"$E2E_WORK/$name.json"
    jq -c '{target, sent, received, dscp, ecn, reply_dscp, reply_ecn, reply_ecn_ce}' \
      "$E2E_WORK/$name.json"
    local ce=0
    [[ $we == 3 ]] && ce=20
    jq -e --argjson d "$dscp" --argjson e "$ecn" --arg wd "$wd" --arg we "$we" --argjson ce "$ce" \
      '.sent == 20 and .received == 20 and .dscp == $d and .ecn == $e and
       .reply_dscp == {($wd): 20} and .reply_ecn == {($we): 20} and .reply_ecn_ce == $ce' \
      "$E2E_WORK/$name.json" >/dev/null ||
      fail "$name to $target: replies not reported as DSCP $wd / ECN $we"
  done
}

step "reflector copies: requests DSCP 46 / ECT(1), replies the same (IPv4, IPv6)"
rctl --json status | jq -e '.reflector.dscp == "copy" and .reflector.ecn == "copy"' >/dev/null ||
  fail "status does not show the copy policy"
rctl status | grep -q 'reply DSCP copy, ECN copy' || fail "status text lacks the DSCP/ECN policy"
capture_start copy
run copy 46 1 46 1 "$B4" "$B6"
ctl session start --target "$B4" --count 3 --interval 5ms --dscp 46 --ecn 1 >"$E2E_WORK/copy.txt"
cat "$E2E_WORK/copy.txt"
[[ $(grep -c 'dscp=46 ecn=ECT(1)' "$E2E_WORK/copy.txt") == 3 ]] ||
  fail "the per-reply lines do not show dscp=46 ecn=ECT(1)"
grep -q '^DSCP/ECN sent 46/ECT(1); replies: DSCP 46 (3); ECN ECT(1) (3)$' "$E2E_WORK/copy.txt" ||
  fail "the summary does not show DSCP/ECN sent and received"
capture_check copy 43 46 1 46 1

step "a configured IPv6 session (dscp = 34, ecn = 2) comes back AF41 / ECT(0)"
ctl --json session start af41-v6 >"$E2E_WORK/af41.json"
jq -c '{target, received, dscp, ecn, reply_dscp, reply_ecn}' "$E2E_WORK/af41.json"
jq -e '.received == 10 and .dscp == 34 and .ecn == 2 and .reply_dscp == {"34": 10} and
       .reply_ecn == {"2": 10}' "$E2E_WORK/af41.json" >/dev/null ||
  fail "configured session: DSCP/ECN not sent or not reported"

step "reload the reflector to dscp = 10, ecn = 0: replies DSCP 10 / Not-ECT"
reflector_config 10 0
rctl reload
rctl --json status | jq -e '.reflector.dscp == 10 and .reflector.ecn == 0' >/dev/null ||
  fail "status does not show dscp 10, ecn 0 after the reload"
rctl status | grep -q 'reply DSCP 10, ECN 0 (Not-ECT)' || fail "status text lacks the new policy"
capture_start set
run set 46 1 10 0 "$B4" "$B6"
capture_check set 40 46 1 10 0

step "reload to dscp = \"copy\", ecn = 3: replies DSCP 46 / CE, counted as CE"
reflector_config '"copy"' 3
rctl reload
capture_start ce
run ce 46 1 46 3 "$B4" "$B6"
capture_check ce 40 46 1 46 3
ctl session start --target "$B6" --count 2 --interval 5ms --dscp 46 --ecn 1 >"$E2E_WORK/ce.txt"
grep -q '^note: 2 replies arrived marked ECN CE' "$E2E_WORK/ce.txt" ||
  fail "the text summary does not point out the CE replies: $(cat "$E2E_WORK/ce.txt")"

step "every reply was reflected in the kernel and none dropped"
rctl --json status >"$E2E_WORK/status.json"
jq -c '.reflector.interfaces[] | {rx, reflected, drops}' "$E2E_WORK/status.json"
jq -e '[.reflector.interfaces[] | .rx == .reflected and ([.drops[]] | add) == 0] | all' \
  "$E2E_WORK/status.json" >/dev/null || fail "the reflector dropped requests"
echo "dscp_e2e: ok"
