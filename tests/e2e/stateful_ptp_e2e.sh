#!/usr/bin/env bash
# stateful_ptp_e2e: stampd to stampd with the reflector in stateful mode and
# PTP timestamps (RFC 8762 4.3, 4.2.1 Z bit), the sender sending PTP T1.
#
#   stateful_ptp_e2e.sh STAMPD STAMPCTL
#
# Two runs from the sender are two sessions to the reflector (new source
# ports): each counts from 0, so the reflector's status shows two sessions
# started; the sender decodes the reflector's PTP T2/T3 by its Z bit, so
# the one-way figures come out as the few microseconds the veth takes, not
# the 37 s of TAI - UTC or the 70 years between the epochs. Exit 77:
# skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" jq "$@"

e2e_hosts sfp 79 A sender B "stateful PTP reflector"
e2e_sender_config a "$NS_A" <<EOT
[[session]]
name = "ptp4"
target = "$B4"
count = 20
interval = "5ms"
timestamp_format = "ptp"
[[session]]
name = "ptp6"
target = "$B6"
count = 20
interval = "5ms"
timestamp_format = "ptp"
EOT
e2e_config b "$NS_B" <<EOT
[reflector]
mode = "stateful"
timestamp_format = "ptp"
EOT
e2e_start "$NS_B" b
e2e_start "$NS_A" a
ctl() { e2e_ctl "$NS_A" a "$@"; }
rctl() { e2e_ctl "$NS_B" b "$@"; }

for name in ptp4 ptp6; do
  step "session $name: PTP T1 out, PTP T2/T3 back"
  ctl --json session start "$name" >"$E2E_WORK/$name.json"
  jq -c '{session, sent, received, lost, rtt: .rtt_ns.avg, fwd: .forward_ns.avg, bwd: .backward_ns.avg}' \
    "$E2E_WORK/$name.json"
  jq -e '.sent == 20 and .received == 20 and .lost == 0' "$E2E_WORK/$name.json" >/dev/null ||
    fail "$name: not 20 of 20"
  # Same host clock on both sides: each direction is a veth crossing.
  jq -e '.forward_ns.min >= 0 and .forward_ns.max < 5000000 and .backward_ns.min >= 0 and .backward_ns.max < 5000000' \
    "$E2E_WORK/$name.json" >/dev/null ||
    fail "$name: one-way delays implausible (PTP decoded wrong?): $(jq -c '{f: .forward_ns, b: .backward_ns}' "$E2E_WORK/$name.json")"
done

step "a size that does not fit the path MTU (1500) is refused"
out=$(ctl session start --target "$B4" --count 1 --size 1473 2>&1) && fail "size 1473 over IPv4 was not refused: $out"
grep -q 'does not fit the path MTU 1500' <<<"$out" || fail "no clear MTU error: $out"
echo "$out"
ctl --json session start --target "$B4" --count 2 --size 1472 | jq -e '.received == 2' >/dev/null ||
  fail "size 1472 (1500 - 28) over IPv4 did not pass"
out=$(ctl session start --target "$B6" --count 1 --size 1453 2>&1) && fail "size 1453 over IPv6 was not refused: $out"
ctl --json session start --target "$B6" --count 2 --size 1452 | jq -e '.received == 2' >/dev/null ||
  fail "size 1452 (1500 - 48) over IPv6 did not pass"

step "the reflector counted four stateful sessions"
rctl --json status >"$E2E_WORK/status.json"
jq -c '.reflector | {mode, timestamp_format, sessions, max_sessions, started: [.interfaces[] | .sessions_started]}' \
  "$E2E_WORK/status.json"
jq -e '.reflector.mode == "stateful" and .reflector.timestamp_format == "ptp"' "$E2E_WORK/status.json" >/dev/null ||
  fail "status does not show stateful/ptp"
jq -e '[.reflector.interfaces[] | .sessions_started] | add == 4' "$E2E_WORK/status.json" >/dev/null ||
  fail "expected 4 stateful sessions started (2 PTP, 2 MTU checks)"
jq -e '.reflector.sessions == 4' "$E2E_WORK/status.json" >/dev/null || fail "expected 4 session entries"
echo "stateful_ptp_e2e: ok"
