#!/usr/bin/env bash
# Session-scale benchmark: what N continuous sessions cost the sender stampd.
#
#   sudo tests/bench/sessions.sh [--build DIR] [--counts "100 1000 10000"]
#                                [--interval-ms MS] [--window-s S]
#                                [--warmup S] [--duration S] [--soak S]
#                                [--out FILE]
#
# For each N of --counts, in a fresh pair of network namespaces joined by a
# veth pair: a reflector stampd in one (its rate limits off), a sender
# stampd in the other, and N ad-hoc sessions (`count = 0`, one packet per
# --interval-ms, default 1000, windows of --window-s, default 30) started
# over the control socket, spread evenly over one interval as a script
# would start them. After --warmup seconds (default 15) the sender's CPU
# time (/proc/PID/schedstat: every thread, exact nanoseconds) is read over
# --duration seconds (default 30), then one Prometheus scrape tells which
# sessions received every reply (`stamp_session_lost_packets_total` 0 and
# some received). Printed per N:
#
#   cpu%      stampd's CPU time over the duration, as a share of one core
#   us/pkt    that CPU time per test packet sent (and its reply received)
#   rss_mb    VmRSS at the end; kb/sess: (RSS - RSS with no session) / N
#   fds       open descriptors of the sender stampd
#   start_s   wall time to start the N sessions over the control socket
#   scrape_ms one GET /metrics; list_ms: one `session.list`
#   all_rx    sessions that received every reply / N
#
# --soak S (0: off) keeps the largest N running S more seconds and prints
# RSS and fds once a minute: neither may grow.
#
# Traffic stays in the two namespaces; both are removed on exit, also on
# failure. See docs/performance.md, "Sessions at scale".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$here/../.." && pwd)/build
counts="100 1000 10000"
interval_ms=1000
window_s=30
warmup=15
duration=30
soak=0
out=""

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --counts) counts=$2; shift 2 ;;
    --interval-ms) interval_ms=$2; shift 2 ;;
    --window-s) window_s=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --soak) soak=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "sessions.sh: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

STAMPD=$build/daemon/stampd
STAMPCTL=$build/ctl/stampctl
[[ -x $STAMPD ]] || { echo "sessions.sh: no $STAMPD (build first, or --build DIR)" >&2; exit 1; }
source "$here/../e2e/lib.sh"
e2e_require_root python3 curl
e2e_begin

rows=()
run_one() { # N
  local n=$1 octet=$((70 + RANDOM % 50))
  e2e_hosts "b$octet" "$octet" S sender R reflector
  e2e_config refl "$NS_R" <<CFG
[reflector]
rate_limit = 0
rate_limit_per_source = 0
CFG
  e2e_start "$NS_R" refl
  local port=$((9600 + RANDOM % 300))
  e2e_sender_config send "$NS_S" <<CFG
[limits]
max_sessions = $((n + 100))
max_sessions_per_user = $((n + 100))
adhoc_runs_kept = 1
[metrics]
listen = "127.0.0.1:$port"
CFG
  e2e_start "$NS_S" send
  local pid=$E2E_STAMPD_PID
  sleep 1
  local base_rss
  base_rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status)

  step "N=$n: starting $n sessions"
  in_ns "$NS_S" python3 - "$E2E_WORK/send.sock" "$R4" "$n" "$interval_ms" "$window_s" \
    "$warmup" "$duration" "$pid" "$port" "$base_rss" "$soak" >"$E2E_WORK/row" <<'PY'
import json, socket, sys, time, urllib.request
path, target, n, interval_ms, window_s, warmup, duration, pid, port, base_rss, soak = sys.argv[1:]
n, interval_ms, window_s = int(n), int(interval_ms), int(window_s)
warmup, duration, soak = float(warmup), float(duration), float(soak)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rw")
def call(i, command, args):
    f.write(json.dumps({"version": 1, "id": i, "command": command, "args": args}) + "\n")
def cputime():
    with open(f"/proc/{pid}/schedstat") as h:
        return int(h.read().split()[0])
def status(key):
    with open(f"/proc/{pid}/status") as h:
        for line in h:
            if line.startswith(key + ":"):
                return int(line.split()[1])
