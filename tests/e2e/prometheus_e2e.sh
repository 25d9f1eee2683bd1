#!/usr/bin/env bash
# prometheus_e2e: Debian's real Prometheus server scrapes stampd's /metrics
# and a PromQL query through its HTTP API finds the session's RTT histogram,
# its packet counters and the reflector's counters. Everything runs in a
# throwaway network namespace (loopback only): stampd reflects on lo and a
# scheduled session measures towards it.
#
# Usage: prometheus_e2e.sh STAMPD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init STAMPD "curl jq" "$@"
command -v prometheus >/dev/null || skip "prometheus is not installed (Debian package prometheus)"

ns=stpprom$$
e2e_netns "$ns"
in_ns "$ns" ip link set lo up
cat >"$E2E_WORK/stamp.toml" <<CFG
[daemon]
socket = "$E2E_WORK/stampd.sock"
bpffs = "/sys/fs/bpf/stpprom$$"
interfaces = ["lo"]
[metrics]
listen = "127.0.0.1:9862"
[[session]]
name = "loop"
target = "127.0.0.1"
count = 20
interval = "10ms"
schedule = "@every 1s"
CFG
cat >"$E2E_WORK/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: stampd
    static_configs:
      - targets: ["127.0.0.1:9862"]
CFG

step "stampd with [metrics] listen = 127.0.0.1:9862"
e2e_stampd "$ns" "$E2E_WORK/stamp.toml" "$E2E_WORK/stampd.log"
in_ns "$ns" curl -sf http://127.0.0.1:9862/metrics >"$E2E_WORK/metrics.txt" ||
  fail "GET /metrics failed"
grep -q '^# TYPE stamp_session_rtt_seconds histogram$' "$E2E_WORK/metrics.txt" ||
  fail "no rtt histogram family in /metrics"

step "Prometheus scraping it every second"
in_ns "$ns" prometheus --config.file="$E2E_WORK/prometheus.yml" \
  --storage.tsdb.path="$E2E_WORK/tsdb" --web.listen-address=127.0.0.1:9090 \
  >"$E2E_WORK/prometheus.log" 2>&1 &
E2E_PIDS+=($!)
E2E_LOGS+=("$E2E_WORK/prometheus.log")

query() { # PROMQL -> the first value, or empty
  in_ns "$ns" curl -sf --get http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty'
}
rtt=
for _ in $(seq 60); do
  rtt=$(query 'stamp_session_rtt_seconds_count{session="loop",target="127.0.0.1"}' 2>/dev/null || true)
  [[ -n $rtt && $rtt != 0 ]] && break
  sleep 0.5
done
[[ -n $rtt && $rtt != 0 ]] || fail "Prometheus has no stamp_session_rtt_seconds_count for the session"
up=$(query 'up{job="stampd"}')
sent=$(query 'stamp_session_sent_packets_total{session="loop"}')
received=$(query 'stamp_session_received_packets_total{session="loop"}')
lost=$(query 'stamp_session_lost_packets_total{session="loop"}')
p99=$(query 'histogram_quantile(0.99, stamp_session_rtt_seconds_bucket{session="loop"})')
reflected=$(query 'stamp_reflector_reflected_packets_total{interface="lo"}')
synced=$(query 'stamp_clock_synchronized')
echo "PromQL: up=$up rtt_count=$rtt sent=$sent received=$received lost=$lost rtt_p99=${p99}s reflected=$reflected clock_synchronized=$synced"
[[ $up == 1 ]] || fail "scrape target not up"
((sent > 0 && received > 0)) || fail "no packet counters"
[[ $lost == 0 ]] || fail "lost packets on loopback: $lost"
[[ -n $p99 ]] && awk -v p="$p99" 'BEGIN{exit !(p > 0 && p < 0.01)}' ||
  fail "histogram_quantile p99 of the rtt implausible: $p99"
((reflected > 0)) || fail "no reflector counter"
[[ $synced == 0 || $synced == 1 ]] || fail "clock gauge missing"
echo "prometheus_e2e: ok"
