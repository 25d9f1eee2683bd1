#!/usr/bin/env bash
# fd_exhaustion_e2e: stampd out of file descriptors keeps reflecting and
# comes back. stampd's descriptor limit is lowered (prlimit) to a few above
# what it holds, then control connections take the rest, and connections
# wait in the control and metrics backlogs. While that lasts: stampd does
# not spin on accept (its CPU over 2 s stays low), the kernel reflector
# still answers (the address refresh, which needs a netlink socket, fails
# and keeps the last good list instead of emptying it), and the log says so
# once. Then the connections close, and `stampctl status` and the metrics
# answer again.
#
# Usage: fd_exhaustion_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" "python3 prlimit" "$@"

e2e_hosts fdx 62 S sender R reflector
e2e_config refl "$NS_R" <<CFG
[metrics]
listen = "127.0.0.1:9465"
CFG
e2e_start "$NS_R" refl
pid=$E2E_STAMPD_PID
log=$E2E_WORK/refl.log

probe() { e2e_probe "$NS_S" "$R4"; }
cpu_ticks() { awk '{print $14 + $15}' /proc/"$pid"/stat; }

[[ $(probe) -eq 44 ]] || fail "the reflector does not answer before the test"

held=$(find /proc/"$pid"/fd -mindepth 1 -maxdepth 1 | wc -l)
limit=$((held + 6))
step "stampd holds $held descriptors; limit lowered to $limit"
prlimit --pid "$pid" --nofile="$limit:$limit"

# Connections that take every free descriptor, and more that wait in the
# backlogs; held open until the file $E2E_WORK/release appears.
in_ns "$NS_R" python3 - "$E2E_WORK/refl.sock" "$E2E_WORK" <<'PY' &
import os, socket, sys, time
path, work = sys.argv[1], sys.argv[2]
held = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
for _ in range(5):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(1)
    try:
        t.connect(("127.0.0.1", 9465))
    except OSError:
        pass
    held.append(t)
open(os.path.join(work, "holding"), "w").close()
while not os.path.exists(os.path.join(work, "release")):
    time.sleep(0.1)
PY
E2E_PIDS+=($!)
for _ in $(seq 100); do [[ -e $E2E_WORK/holding ]] && break; sleep 0.1; done
[[ -e $E2E_WORK/holding ]] || fail "the connections were not made"
e2e_wait_log "$log" 'cannot accept \(Too many open files\)' 1 10

step "exhausted: CPU, reflector, address refresh"
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
echo "stampd CPU over 2 s while exhausted: $((t1 - t0)) ticks of $((2 * hz))"
# A spin on accept takes a whole core (2 s = $((2 * hz)) ticks).
((t1 - t0 < hz / 2)) || fail "stampd used $((t1 - t0)) ticks in 2 s: it spins"
e2e_wait_log "$log" 'reflector refresh: .*answering on the last known addresses' 1 5
[[ $(grep -c 'reflector refresh: ' "$log") -eq 1 ]] || fail "the refresh failure is logged more than once"
n=$(probe)
[[ $n -eq 44 ]] || fail "the reflector stopped answering while stampd is out of descriptors (reply $n)"
echo "reflector answers with 44 octets while stampd has no descriptor left"

step "descriptors back: status and metrics answer"
touch "$E2E_WORK/release"
ok=
for _ in $(seq 50); do
  if out=$(e2e_ctl "$NS_R" refl status 2>&1); then ok=1; break; fi
  sleep 0.2
done
[[ -n $ok ]] || fail "stampctl status does not answer after the descriptors came back: $out"
grep -q 'reflector' <<<"$out" || fail "unexpected status: $out"
in_ns "$NS_R" python3 -c "
import urllib.request
urllib.request.urlopen('http://127.0.0.1:9465/metrics', timeout=5).read()" ||
  fail "the metrics endpoint does not answer after the descriptors came back"
e2e_wait_log "$log" 'reflector refresh works again' 1 5
[[ $(probe) -eq 44 ]] || fail "the reflector does not answer afterwards"
kill -0 "$pid" || fail "stampd died"
echo "PASS"
