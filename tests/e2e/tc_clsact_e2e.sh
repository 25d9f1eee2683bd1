#!/usr/bin/env bash
# tc_clsact_e2e: with attach = "tc", a clsact qdisc that the sender created
# is not destroyed at exit when the pinned reflector has joined it since.
# stampd starts with its reflector off and runs a session (the sender's
# filters create the qdisc); a reload turns the reflector on (its filters
# join that qdisc); stampd stops. The reflector must keep answering, as a
# pinned reflector does, and --teardown removes it.
#
# Usage: tc_clsact_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" "python3 tc" "$@"

e2e_hosts clsact 63 S sender R reflector
write_config() { # ENABLED
  e2e_config refl "$NS_R" <<CFG
  attach = "tc"
[reflector]
enabled = $1
CFG
}
write_config false
e2e_start "$NS_R" refl
pid=$E2E_STAMPD_PID

step "a session: the sender's filters make the clsact qdisc"
e2e_ctl "$NS_R" refl session start --target "$S4" --count 1 --timeout 200ms >/dev/null || true
in_ns "$NS_R" tc qdisc show dev "$NS_R" | grep -q clsact || fail "no clsact qdisc after a session"

step "reload with the reflector on: its filters join the qdisc"
write_config true
e2e_ctl "$NS_R" refl reload >/dev/null
[[ $(e2e_probe "$NS_S" "$R4") -eq 44 ]] || fail "the reflector does not answer after the reload"

step "stampd stops: the pinned reflector stays"
e2e_sigterm "$pid"
[[ $E2E_RC -eq 0 ]] || fail "stampd exited with $E2E_RC"
in_ns "$NS_R" tc qdisc show dev "$NS_R" | grep -q clsact ||
  fail "the clsact qdisc went with the sender, taking the reflector's filters"
n=$(e2e_probe "$NS_S" "$R4")
[[ $n -eq 44 ]] || fail "the pinned reflector does not answer after stampd stopped (reply $n)"
echo "the pinned reflector answers after stampd stopped"

step "--teardown removes it"
in_ns "$NS_R" "$STAMPD" --teardown --config "$E2E_WORK/refl.toml" >/dev/null
[[ $(e2e_probe "$NS_S" "$R4") -eq 0 ]] || fail "still answering after --teardown"
echo "PASS"
