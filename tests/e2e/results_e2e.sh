#!/usr/bin/env bash
# results_e2e: the SQLite results store ([daemon] state_dir/results.db)
# with the real stampd, reflecting on lo in a throwaway network namespace.
#  1. runs recorded before a `kill -9` are all still listed by `stampctl
#     results` after a restart (same ids, same end times), and new ones are
#     added after it;
#  2. `stampctl results` lists newest first; NAME, --since and --limit filter;
#  3. a continuous session (count = 0, window = 2s) stores one run per
#     window ("window": true, about 100 packets each at 20 ms, none lost),
#     and the partial window still open at `stampctl session stop`;
#  4. a corrupt results.db: stampd starts and keeps measuring, logs an
#     error naming the file, `stampctl status` reports the store unhealthy
#     and `stampctl results` fails with "unavailable" (exit 1);
#  5. the same with a state_dir that cannot be created (under a regular file).
# (The store's retry every 60 s is not waited for here.)
#
# Usage: results_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" jq "$@"

ns=stpres$$
e2e_netns "$ns"
sock=$E2E_WORK/stampd.sock
cfg=$E2E_WORK/stamp.toml
state=$E2E_WORK/state
write_config() { # STATE_DIR
  cat >"$cfg" <<CFG
[daemon]
socket = "$sock"
bpffs = "/sys/fs/bpf/stpres$$"
state_dir = "$1"
interfaces = ["lo"]
[[session]]
name = "sched"
target = "127.0.0.1"
count = 5
interval = "10ms"
schedule = "@every 1s"
[[session]]
name = "cont"
target = "127.0.0.1"
count = 0
interval = "20ms"
window = "2s"
CFG
}
write_config "$state"

ctl() { "$STAMPCTL" --socket "$sock" "$@"; }
results_json() { ctl results --json "$@"; }
now_ns() { date +%s%N; }
# The runs of a `results --json` answer as "id end_ns" lines.
ids_ends() { jq -r '.runs[] | "\(.id) \(.end_ns)"'; }
nlog=0
start_stampd() { # -> $log, $pid
  nlog=$((nlog + 1))
  log=$E2E_WORK/stampd.$nlog.log
  e2e_stampd "$ns" "$cfg" "$log"
  pid=$E2E_STAMPD_PID
}

step "stampd: session 'sched' @every 1s (5 x 10 ms), state_dir $state"
start_stampd
status=$(ctl status --json)
[[ $(jq -r .results_store.healthy <<<"$status") == true ]] ||
  fail "fresh store not healthy: $(jq -c .results_store <<<"$status")"
[[ $(jq -r .results_store.path <<<"$status") == "$state/results.db" ]] ||
  fail "status names the store $(jq -r .results_store.path <<<"$status"), not $state/results.db"
[[ -f $state/results.db ]] || fail "no $state/results.db"

step "continuous session 'cont' (count 0, window 2s, 20 ms) for about 5 s"
ctl session start cont >"$E2E_WORK/cont.out" 2>&1 &
cont_pid=$!
E2E_PIDS+=("$cont_pid")
e2e_wait_log "$E2E_WORK/cont.out" '^STAMP session cont to 127.0.0.1' 1 5
sleep 5
stop_ns=$(now_ns)
ctl session stop cont --json >"$E2E_WORK/cont.stop.json" ||
  fail "stampctl session stop cont failed: $(cat "$E2E_WORK/cont.stop.json")"
