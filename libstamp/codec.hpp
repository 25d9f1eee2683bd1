// Encoding and decoding of the unauthenticated STAMP base packets
// (RFC 8762 sections 4.2.1 and 4.3.1, SSID from RFC 8972 section 3).
// Layouts come from bpf/stamp_abi.h; this file only moves fields between the
// wire and host-order values. Decoders take untrusted bytes and never read
// past the span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "libstamp/timefmt.hpp"

namespace stamp {

inline constexpr size_t kUnauthBase = 44;
inline constexpr size_t kAuthBase = 112;  // authenticated base, HMAC at 96..111
// A reply must reach the Session-Sender Error Estimate (TWAMP-Light
// reflectors send 41 octets: RFC 8762 section 4.6).
inline constexpr size_t kMinReplyLen = 38;

struct SenderPacket {
  uint32_t seq = 0;
  WireTs ts;  // T1
  uint16_t errEst = 0;
  uint16_t ssid = 0;
};

struct ReflectorPacket {
  uint32_t seq = 0;
  WireTs ts;  // T3
  uint16_t errEst = 0;
  uint16_t ssid = 0;
  WireTs rxTs;  // T2
  uint32_t senderSeq = 0;
  WireTs senderTs;  // T1 as copied
  uint16_t senderErrEst = 0;
  uint8_t senderTtl = 0;
  // What a short reply lacked: reported as absent, never as zero.
  bool hasSsid = false;       // octets 14..15 present (44-octet STAMP reply)
  bool hasSenderTtl = false;  // octet 40 present
};

// Writes the 44-octet base into out[0..43]; bytes beyond are left alone.
// Returns false when out is shorter than 44.
bool encodeSender(const SenderPacket& p, std::span<uint8_t> out);
std::optional<SenderPacket> decodeSender(std::span<const uint8_t> in);  // needs 16 octets

bool encodeReflector(const ReflectorPacket& p, std::span<uint8_t> out);

// Authenticated mode (RFC 8762 sections 4.2.2 and 4.3.2): the 112-octet
// layouts. The encoder leaves the HMAC field (96..111) alone; the decoder
// does not check it (see hmac.hpp).
bool encodeSenderAuth(const SenderPacket& p, std::span<uint8_t> out);
std::optional<ReflectorPacket> decodeReflectorAuth(std::span<const uint8_t> in);
std::optional<ReflectorPacket> decodeReflector(std::span<const uint8_t> in);

}  // namespace stamp
