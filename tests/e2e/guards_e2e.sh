#!/usr/bin/env bash
# guards_e2e: the reflector's guards with real packets. A client namespace
# with several source addresses sends STAMP requests from plain UDP sockets
# (python3) to stampd's reflector in another namespace:
#
#  1. allow = a /25 and a /120, deny = a /26 inside the /25: sources inside
#     get every reply, sources outside (IPv4 and IPv6) and in the deny hole
#     get nothing back, not even an ICMP error (a connected socket would
#     report one); `stampctl --json status`, the text status and /metrics
#     show the not_allowed drops;
#  2. reload with rate_limit_per_source = 1/s, burst 5: 20 requests at once
#     from each of two sources, exactly 5 replies each;
#  3. reload with rate_limit = 1/s, burst 3 for all sources: 4 requests
#     from each of two sources, exactly 3 replies in all;
#  4. reload without guards (the default rate limits set to 0): the source
#     refused before is answered.
#
# Counts, not timing: a burst of 20 takes milliseconds, and a 1/s bucket
# refills one request per second.
#
#   guards_e2e.sh STAMPD STAMPCTL
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" "jq python3 curl" "$@"

NS_C=stpgrd$$c
NS_R=stpgrd$$r
C4=10.207.1.1 R4=10.207.1.2 C6=fd00:5354:67::1 R6=fd00:5354:67::2
C4_OUT=10.207.1.200     # outside the allowed /25
C4_DENIED=10.207.1.65   # inside the /25, in the denied /26
C6_OUT=fd00:5354:67::1:1 # outside the allowed /120
METRICS=127.0.0.1:9862  # inside the reflector's namespace
step "namespaces $NS_C (client, five source addresses) and $NS_R (reflector)"
e2e_two_hosts "$NS_C" "$C4" "$C6" "$NS_R" "$R4" "$R6"
in_ns "$NS_C" ip addr add "$C4_OUT/24" dev "$NS_C"
in_ns "$NS_C" ip addr add "$C4_DENIED/24" dev "$NS_C"
in_ns "$NS_C" ip addr add "$C6_OUT/64" dev "$NS_C" nodad

# probe.py DST COUNT SRC...: COUNT 44-octet requests from each SRC (a
# connected UDP socket bound to it), interleaved, as fast as they go; then
# replies are collected for 700 ms. Prints {SRC: {"replies": N, "errors": N}};
# an error is an ICMP error the socket reported (e.g. port unreachable).
cat >"$E2E_WORK/probe.py" <<'PY'
import json, select, socket, struct, sys, time

dst, count, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
socks = []
for src in srcs:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.connect((dst, 862))
    socks.append(s)
out = {src: {"replies": 0, "errors": 0} for src in srcs}
for seq in range(count):
    for src, s in zip(srcs, socks):
        # Sequence Number, T1, Error Estimate (S=1, unknown), SSID, MBZ.
        try:
            s.send(struct.pack("!IQHH28x", seq, 0, 0x8001, 0x4753))
        except OSError:  # an ICMP error to an earlier request
            out[src]["errors"] += 1
deadline = time.monotonic() + 0.7
while (left := deadline - time.monotonic()) > 0:
    ready, _, _ = select.select(socks, [], [], left)
    for s in ready:
        src = srcs[socks.index(s)]
        try:
            data = s.recv(4096)
        except OSError:
            out[src]["errors"] += 1
            continue
        # A reflector reply: 44 octets, the Session-Sender Sequence Number
        # at 24 one of ours, the SSID copied.
        if len(data) == 44 and struct.unpack_from("!I", data, 24)[0] < count \
                and struct.unpack_from("!H", data, 14)[0] == 0x4753:
            out[src]["replies"] += 1
print(json.dumps(out))
PY
probe() { in_ns "$NS_C" python3 "$E2E_WORK/probe.py" "$@"; }
# expect JSON SRC REPLIES: SRC got exactly REPLIES and no ICMP error.
expect() {
  jq -e --arg s "$2" --argjson n "$3" '.[$s].replies == $n and .[$s].errors == 0' <<<"$1" >/dev/null ||
    fail "from $2: expected $3 replies and no error, got $(jq -c --arg s "$2" '.[$s]' <<<"$1")"
}

write_config() { # extra [reflector] lines
  e2e_config r "$NS_R" <<EOT
[reflector]
$1
[metrics]
listen = "$METRICS"
EOT
}
rctl() { e2e_ctl "$NS_R" r "$@"; }
drops() { # REASON -> count on the reflector's interface
  rctl --json status | jq -e --arg i "$NS_R" --arg r "$1" '.reflector.interfaces[$i].drops[$r]'
}
reload() {
  rctl reload >"$E2E_WORK/reload.out" 2>&1 || { cat "$E2E_WORK/reload.out"; fail "reload refused"; }
}