for _ in $(seq 50); do kill -0 "$cont_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cont_pid" 2>/dev/null && fail "'stampctl session start cont' still runs after the stop"
wait "$cont_pid" || fail "'stampctl session start cont' exited with $?: $(tail -3 "$E2E_WORK/cont.out")"
total_sent=$(jq -r .sent "$E2E_WORK/cont.stop.json")
windows=$(results_json cont)
nwin=$(jq '.runs | length' <<<"$windows")
echo "continuous run: $total_sent sent in all; $nwin window runs stored:"
jq -r '.runs[] | "  id \(.id) window=\(.window) scheduled=\(.scheduled) \(.start) .. \(.end) sent \(.sent) received \(.received) lost \(.lost)"' <<<"$windows"
((nwin >= 3)) || fail "expected at least 2 full windows and the partial one, got $nwin runs"
jq -e 'all(.runs[]; .window == true and .session == "cont" and .scheduled == false)' <<<"$windows" >/dev/null ||
  fail "a run of 'cont' is not marked window=true/scheduled=false"
jq -e 'all(.runs[]; .lost == 0 and .received == .sent)' <<<"$windows" >/dev/null ||
  fail "a window lost packets on loopback"
# Newest first: the first is the partial window closed by the stop; all
# others are full 2 s windows of 100 packets.
jq -e '[.runs[1:][] | .sent] | all(. >= 95 and . <= 105)' <<<"$windows" >/dev/null ||
  fail "full windows should have sent about 100 packets each"
jq -e '[.runs[1:][] | (.end_ns - .start_ns)] | all(. >= 1900000000 and . <= 2200000000)' <<<"$windows" >/dev/null ||
  fail "full windows should last about 2 s"
last_sent=$(jq '.runs[0].sent' <<<"$windows")
last_end=$(jq '.runs[0].end_ns' <<<"$windows")
((last_sent > 0 && last_sent < 100)) || fail "the final window (at stop) sent $last_sent, expected a partial window"
((last_end >= stop_ns && last_end - stop_ns < 1000000000)) ||
  fail "the final window ended at $last_end, not at the stop ($stop_ns)"
sum=$(jq '[.runs[].sent] | add' <<<"$windows")
((sum == total_sent)) || fail "the windows' sent add up to $sum, the run sent $total_sent"
# Windows tile the run: each starts where the previous one ended.
jq -e '[.runs | reverse | .[] ] as $w | [range(1; $w | length) | $w[.].start_ns == $w[. - 1].end_ns] | all' \
  <<<"$windows" >/dev/null || fail "the windows do not follow one another without a gap"
echo "windows: $((nwin - 1)) full of $(jq -c '[.runs[1:][] | .sent]' <<<"$windows") sent, final partial $last_sent sent; sum $sum = run total $total_sent"

step "scheduled runs recorded"
e2e_wait_log "$log" 'session sched finished' 3 10
before=$(results_json sched)
nbefore=$(jq '.runs | length' <<<"$before")
echo "'sched' runs stored before the kill: $nbefore"
((nbefore >= 3)) || fail "expected >= 3 stored runs of 'sched', got $nbefore"
jq -e 'all(.runs[]; .scheduled == true and .window == false and .sent == 5 and .received == 5 and .lost == 0 and .target == "127.0.0.1" and .port == 862)' \
  <<<"$before" >/dev/null || fail "a stored 'sched' run has wrong figures: $(jq -c '.runs[0]' <<<"$before")"
jq -e 'all(.runs[]; .rtt_ns.avg != null and .rtt_ns.avg > 0 and .rtt_ns.avg < 10000000)' <<<"$before" >/dev/null ||
  fail "a stored run has no plausible RTT"
jq -e 'all(.runs[]; (.clock.local | has("synchronized")) and (.clock.remote | has("synchronized")))' <<<"$before" >/dev/null ||
  fail "a stored run has no clock object"

step "a run of 'sched' started by hand is stored as not scheduled"
hand=
for _ in $(seq 40); do # busy while a scheduled run is on
  hand=$(ctl --json session start sched 2>/dev/null) && break
  sleep 0.05
done
[[ -n $hand ]] || fail "could not start 'sched' by hand"
started=$(jq -r .started <<<"$hand")
jq -e --arg s "$started" '[.runs[] | select(.start == $s)] | length == 1 and .[0].scheduled == false' \
  <<<"$(results_json sched)" >/dev/null || fail "the hand-started run ($started) is not stored once with scheduled=false"
