#!/usr/bin/env bash
# auth_e2e: authenticated mode (RFC 8762 4.2.2, 4.3.2, 4.4) across a veth
# pair, the reflector's HMAC checked and made in the kernel.
#
#   auth_e2e.sh STAMPD STAMPCTL AUTH_SENDER
#
# Namespace R runs an authenticated stampd reflector (key "k1"); namespace S
# runs stampd as a sender. Checked:
#   - stampd to stampd, IPv4 and IPv6: every reply arrives and verifies;
#   - stamp_auth_sender (OpenSSL HMAC, plain socket, no stampd code) gets
#     verified replies with T1 <= T2 <= T3 <= T4, IPv4 and IPv6, also with
#     padding (size 200);
#   - a wrong key, or an unauthenticated request, gets nothing back and is
#     counted by reason in `stampctl status`;
#   - an authenticated session with TLVs: the HMAC TLV is verified by the
#     reflector and by the sender, both ways (RFC 8972 4.8);
#   - a key rotated in the key file applies at reload;
#   - the key never appears in status, logs or results.
# Exit 77: skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL AUTH_SENDER" jq "$@"
K1=6b31a9c2f0e14d7788aa55cc33ee1100d4c3b2a1908f7e6d5c4b3a2918070605
K2=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
e2e_hosts au 91 S sender R "authenticated reflector"

printf '[keys]\nk1 = "%s"\n' "$K1" >"$E2E_WORK/r-keys.toml"
printf '[keys]\nk1 = "%s"\nwrong = "%s"\n' "$K1" "$K2" >"$E2E_WORK/s-keys.toml"
chmod 600 "$E2E_WORK/r-keys.toml" "$E2E_WORK/s-keys.toml"
e2e_config r "$NS_R" <<EOT
key_file = "$E2E_WORK/r-keys.toml"
[reflector]
auth_key = "k1"
EOT
e2e_sender_config s "$NS_S" <<EOT
key_file = "$E2E_WORK/s-keys.toml"
[[session]]
name = "auth4"
target = "$R4"
count = 50
interval = "5ms"
auth_key = "k1"
[[session]]
name = "auth6"
target = "$R6"
count = 50
interval = "5ms"
auth_key = "k1"
size = 300
[[session]]
name = "authtlv"
target = "$R4"
count = 30
interval = "5ms"
auth_key = "k1"
tlv_timestamp_info = true
tlv_cos = { dscp = 10 }
tlv_direct_measurement = true
tlv_padding = 16
[[session]]
name = "wrongkey"
target = "$R4"
count = 20
interval = "5ms"
timeout = "300ms"
auth_key = "wrong"
[[session]]
name = "plain"
target = "$R4"
count = 20
interval = "5ms"
timeout = "300ms"
EOT
e2e_start "$NS_R" r
e2e_start "$NS_S" s
sctl() { e2e_ctl "$NS_S" s "$@"; }
rctl() { e2e_ctl "$NS_R" r "$@"; }
drops() { rctl --json status | jq -c "[.reflector.interfaces[]] | first | {verified: .auth_verified, failed: .drops.auth_failed, short: .drops.auth_short, no_key: .drops.auth_no_key}"; }

for name in auth4 auth6; do
  step "stampd to stampd, $name"
  sctl --json session start "$name" >"$E2E_WORK/$name.json"
  jq -c '{session, sent, received, lost, authenticated, auth_failures, rtt: .rtt_ns.avg}' "$E2E_WORK/$name.json"
  jq -e '.sent == 50 and .received == 50 and .lost == 0 and .authenticated == true and .auth_failures == 0' \
    "$E2E_WORK/$name.json" >/dev/null || fail "$name: not 50 of 50 verified"
done
jq -e '.forward_ns.min >= 0 and .backward_ns.min >= 0 and .rtt_ns.max < 50000000' "$E2E_WORK/auth4.json" >/dev/null ||
  fail "auth4: implausible delays: $(jq -c '{rtt_ns, forward_ns, backward_ns}' "$E2E_WORK/auth4.json")"
step "authenticated session with TLVs and the HMAC TLV (RFC 8972 4.8) both ways"
sctl --json session start authtlv >"$E2E_WORK/authtlv.json"
jq -c '{sent, received, auth_failures, tlvs: (.tlvs | {replies, integrity_failed, hmac_verified, hmac_failed,
  ts: .timestamp_info.received, cos: .class_of_service.last, dm: .direct_measurement.received})}' "$E2E_WORK/authtlv.json"
