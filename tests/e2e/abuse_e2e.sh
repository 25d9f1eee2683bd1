#!/usr/bin/env bash
# abuse_e2e: two stampd reflectors, one per namespace, both on port 862,
# and a spoofed request between their reflector ports: a plain UDP socket in
# A bound to A's address and port 862 (free: the reflector is in tc, not a
# socket) sends one 44-octet request to B's port 862 over IPv4 and one over
# IPv6, exactly what an attacker forging A's address would send. Counted by
# both reflectors:
#
#  1. defaults: B refuses it (its source port is a reflector port): no reply;
#  2. answer_reflector_source_ports = true on both: B answers each once, A
#     refuses B's replies as reflected packets: one reply per request;
#  3. answer_reflected_packets = true as well, and a per-source limit of
#     50: the two reflectors ping-pong until the limit cuts it, which shows
#     that steps 1 and 2 can fail;
#  4. amplification: 0- and 14-octet requests from an ordinary port get no
#     reply by default (short_request), a 44-octet one a reply of 44.
#
#   abuse_e2e.sh STAMPD STAMPCTL
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" "jq python3" "$@"

e2e_hosts abuse 211 A "reflector A" B "reflector B"

write_configs() { # extra [reflector] lines for both
  local n
  for n in A B; do
    local ns=NS_$n
    e2e_config "$n" "${!ns}" <<EOT
[reflector]
$1
EOT
  done
}
ctl() { local ns=NS_$1; e2e_ctl "${!ns}" "$@"; }
# counters N: rx, reflected and drops of reflector N's interface.
counters() {
  local ns=NS_$1
  ctl "$1" --json status | jq -c --arg i "${!ns}" '.reflector.interfaces[$i] | {rx, reflected,
    reflector_source_port: .drops.reflector_source_port, reflected_packet: .drops.reflected_packet,
    short_request: .drops.short_request, rate_per_source: .drops.rate_per_source}'
}
# send NS SRC SPORT DST SIZE: one request of SIZE octets from SRC:SPORT
# (0: any port) to DST:862; prints the size of the reply, or -1 when none
# came within 500 ms.
send() {
  in_ns "$1" python3 - "$2" "$3" "$4" "$5" <<'PY'
import socket, struct, sys
src, sport, dst, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, sport))
s.settimeout(0.5)
# Sequence Number 1, T1 0, Error Estimate (S=1, unknown), SSID, MBZ.
s.sendto(struct.pack("!IQHH28x", 1, 0, 0x8001, 0)[:size], (dst, 862))
try:
    print(len(s.recv(4096)))
except socket.timeout:
    print(-1)
PY
}
reload_both() {
  local n
  for n in A B; do ctl "$n" reload >/dev/null || fail "reload of $n refused"; done
}
total() { jq -s '.[0].reflected + .[1].reflected' <<<"$1"$'\n'"$2"; }

write_configs ''
e2e_start "$NS_A" A
e2e_start "$NS_B" B

step "defaults: a request from A:862 to B:862 gets no reply (IPv4 and IPv6)"
send "$NS_A" "$A4" 862 "$B4" 44 >/dev/null
send "$NS_A" "$A6" 862 "$B6" 44 >/dev/null
sleep 0.5
a=$(counters A) b=$(counters B)
echo "A $a"
echo "B $b"
jq -e '.rx == 2 and .reflected == 0 and .reflector_source_port == 2' <<<"$b" >/dev/null ||
  fail "B: expected the request refused for its source port"
[[ $(total "$a" "$b") == 0 ]] || fail "expected no reply at all"

step "answer_reflector_source_ports = true: one reply each, A refuses them as reflected packets"
write_configs 'answer_reflector_source_ports = true'
reload_both
send "$NS_A" "$A4" 862 "$B4" 44 >/dev/null
send "$NS_A" "$A6" 862 "$B6" 44 >/dev/null
sleep 0.5
a=$(counters A) b=$(counters B)
echo "A $a"
echo "B $b"
jq -e '.reflected == 2' <<<"$b" >/dev/null || fail "B: expected exactly one reply per request"
jq -e '.rx == 2 and .reflected == 0 and .reflected_packet == 2' <<<"$a" >/dev/null ||
  fail "A: expected B's replies refused as reflected packets"
[[ $(total "$a" "$b") == 2 ]] || fail "expected one reply per request in all"

step "both defences off, rate_limit_per_source = 50: a loop, cut by the limit"
write_configs 'answer_reflector_source_ports = true
answer_reflected_packets = true
rate_limit_per_source = 50'
reload_both
before=$(total "$a" "$b")
send "$NS_A" "$A4" 862 "$B4" 44 >/dev/null
sleep 1
a=$(counters A) b=$(counters B)
echo "A $a"
echo "B $b"
loop=$(($(total "$a" "$b") - before))
echo "  replies: $loop"
((loop > 10)) || fail "expected the loop to run without the defences, got $loop replies"
((loop <= 2 * 50 + 2)) || fail "expected the per-source limit to cut the loop, got $loop replies"
jq -s -e 'map(.rate_per_source) | add == 1' <<<"$a"$'\n'"$b" >/dev/null ||
  fail "expected one rate_per_source drop to end the loop"

step "amplification: short requests get no reply by default, 44 octets get 44"
write_configs ''
reload_both
for size in 0 14; do
  got=$(send "$NS_A" "$A4" 0 "$B4" "$size")
  [[ $got == -1 ]] || fail "a $size-octet request got a $got-octet reply"
done
got=$(send "$NS_A" "$A4" 0 "$B4" 44)
[[ $got == 44 ]] || fail "a 44-octet request got '$got'"
b=$(counters B)
echo "B $b"
jq -e '.short_request == 2' <<<"$b" >/dev/null || fail "B: expected 2 short_request drops"
echo "abuse_e2e: ok"
