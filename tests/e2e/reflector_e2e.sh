#!/usr/bin/env bash
# reflector_e2e: the real stampd reflecting real packets across a veth pair.
#
#   reflector_e2e.sh STAMPD STAMP_PROBE [STAMP_TC_HOOKS]
#
# Two throwaway network namespaces, stpe2e<pid>s (sender) and stpe2e<pid>r
# (reflector), joined by a veth pair with IPv4 and IPv6 addresses. stampd
# attaches its tc programs to the reflector's veth; stamp_probe, a plain
# socket sender, sends 1000 packets of mixed sizes over each address family
# and checks every reply. TX checksum offload is off on both ends, so the
# sender's socket (and tshark, when installed) judge the reflector's
# checksums instead of trusting a partial one. Last, stampd gets SIGTERM and
# must exit 0 with the reflector still pinned and answering; a kill -9 and a
# restart (which adopts the pins) must not interrupt it either; a second
# stampd on the same bpffs must refuse; `stampd --teardown` must remove it. STAMP_TC_HOOKS lists tcx programs,
# which Debian 12's bpftool (7.1) cannot; without it `bpftool net show` is
# asked, which is only good for a bpftool that knows tcx (7.3 and later).
#
# Commands run in a namespace through `nsenter --net=`, not `ip netns exec`,
# which would remount /sys. Exit 77 means skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD PROBE [TC_HOOKS]" tc "$@"
[[ -n $TC_HOOKS ]] || command -v bpftool >/dev/null || skip "bpftool is not installed"
[[ -x $STAMPD && -x $PROBE ]] || fail "$STAMPD or $PROBE is not executable"

PROBE_ARGS=(--count 1000 --sizes 14,40,44,100,512,1400 --interval 100us --timeout 2s
            --ttl 64 --ssid 21332)
# A capture kept by an earlier failed run would only mislead.
rm -f "$PWD/reflector_e2e-failed.pcapng"
# Requests and replies of both probe runs.
CAPTURE_PACKETS=4000
TSHARK_PID=

e2e_hosts e2e 77 S sender R reflector
VETH_S=$NS_S # interface names are per namespace; reuse the namespace names
VETH_R=$NS_R
in_s() { in_ns "$NS_S" "$@"; }
in_r() { in_ns "$NS_R" "$@"; }

# Every BPF program on the reflector veth's tc hooks: tcx links and, for the
# clsact fallback, cls_bpf filters.
reflector_hooks() {
  if [[ -n $TC_HOOKS ]]; then
    in_r "$TC_HOOKS" "$VETH_R"
  else
    in_r bpftool net show dev "$VETH_R" | grep -E 'tcx/|stamp_' || true
  fi
  in_r tc filter show dev "$VETH_R" ingress | grep -E 'bpf' || true
  in_r tc filter show dev "$VETH_R" egress | grep -E 'bpf' || true
}

# A failed check that should not stop the rest: the tshark verdict and the
# shutdown checks still help to explain it.
FAILED=0
check_failed() {
  echo "FAIL: $*" >&2
  FAILED=1
}

# The private paths keep this run apart from any other stampd on the host.
e2e_config r "$NS_R" <<EOF
[reflector]
ports = [862]
# The probe's 14- and 40-octet requests are TWAMP-Light's short ones.
answer_short_requests = true
EOF

# On a freshly booted host without systemd nothing has mounted bpffs yet:
# stampd mounts it, and says so once it runs.
bpffs_was_mounted=0
[[ $(stat -f -c %T /sys/fs/bpf 2>/dev/null) == bpf_fs ]] && bpffs_was_mounted=1
step "starting stampd in $NS_R (bpffs mounted before: $bpffs_was_mounted)"
e2e_start "$NS_R" r
STAMPD_PID=$E2E_STAMPD_PID
grep ' running: ' "$E2E_WORK/r.log"
if [[ $bpffs_was_mounted == 1 ]]; then
  grep -q 'mounted bpffs' "$E2E_WORK/r.log" && fail "stampd says it mounted bpffs, which was mounted"
