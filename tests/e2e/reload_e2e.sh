#!/usr/bin/env bash
# reload_e2e: stampd re-reads its configuration without disturbing what did
# not change.
#
#   reload_e2e.sh STAMPD STAMPCTL STAMP_PROBE STAMP_TC_HOOKS
#
# Namespace P runs a plain reflector stampd and the probes; namespace D runs
# the stampd under test: a reflector on ports 862 and 8620 and three
# configured sessions towards P: "keep" and "gone" on "@every 2s", "change"
# run by hand.
#   1. Bad files are refused: an unknown key through `stampctl reload` (exit
#      1, FILE:LINE:COLUMN on stderr), a bad cron through SIGHUP ("reload
#      failed" in the log). The running configuration stays: same sessions,
#      same ports, the scheduled sessions keep running.
#   2. Reloading the same file changes nothing.
#   3. A good file removes "gone", changes "change" (its interval), adds
#      "fresh", moves port 8620 to 8621 and adds a second interface. The
#      report names exactly that; `session list` shows the new set; "keep"
#      keeps its run count, last and next run and goes on; "gone" runs no
#      more; "fresh" runs; "change" runs with the new interval; 8621 answers
#      and 8620 does not; the programs on the first interface are the same
#      (ids) and a stream to port 862 across the reload loses nothing; the
#      new interface gets the reflector.
#   4. A file without the second interface detaches the reflector from it.
# Exit 77: skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL PROBE TC_HOOKS" jq "$@"

NS_P=stprld$$p
NS_D=stprld$$d
PA=${NS_P}a DA=${NS_D}a PB=${NS_P}b DB=${NS_D}b
PA4=10.200.82.1 DA4=10.200.82.2 PB4=10.200.83.1 DB4=10.200.83.2

step "namespaces $NS_P (peer) and $NS_D (stampd under test), veth pairs $PA-$DA and $PB-$DB"
e2e_netns "$NS_P" "$NS_D"
e2e_veth "$NS_P" "$PA" "$PA4" "" "$NS_D" "$DA" "$DA4" ""
e2e_veth "$NS_P" "$PB" "$PB4" "" "$NS_D" "$DB" "$DB4" ""
e2e_wait_link "$NS_P" "$PA"
e2e_wait_link "$NS_D" "$DA"
e2e_wait_link "$NS_P" "$PB"
e2e_wait_link "$NS_D" "$DB"

cat >"$E2E_WORK/p.toml" <<EOT
[daemon]
interfaces = ["$PA"]
socket = "$E2E_WORK/p.sock"
bpffs = "/sys/fs/bpf/$NS_P"
state_dir = "$E2E_WORK/p-state"
[reflector]
ports = [862]
EOT

CFG=$E2E_WORK/d.toml
LOG=$E2E_WORK/d.log
# write_config INTERFACES PORTS SESSIONS_TOML [SOCKET]
write_config() {
  cat >"$CFG.new" <<EOT
[daemon]
interfaces = [$1]
socket = "${4:-$E2E_WORK/d.sock}"
bpffs = "/sys/fs/bpf/$NS_D"
state_dir = "$E2E_WORK/d-state"

[reflector]
ports = [$2]
$3
EOT
  mv "$CFG.new" "$CFG" # atomically: a reload never reads half a file
}
session() { # NAME [KEY = VALUE]...: one [[session]] towards P
  local name=$1
  shift
  printf '\n[[session]]\nname = "%s"\ntarget = "%s"\ncount = 5\ntimeout = "500ms"\n' "$name" "$PA4"
  printf '%s\n' "$@"
}
# keep's runs last about 1.2 s, so that the good reload falls into one even
# on a loaded machine (where each stampctl | jq below takes a while), and
# end well before the next slot.
KEEP=$(session keep 'interval = "300ms"' 'schedule = "@every 2s"')
GONE=$(session gone 'interval = "10ms"' 'schedule = "@every 2s"')
CHANGE_V1=$(session change 'interval = "10ms"')
CHANGE_V2=$(session change 'interval = "30ms"')
FRESH=$(session fresh 'interval = "10ms"' 'schedule = "@every 2s"')

