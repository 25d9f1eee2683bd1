#!/usr/bin/env bash
# directional_loss_e2e: loss split by direction with a stateful reflector
# (RFC 8762 4.3). sender -- delay line -- stampd (stateful); the delay line
# drops every 10th frame in one direction only, first towards the
# reflector, then back from it; the sender's forward_lost and
# backward_lost must put the loss on the right side.
#
#   directional_loss_e2e.sh STAMPD STAMPCTL DELAYLINE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL DELAYLINE" "jq sysctl" "$@"

LEFT=stpdir$$s MID=stpdir$$m RIGHT=stpdir$$r
S4=10.204.1.1 R4=10.204.1.2
step "namespaces $LEFT (sender) -- $MID (delay line) -- $RIGHT (stateful reflector)"
e2e_netns "$LEFT" "$MID" "$RIGHT"
ip link add dl0 netns "$LEFT" type veth peer name dl-a netns "$MID"
ip link add dl0 netns "$RIGHT" type veth peer name dl-b netns "$MID"
for dev in dl-a dl-b; do
  in_ns "$MID" ethtool -K "$dev" tx off rx off gro off >/dev/null
  in_ns "$MID" ip link set "$dev" up
done
for ns in "$LEFT" "$RIGHT"; do
  # IPv4 only, static neighbours: the delay line counts test packets alone.
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  in_ns "$ns" ethtool -K dl0 tx off >/dev/null
  in_ns "$ns" ip link set dl0 up
done
in_ns "$LEFT" ip addr add "$S4/24" dev dl0
in_ns "$RIGHT" ip addr add "$R4/24" dev dl0
mac() { in_ns "$1" ip -br link show dev dl0 | awk '{print $3}'; }
in_ns "$LEFT" ip neigh replace "$R4" lladdr "$(mac "$RIGHT")" dev dl0
in_ns "$RIGHT" ip neigh replace "$S4" lladdr "$(mac "$LEFT")" dev dl0

for side in left right; do
  if [[ $side == left ]]; then ns=$LEFT refl=false; else ns=$RIGHT refl=true; fi
  cat >"$E2E_WORK/$side.toml" <<EOT
[daemon]
interfaces = ["dl0"]
socket = "$E2E_WORK/$side.sock"
bpffs = "/sys/fs/bpf/stpdir$$-$side"
state_dir = "$E2E_WORK/$side-state"
[reflector]
enabled = $refl
mode = "stateful"
EOT
  e2e_stampd "$ns" "$E2E_WORK/$side.toml" "$E2E_WORK/$side.log"
done

dl_pid=
delayline() { # EXTRA-ARGS...
  [[ -n $dl_pid ]] && { kill "$dl_pid"; wait "$dl_pid" 2>/dev/null || true; }
  nsenter --net=/run/netns/"$MID" "$DELAYLINE" --a dl-a --b dl-b --delay-ab 1ms --delay-ba 1ms \
    "$@" >"$E2E_WORK/delayline.log" 2>&1 &
  dl_pid=$!
  E2E_PIDS+=("$dl_pid")
  for _ in $(seq 50); do grep -q forwarding "$E2E_WORK/delayline.log" && return 0; sleep 0.1; done
  fail "delay line did not start: $(cat "$E2E_WORK/delayline.log")"
}
# 105 packets: the 10th, 20th ... 100th frame are dropped and the last
# reply comes back (a reply lost at the very end looks like a request lost:
# the reflector's count is known only up to the last reply received).
session() { # -> summary JSON
  in_ns "$LEFT" "$STAMPCTL" --socket "$E2E_WORK/left.sock" --json session start --target "$R4" \
    --count 105 --interval 5ms --timeout 500ms --reflector-mode stateful
}

step "every 10th request dropped on the way to the reflector"
delayline --drop-every-ab 10
session >"$E2E_WORK/fwd.json"
jq -c '{sent, received, lost, forward_lost, backward_lost}' "$E2E_WORK/fwd.json"
jq -e '.sent == 105 and .lost == 10 and .forward_lost == 10 and .backward_lost == 0' \
  "$E2E_WORK/fwd.json" >/dev/null || fail "forward drops not attributed forward"

step "every 10th reply dropped on the way back"
delayline --drop-every-ba 10
session >"$E2E_WORK/bwd.json"
jq -c '{sent, received, lost, forward_lost, backward_lost}' "$E2E_WORK/bwd.json"
jq -e '.sent == 105 and .lost == 10 and .forward_lost == 0 and .backward_lost == 10' \
  "$E2E_WORK/bwd.json" >/dev/null || fail "backward drops not attributed backward"
echo "directional_loss_e2e: ok"
