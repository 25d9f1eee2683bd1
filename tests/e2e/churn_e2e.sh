#!/usr/bin/env bash
# churn_e2e: thousands of ad-hoc runs leave stampd as they found it. A
# sender stampd runs one-packet ad-hoc sessions toward a reflector stampd in
# batches over one control connection (as a script would); after a warm-up
# and again after thousands more runs, its open descriptors and RSS are
# read from /proc. A finished run releases its socket and timer at once,
# and only [limits] adhoc_runs_kept finished runs (and their metrics
# series) are kept, so neither may grow with the number of runs.
#
# Usage: churn_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" python3 "$@"

WARMUP=${CHURN_WARMUP:-2000}
RUNS=${CHURN_RUNS:-3000}
KEPT=50

e2e_hosts churn 61 S sender R reflector
e2e_config refl "$NS_R" <<<""
e2e_start "$NS_R" refl
e2e_sender_config send "$NS_S" <<CFG
[limits]
adhoc_runs_kept = $KEPT
[metrics]
listen = "127.0.0.1:9464"
CFG
e2e_start "$NS_S" send
pid=$E2E_STAMPD_PID

# Runs N one-packet sessions, BATCH requests in flight at a time, and
# waits until none is running. Prints how many were started and answered.
churn() { # N
  in_ns "$NS_S" python3 - "$E2E_WORK/send.sock" "$R4" "$1" <<'PY'
import json, socket, sys, time
path, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rw")
def call(i, command, args):
    f.write(json.dumps({"version": 1, "id": i, "command": command, "args": args}) + "\n")
started = failed = 0
batch = 50
i = 0
while i < n:
    k = min(batch, n - i)
    for j in range(k):
        call(i + j, "session.start", {"target": target, "count": 1,
                                      "interval_ns": 1000000, "timeout_ns": 200000000})
    f.flush()
    for j in range(k):
        r = json.loads(f.readline())
        if r.get("ok"):
            started += 1
        else:
            failed += 1
            if failed < 5:
                print("refused:", r, file=sys.stderr)
    i += k
    # The batch ends (each run within its 200 ms timeout) before the next
    # starts: at most one batch is in flight, so the memory in use does not
    # depend on how fast replies come back.
    deadline = time.time() + 30
    while time.time() < deadline:
        call(0, "session.list", {})
        f.flush()
        r = json.loads(f.readline())
        running = sum(1 for x in r["result"]["sessions"] if x["state"] == "running")
        if running == 0:
            break
        time.sleep(0.005)
print(started, failed, running, len(r["result"]["sessions"]))
PY
}

fds() { find /proc/"$pid"/fd -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status; }

step "warm-up: $WARMUP ad-hoc runs"
read -r started failed running listed < <(churn "$WARMUP")
echo "started $started, refused $failed, still running $running, listed $listed"
[[ $started -eq $WARMUP && $running -eq 0 ]] || fail "warm-up: $started of $WARMUP started, $running running"
fd0=$(fds) rss0=$(rss_kb)
echo "after warm-up: $fd0 descriptors, RSS $rss0 kB"

step "$RUNS more ad-hoc runs"
t0=$SECONDS
read -r started failed running listed < <(churn "$RUNS")
echo "started $started, refused $failed, still running $running, listed $listed in $((SECONDS - t0)) s"
[[ $started -eq $RUNS && $running -eq 0 ]] || fail "$started of $RUNS started, $running running"
fd1=$(fds) rss1=$(rss_kb)
echo "after $((WARMUP + RUNS)) runs: $fd1 descriptors, RSS $rss1 kB"

# The list holds the kept finished runs only.
((listed <= KEPT)) || fail "session list holds $listed runs, more than adhoc_runs_kept = $KEPT"
# Descriptors: exactly flat but for the control and metrics connections
# that may be open at the moment of the count.
((fd1 <= fd0 + 2)) || fail "descriptors grew from $fd0 to $fd1 over $RUNS runs"
# RSS: after the warm-up the allocator holds what the kept runs and one
# batch in flight need (measured: 3,000 more runs then add 0 to 4 kB);
# before the bound each run kept about 1 MB, so 3,000 runs would add ~3 GB.
growth=$((rss1 - rss0))
echo "RSS growth over $RUNS runs: $growth kB"
((growth < 20000)) || fail "RSS grew by $growth kB over $RUNS runs"

step "a flood is refused by the default [limits]"
for args in "--interval 1us" "--interval 100us --size 8952"; do
  # shellcheck disable=SC2086
  if out=$(e2e_ctl "$NS_S" send session start --target "$R4" --count 1 $args 2>&1); then
    fail "stampctl session start $args was accepted: $out"
  fi
  grep -qE 'max_session_(pps|bps)' <<<"$out" || fail "refusal without the cap's name: $out"
  echo "refused ($args): $out"
done

step "the metrics hold series for the kept runs only"
port=9464 # in the sender's own namespace
series=$(in_ns "$NS_S" python3 -c "
import urllib.request
body = urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode()
print(len({l.split('session=\"')[1].split('\"')[0] for l in body.splitlines()
           if l.startswith('stamp_session_sent_packets_total{')}))")
echo "sessions with series: $series"
((series <= KEPT)) || fail "$series sessions have metrics series, more than $KEPT"
((series > 0)) || fail "no session series in the metrics"
echo "PASS"