else
  grep -q 'info: mounted bpffs at /sys/fs/bpf$' "$E2E_WORK/r.log" ||
    fail "stampd started where bpffs was not mounted without saying that it mounted it"
fi

hooks=$(reflector_hooks)
echo "$hooks"
grep -q stamp_refl_in <<<"$hooks" && grep -q stamp_refl_out <<<"$hooks" ||
  fail "stampd says it is running but $VETH_R lacks the reflector programs: '$hooks'"

if command -v tshark >/dev/null; then
  step "capturing on $VETH_S with tshark"
  # nsenter execs tshark, so $! is tshark itself. The probes burst 4,000
  # packets of up to 1,400 octets in a fraction of a second; the default
  # 2 MiB capture buffer lost some of them on a busy machine (dumpcap not
  # scheduled in time), so the buffer holds them all: -B 64 (MiB).
  nsenter --net=/run/netns/"$NS_S" tshark -q -n -i "$VETH_S" -f "udp port 862" -B 64 \
    -c "$CAPTURE_PACKETS" -w "$E2E_WORK/capture.pcapng" \
    2>"$E2E_WORK/tshark.err" &
  TSHARK_PID=$!
  E2E_PIDS+=("$TSHARK_PID")
  for _ in $(seq 100); do
    grep -q 'Capturing on' "$E2E_WORK/tshark.err" && break
    kill -0 "$TSHARK_PID" 2>/dev/null || { cat "$E2E_WORK/tshark.err"; fail "tshark did not start"; }
    sleep 0.1
  done
  grep -q 'Capturing on' "$E2E_WORK/tshark.err" || fail "tshark did not start capturing within 10 s"
else
  echo "tshark is not installed: skipping the independent checksum check"
fi

step "stamp_probe over IPv4 to $R4"
in_s "$PROBE" --target "$R4" "${PROBE_ARGS[@]}" || check_failed "IPv4 probe failed"
step "stamp_probe over IPv6 to $R6"
in_s "$PROBE" --target "$R6" "${PROBE_ARGS[@]}" || check_failed "IPv6 probe failed"

if [[ -n $TSHARK_PID ]]; then
  step "judging the capture with tshark"
  # tshark stops by itself after the expected packets (-c); libpcap may hand
  # over the last ones only when its ring block times out, so give it time.
  for _ in $(seq 50); do kill -0 "$TSHARK_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$TSHARK_PID" 2>/dev/null; then
    kill -TERM "$TSHARK_PID" # (background jobs of a script ignore SIGINT)
  fi
  wait "$TSHARK_PID" || true
  TSHARK_PID=
  # Port 862 is TWAMP-Test to Wireshark only when told; its dissector reads
  # the STAMP base packets (RFC 8762 kept the TWAMP-Light layout).
  tshark_read() {
    in_s tshark -n -r "$E2E_WORK/capture.pcapng" -o udp.check_checksum:TRUE \
      -o ip.check_checksum:TRUE -d udp.port==862,twamp.test "$@" 2>>"$E2E_WORK/tshark.err"
  }
  # One line per packet. Checksum status: 1 good, 0 bad, 2 unverified.
  tshark_read -T fields -E separator=, -e udp.srcport -e udp.dstport -e ip.checksum.status \
    -e udp.checksum.status -e ip.ttl -e ipv6.hlim -e twamp.test.seq_number \
    -e twamp.test.sender_seq_number -e twamp.test.sender_ttl >"$E2E_WORK/capture.csv"
  tshark_read -Y '_ws.malformed || _ws.expert.severity >= "error"' >"$E2E_WORK/capture.bad"
  awk -F, -v total_want="$CAPTURE_PACKETS" -v errors="$(wc -l <"$E2E_WORK/capture.bad")" '
    function bad(what) { nbad++; if (nbad <= 5) print "  " what ": " $0 }
    { n++ }
    $4 != 1 { bad("UDP checksum not good") }
    $3 != "" && $3 != 1 { bad("IPv4 header checksum not good") }
    $2 == 862 { req++; if ($7 == "") bad("request not decoded") }
    $1 == 862 {
      rep++
      if ($7 == "" || $8 != $7) bad("reply not decoded as the reflection of its request")
      if ($9 != 64) bad("reply Session-Sender TTL is not 64")
      if ($5 $6 != 255) bad("reply IP TTL / Hop Limit is not 255")
    }
    END {
      printf "tshark: %d packets (%d requests, %d replies), %d bad, %d malformed or " \
             "in error\n", n, req, rep, nbad, errors
      # Every packet captured is judged. The capture itself may miss some
      # of the burst on a busy machine (dumpcap not scheduled in time; seen
      # at 2,802 of 4,000 beside a compiler): stamp_probe above already
      # counted every reply, so a shortfall here is the capture'"'"'s, and at
      # least half of the packets, requests and replies, must be there.
      if (n < total_want)
        printf "tshark: %d packets not captured (capture loss, not the reflector'"'"'s)\n",
               total_want - n
      exit !(n * 2 >= total_want && req * 4 >= total_want && rep * 4 >= total_want &&
             nbad == 0 && errors == 0)
    }' "$E2E_WORK/capture.csv" || {
    head -n 5 "$E2E_WORK/capture.bad"
    check_failed "tshark disagrees with the reflector's packets"
  }
  if [[ $FAILED -ne 0 ]]; then
    cp "$E2E_WORK/capture.pcapng" "$PWD/reflector_e2e-failed.pcapng" &&
      echo "capture kept as $PWD/reflector_e2e-failed.pcapng"
  fi