ctl() { e2e_ctl "$NS_D" d "$@"; }
list() { ctl --json session list; }
names() { list | jq -c '[.sessions[].name]'; } # by name
entry() { list | jq -c --arg n "$1" '.sessions[] | select(.name == $n)'; }
runs() { list | jq --arg n "$1" '.sessions[] | select(.name == $n) | .runs'; }
# wait_runs NAME MIN SECONDS: until NAME's runs counter reaches MIN.
wait_runs() {
  for ((i = 0; i < $3 * 10; i++)); do
    [[ $(runs "$1") -ge $2 ]] 2>/dev/null && return 0
    sleep 0.1
  done
  fail "session $1 has run $(runs "$1") times, not $2, within $3 s: $(entry "$1")"
}
hooks() { in_ns "$NS_D" "$TC_HOOKS" "$1"; }
# probe PORT [ADDR]: 50 packets; prints the JSON summary, returns the probe's status.
probe() {
  in_ns "$NS_P" "$PROBE" --target "${2:-$DA4}" --port "$1" --count 50 --interval 1ms --timeout 300ms --json
}
answers() { # PORT [ADDR]
  local out
  out=$(probe "$@") || { echo "$out"; fail "port $1 on ${2:-$DA4} does not answer"; }
  echo "  ${2:-$DA4} port $1 answers: $(jq -c '{sent, ok, lost}' <<<"$out")"
}
silent() { # PORT
  local out
  out=$(probe "$1") && fail "port $1 still answers: $out"
  jq -e '.ok == 0 and .lost == 50' <<<"$out" >/dev/null || fail "port $1: $out"
  echo "  $DA4 port $1 is silent: $(jq -c '{sent, ok, lost}' <<<"$out")"
}
reload_failures() { grep -c 'reload failed' "$LOG" || true; }

write_config "\"$DA\"" "862, 8620" "$KEEP$GONE$CHANGE_V1"
step "starting stampd in $NS_P (reflector) and in $NS_D (reflector on 862, 8620; keep, gone, change)"
e2e_start "$NS_P" p
e2e_stampd "$NS_D" "$CFG" "$LOG"
D_PID=$E2E_STAMPD_PID
wait_runs keep 1 5
wait_runs gone 1 5
echo "  keep: $(entry keep)"
ctl --json session start change >"$E2E_WORK/change1.json"
jq -e '.sent == 5 and .received == 5' "$E2E_WORK/change1.json" >/dev/null ||
  fail "session change did not complete: $(cat "$E2E_WORK/change1.json")"
SPAN1=$(jq .send_span_ns "$E2E_WORK/change1.json")
echo "  change at 10 ms: 5 packets sent over $SPAN1 ns"
answers 862
answers 8620
silent 8621

step "bad file 1: an unknown key, through stampctl reload"
write_config "\"$DA\"" "862, 8621" "$KEEP$GONE$CHANGE_V1
intervall = \"5ms\""
LINE=$(grep -n '^intervall' "$CFG" | cut -d: -f1)
runs_before=$(runs keep)
rc=0
ctl reload >"$E2E_WORK/bad1.out" 2>"$E2E_WORK/bad1.err" || rc=$?
cat "$E2E_WORK/bad1.err"
[[ $rc -eq 1 ]] || fail "stampctl reload of a bad file exited $rc, expected 1"
head -n 1 "$E2E_WORK/bad1.err" | grep -Eq "^$CFG:$LINE:1: unknown key 'session\.intervall'" ||
  fail "stderr does not start with $CFG:$LINE:1: unknown key ..."
e2e_wait_log "$LOG" 'reload failed' 1 5
grep 'reload failed' "$LOG" | tail -n 1

step "bad file 2: a cron schedule with minute 61, through SIGHUP"
write_config "\"$DA\"" "862, 8621" "${KEEP/@every 2s/61 * * * *}$GONE$CHANGE_V1"
LINE=$(grep -n '^schedule = "61' "$CFG" | cut -d: -f1)
kill -HUP "$D_PID"
e2e_wait_log "$LOG" 'reload failed' 2 5
grep 'reload failed' "$LOG" | tail -n 1 | tee "$E2E_WORK/bad2.line"
grep -Eq "$CFG:$LINE:[0-9]+: " "$E2E_WORK/bad2.line" || fail "the log does not name $CFG:$LINE:COLUMN"
kill -0 "$D_PID" 2>/dev/null || fail "stampd exited on a bad SIGHUP reload"

