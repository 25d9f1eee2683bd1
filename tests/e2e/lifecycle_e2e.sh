#!/usr/bin/env bash
# lifecycle_e2e: the reflector loses no packet across stampd's whole life.
#
#   lifecycle_e2e.sh STAMPD STAMPCTL STAMP_PROBE STAMP_TC_HOOKS
#
# stamp_probe streams 200 packets/s over IPv4 and another 200/s over IPv6,
# from a peer namespace, to the stampd reflector while, during the streams,
# stampd is killed with SIGKILL, started again (it adopts the pinned links),
# reloaded with SIGHUP and with `stampctl reload` (each adding a reflector
# port and a session), stopped with SIGTERM and started again. Both streams
# must come back whole (0 lost, 0 bad); the ports the reloads added must
# answer; the interface must carry exactly one pair of reflector programs
# throughout. Exit 77: skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL PROBE TC_HOOKS" jq "$@"
# 200 packets/s for 14 s: long enough to span every step below (checked).
STREAM_COUNT=2800
STREAM_INTERVAL=5ms

e2e_hosts lcy 81 S probe R stampd

CFG=$E2E_WORK/stamp.toml
# write_config PORTS [SESSION_TOML]: the configuration stampd reads at start
# and at every reload.
write_config() {
  cat >"$CFG.new" <<EOT
[daemon]
interfaces = ["$NS_R"]
socket = "$E2E_WORK/stampd.sock"
bpffs = "/sys/fs/bpf/$NS_R"
state_dir = "$E2E_WORK/state"
[reflector]
ports = [$1]
${2:-}
EOT
  mv "$CFG.new" "$CFG" # atomically: a reload never reads half a file
}
ctl() { e2e_ctl "$NS_R" stampd "$@"; }
refl_in_count() { in_ns "$NS_R" "$TC_HOOKS" "$NS_R" | grep -c ' stamp_refl_in$' || true; }
refl_out_count() { in_ns "$NS_R" "$TC_HOOKS" "$NS_R" | grep -c ' stamp_refl_out$' || true; }
check_one_reflector() { # WHEN
  local i o
  i=$(refl_in_count) o=$(refl_out_count)
  [[ $i -eq 1 && $o -eq 1 ]] ||
    fail "$1: $i stamp_refl_in and $o stamp_refl_out on $NS_R, expected one each: $(in_ns "$NS_R" "$TC_HOOKS" "$NS_R")"
}
# short_probe PORT WHAT: 50 packets to PORT must all come back.
short_probe() {
  in_ns "$NS_S" "$PROBE" --target "$R4" --port "$1" --count 50 --interval 1ms --timeout 1s \
    --json >"$E2E_WORK/short.json" 2>&1 || { cat "$E2E_WORK/short.json"; fail "$2"; }
  echo "  port $1: $(jq -c '{sent, ok, lost}' "$E2E_WORK/short.json")"
}
stream_alive() {
  kill -0 "$STREAM4" 2>/dev/null && kill -0 "$STREAM6" 2>/dev/null ||
    fail "a stream ended before the step '$1': lengthen STREAM_COUNT"
}

write_config 862
step "starting stampd (reflector on port 862)"
e2e_stampd "$NS_R" "$CFG" "$E2E_WORK/stampd-1.log"
PID=$E2E_STAMPD_PID
check_one_reflector "after the start"
short_probe 862 "the reflector does not answer after the start"

step "streams: $STREAM_COUNT packets at $STREAM_INTERVAL to $R4 and to $R6"
# nsenter execs the probe, so $! is the probe itself.
nsenter --net=/run/netns/"$NS_S" "$PROBE" --target "$R4" --count "$STREAM_COUNT" \
  --interval "$STREAM_INTERVAL" --timeout 2s --json >"$E2E_WORK/stream4.json" 2>"$E2E_WORK/stream4.err" &
STREAM4=$!
nsenter --net=/run/netns/"$NS_S" "$PROBE" --target "$R6" --count "$STREAM_COUNT" \
  --interval "$STREAM_INTERVAL" --timeout 2s --json >"$E2E_WORK/stream6.json" 2>"$E2E_WORK/stream6.err" &
STREAM6=$!
E2E_PIDS+=("$STREAM4" "$STREAM6")
sleep 1

step "kill -9 stampd"
stream_alive "kill -9"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
check_one_reflector "after kill -9"
sleep 1

