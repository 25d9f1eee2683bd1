#!/usr/bin/env bash
# notify_e2e: stampd speaks systemd's notify protocol (sd_notify(3)) without
# systemd: a datagram socket stands in for systemd's NOTIFY_SOCKET and
# records what stampd says: READY=1 with a STATUS once running, WATCHDOG=1
# at half of WATCHDOG_USEC from the event loop, RELOADING=1 then READY=1
# around a reload (also a refused one), STOPPING=1 at SIGTERM. The system
# tier checks the same with the real systemd.
#
# Usage: notify_e2e.sh STAMPD STAMPCTL
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" python3 "$@"

ns=stpnotify$$
e2e_netns "$ns"
in_ns "$ns" ip link set lo up
sock=$E2E_WORK/notify.sock
rec=$E2E_WORK/notify.log
cat >"$E2E_WORK/cfg.toml" <<CFG
[daemon]
socket = "$E2E_WORK/stampd.sock"
bpffs = "/sys/fs/bpf/stpnotify$$"
interfaces = ["lo"]
[reflector]
ports = [862]
CFG

step "listening as systemd would, on $sock"
python3 - "$sock" "$rec" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            if line:
                out.write("%.3f %s\n" % (time.monotonic(), line))
PY
E2E_PIDS+=($!)
for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done

step "stampd with NOTIFY_SOCKET and a 400 ms watchdog"
NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 e2e_stampd "$ns" "$E2E_WORK/cfg.toml" "$E2E_WORK/stampd.log"
pid=$E2E_STAMPD_PID
for _ in $(seq 50); do grep -q 'READY=1' "$rec" && break; sleep 0.1; done
grep -q '^[0-9.]* READY=1$' "$rec" || fail "no READY=1: $(cat "$rec")"
grep -q 'STATUS=reflecting on 1 interface(s), port(s) 862' "$rec" ||
  fail "no STATUS naming the reflector: $(cat "$rec")"

sleep 2
n=$(grep -c 'WATCHDOG=1' "$rec" || true)
echo "watchdog pings in about 2 s: $n (expected about 10, every 200 ms)"
((n >= 7 && n <= 14)) || fail "watchdog pings: $n"

step "reload: RELOADING=1 then READY=1"
before=$(grep -c 'READY=1' "$rec")
"$STAMPCTL" --socket "$E2E_WORK/stampd.sock" reload >/dev/null
sleep 0.3
grep -q 'RELOADING=1' "$rec" || fail "no RELOADING=1"
grep -q 'MONOTONIC_USEC=' "$rec" || fail "RELOADING=1 without MONOTONIC_USEC"
after=$(grep -c 'READY=1' "$rec")
((after == before + 1)) || fail "READY=1 count $before -> $after after a reload"
# RELOADING must come before the new READY.
awk '/RELOADING=1/{r=NR} /READY=1/{y=NR} END{exit !(r && y > r)}' "$rec" ||
  fail "READY=1 did not follow RELOADING=1"

step "refused reload (SIGHUP with a bad file): READY=1 again, stampd keeps running"
cp "$E2E_WORK/cfg.toml" "$E2E_WORK/good.toml"
echo 'bogus = 1' >>"$E2E_WORK/cfg.toml"
kill -HUP "$pid"
sleep 0.5
after2=$(grep -c 'READY=1' "$rec")
((after2 == after + 1)) || fail "no READY=1 after a refused reload"
grep -q 'reload failed, keeping the running configuration: .*cfg.toml:[0-9]*:[0-9]*: ' \
  "$E2E_WORK/stampd.log" || fail "refused reload not logged with file:line:column"
kill -0 "$pid" || fail "stampd died on a refused reload"
# The cleanup's `stampd --teardown --config` needs a file it can read.
cp "$E2E_WORK/good.toml" "$E2E_WORK/cfg.toml"

step "SIGTERM: STOPPING=1"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
sleep 0.2
grep -q 'STOPPING=1' "$rec" || fail "no STOPPING=1"
echo "notify_e2e: READY, STATUS, $n watchdog pings in 2 s, RELOADING/READY, STOPPING: ok"