def fds():
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))
def listing():
    t = time.monotonic()
    call(0, "session.list", {})
    f.flush()
    r = json.loads(f.readline())
    return r["result"]["sessions"], time.monotonic() - t
def scrape():
    t = time.monotonic()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60).read().decode()
    return body, time.monotonic() - t

# Start: n requests spread over one interval, in 20 slices.
t0 = time.monotonic()
refused = 0
slices = 20
for k in range(slices):
    lo, hi = n * k // slices, n * (k + 1) // slices
    for i in range(lo, hi):
        call(i, "session.start", {"target": target, "name": f"b{i}", "count": 0,
                                  "interval_ns": interval_ms * 1000000,
                                  "window_ns": window_s * 1000000000})
    f.flush()
    for i in range(lo, hi):
        r = json.loads(f.readline())
        if not r.get("ok"):
            refused += 1
            if refused < 4:
                print("refused:", r, file=sys.stderr)
    wait = t0 + (k + 1) * interval_ms / 1000 / slices - time.monotonic()
    if wait > 0:
        time.sleep(wait)
start_s = time.monotonic() - t0
time.sleep(warmup)
sessions, _ = listing()
sent0 = sum(x.get("sent", 0) for x in sessions)
c0, w0 = cputime(), time.monotonic()
time.sleep(duration)
c1, w1 = cputime(), time.monotonic()
sessions, list_s = listing()
sent1 = sum(x.get("sent", 0) for x in sessions)
pkts = max(sent1 - sent0, 1)
body, scrape_s = scrape()
lost, received = {}, {}
for line in body.splitlines():
    for name, into in (("stamp_session_lost_packets_total{", lost),
                       ("stamp_session_received_packets_total{", received)):
        if line.startswith(name):
            labels, value = line[len(name):].rsplit("} ", 1)
            sess = labels.split('session="', 1)[1].split('"', 1)[0]
            into[sess] = float(value)
all_rx = sum(1 for k, v in received.items() if v > 0 and lost.get(k, 1) == 0)
rss = status("VmRSS")
cpu = (c1 - c0) / ((w1 - w0) * 1e9)
print(f"{n} {n - refused} {cpu * 100:.2f} {(c1 - c0) / pkts / 1000:.1f} {rss / 1024:.1f} "
      f"{(rss - int(base_rss)) / max(n, 1):.1f} {fds()} {start_s:.2f} {scrape_s * 1000:.0f} "
      f"{list_s * 1000:.0f} {all_rx}/{n}")
sys.stdout.flush()
if soak > 0:
    end = time.monotonic() + soak
    while time.monotonic() < end:
        time.sleep(min(60, max(end - time.monotonic(), 0)))
        print(f"soak t={soak - (end - time.monotonic()):.0f}s rss_kb={status('VmRSS')} fds={fds()}",
              file=sys.stderr)
PY
  local row
  row=$(cat "$E2E_WORK/row")
  rows+=("$row")
  printf '%s\n' "$row"
  # Stop timing: SIGTERM to exit with N sessions running.
  local t=$SECONDS
  e2e_sigterm "$pid"
  step "N=$n: stampd stopped in $((SECONDS - t)) s (exit $E2E_RC)"
  for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  E2E_PIDS=()
  for c in "${E2E_CONFIGS[@]}"; do "$STAMPD" --teardown --config "$c" >/dev/null 2>&1 || true; done
  E2E_CONFIGS=()
  for ns in "${E2E_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  E2E_NAMESPACES=()
}

for n in $counts; do
  [[ $n -gt 1 && $soak -gt 0 && $n != "${counts##* }" ]] && saved_soak=$soak && soak=0
  run_one "$n"
  [[ -n ${saved_soak:-} ]] && soak=$saved_soak && saved_soak=
done

{
  echo "sessions.sh: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') on $(uname -r), $(nproc) CPUs, interval ${interval_ms} ms, window ${window_s} s, ${duration} s measured after ${warmup} s"
  printf '%8s %8s %7s %7s %8s %8s %7s %8s %9s %8s %10s\n' N started cpu% us/pkt rss_mb kb/sess fds start_s scrape_ms list_ms all_rx
  for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%8s %8s %7s %7s %8s %8s %7s %8s %9s %8s %10s\n' $r
  done
} | tee ${out:+"$out"}
