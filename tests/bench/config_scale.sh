#!/usr/bin/env bash
# Configuration-scale benchmark: start, reload and stop of a stampd whose
# stamp.toml holds N [[session]] entries.
#
#   sudo tests/bench/config_scale.sh [--build DIR] [--sessions N]
#
# N (default 10000) sessions, each `count = 0` with a `window`, targets
# 10.0.x.y; every other one has a schedule that fires once a year
# ("0 0 1 1 *"), so no run starts during the benchmark and no packet is
# sent. stampd runs in a throwaway network namespace with one veth pair
# (tests/e2e/lib.sh), its socket, state and pins under the temp dir and
# /sys/fs/bpf/NS. Printed:
#
#   config_bytes   size of the generated file
#   check_s        wall time of `stampd --check-config`
#   start_s        from starting stampd to ' running: ' in its log
#   rss_mb         VmRSS once it runs
#   reload_s       one `stampctl reload` that changes one session (window),
#                  and the plan it reports (changed must be 1)
#   list_full_s    one `session.list` of everything (one request)
#   list_page_s    one `session.list` with limit 1000
#   list_ctl_s     `stampctl session list` (all sessions; it pages itself)
#   stop_s         from SIGTERM to the process's exit
#
# Everything (namespaces, stampd, pins via `stampd --teardown`, the temp
# dir) is removed on exit, also on failure. See docs/performance.md,
# "Configuration at scale".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$here/../.." && pwd)/build
sessions=10000

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "config_scale.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
[[ $sessions =~ ^[1-9][0-9]*$ ]] || { echo "config_scale.sh: --sessions takes a positive integer" >&2; exit 2; }

STAMPD=$build/daemon/stampd
STAMPCTL=$build/ctl/stampctl
[[ -x $STAMPD && -x $STAMPCTL ]] || { echo "config_scale.sh: no $STAMPD or $STAMPCTL (build first, or --build DIR)" >&2; exit 1; }
source "$here/../e2e/lib.sh"
e2e_require_root python3
e2e_begin

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }

octet=$((120 + RANDOM % 60))
e2e_hosts "cs$octet" "$octet" S sender P peer

# The generator: N sessions after the [daemon] table of e2e_daemon_toml.
# WINDOW0: the window of session 0 (the reload changes it).
generate() { # FILE WINDOW0
  {
    e2e_daemon_toml "$NS_S" scale
    printf '[reflector]\nenabled = false\n[limits]\nmax_sessions = %d\n' "$((sessions + 100))"
    python3 - "$sessions" "$2" <<'PY'
import sys
n, window0 = int(sys.argv[1]), sys.argv[2]
out = []
for i in range(n):
    out.append('[[session]]\nname = "s%05d"\ntarget = "10.%d.%d.%d"\ncount = 0\nwindow = "%s"\n'
               % (i, i >> 16, (i >> 8) & 255, i & 255 or 1, window0 if i == 0 else "30s"))
    if i % 2:
        out.append('schedule = "0 0 1 1 *"\n')
sys.stdout.write("".join(out))
PY
  } >"$1"
}

config=$E2E_WORK/scale.toml
generate "$config" 30s
printf 'sessions         %d\n' "$sessions"
printf 'config_bytes     %d\n' "$(stat -c %s "$config")"

t=$(now)
"$STAMPD" --check-config --config "$config" >"$E2E_WORK/check.out" 2>&1 ||
  { cat "$E2E_WORK/check.out"; fail "--check-config refused the generated file"; }
printf 'check_s          %s\n' "$(since "$t")"

log=$E2E_WORK/scale.log
E2E_LOGS+=("$log")
E2E_CONFIGS+=("$config")
t=$(now)
nsenter --net=/run/netns/"$NS_S" "$STAMPD" --config "$config" >"$log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
for ((i = 0; ; i++)); do
  grep -q ' running: ' "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "stampd exited before it was running"
  ((i < 6000)) || fail "stampd did not log that it is running within 120 s"
  sleep 0.02
done
printf 'start_s          %s\n' "$(since "$t")"
printf 'rss_mb           %s\n' "$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' /proc/"$pid"/status)"

generate "$config" 45s
t=$(now)
e2e_ctl "$NS_S" scale --json reload >"$E2E_WORK/reload.json" ||
  { cat "$E2E_WORK/reload.json"; fail "reload failed"; }
printf 'reload_s         %s\n' "$(since "$t")"
python3 - "$E2E_WORK/reload.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["sessions"]
print("reload_plan      changed %d, unchanged %d, added %d, removed %d"
      % (len(s["changed"]), len(s["unchanged"]), len(s["added"]), len(s["removed"])))
if len(s["changed"]) != 1:
    sys.exit("the reload changed %d sessions, not 1" % len(s["changed"]))
PY

in_ns "$NS_S" python3 - "$E2E_WORK/scale.sock" "$sessions" <<'PY'
import json, socket, sys, time
def call(args):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    f = s.makefile("rw")
    t = time.monotonic()
    f.write(json.dumps({"version": 1, "id": 1, "command": "session.list", "args": args}) + "\n")
    f.flush()
    line = f.readline()
    dt = time.monotonic() - t
    s.close()
    if not line:
        return dt, None
    r = json.loads(line)
    if not r.get("ok"):
        sys.exit("session.list %s: %s" % (args, r))
    return dt, r["result"]
dt, r = call({})
if r is None:
    # stampd closes a connection once 4 MiB of answers wait for it.
    print("list_full_s      n/a (connection closed after %.3f s: the answer exceeds 4 MiB)" % dt)
elif len(r["sessions"]) != int(sys.argv[2]):
    sys.exit("session.list returned %d sessions" % len(r["sessions"]))
else:
    print("list_full_s      %.3f" % dt)
try:
    dt, r = call({"limit": 1000})
    print("list_page_s      %.3f  (%d entries, next %s)" % (dt, len(r["sessions"]), r.get("next")))
except SystemExit as e:
    print("list_page_s      n/a (%s)" % e)
PY

t=$(now)
e2e_ctl "$NS_S" scale session list >"$E2E_WORK/list.txt" || fail "stampctl session list failed"
printf 'list_ctl_s       %s  (stampctl session list, %d lines)\n' "$(since "$t")" \
  "$(wc -l <"$E2E_WORK/list.txt")"

t=$(now)
kill -TERM "$pid"
for ((i = 0; i < 6000; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
kill -0 "$pid" 2>/dev/null && fail "stampd still runs 60 s after SIGTERM"
printf 'stop_s           %s\n' "$(since "$t")"
wait "$pid" || fail "stampd exited with status $?"