step "the running configuration stayed"
[[ $(names) == '["change","gone","keep"]' ]] || fail "sessions after the bad reloads: $(names)"
ctl --json status | jq -e '.reflector.ports == [862, 8620]' >/dev/null ||
  fail "ports after the bad reloads: $(ctl --json status | jq -c .reflector.ports)"
wait_runs keep $((runs_before + 2)) 6
wait_runs gone $((runs_before + 1)) 4
echo "  keep: $(entry keep)"
answers 8620
silent 8621
grep -Eq 'reloaded ' "$LOG" && fail "stampd logged a reload that should have been refused"

step "reloading an unchanged file changes nothing"
write_config "\"$DA\"" "862, 8620" "$KEEP$GONE$CHANGE_V1"
ctl reload | tee "$E2E_WORK/same.out"
grep -q ': nothing changed$' "$E2E_WORK/same.out" || fail "stampctl reload does not say nothing changed"
ctl --json reload >"$E2E_WORK/same.json" || fail "stampctl reload of the same file exited $?"
jq -c . "$E2E_WORK/same.json"
jq -e '.changed == false and .sessions.added == [] and .sessions.removed == []
       and .sessions.changed == [] and (.sessions.unchanged | sort) == ["change","gone","keep"]' \
  "$E2E_WORK/same.json" >/dev/null || fail "an unchanged file was reported as a change"

step "good file: remove gone, change change, add fresh, port 8620 -> 8621, add $DB"
write_config "\"$DA\", \"$DB\"" "862, 8621" "$KEEP$CHANGE_V2$FRESH"
# A stream to the unchanged port across the reload: 3 s at 200 packets/s.
nsenter --net=/run/netns/"$NS_P" "$PROBE" --target "$DA4" --count 600 --interval 5ms \
  --timeout 1s --json >"$E2E_WORK/stream.json" 2>&1 &
STREAM=$!
E2E_PIDS+=("$STREAM")
hooks "$DA" >"$E2E_WORK/hooks-a.before"
# During a run of keep, just after its start, so that no other run starts
# between the two lists.
last=$(entry keep | jq -r .last_run)
for _ in $(seq 30); do
  [[ $(entry keep | jq -r .last_run) != "$last" ]] && break
  sleep 0.1
done
keep_finished=$(grep -c 'session keep finished' "$LOG" || true)
gone_runs=$(grep -c 'session gone started' "$LOG" || true)
entry keep >"$E2E_WORK/keep.before"
sleep 0.1 # the stream (running since before the wait) is on both sides of the reload
ctl --json reload >"$E2E_WORK/good.json" || fail "stampctl reload of a good file exited $?"
entry keep >"$E2E_WORK/keep.after"
hooks "$DA" >"$E2E_WORK/hooks-a.after"
jq -c . "$E2E_WORK/good.json"
grep 'reloaded ' "$LOG" | tail -n 1
jq -e --arg db "$DB" '.changed == true
       and .sessions == {"added": ["fresh"], "removed": ["gone"], "changed": ["change"], "unchanged": ["keep"]}
       and .reflector.ports == [862, 8621] and .reflector.attached == [$db]
       and .reflector.detached == []' "$E2E_WORK/good.json" >/dev/null ||
  fail "the reload's report is not as expected"
[[ $(names) == '["change","fresh","keep"]' ]] || fail "sessions after the reload: $(names)"

echo "  keep before: $(cat "$E2E_WORK/keep.before")"
echo "  keep after:  $(cat "$E2E_WORK/keep.after")"
jq -e -s '.[0].runs == .[1].runs and .[0].last_run == .[1].last_run
          and .[0].next_run == .[1].next_run and .[1].skipped_overlaps == 0
          and .[0].state == "running" and .[1].state == "running"' \
  "$E2E_WORK/keep.before" "$E2E_WORK/keep.after" >/dev/null ||
  fail "the reload disturbed the unchanged session keep (or did not fall into its run)"