step "start stampd again: it adopts the pinned reflector"
stream_alive "restart"
e2e_stampd "$NS_R" "$CFG" "$E2E_WORK/stampd-2.log"
PID=$E2E_STAMPD_PID
grep -q 'reflector adopted on' "$E2E_WORK/stampd-2.log" || fail "stampd did not adopt its pins"
check_one_reflector "after the restart"
sleep 1

step "SIGHUP after adding port 8620 and session s1"
stream_alive "SIGHUP"
write_config "862, 8620" "
[[session]]
name = \"s1\"
target = \"$S4\"
count = 5"
kill -HUP "$PID"
e2e_wait_log "$E2E_WORK/stampd-2.log" 'reloaded |reload failed' 1 5
grep -E 'reloaded |reload failed' "$E2E_WORK/stampd-2.log"
grep -q 'reload failed' "$E2E_WORK/stampd-2.log" && fail "stampd refused a good configuration"
ctl --json status | jq -e '.reflector.ports == [862, 8620]' >/dev/null ||
  fail "after SIGHUP stampd reports ports $(ctl --json status | jq -c .reflector.ports)"
ctl --json session list | jq -e '[.sessions[].name] == ["s1"]' >/dev/null ||
  fail "after SIGHUP the sessions are $(ctl --json session list | jq -c '[.sessions[].name]')"
short_probe 8620 "port 8620 does not answer after the SIGHUP reload"
check_one_reflector "after SIGHUP"
kill -0 "$PID" 2>/dev/null || fail "stampd exited on SIGHUP"
sleep 1

step "stampctl reload after adding port 8621, changing s1 and adding s2"
stream_alive "stampctl reload"
write_config "862, 8620, 8621" "
[[session]]
name = \"s1\"
target = \"$S4\"
count = 7
[[session]]
name = \"s2\"
target = \"$S6\"
count = 3"
ctl --json reload >"$E2E_WORK/reload.json" || fail "stampctl reload exited $?"
jq -c . "$E2E_WORK/reload.json"
jq -e '.sessions == {"added": ["s2"], "removed": [], "changed": ["s1"], "unchanged": []}
       and .reflector.ports == [862, 8620, 8621] and .changed == true' \
  "$E2E_WORK/reload.json" >/dev/null || fail "the reload's report is not as expected"
short_probe 8621 "port 8621 does not answer after stampctl reload"
check_one_reflector "after stampctl reload"
sleep 1

step "SIGTERM: stampd exits 0, the reflector stays"
stream_alive "SIGTERM"
e2e_sigterm "$PID"
[[ $E2E_RC -eq 0 ]] || fail "stampd exited $E2E_RC after SIGTERM"
check_one_reflector "after SIGTERM"
sleep 1

step "start stampd again with the reloaded configuration"
stream_alive "second restart"
e2e_stampd "$NS_R" "$CFG" "$E2E_WORK/stampd-3.log"
PID=$E2E_STAMPD_PID
grep -q 'reflector adopted on' "$E2E_WORK/stampd-3.log" || fail "stampd did not adopt its pins"
check_one_reflector "after the second restart"
short_probe 8621 "port 8621 does not answer after the second restart"
stream_alive "the end of the lifecycle" # every step above happened during the streams

step "waiting for the streams to end"
rc4=0 rc6=0
wait "$STREAM4" || rc4=$?
wait "$STREAM6" || rc6=$?
for af in 4 6; do
  f=$E2E_WORK/stream$af.json
  echo "IPv$af stream: $(jq -c '{sent, ok, bad, lost, duplicates, pass, rtt_p99_ns: .rtt_ns.p99}' "$f" 2>/dev/null || cat "$f")"
  [[ -s $E2E_WORK/stream$af.err ]] && cat "$E2E_WORK/stream$af.err"
done
[[ $rc4 -eq 0 && $rc6 -eq 0 ]] || fail "a stream lost or got bad replies (exit $rc4 / $rc6)"
for af in 4 6; do
  jq -e --argjson n "$STREAM_COUNT" '.sent == $n and .ok == $n and .lost == 0 and .bad == 0 and .pass' \
    "$E2E_WORK/stream$af.json" >/dev/null || fail "IPv$af stream: not every packet came back"
done
echo "PASS: lifecycle_e2e ($STREAM_COUNT + $STREAM_COUNT packets across kill -9, restart," \
  "SIGHUP, stampctl reload, SIGTERM, restart: 0 lost)"