echo "hand-started run at $started stored with scheduled=false"
all_before=$(results_json)
ids_ends <<<"$all_before" | sort >"$E2E_WORK/before.txt"
nall_before=$(wc -l <"$E2E_WORK/before.txt")

step "kill -9 stampd (pid $pid), then start it again with the same config"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[[ -f $state/results.db ]] || fail "results.db gone after kill -9"
start_stampd
after=$(results_json)
ids_ends <<<"$after" | sort >"$E2E_WORK/after.txt"
missing=$(comm -23 "$E2E_WORK/before.txt" "$E2E_WORK/after.txt")
[[ -z $missing ]] || fail "runs recorded before the kill are gone or changed (id end_ns): $missing"
echo "all $nall_before runs recorded before the kill are listed after the restart (same ids and end times)"
echo "stampctl results after the restart:"
ctl results
ctl results | grep -q '^END ' || fail "no table header in 'stampctl results'"
[[ $(ctl results | grep -c ' sched ') -ge $nbefore ]] || fail "the table lacks 'sched' runs"
[[ $(ctl results | grep -c ' cont .* window') -eq $nwin ]] || fail "the table does not mark the $nwin windows"

step "new runs are added after the restart"
e2e_wait_log "$log" 'session sched finished' 2 10
sleep 0.2
after2=$(results_json)
max_before=$(cut -d' ' -f1 "$E2E_WORK/before.txt" | sort -n | tail -1)
nnew=$(jq --argjson m "$max_before" '[.runs[] | select(.id > $m and .session == "sched")] | length' <<<"$after2")
echo "new 'sched' runs since the restart: $nnew"
((nnew >= 2)) || fail "expected >= 2 new runs after the restart, got $nnew"

step "order and filters: newest first, NAME, --since, --limit"
jq -e '[.runs[].end_ns] as $e | [range(1; $e | length) | $e[. - 1] >= $e[.]] | all' <<<"$after2" >/dev/null ||
  fail "runs not listed newest first: $(jq -c '[.runs[].end_ns]' <<<"$after2")"
nall=$(jq '.runs | length' <<<"$after2")
sched=$(results_json sched)
jq -e 'all(.runs[]; .session == "sched")' <<<"$sched" >/dev/null || fail "'results sched' lists another session"
nsched=$(jq '.runs | length' <<<"$sched")
jq -e '[.runs[].end_ns] as $e | [range(1; $e | length) | $e[. - 1] >= $e[.]] | all' <<<"$sched" >/dev/null ||
  fail "'results sched' not newest first"
cont=$(results_json cont)
jq -e 'all(.runs[]; .session == "cont")' <<<"$cont" >/dev/null || fail "'results cont' lists another session"
[[ $(jq '.runs | length' <<<"$cont") -eq $nwin ]] || fail "'results cont' lists $(jq '.runs | length' <<<"$cont") runs, not $nwin"
[[ $(results_json nosuch | jq '.runs | length') -eq 0 ]] || fail "'results nosuch' lists runs"
ctl results nosuch | grep -q 'no runs recorded' || fail "'results nosuch' does not say 'no runs recorded'"
# --since 3s: every listed run ended within the last 3 s; every stored run
# that did is listed; older ones (from before the kill) are not.
t0=$(now_ns)
recent=$(results_json --since 3s)
t1=$(now_ns)
full=$(results_json)
nrecent=$(jq '.runs | length' <<<"$recent")
jq -e --argjson lo "$((t0 - 3000000000))" 'all(.runs[]; .end_ns >= $lo)' <<<"$recent" >/dev/null ||
  fail "--since 3s lists a run that ended earlier"
want=$(jq --argjson lo "$((t1 - 3000000000))" --argjson hi "$t0" \
  '[.runs[] | select(.end_ns >= $lo and .end_ns <= $hi) | .id]' <<<"$full")
