// RFC 8972 TLVs on the Session-Sender's side: building the TLVs a test
// packet carries, and reading the ones a reply brings back. Numbers (types,
// flags, sub-types, registries) come from bpf/stamp_abi.h, which the
// reflector's BPF side uses too.
//
// Decoding takes untrusted bytes: it never reads past the span, never
// throws, and reports what it could not read (a truncated header, a Length
// beyond the end, a Length wrong for the type) instead of guessing. It is
// fuzzed (tests/fuzz/fuzz_tlv.cpp) and tested with random input
// (tests/unit/tlv_test.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stamp_abi.h"

namespace stamp::tlv {

inline constexpr size_t kHeader = STAMP_TLV_HDR;
inline constexpr uint8_t kU = STAMP_TLV_U, kM = STAMP_TLV_M, kI = STAMP_TLV_I;

// What a session asks the reflector for (stamp.toml tlv_* keys, stampctl
// --tlv-* flags). Each present option adds one TLV to every test packet,
// except the Access Report, which follows its retransmission procedure
// (RFC 8972 4.6) and is replaced by Extra Padding of the same size when
// not due, so that every packet of a session has one size.
struct AccessReportRequest {
  uint8_t accessId = 1;    // 1: 3GPP, 2: non-3GPP
  uint8_t returnCode = 1;  // 1: network available, 2: unavailable
  bool operator==(const AccessReportRequest&) const = default;
};
struct RequestOptions {
  std::optional<uint32_t> padding;  // an Extra Padding TLV with this many Value octets
  bool location = false;            // Source MAC, Destination IP, Source IP requested
  bool timestampInfo = false;
  std::optional<uint8_t> cosDscp;  // Class of Service: DSCP1 wanted for the reply
  bool directMeasurement = false;
  std::optional<AccessReportRequest> accessReport;
  bool followUp = false;
  // An HMAC TLV after the others (RFC 8972 4.8; authenticated sessions with
  // TLVs besides Extra Padding): written with a zero Value, which the
  // caller fills in. Not a TLV of its own for any().
  bool hmac = false;
  bool any() const {
    return padding || location || timestampInfo || cosDscp || directMeasurement || accessReport ||
           followUp;
  }
  bool operator==(const RequestOptions&) const = default;
};

// Octets of the TLVs `o` asks for, Access Report included, without any
// padding beyond o.padding.
size_t requestSize(const RequestOptions& o);
inline constexpr size_t kAccessReportSize = kHeader + 4;
inline constexpr size_t kLocationSize = kHeader + 4 + (kHeader + 8) + 2 * (kHeader + 16);

// Writes the TLVs of one test packet into `out` (its whole span): in the
// order Location, Timestamp Information, Class of Service, Direct
// Measurement (S_TxC = sTxC), Access Report (when `withAccessReport`),
// Follow-Up Telemetry, then one Extra Padding TLV taking o.padding plus
// everything left, whose Value is `paddingFill` repeated (the caller
// controls it: RFC 8972 4.1). Every TLV has U = 1, M = I = 0, fields the
// reflector fills zero (RFC 8972 4). Returns false, writing nothing sane,
// when `out` cannot hold them: shorter than the TLVs, or 1 to 3 octets
// left over with no Extra Padding TLV to take them.
bool encodeRequest(const RequestOptions& o, uint32_t sTxC, bool withAccessReport,
                   std::span<const uint8_t> paddingFill, std::span<uint8_t> out);

// One TLV as found in a reply. `value` points into the parsed span and holds
// min(length, octets left) octets.
struct Tlv {
  size_t offset = 0;  // from the start of the parsed span
  uint8_t flags = 0;
  uint8_t type = 0;
  uint16_t length = 0;  // the Length field as received
  std::span<const uint8_t> value;
  bool overrun = false;  // Length runs past the end of the span
};

// Splits `in` into TLVs, at most `maxTlvs` of them. A Length running past
// the end gives one last Tlv with `overrun`; fewer than 4 octets at the end
// are `truncatedHeader` octets. `more` when maxTlvs stopped the split.
struct Split {
  std::vector<Tlv> tlvs;
  size_t truncatedHeader = 0;
  bool more = false;
};
Split split(std::span<const uint8_t> in, size_t maxTlvs = 64);

// Typed Values (RFC 8972 4.2-4.7), decoded only from a Tlv of the right
// type and Length; nullopt otherwise.
struct Location {
  uint16_t dstPort = 0, srcPort = 0;
  std::optional<std::array<uint8_t, 8>> srcMac;  // EUI-48 in the first 6, or EUI-64
  bool srcMacEui48 = false;
  // Addresses as answered: 4 or 16 octets.
  std::vector<uint8_t> dstIp, srcIp;
  int unanswered = 0;         // request sub-TLVs left unanswered (U = 1, or not a reply sub-type)
  bool malformedSub = false;  // a sub-TLV header or Length that does not fit
};
std::optional<Location> decodeLocation(const Tlv& t);

struct TimestampInfo {
  uint8_t syncIn = 0, methodIn = 0, syncOut = 0, methodOut = 0;
};
std::optional<TimestampInfo> decodeTimestampInfo(const Tlv& t);

struct ClassOfService {
  uint8_t dscp1 = 0, dscp2 = 0, ecn = 0, rp = 0;
};
std::optional<ClassOfService> decodeClassOfService(const Tlv& t);

struct DirectMeasurement {
  uint32_t sTxC = 0, rRxC = 0, rTxC = 0;
};
std::optional<DirectMeasurement> decodeDirectMeasurement(const Tlv& t);

struct AccessReport {
  uint8_t accessId = 0, returnCode = 0;
};
std::optional<AccessReport> decodeAccessReport(const Tlv& t);

struct FollowUp {
  uint32_t seq = 0;
  uint64_t timestamp = 0;  // sec << 32 | frac, in the reflector's format (its Z bit)
  uint8_t mode = 0;        // timestamping method
};
std::optional<FollowUp> decodeFollowUp(const Tlv& t);

// Names for reports: "extra_padding", "location", ..., "hmac", else
// "type_N"; sync sources "ntp", "ptp", "ssu_bits", "gnss", "local",
// timestamping methods "hw_assist", "sw_local", "control_plane", else
// "unknown_N".
std::string typeName(uint8_t type);
std::string syncSourceName(uint8_t v);
std::string methodName(uint8_t v);

}  // namespace stamp::tlv
