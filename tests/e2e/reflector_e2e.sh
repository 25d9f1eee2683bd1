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

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 STAMPD STAMP_PROBE [STAMP_TC_HOOKS]" >&2
  exit 2
fi
STAMPD=$1
PROBE=$2
TC_HOOKS=${3:-}

skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $EUID -eq 0 ]] || skip "needs root (network namespaces, BPF)"
ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
for tool in nsenter ethtool tc $([[ -n $TC_HOOKS ]] || echo bpftool); do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[[ -x $STAMPD && -x $PROBE ]] || { echo "FAIL: $STAMPD or $PROBE is not executable" >&2; exit 1; }

NS_S=stpe2e$$s
NS_R=stpe2e$$r
VETH_S=$NS_S # interface names are per namespace; reuse the namespace names
VETH_R=$NS_R
ADDR4_S=10.200.77.1
ADDR4_R=10.200.77.2
ADDR6_S=fd00:5354:e2e::1
ADDR6_R=fd00:5354:e2e::2
PROBE_ARGS=(--count 1000 --sizes 14,40,44,100,512,1400 --interval 100us --timeout 2s
            --ttl 64 --ssid 21332)
# A capture kept by an earlier failed run would only mislead.
rm -f "$PWD/reflector_e2e-failed.pcapng"
# Requests and replies of both probe runs.
CAPTURE_PACKETS=4000
WORK=$(mktemp -d /tmp/stpe2e.XXXXXX)
STAMPD_PID=
TSHARK_PID=

in_s() { nsenter --net=/run/netns/"$NS_S" "$@"; }
in_r() { nsenter --net=/run/netns/"$NS_R" "$@"; }

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

