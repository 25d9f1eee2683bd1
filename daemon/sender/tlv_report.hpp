// What the reflector sent back in RFC 8972 TLVs, for one session run: per
// type how many came back and with which flags (U: not understood, M:
// malformed, I: integrity failed), and the last values decoded (the
// reflector's addresses, its clock's sync source and timestamping method,
// the CoS it applied, its Direct Measurement counters, the Follow-Up T3).
// Also the Access Report's retransmission procedure (RFC 8972 4.6).
//
// The sender's rules (RFC 8972 4) are applied in onReply(): a TLV with U
// set is skipped, M stops the processing of the reply's TLVs, I anywhere
// discards them all. Input is untrusted: nothing throws, nothing reads past
// the span.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "libstamp/hmac.hpp"
#include "libstamp/tlv.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp {

class TlvReport {
 public:
  explicit TlvReport(tlv::RequestOptions requested = {}) : requested_(requested) {}
  // Authenticated session: replies' HMAC TLVs are verified with this key
  // before any of their TLVs is used (RFC 8972 4.8).
  void setKey(const stamp_hmac_key& key) { key_ = key; }

  // What the reply being looked at tells besides its TLVs.
  struct Context {
    uint32_t reflSeq = 0;         // its reflector Sequence Number
    uint64_t senderReceived = 0;  // replies received so far, this one included (S_RxC)
    bool reflectorPtp = false;    // Z bit of its Error Estimate: the timestamps' format
    int32_t taiOffsetSec = 0;
    UnixNs now = 0;  // for unfolding timestamps
  };
  // The octets after the base of one reply: `tlvs` as captured, `total` as
  // the reply had them (more when the capture was cut).
  void onReply(std::span<const uint8_t> tlvs, size_t total, const Context& c);
  // Every reply's T3 (raw, sec << 32 | frac) by reflector Sequence Number,
  // to check the Follow-Up Telemetry that names it later.
  void onReplyT3(uint32_t reflSeq, uint64_t t3);
  // The TOS / Traffic Class replies arrive with (for the CoS result).
  void onReplyTos(uint8_t tos) { lastReplyTos_ = tos; }

  // Access Report (RFC 8972 4.6): whether the packet about to go out at
  // monotonic time `now` carries it: the first packet does, then again
  // each time `timeout` passes without a reply carrying it back, at most
  // `retries` times; then the procedure is aborted.
  bool accessReportDue(std::chrono::nanoseconds now, std::chrono::nanoseconds timeout,
                       uint32_t retries);

  // {"replies", "integrity_failed", "stopped_malformed", "capture_cut",
  //  "hmac_verified", "hmac_failed" (with a key),
  //  TYPE: {"received", "unrecognized", "malformed", "integrity", "last"}...}
  // with TYPE as tlv::typeName(); the types requested always appear.
  nlohmann::json toJson() const;

 private:
  struct PerType {
    uint64_t received = 0, unrecognized = 0, malformed = 0, integrity = 0;
    nlohmann::json last;  // null until a value was decoded
  };
  PerType& of(uint8_t type) { return types_[type]; }
  void decode(const tlv::Tlv& t, const Context& c);

  tlv::RequestOptions requested_;
  std::map<uint8_t, PerType> types_;
  uint64_t replies_ = 0, integrityFailed_ = 0, stoppedMalformed_ = 0, captureCut_ = 0;
  std::optional<stamp_hmac_key> key_;
  uint64_t hmacVerified_ = 0, hmacFailed_ = 0;
  std::optional<uint8_t> lastReplyTos_;
  // Follow-Up checks against the T3 seen in the reply it names.
  static constexpr size_t kT3Ring = 256;
  std::array<std::pair<uint32_t, uint64_t>, kT3Ring> t3_{};
  std::array<bool, kT3Ring> t3Valid_{};
  uint64_t followUpMatched_ = 0, followUpMismatched_ = 0;
  // Access Report procedure.
  uint32_t arSent_ = 0;
  bool arAcked_ = false, arAborted_ = false;
  std::chrono::nanoseconds arDeadline_{0};
};

}  // namespace stamp