# The run the reload fell into ends normally, all 5 packets.
e2e_wait_log "$LOG" 'session keep finished' $((keep_finished + 1)) 3
grep 'session keep finished' "$LOG" | sed -n "$((keep_finished + 1))p" | tee "$E2E_WORK/keep.run"
grep -q 'sent 5 received 5 lost 0' "$E2E_WORK/keep.run" || fail "the run of keep across the reload was cut"
grep -q 'session keep: .* at reload' "$LOG" && fail "the reload stopped the unchanged session keep"
wait_runs keep $(($(jq .runs "$E2E_WORK/keep.after") + 1)) 4
echo "  keep ran on: $(entry keep)"

echo "  hooks on $DA before: $(tr '\n' ';' <"$E2E_WORK/hooks-a.before")"
diff "$E2E_WORK/hooks-a.before" "$E2E_WORK/hooks-a.after" >/dev/null ||
  fail "the programs on $DA changed at the reload: now $(tr '\n' ';' <"$E2E_WORK/hooks-a.after")"
hooks "$DB" | grep -q ' stamp_refl_in$' || fail "$DB lacks the reflector: $(hooks "$DB")"
answers 8621
silent 8620
answers 862 "$DB4"

rc=0
wait "$STREAM" || rc=$?
echo "  stream to port 862 across the reload: $(jq -c '{sent, ok, bad, lost}' "$E2E_WORK/stream.json" 2>/dev/null || cat "$E2E_WORK/stream.json")"
[[ $rc -eq 0 ]] && jq -e '.sent == 600 and .ok == 600 and .lost == 0' "$E2E_WORK/stream.json" >/dev/null ||
  fail "the stream to the unchanged port lost packets across the reload"

wait_runs fresh 1 4
echo "  fresh: $(entry fresh)"
[[ $(grep -c 'session gone started' "$LOG" || true) -eq $gone_runs ]] ||
  fail "the removed session gone still runs"
ctl --json session start change >"$E2E_WORK/change2.json"
SPAN2=$(jq .send_span_ns "$E2E_WORK/change2.json")
echo "  change at 30 ms: 5 packets sent over $SPAN2 ns (was $SPAN1 ns at 10 ms)"
jq -e '.sent == 5 and .received == 5 and .send_span_ns > 110000000 and .send_span_ns < 150000000' \
  "$E2E_WORK/change2.json" >/dev/null || fail "session change does not run with its new interval"

step "a file without $DB (and a new socket path) detaches the reflector from $DB"
write_config "\"$DA\"" "862, 8621" "$KEEP$CHANGE_V2$FRESH" "$E2E_WORK/other.sock"
ctl --json reload >"$E2E_WORK/detach.json" || fail "stampctl reload exited $?"
jq -c '{reflector, restart_required}' "$E2E_WORK/detach.json"
jq -e --arg db "$DB" '.reflector.detached == [$db] and .reflector.attached == []
       and (.sessions.unchanged | sort) == ["change","fresh","keep"]
       and .restart_required == ["daemon.socket"]' "$E2E_WORK/detach.json" >/dev/null ||
  fail "the reload's report is not as expected"
# The socket moves only at a restart.
ctl --json status >/dev/null || fail "the control socket moved at the reload"
[[ -e $E2E_WORK/other.sock ]] && fail "stampd listens on the new socket path before a restart"
# A tcx link unpinned and closed is released by the kernel a moment later
# (RCU, then a work queue): allow it 2 s, and say when it was not at once.
for ((i = 0; i < 40; i++)); do
  hooks "$DB" | grep -q 'stamp_refl' || break
  sleep 0.05
done
hooks "$DB" | grep -q 'stamp_refl' && fail "$DB still has the reflector 2 s after the reload: $(hooks "$DB")"
((i == 0)) || echo "  NOTE: the reflector left $DB only $((i * 50)) ms after the reload had answered"
hooks "$DA" | diff "$E2E_WORK/hooks-a.before" - >/dev/null ||
  fail "the programs on $DA changed at the reload: now $(hooks "$DA" | tr '\n' ';')"
answers 8621
[[ $(reload_failures) -eq 2 ]] || fail "stampd logged $(reload_failures) failed reloads, expected 2"
kill -0 "$D_PID" 2>/dev/null || fail "stampd exited"
echo "PASS: reload_e2e"