cleanup() {
  local rc=$?
  set +e
  if [[ -n $TSHARK_PID ]] && kill -0 "$TSHARK_PID" 2>/dev/null; then
    kill "$TSHARK_PID"
    wait "$TSHARK_PID" 2>/dev/null
  fi
  if [[ -n $STAMPD_PID ]] && kill -0 "$STAMPD_PID" 2>/dev/null; then
    kill -TERM "$STAMPD_PID"
    for _ in $(seq 50); do kill -0 "$STAMPD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$STAMPD_PID" 2>/dev/null && kill -KILL "$STAMPD_PID"
    wait "$STAMPD_PID" 2>/dev/null
  fi
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_R" 2>/dev/null
  # Pins a future stampd may leave under the private bpffs directory.
  [[ -d /sys/fs/bpf/$NS_R ]] && rm -rf "/sys/fs/bpf/$NS_R"
  if [[ $rc -ne 0 && $rc -ne 77 && -s $WORK/stampd.log ]]; then
    echo "---- stampd log ----"
    cat "$WORK/stampd.log"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# A failed check that should not stop the rest: the tshark verdict and the
# shutdown checks still help to explain it.
FAILED=0
check_failed() {
  echo "FAIL: $*" >&2
  FAILED=1
}
step() { echo "== [${SECONDS}s] $*"; }

step "namespaces $NS_S and $NS_R, veth $VETH_S <-> $VETH_R"
ip netns add "$NS_S"
ip netns add "$NS_R"
ip link add "$VETH_S" netns "$NS_S" type veth peer name "$VETH_R" netns "$NS_R"
for side in s r; do
  if [[ $side == s ]]; then ns=$NS_S dev=$VETH_S a4=$ADDR4_S a6=$ADDR6_S
  else ns=$NS_R dev=$VETH_R a4=$ADDR4_R a6=$ADDR6_R; fi
  nsenter --net=/run/netns/"$ns" ip link set lo up
  nsenter --net=/run/netns/"$ns" ip addr add "$a4/24" dev "$dev"
  nsenter --net=/run/netns/"$ns" ip addr add "$a6/64" dev "$dev" nodad
  # veth hands a locally sent packet over with only a partial checksum and
  # the receiver trusts it; with TX offload off every checksum is real.
  nsenter --net=/run/netns/"$ns" ethtool -K "$dev" tx off >/dev/null
  nsenter --net=/run/netns/"$ns" ip link set "$dev" up
done

# The private paths keep this run apart from any other stampd on the host.
cat >"$WORK/stamp.toml" <<EOF
[daemon]
interfaces = ["$VETH_R"]
bpffs = "/sys/fs/bpf/$NS_R"
socket = "$WORK/stampd.sock"
state_dir = "$WORK/state"
log_level = "info"

[reflector]
ports = [862]
EOF

step "starting stampd in $NS_R"
# nsenter (without --fork) execs stampd, so $! is stampd itself; a shell
# function here would put a subshell in between that SIGTERM would hit.
nsenter --net=/run/netns/"$NS_R" "$STAMPD" --config "$WORK/stamp.toml" >"$WORK/stampd.log" 2>&1 &
STAMPD_PID=$!
for _ in $(seq 100); do
  grep -q ' running: ' "$WORK/stampd.log" && break
  kill -0 "$STAMPD_PID" 2>/dev/null || fail "stampd exited before it was running"
  sleep 0.1
done
grep -q ' running: ' "$WORK/stampd.log" || fail "stampd did not log that it is running within 10 s"
grep ' running: ' "$WORK/stampd.log"

hooks=$(reflector_hooks)
echo "$hooks"
grep -q stamp_refl_in <<<"$hooks" && grep -q stamp_refl_out <<<"$hooks" ||
  fail "stampd says it is running but $VETH_R lacks the reflector programs: '$hooks'"

if command -v tshark >/dev/null; then
  step "capturing on $VETH_S with tshark"
  nsenter --net=/run/netns/"$NS_S" tshark -q -n -i "$VETH_S" -f "udp port 862" \
    -c "$CAPTURE_PACKETS" -w "$WORK/capture.pcapng" \
    2>"$WORK/tshark.err" &
  TSHARK_PID=$!
  for _ in $(seq 100); do
    grep -q 'Capturing on' "$WORK/tshark.err" && break
    kill -0 "$TSHARK_PID" 2>/dev/null || { cat "$WORK/tshark.err"; fail "tshark did not start"; }
    sleep 0.1
  done
  grep -q 'Capturing on' "$WORK/tshark.err" || fail "tshark did not start capturing within 10 s"
else
  echo "tshark is not installed: skipping the independent checksum check"
fi

# Until linkwatch reports the carrier (up to a second after `link set up`),
# addrconf has not joined the solicited-node groups, and the first Neighbour
# Solicitation goes unanswered for a second. Wait for both ends instead.
step "waiting for both veth ends to be up with their IPv6 multicast groups"
link_ready() { # NS DEV SOLICITED_NODE_GROUP
  nsenter --net=/run/netns/"$1" ip -o link show dev "$2" | grep -q 'state UP' &&
    nsenter --net=/run/netns/"$1" ip -6 maddr show dev "$2" | grep -qw "$3"
}
for _ in $(seq 50); do
  link_ready "$NS_S" "$VETH_S" ff02::1:ff00:1 && link_ready "$NS_R" "$VETH_R" ff02::1:ff00:2 && break
  sleep 0.1
done
link_ready "$NS_S" "$VETH_S" ff02::1:ff00:1 && link_ready "$NS_R" "$VETH_R" ff02::1:ff00:2 ||
  fail "the veth pair did not come up within 5 s"

step "stamp_probe over IPv4 to $ADDR4_R"
in_s "$PROBE" --target "$ADDR4_R" "${PROBE_ARGS[@]}" || check_failed "IPv4 probe failed"
step "stamp_probe over IPv6 to $ADDR6_R"
in_s "$PROBE" --target "$ADDR6_R" "${PROBE_ARGS[@]}" || check_failed "IPv6 probe failed"

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
    in_s tshark -n -r "$WORK/capture.pcapng" -o udp.check_checksum:TRUE \
      -o ip.check_checksum:TRUE -d udp.port==862,twamp.test "$@" 2>>"$WORK/tshark.err"
  }
  # One line per packet. Checksum status: 1 good, 0 bad, 2 unverified.
  tshark_read -T fields -E separator=, -e udp.srcport -e udp.dstport -e ip.checksum.status \
    -e udp.checksum.status -e ip.ttl -e ipv6.hlim -e twamp.test.seq_number \
    -e twamp.test.sender_seq_number -e twamp.test.sender_ttl >"$WORK/capture.csv"
  tshark_read -Y '_ws.malformed || _ws.expert.severity >= "error"' >"$WORK/capture.bad"
  awk -F, -v total_want="$CAPTURE_PACKETS" -v errors="$(wc -l <"$WORK/capture.bad")" '
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
      exit !(n == total_want && req == rep && nbad == 0 && errors == 0)
    }' "$WORK/capture.csv" || {
    head -n 5 "$WORK/capture.bad"
    check_failed "tshark disagrees with the reflector's packets"
  }
  if [[ $FAILED -ne 0 ]]; then
    cp "$WORK/capture.pcapng" "$PWD/reflector_e2e-failed.pcapng" &&
      echo "capture kept as $PWD/reflector_e2e-failed.pcapng"
  fi
