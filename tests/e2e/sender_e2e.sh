#!/usr/bin/env bash
# sender_e2e: stampd to stampd across a veth pair, driven only by stampctl.
#
#   sender_e2e.sh STAMPD STAMPCTL
#
# Namespace A runs stampd as Session-Sender (reflector off), namespace B
# runs stampd as Session-Reflector. stampctl, in A, runs ad-hoc sessions
# over IPv4 and IPv6, a configured session by name, three sessions at once,
# and one stopped with Ctrl-C; it checks the JSON summaries (docs/control-protocol.md,
# The run summary),
# the ping-like lines with kernel timestamps, list/show/stop and the exit
# codes. Exit 77: skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" jq "$@"

e2e_hosts snd 78 A sender B reflector
e2e_sender_config a "$NS_A" <<EOT
[[session]]
name = "cfg-v6"
target = "$B6"
count = 20
interval = "5ms"
timeout = "1s"
size = 128
dscp = 46
[[session]]
name = "every"
target = "$B4"
count = 3
interval = "10ms"
timeout = "500ms"
schedule = "@every 1s"
EOT
e2e_config b "$NS_B" <<EOT
[reflector]
ports = [862, 8620]
EOT
step "starting stampd in both namespaces"
e2e_start "$NS_B" b
e2e_start "$NS_A" a
ctl() { e2e_ctl "$NS_A" a "$@"; }

# check_summary FILE SENT: the fields of docs/control-protocol.md, The run summary;
# no loss, sane delays.
check_summary() {
  local f=$1 sent=$2
  jq -e --argjson n "$sent" '
    .sent == $n and .received == $n and .lost == 0 and .duplicates == 0 and .reordered == 0
    and ([.rtt_ns, .forward_ns, .backward_ns] | all(
          (.min | type == "number") and .min <= .avg and .avg <= .max
          and .p50 >= .min and .p99 <= .max))
    and .rtt_ns.min > 0 and .rtt_ns.max < 50000000
    and (.session | type == "string") and (.target | type == "string") and (.port | type == "number")
  ' "$f" >/dev/null || { cat "$f"; fail "summary in $f is not as expected"; }
}

step "ad-hoc session over IPv4, 200 packets at 1 ms, --json"
ctl --json session start --target "$B4" --count 200 --interval 1ms --size 44 >"$E2E_WORK/v4.json"
check_summary "$E2E_WORK/v4.json" 200
# The schedule is absolute: 200 packets at 1 ms span 199 ms, not more.
jq -e '(.send_span_ns - 199000000) | fabs < 5000000' "$E2E_WORK/v4.json" >/dev/null ||
  fail "200 packets at 1 ms took $(jq .send_span_ns "$E2E_WORK/v4.json") ns to send"
jq -e '.started | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' "$E2E_WORK/v4.json" >/dev/null ||
  fail "no RFC 3339 start time"
jq -c '{sent, received, rtt_ns, forward_ns, backward_ns}' "$E2E_WORK/v4.json"

step "ad-hoc session over IPv6 to port 8620 with 1000-octet packets"
ctl --json session start --target "$B6" --port 8620 --count 100 --interval 2ms --size 1000 \
  >"$E2E_WORK/v6.json"
check_summary "$E2E_WORK/v6.json" 100
[[ $(jq .port "$E2E_WORK/v6.json") == 8620 ]] || fail "port 8620 not reported"

step "ping-like lines carry kernel timestamps and the reflector's TTL"
ctl session start --target "$B4" --count 5 --interval 10ms >"$E2E_WORK/text.out"
cat "$E2E_WORK/text.out"
[[ $(grep -c '^44 bytes: seq=' "$E2E_WORK/text.out") == 5 ]] || fail "expected 5 reply lines"
grep -q 'socket timestamps' "$E2E_WORK/text.out" && fail "replies bypassed the kernel timestamps"
grep -q 'ttl=255' "$E2E_WORK/text.out" || fail "reply TTL 255 not shown"
grep -q '^5 sent, 5 received, 0 lost' "$E2E_WORK/text.out" || fail "summary line missing"