fi

short_probe() { # what: the reflector must still answer, whatever the daemon does
  in_s "$PROBE" --target "$R4" --count 100 --sizes 44,100 --interval 100us --timeout 1s \
    --ttl 64 >"$E2E_WORK/probe.out" 2>&1 || { cat "$E2E_WORK/probe.out"; check_failed "$1"; return; }
  tail -n 1 "$E2E_WORK/probe.out"
}
count_refl_in() { reflector_hooks | grep -c stamp_refl_in || true; }

step "a second stampd on the same bpffs refuses to start"
rc=0
in_r "$STAMPD" --config "$E2E_WORK/r.toml" >"$E2E_WORK/second.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q 'another stampd is running' "$E2E_WORK/second.log" ||
  { cat "$E2E_WORK/second.log"; check_failed "second stampd: exit $rc, not a clear refusal"; }

step "kill -9: the pinned reflector keeps answering"
kill -KILL "$STAMPD_PID"
wait "$STAMPD_PID" 2>/dev/null || true
short_probe "no answers after stampd was killed"

step "restart: stampd adopts the pinned links instead of attaching again"
e2e_start "$NS_R" r
STAMPD_PID=$E2E_STAMPD_PID
grep -q 'reflector adopted on' "$E2E_WORK/r.log" || check_failed "stampd did not adopt its pins"
[[ $(count_refl_in) -eq 1 ]] || check_failed "expected one stamp_refl_in on $VETH_R: $(reflector_hooks)"
short_probe "no answers after the restart"

step "SIGTERM: stampd exits 0 and leaves the reflector pinned and answering"
e2e_sigterm "$STAMPD_PID"
tail -n 2 "$E2E_WORK/r.log"
[[ $E2E_RC -eq 0 ]] || check_failed "stampd exited with status $E2E_RC after SIGTERM"
[[ $(count_refl_in) -eq 1 ]] || check_failed "the reflector left $VETH_R at SIGTERM"
short_probe "no answers after SIGTERM"

step "stampd --teardown removes everything stampd owns"
in_r "$STAMPD" --teardown --config "$E2E_WORK/r.toml" || check_failed "teardown failed"
hooks=$(reflector_hooks)
if [[ -n $hooks ]]; then
  check_failed "BPF programs remain on $VETH_R after teardown: $hooks"
else
  echo "no BPF programs left on $VETH_R"
fi
[[ -e /sys/fs/bpf/$NS_R ]] && check_failed "teardown left /sys/fs/bpf/$NS_R"
[[ $FAILED -eq 0 ]] || exit 1
echo "PASS: reflector_e2e"
