#!/usr/bin/env bash
# The two-host demo: a Session-Sender and an in-kernel Session-Reflector in
# two network namespaces, joined through a delay line that holds frames
# 50 ms on the way there and 100 ms on the way back. stampctl shows ~50 ms
# near-end (forward) and ~100 ms far-end (backward) delay, as the prototype
# did, with every timestamp taken in tc BPF.
#
#   ./demo.sh [COUNT]      (as root; default 20 packets)
#
# Installs what is missing, builds, runs, and removes every namespace and
# process it created when it ends or is interrupted.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
COUNT=${1:-20}

[[ $EUID -eq 0 ]] || { echo "demo.sh: run as root (namespaces, BPF)" >&2; exit 1; }
packaging/install-deps.sh
build=${STAMP_BUILD_DIR:-build}
echo "== building in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! cmake --build "$build" -j"$(nproc)" --target stampd stampctl stamp_delayline \
  >"$build/demo-build.log" 2>&1; then
  tail -30 "$build/demo-build.log"
  exit 1
fi
STAMPD=$PWD/$build/daemon/stampd
STAMPCTL=$PWD/$build/ctl/stampctl
DELAYLINE=$PWD/$build/tests/delayline/stamp_delayline
. tests/e2e/lib.sh
e2e_begin

LEFT=stpdemo$$s MID=stpdemo$$m RIGHT=stpdemo$$r
S4=10.203.1.1 R4=10.203.1.2 S6=fd00:5354:de::1 R6=fd00:5354:de::2

echo "== namespaces: $LEFT (sender) -- $MID (delay line 50 ms / 100 ms) -- $RIGHT (reflector)"
e2e_netns "$LEFT" "$MID" "$RIGHT"
ip link add demo0 netns "$LEFT" type veth peer name dl-a netns "$MID"
ip link add demo0 netns "$RIGHT" type veth peer name dl-b netns "$MID"
for dev in dl-a dl-b; do
  # Whole frames, no offloads: the delay line forwards what it reads.
  in_ns "$MID" ethtool -K "$dev" tx off rx off gro off >/dev/null
  in_ns "$MID" ip link set "$dev" up
done
for side in left right; do
  if [[ $side == left ]]; then ns=$LEFT a4=$S4 a6=$S6; else ns=$RIGHT a4=$R4 a6=$R6; fi
  in_ns "$ns" ip addr add "$a4/24" dev demo0
  in_ns "$ns" ip addr add "$a6/64" dev demo0 nodad
  in_ns "$ns" ethtool -K demo0 tx off >/dev/null
  in_ns "$ns" ip link set demo0 up
done

nsenter --net=/run/netns/"$MID" "$DELAYLINE" --a dl-a --b dl-b --delay-ab 50ms \
  --delay-ba 100ms >"$E2E_WORK/delayline.log" 2>&1 &
E2E_PIDS+=($!)
E2E_LOGS+=("$E2E_WORK/delayline.log")
for _ in $(seq 50); do grep -q forwarding "$E2E_WORK/delayline.log" && break; sleep 0.1; done
e2e_wait_link "$LEFT" demo0 "$S6"
e2e_wait_link "$RIGHT" demo0 "$R6"

for side in left right; do
  if [[ $side == left ]]; then ns=$LEFT refl=false; else ns=$RIGHT refl=true; fi
  cat >"$E2E_WORK/$side.toml" <<EOT
[daemon]
interfaces = ["demo0"]
socket = "$E2E_WORK/$side.sock"
bpffs = "/sys/fs/bpf/stpdemo$$-$side"
state_dir = "$E2E_WORK/$side-state"
[reflector]
enabled = $refl
ports = [862]
EOT
  e2e_stampd "$ns" "$E2E_WORK/$side.toml" "$E2E_WORK/$side.log"
done
# The first packet would also wait for ARP across the delay line.
mac() { in_ns "$1" ip -br link show dev demo0 | awk '{print $3}'; }
in_ns "$LEFT" ip neigh replace "$R4" lladdr "$(mac "$RIGHT")" dev demo0
in_ns "$RIGHT" ip neigh replace "$S4" lladdr "$(mac "$LEFT")" dev demo0

echo
echo "== stampctl session start --target $R4 --count $COUNT --interval 100ms"
in_ns "$LEFT" "$STAMPCTL" --socket "$E2E_WORK/left.sock" session start --target "$R4" \
  --count "$COUNT" --interval 100ms
echo
echo "== the reflector's side: stampctl status"
in_ns "$RIGHT" "$STAMPCTL" --socket "$E2E_WORK/right.sock" status
echo
echo "== done; removing namespaces and processes"