step "configured session by name"
ctl --json session start cfg-v6 >"$E2E_WORK/cfg.json"
check_summary "$E2E_WORK/cfg.json" 20
[[ $(jq -r .session "$E2E_WORK/cfg.json") == cfg-v6 ]] || fail "session name not reported"
ctl session list | tee "$E2E_WORK/list.out"
grep -q '^cfg-v6 .* finished ' "$E2E_WORK/list.out" || fail "cfg-v6 not listed as finished"
ctl --json session show cfg-v6 | jq -e '.received == 20' >/dev/null || fail "show cfg-v6"

step "a scheduled session (@every 1s) runs by itself"
for _ in $(seq 40); do
  ctl --json session list >"$E2E_WORK/sched.json"
  jq -e '.sessions[] | select(.name == "every") | .runs >= 2' "$E2E_WORK/sched.json" >/dev/null &&
    break
  sleep 0.25
done
jq -e '.sessions[] | select(.name == "every") | .runs >= 2 and (.last_run | type == "string")
       and (.next_run | type == "string") and .schedule == "@every 1s"' "$E2E_WORK/sched.json" \
  >/dev/null || { cat "$E2E_WORK/sched.json"; fail "the scheduled session did not run twice in 10 s"; }
ctl --json session show every | jq -e '.sent == 3 and .received == 3' >/dev/null ||
  fail "a scheduled run did not complete"
grep -q 'session every finished' "$E2E_WORK/a.log" || fail "no journal line for the scheduled run"

step "three sessions at once"
pids=()
for i in 1 2 3; do
  ctl --json session start --target "$B4" --count 50 --interval 2ms >"$E2E_WORK/par$i.json" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a parallel session failed"; done
for i in 1 2 3; do check_summary "$E2E_WORK/par$i.json" 50; done

step "Ctrl-C stops an endless session and still prints the summary"
# nsenter execs stampctl, so $! is stampctl itself (a function would put a
# shell in between, which ignores SIGINT in the background).
nsenter --net=/run/netns/"$NS_A" "$STAMPCTL" --socket "$E2E_WORK/a.sock" session start \
  --target "$B4" --count 0 --interval 10ms >"$E2E_WORK/ctrlc.out" &
pid=$!
sleep 1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 0 ]] || fail "stampctl exited $rc after Ctrl-C"
grep -Eq '^[0-9]+ sent, [0-9]+ received' "$E2E_WORK/ctrlc.out" || fail "no summary after Ctrl-C"

step "errors and exit codes"
rc=0; ctl session show no-such-session 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "show of an unknown session exited $rc, expected 1"
rc=0; ctl session start 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "start without a target exited $rc, expected 2"
rc=0; in_ns "$NS_A" "$STAMPCTL" --socket "$E2E_WORK/nobody.sock" status 2>"$E2E_WORK/err" || rc=$?
[[ $rc == 3 ]] || fail "unreachable daemon exited $rc, expected 3"
grep -q 'not running' "$E2E_WORK/err" || fail "no 'not running' message"

step "--require-sync follows the kernel clock's state"
ctl --json status >"$E2E_WORK/a-status.json"
rc=0
ctl session start --target "$B4" --count 2 --interval 10ms --require-sync \
  >/dev/null 2>"$E2E_WORK/sync.err" || rc=$?
if jq -e '.clock.synchronized' "$E2E_WORK/a-status.json" >/dev/null; then
  [[ $rc == 0 ]] || fail "--require-sync refused on a synchronised clock"
else
  [[ $rc == 1 ]] && grep -q clock_unsynchronized "$E2E_WORK/sync.err" ||
    fail "--require-sync ran on an unsynchronised clock (exit $rc)"
fi

step "status of the reflector side counts what it answered"
in_ns "$NS_B" "$STAMPCTL" --socket "$E2E_WORK/b.sock" --json status >"$E2E_WORK/status.json"
jq -e --arg d "$NS_B" '.reflector.interfaces[$d].reflected >= 500' "$E2E_WORK/status.json" \
  >/dev/null || { cat "$E2E_WORK/status.json"; fail "reflector counters"; }
echo "PASS: sender_e2e"