jq -e '.sent == 30 and .received == 30 and .auth_failures == 0 and .tlvs.replies == 30 and
       .tlvs.integrity_failed == 0 and .tlvs.hmac_verified == 30 and .tlvs.hmac_failed == 0 and
       .tlvs.timestamp_info.received == 30 and .tlvs.direct_measurement.received == 30 and
       .tlvs.class_of_service.received == 30' "$E2E_WORK/authtlv.json" >/dev/null ||
  fail "authtlv: TLVs or their HMAC did not come back verified"
before=$(drops)
step "reflector counters: $before"
jq -e '.verified >= 130 and .failed == 0' <<<"$before" >/dev/null || fail "reflector did not count 130 verified"

for t in "$R4" "$R6"; do
  for size in 112 200; do
    step "OpenSSL test sender to $t, size $size"
    out=$(in_ns "$NS_S" "$AUTH_SENDER" --target "$t" --key "$K1" --count 30 --interval-ms 5 --size "$size")
    echo "$out"
    jq -e '.sent == 30 and .received == 30 and .hmac_ok == 30 and .hmac_bad == 0 and .malformed == 0' <<<"$out" >/dev/null ||
      fail "the OpenSSL sender did not get 30 verified replies from $t"
  done
done

step "OpenSSL test sender with a wrong key: nothing back"
out=$(in_ns "$NS_S" "$AUTH_SENDER" --target "$R4" --key "$K2" --count 10 --interval-ms 5 --timeout-ms 300)
echo "$out"
jq -e '.sent == 10 and .received == 0 and .hmac_ok == 0 and .hmac_bad == 0' <<<"$out" >/dev/null ||
  fail "a wrong key got replies"

step "stampd session with a wrong key, and an unauthenticated one"
sctl --json session start wrongkey >"$E2E_WORK/wrongkey.json" || true
jq -e '.sent == 20 and .received == 0' "$E2E_WORK/wrongkey.json" >/dev/null ||
  fail "wrongkey: replies came back: $(cat "$E2E_WORK/wrongkey.json")"
sctl --json session start plain >"$E2E_WORK/plain.json" || true
jq -e '.sent == 20 and .received == 0' "$E2E_WORK/plain.json" >/dev/null ||
  fail "plain: an unauthenticated request was answered: $(cat "$E2E_WORK/plain.json")"
after=$(drops)
step "reflector counters: $after"
jq -e --argjson b "$before" '.failed - $b.failed == 30 and .short - $b.short == 20' <<<"$after" >/dev/null ||
  fail "drops not counted by reason (want 30 failed: 10 OpenSSL + 20 stampd, 20 short)"

step "key rotation: a new k1 in the reflector's key file applies at reload"
printf '[keys]\nk1 = "%s"\n' "$K2" >"$E2E_WORK/r-keys.toml"
rctl reload >/dev/null
sctl --json session start --target "$R4" --count 10 --interval 5ms --timeout 300ms --auth-key k1 >"$E2E_WORK/rot1.json" || true
jq -e '.received == 0' "$E2E_WORK/rot1.json" >/dev/null || fail "the old key still works after rotation"
sctl --json session start --target "$R4" --count 10 --interval 5ms --auth-key wrong >"$E2E_WORK/rot2.json"
jq -e '.received == 10' "$E2E_WORK/rot2.json" >/dev/null ||
  fail "the new key does not work after rotation: $(cat "$E2E_WORK/rot2.json")"

step "a key file other users can read is refused at reload; the running keys stay"
chmod 644 "$E2E_WORK/r-keys.toml"
out=$(rctl reload 2>&1) && fail "reload accepted a world-readable key file"
grep -q "open to other users" <<<"$out" || fail "no clear error: $out"
chmod 600 "$E2E_WORK/r-keys.toml"
sctl --json session start --target "$R4" --count 5 --interval 5ms --auth-key wrong | jq -e '.received == 5' >/dev/null ||
  fail "the running key was lost by the refused reload"

step "no secret in status, logs or results"
for k in "$K1" "$K2"; do
  for f in "$E2E_WORK/r.log" "$E2E_WORK/s.log"; do
    grep -qi "$k" "$f" && fail "a key appears in $f"
  done
  rctl --json status | grep -qi "$k" && fail "a key appears in the reflector's status"
  sctl --json results | grep -qi "$k" && fail "a key appears in results"
done
rctl --json status | jq -e '.reflector.authenticated == true and .reflector.auth_key == "k1"' >/dev/null ||
  fail "status does not say the reflector is authenticated"
echo "PASS"
