// Test-only frames for the bpf tier: a builder for Ethernet / optional
// 802.1Q / IPv4 (with options) or IPv6 / UDP / payload with correct
// checksums, a bounds-checked parser for what the programs hand back, and an
// RFC 1071 verifier that recomputes every checksum from scratch. None of it
// shares code with the programs under test or with the daemon's codec.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "kernel/netif.hpp"

namespace stamp::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

// "192.0.2.1" or "2001:db8::1" as an Ip16 (IPv4 IPv4-mapped, as in
// stamp_addrs). Aborts on a typo: the fixtures are constants.
Ip16 ip(const std::string& text);
bool isV4(const Ip16& a);

inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoHopByHop = 0;
inline constexpr uint8_t kProtoFragment = 44;

// What to put on the wire. The defaults make a well-formed IPv4 request to
// port 862; the optional fields break it on purpose.
struct PacketSpec {
  Mac dstMac{0x02, 0x00, 0x5e, 0x00, 0x00, 0x02};  // the reflector
  Mac srcMac{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};  // the sender (unicast)
  std::optional<uint16_t> vlanTci;                 // adds an 802.1Q tag
  Ip16 src;                                        // IPv4-mapped: IPv4
  Ip16 dst;
  uint8_t ttl = 64;  // TTL or Hop Limit
  uint8_t tos = 0;   // TOS or Traffic Class
  uint16_t ipId = 0x1234;
  uint16_t fragField = 0;  // IPv4 flags + fragment offset, host order
  Bytes ipOptions;         // IPv4 only; length a multiple of 4, at most 40
  uint8_t ipProto = kProtoUdp;
  bool v6HopByHop = false;  // IPv6: an 8-octet Hop-by-Hop header before UDP
  bool v6Fragment = false;  // IPv6: a Fragment header (offset 0, M set); not with v6HopByHop
  bool forceIpv6 = false;   // IPv6 even when `src` is IPv4-mapped
  uint16_t sport = 40000;
  uint16_t dport = 862;
  Bytes payload;
  bool zeroUdpChecksum = false;

  // Deliberate inconsistencies (malformed-packet fixtures).
  std::optional<uint16_t> udpLenOverride;
  std::optional<uint16_t> ipLenOverride;  // IPv4 total length / IPv6 payload length
  size_t ipTrailer = 0;                   // IP payload octets after the UDP datagram
  size_t l2Padding = 0;                   // octets after the IP packet
  uint8_t paddingByte = 0;
  std::optional<size_t> truncateTo;  // cut the frame to this many octets
};

Bytes buildFrame(const PacketSpec& s);

// The STAMP Session-Sender payload: base fields at their RFC 8762 offsets,
// MBZ octets set to `mbz`, octets 44.. a recognisable pattern. Cut to `len`.
struct SenderFields {
  uint32_t seq = 0;
  uint64_t t1 = 0;  // seconds << 32 | fraction
  uint16_t errEst = 0;
  uint16_t ssid = 0;
  uint8_t mbz = 0;
};
Bytes senderPayload(size_t len, const SenderFields& f);

// The STAMP Session-Reflector payload (RFC 8762 section 4.3.1, Figure 5):
// base fields at their offsets, MBZ octets 38..39 and 41..43 zero, octets
// 44.. a recognisable pattern. Cut to `len`, so 41 and 38 give the shorter
// TWAMP-Light replies (RFC 8762 section 4.6).
struct ReflectorFields {
  uint32_t seq = 0;
  uint64_t t3 = 0;  // seconds << 32 | fraction (or nanoseconds)
  uint16_t errEst = 0;
  uint16_t ssid = 0;
  uint64_t t2 = 0;
  uint32_t senderSeq = 0;
  uint64_t t1 = 0;
  uint16_t senderErrEst = 0;
  uint8_t senderTtl = 0;
};
Bytes reflectorPayload(size_t len, const ReflectorFields& f);
// A reflector's answer to `req`: the sender's sequence number, timestamp,
// error estimate and SSID copied back (RFC 8762 section 4.3.1), the rest
// from `own`.
ReflectorFields reflecting(const SenderFields& req, ReflectorFields own);

// A UDP frame as found in a reply, with every offset checked against the
// frame's size. Only IPv4 and IPv6 (no extension headers) carrying UDP.
struct FrameView {
  Mac dstMac{}, srcMac{};
  std::optional<uint16_t> vlanTci;
  bool ipv6 = false;
  size_t l3Off = 0, l4Off = 0, payloadOff = 0;
  uint8_t ihlWords = 0;  // IPv4
  uint8_t tos = 0;       // IPv4 TOS
  uint16_t ipTotalLen = 0, ipId = 0, fragField = 0;
  uint8_t ipProto = 0;
  uint32_t v6VerTcFlow = 0;  // IPv6 first word
  uint16_t ip6PayloadLen = 0;
  uint8_t ttl = 0;  // TTL or Hop Limit
  Ip16 src{}, dst{};
  uint16_t sport = 0, dport = 0, udpLen = 0, udpCheck = 0;
  // The UDP payload as the UDP length describes it.
  std::span<const uint8_t> payload;
};
// nullopt when the frame is not such a packet or a length points past it.
std::optional<FrameView> parseFrame(std::span<const uint8_t> frame);

// RFC 1071 verification: the one's complement sum over the covered octets,
// checksum field included, must be 0xffff.
bool ipv4HeaderChecksumValid(std::span<const uint8_t> frame, const FrameView& v);
enum class UdpChecksum { Valid, Invalid, Absent };  // Absent: the field is 0
inline void PrintTo(UdpChecksum c, std::ostream* os) {
  *os << (c == UdpChecksum::Valid ? "Valid" : c == UdpChecksum::Invalid ? "Invalid" : "Absent");
}
UdpChecksum verifyUdpChecksum(std::span<const uint8_t> frame, const FrameView& v);

uint16_t rd16(std::span<const uint8_t> b, size_t off);
uint32_t rd32(std::span<const uint8_t> b, size_t off);
uint64_t rd64(std::span<const uint8_t> b, size_t off);

}  // namespace stamp::test