write_config 'allow = ["10.207.1.0/25", "fd00:5354:67::/120"]
deny = ["10.207.1.64/26"]'
e2e_start "$NS_R" r

step "allow-list (default rate limits): sources inside answered, outside and denied get nothing back"
out=$(probe "$R4" 5 "$C4" "$C4_OUT" "$C4_DENIED")
echo "IPv4: $out"
expect "$out" "$C4" 5
expect "$out" "$C4_OUT" 0
expect "$out" "$C4_DENIED" 0
out=$(probe "$R6" 5 "$C6" "$C6_OUT")
echo "IPv6: $out"
expect "$out" "$C6" 5
expect "$out" "$C6_OUT" 0

rctl --json status >"$E2E_WORK/status.json"
jq -c --arg i "$NS_R" '{guards: .reflector.guards, counters: (.reflector.interfaces[$i] | {rx, reflected, drops})}' \
  "$E2E_WORK/status.json"
jq -e --arg i "$NS_R" '.reflector.interfaces[$i] | .rx == 25 and .reflected == 10 and .drops.not_allowed == 15
    and .drops.rate_per_source == 0 and .drops.rate_global == 0' "$E2E_WORK/status.json" >/dev/null ||
  fail "status: expected rx 25, reflected 10, not_allowed 15"
jq -e '.reflector.guards | .allow == ["10.207.1.0/25", "fd00:5354:67::/120"] and .deny == ["10.207.1.64/26"]
    and .rate_limit == 50000 and .rate_limit_per_source == 5000 and .rate_limit_ipv6_prefix == 64' \
  "$E2E_WORK/status.json" >/dev/null ||
  fail "status does not show the guards as configured"
rctl status | tee "$E2E_WORK/status.txt" | grep -E 'guards|drops'
grep -q 'guards: sources in 10.207.1.0/25, fd00:5354:67::/120 except 10.207.1.64/26; per source 5000/s (burst 5000); all sources 50000/s (burst 50000)' \
  "$E2E_WORK/status.txt" || fail "text status: no guards line"
grep -q 'not_allowed=15' "$E2E_WORK/status.txt" || fail "text status: no not_allowed=15"
in_ns "$NS_R" curl -sf "http://$METRICS/metrics" >"$E2E_WORK/metrics.txt" || fail "no /metrics"
grep -F "stamp_reflector_dropped_packets_total{interface=\"$NS_R\",reason=\"not_allowed\"} 15" \
  "$E2E_WORK/metrics.txt" || fail "/metrics: no not_allowed drops"

step "reload: rate_limit_per_source = 1/s, burst 5: 20 at once from each of two sources"
write_config 'allow = ["10.207.1.0/25", "fd00:5354:67::/120"]
rate_limit_per_source = 1
rate_limit_per_source_burst = 5'
reload
out=$(probe "$R4" 20 "$C4" "$C4_OUT")
echo "IPv4: $out"
expect "$out" "$C4" 5
expect "$out" "$C4_OUT" 0
out=$(probe "$R6" 20 "$C6")
echo "IPv6: $out"
expect "$out" "$C6" 5
[[ $(drops rate_per_source) == 30 ]] || fail "status: expected 30 rate_per_source drops, got $(drops rate_per_source)"
[[ $(drops not_allowed) == 35 ]] || fail "status: expected 35 not_allowed drops, got $(drops not_allowed)"

step "reload: rate_limit = 1/s, burst 3, for all sources together"
write_config 'rate_limit = 1
rate_limit_burst = 3'
reload
out=$(probe "$R4" 4 "$C4" "$C4_OUT")
echo "IPv4: $out"
total=$(jq '[.[].replies] | add' <<<"$out")
[[ $total == 3 ]] || fail "expected 3 replies in all, got $total: $out"
jq -e '[.[].errors] | add == 0' <<<"$out" >/dev/null || fail "ICMP errors: $out"
[[ $(drops rate_global) == 5 ]] || fail "status: expected 5 rate_global drops, got $(drops rate_global)"

step "reload without guards: the source refused before is answered"
write_config 'rate_limit = 0
rate_limit_per_source = 0'
reload
out=$(probe "$R4" 5 "$C4_OUT" "$C4_DENIED")
echo "IPv4: $out"
expect "$out" "$C4_OUT" 5
expect "$out" "$C4_DENIED" 5
rctl --json status | jq -e '.reflector.guards | .allow == [] and .deny == [] and .rate_limit == 0' >/dev/null ||
  fail "status still shows guards"
echo "guards_e2e: ok"
