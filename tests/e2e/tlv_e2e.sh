#!/usr/bin/env bash
# tlv_e2e: RFC 8972 TLVs, stampd to stampd. Each TLV type makes the round
# trip: the sender (namespace A) puts it in every test packet, the reflector
# (namespace B, stateful, answering in tc) fills it in, and the run's JSON
# summary says what came back, checked here against what the namespaces
# really are: the reflector's and the sender's addresses, ports and MAC
# (Location), software timestamps taken in tc (Timestamp Information), the
# DSCP asked for and the one the replies arrived with (Class of Service),
# the reflector's counters (Direct Measurement), the acknowledged Access
# Report, and the previous reply's T3 (Follow-Up Telemetry), which must be
# the very T3 the sender saw in that reply.
#
#   tlv_e2e.sh STAMPD STAMPCTL
#
# Exit 77: skipped, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
e2e_init "STAMPD STAMPCTL" jq "$@"
COUNT=12
e2e_hosts tlv 83 A sender B "stateful reflector, TLVs"
MAC_A=$(in_ns "$NS_A" ip -o link show dev "$NS_A" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
[[ -n $MAC_A ]] || fail "no MAC address on $NS_A"

e2e_sender_config a "$NS_A" </dev/null
for fam in 4 6; do
  target=$B4
  [[ $fam == 6 ]] && target=$B6
  cat >>"$E2E_WORK/a.toml" <<EOT
[[session]]
name = "all$fam"
target = "$target"
count = $COUNT
interval = "20ms"
dscp = 10
size = 400
reflector_mode = "stateful"
tlv_location = true
tlv_timestamp_info = true
tlv_cos = { dscp = 46 }
tlv_direct_measurement = true
tlv_access_report = { access_id = 1, return_code = 1 }
tlv_follow_up = true
tlv_padding = 20
EOT
done
e2e_config b "$NS_B" <<EOT
[reflector]
mode = "stateful"
tlv_cos_allowed_dscp = [0, 10, 46]
EOT
e2e_start "$NS_B" b
B_PID=$E2E_STAMPD_PID
e2e_start "$NS_A" a
ctl() { e2e_ctl "$NS_A" a "$@"; }
rctl() { e2e_ctl "$NS_B" b "$@"; }
rctl --json status >"$E2E_WORK/status0.json"
if jq -e '.clock.synchronized' "$E2E_WORK/status0.json" >/dev/null; then SYNC=ntp; else SYNC=local; fi

# check FILE JQ_EXPR MESSAGE: fails with the summary's "tlvs" shown.
check() {
  jq -e "$2" "$1" >/dev/null ||
    fail "$3: $(jq -c '.tlvs' "$1")"
}

for fam in 4 6; do
  f=$E2E_WORK/all$fam.json
  step "session all$fam: every TLV type in every packet (IPv$fam)"
  ctl --json session start "all$fam" >"$f"
  jq -c '{session, sent, received, lost, tlvs: (.tlvs | {replies, integrity_failed, stopped_malformed})}' "$f"
  check "$f" ".sent == $COUNT and .received == $COUNT" "not $COUNT of $COUNT"
  check "$f" ".tlvs.replies == $COUNT and .tlvs.integrity_failed == 0 and .tlvs.stopped_malformed == 0 and .tlvs.capture_cut == 0" \
    "every reply carries its TLVs, none flagged"
  for t in location timestamp_info class_of_service direct_measurement access_report follow_up extra_padding; do
    check "$f" ".tlvs.$t.unrecognized == 0 and .tlvs.$t.malformed == 0 and .tlvs.$t.integrity == 0" \
      "$t came back flagged"
  done
  for t in location timestamp_info class_of_service direct_measurement follow_up extra_padding; do
    check "$f" ".tlvs.$t.received == $COUNT" "$t did not come back in every reply"
  done
  if [[ $fam == 4 ]]; then me=$A4 it=$B4; else me=$A6 it=$B6; fi

  echo "   location: $(jq -c '.tlvs.location.last' "$f")"
  check "$f" ".tlvs.location.last.destination_ip == \"$it\" and .tlvs.location.last.source_ip == \"$me\"" \
    "Location: the reflector's address ($it) and ours as it saw it ($me)"
  check "$f" ".tlvs.location.last.destination_port == 862 and .tlvs.location.last.source_port == .source_port" \
    "Location: ports 862 and our source port"
  check "$f" ".tlvs.location.last.source_mac == \"$MAC_A\"" "Location: our MAC $MAC_A (EUI-48)"

  echo "   timestamp_info: $(jq -c '.tlvs.timestamp_info.last' "$f")"
  check "$f" ".tlvs.timestamp_info.last == {sync_source_in: \"$SYNC\", timestamp_in: \"sw_local\", sync_source_out: \"$SYNC\", timestamp_out: \"sw_local\"}" \
    "Timestamp Information: $SYNC clock, software timestamps (tc) both ways"

  echo "   class_of_service: $(jq -c '.tlvs.class_of_service.last' "$f")"
  check "$f" ".tlvs.class_of_service.last | .dscp1 == 46 and .rp == 0 and .dscp2 == 10 and .ecn == 0 and .reply_dscp == 46" \
    "CoS: DSCP 46 applied to the replies, the requests' DSCP 10 reported"

  echo "   direct_measurement: $(jq -c '.tlvs.direct_measurement.last' "$f")"
  check "$f" ".tlvs.direct_measurement.last | .s_txc == $COUNT and .r_rxc == $COUNT and .r_txc == $COUNT and .s_rxc == $COUNT and .forward_lost == 0 and .backward_lost == 0" \
    "Direct Measurement: $COUNT sent, received and returned, nothing lost"

  echo "   access_report: $(jq -c '.tlvs.access_report | {sent, acknowledged, last}' "$f")"
  check "$f" ".tlvs.access_report | .acknowledged and .sent == 1 and .last == {access_id: 1, return_code: 1}" \
    "Access Report: sent once, acknowledged by its reflected copy"

  echo "   follow_up: $(jq -c '.tlvs.follow_up | {last, t3_matched, t3_mismatched}' "$f")"
  # Stateful numbering from 0: the last reply is $((COUNT - 1)) and names the one before.
  check "$f" ".tlvs.follow_up.last.sequence == $((COUNT - 2)) and .tlvs.follow_up.last.mode == \"sw_local\"" \
    "Follow-Up: the previous reply's sequence number"
  check "$f" ".tlvs.follow_up.t3_matched == $((COUNT - 1)) and .tlvs.follow_up.t3_mismatched == 0" \
    "Follow-Up: every reported T3 is the T3 of the reply it names"
done

step "ad hoc: a CoS DSCP the reflector's policy refuses (RP = 1)"
f=$E2E_WORK/refused.json
ctl --json session start --target "$B4" --count 3 --interval 10ms --dscp 10 --tlv-cos 34 \
  --tlv-timestamp-info --tlv-padding 3 >"$f"
echo "   $(jq -c '.tlvs.class_of_service.last' "$f")"
check "$f" ".received == 3 and (.tlvs.class_of_service.last | .dscp1 == 34 and .rp == 1 and .reply_dscp == 10 and .dscp2 == 10)" \
  "CoS refused: RP 1, the replies keep the DSCP the requests had"
check "$f" ".tlvs.extra_padding.last.length == 3" "Extra Padding of 3 octets"

step "the text summary names what came back"
ctl session start --target "$B6" --count 2 --interval 10ms --tlv-location --tlv-follow-up \
  --reflector-mode stateful >"$E2E_WORK/text.out"
grep -E '^  location: 2 received; reflector '"$B6"' port 862' "$E2E_WORK/text.out" ||
  fail "no location line: $(cat "$E2E_WORK/text.out")"
grep -E '^  follow_up: 2 received; last names reflector seq 0 ' "$E2E_WORK/text.out" ||
  fail "no follow_up line: $(cat "$E2E_WORK/text.out")"

step "the reflector counted the TLV requests, none malformed"
rctl --json status >"$E2E_WORK/status.json"
jq -c '.reflector.interfaces[] | .tlvs' "$E2E_WORK/status.json"
jq -e --argjson n $((2 * COUNT + 3 + 2)) \
  '[.reflector.interfaces[] | .tlvs] | (map(.requests) | add) == $n and (map(.malformed + .integrity + .over_limit + .unrecognized) | add) == 0 and (map(.cos_refused) | add) == 3' \
  "$E2E_WORK/status.json" >/dev/null || fail "reflector TLV counters: $(jq -c '.reflector.interfaces' "$E2E_WORK/status.json")"

step "the reflector keeps answering TLVs while its stampd is stopped"
e2e_sigterm "$B_PID"
[[ $E2E_RC -eq 0 ]] || fail "stampd (reflector) exited with $E2E_RC"
f=$E2E_WORK/down.json
ctl --json session start --target "$B4" --count 3 --interval 10ms --tlv-timestamp-info >"$f"
check "$f" ".received == 3 and .tlvs.timestamp_info.received == 3 and .tlvs.timestamp_info.unrecognized == 0 and .tlvs.timestamp_info.last.timestamp_out == \"sw_local\"" \
  "TLVs answered from the pinned programs with no stampd"
e2e_stampd "$NS_B" "$E2E_WORK/b.toml" "$E2E_WORK/b2.log"
ctl --json session start --target "$B4" --count 3 --interval 10ms --tlv-timestamp-info >"$f"
check "$f" ".received == 3 and .tlvs.timestamp_info.unrecognized == 0" "TLVs after the restart (programs adopted)"

step "with [reflector] tlvs = false, TLVs come back as sent (U set: not understood)"
echo "tlvs = false" >>"$E2E_WORK/b.toml"
rctl reload >/dev/null
f=$E2E_WORK/off.json
ctl --json session start --target "$B4" --count 3 --interval 10ms --tlv-timestamp-info --tlv-cos 46 >"$f"
check "$f" ".received == 3 and .tlvs.timestamp_info.unrecognized == 3 and .tlvs.class_of_service.unrecognized == 3 and .tlvs.timestamp_info.last == null" \
  "TLV processing off: every TLV unrecognized"
echo "tlv_e2e: ok"