fi

start_stampd() {
  # nsenter (without --fork) execs stampd, so $! is stampd itself.
  nsenter --net=/run/netns/"$NS_R" "$STAMPD" --config "$WORK/stamp.toml" >"$WORK/stampd.log" 2>&1 &
  STAMPD_PID=$!
  for _ in $(seq 100); do
    grep -q ' running: ' "$WORK/stampd.log" && return 0
    kill -0 "$STAMPD_PID" 2>/dev/null || fail "stampd exited before it was running"
    sleep 0.1
  done
  fail "stampd did not log that it is running within 10 s"
}
short_probe() { # what: the reflector must still answer, whatever the daemon does
  in_s "$PROBE" --target "$ADDR4_R" --count 100 --sizes 44,100 --interval 100us --timeout 1s \
    --ttl 64 >"$WORK/probe.out" 2>&1 || { cat "$WORK/probe.out"; check_failed "$1"; return; }
  tail -n 1 "$WORK/probe.out"
}
count_refl_in() { reflector_hooks | grep -c stamp_refl_in || true; }

step "a second stampd on the same bpffs refuses to start"
rc=0
in_r "$STAMPD" --config "$WORK/stamp.toml" >"$WORK/second.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q 'another stampd is running' "$WORK/second.log" ||
  { cat "$WORK/second.log"; check_failed "second stampd: exit $rc, not a clear refusal"; }

step "kill -9: the pinned reflector keeps answering"
kill -KILL "$STAMPD_PID"
wait "$STAMPD_PID" 2>/dev/null || true
STAMPD_PID=
short_probe "no answers after stampd was killed"

step "restart: stampd adopts the pinned links instead of attaching again"
start_stampd
grep -q 'reflector adopted on' "$WORK/stampd.log" || check_failed "stampd did not adopt its pins"
[[ $(count_refl_in) -eq 1 ]] || check_failed "expected one stamp_refl_in on $VETH_R: $(reflector_hooks)"
short_probe "no answers after the restart"

step "SIGTERM: stampd exits 0 and leaves the reflector pinned and answering"
kill -TERM "$STAMPD_PID"
rc=0
wait "$STAMPD_PID" || rc=$?
STAMPD_PID=
tail -n 2 "$WORK/stampd.log"
[[ $rc -eq 0 ]] || check_failed "stampd exited with status $rc after SIGTERM"
[[ $(count_refl_in) -eq 1 ]] || check_failed "the reflector left $VETH_R at SIGTERM"
short_probe "no answers after SIGTERM"

step "stampd --teardown removes everything stampd owns"
in_r "$STAMPD" --teardown --config "$WORK/stamp.toml" || check_failed "teardown failed"
hooks=$(reflector_hooks)
if [[ -n $hooks ]]; then
  check_failed "BPF programs remain on $VETH_R after teardown: $hooks"
else
  echo "no BPF programs left on $VETH_R"
fi
[[ -e /sys/fs/bpf/$NS_R ]] && check_failed "teardown left /sys/fs/bpf/$NS_R"
[[ $FAILED -eq 0 ]] || exit 1
echo "PASS: reflector_e2e"