jq -e --argjson want "$want" '[.runs[].id] as $got | all($want[]; . as $i | $got | index($i))' \
  <<<"$recent" >/dev/null || fail "--since 3s misses runs that ended within 3 s: want $want"
nfull=$(jq '.runs | length' <<<"$full")
((nrecent >= 1 && nrecent < nfull)) || fail "--since 3s lists $nrecent of $nfull runs"
lim=$(results_json --limit 2)
[[ $(jq '.runs | length' <<<"$lim") -eq 2 ]] || fail "--limit 2 lists $(jq '.runs | length' <<<"$lim") runs"
[[ $(jq '.runs[0].end_ns' <<<"$lim") -ge $(jq '.runs[0].end_ns' <<<"$full") ]] ||
  fail "--limit 2 does not list the newest runs"
echo "all: $nall runs newest first; sched: $nsched; cont: $nwin; --since 3s: $nrecent of $nfull; --limit 2: 2"

step "corrupt results.db: SIGTERM, overwrite with garbage, start again"
e2e_sigterm "$pid"
((E2E_RC == 0)) || fail "stampd exited with $E2E_RC on SIGTERM"
rm -f "$state/results.db-wal" "$state/results.db-shm"
for _ in $(seq 2000); do echo "this is not an SQLite database, just garbage"; done >"$state/results.db"
start_stampd
e2e_wait_log "$log" 'session sched finished' 2 10
grep -E "error.*$state/results.db.*measuring goes on" "$log" ||
  fail "no error naming $state/results.db in the log"
status=$(ctl status --json)
echo "status: $(jq -c .results_store <<<"$status")"
[[ $(jq -r .results_store.healthy <<<"$status") == false ]] || fail "a corrupt store reported healthy"
[[ $(jq -r '.results_store.error // ""' <<<"$status") == *"$state/results.db"* ]] ||
  fail "status error does not name the file"
rc=0
ctl results >"$E2E_WORK/res.out" 2>"$E2E_WORK/res.err" || rc=$?
echo "stampctl results: exit $rc: $(cat "$E2E_WORK/res.err")"
((rc == 1)) || fail "stampctl results exited $rc with a corrupt store, not 1"
grep -q '(unavailable)' "$E2E_WORK/res.err" || fail "stampctl results did not say 'unavailable'"
kill -0 "$pid" || fail "stampd died with a corrupt store"
grep -c 'session sched finished' "$log" | xargs echo "scheduled runs finished meanwhile:"
[[ $(head -c 20 "$state/results.db") == "this is not an SQLit" ]] || fail "stampd replaced the corrupt file"

step "state_dir under a regular file: SIGTERM, reconfigure, start again"
e2e_sigterm "$pid"
echo "a regular file" >"$E2E_WORK/afile"
bad=$E2E_WORK/afile/sub
write_config "$bad"
start_stampd
e2e_wait_log "$log" 'session sched finished' 2 10
grep -E "error.*$bad/results.db.*measuring goes on" "$log" ||
  fail "no error naming $bad/results.db in the log"
status=$(ctl status --json)
echo "status: $(jq -c .results_store <<<"$status")"
[[ $(jq -r .results_store.healthy <<<"$status") == false ]] || fail "an unwritable store reported healthy"
[[ $(jq -r '.results_store.error // ""' <<<"$status") == *"$bad"* ]] ||
  fail "status error does not name the path"
rc=0
ctl results --json >"$E2E_WORK/res.out" 2>"$E2E_WORK/res.err" || rc=$?
echo "stampctl results: exit $rc: $(cat "$E2E_WORK/res.err")"
((rc == 1)) || fail "stampctl results exited $rc with an unwritable state_dir, not 1"
grep -q '(unavailable)' "$E2E_WORK/res.err" || fail "stampctl results did not say 'unavailable'"
kill -0 "$pid" || fail "stampd died with an unwritable state_dir"
e2e_sigterm "$pid"
((E2E_RC == 0)) || fail "stampd exited with $E2E_RC on SIGTERM"
echo "results_e2e: ok"
