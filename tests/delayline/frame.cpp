#include "frame.hpp"

#include <cstring>

namespace stamp::delayline {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint8_t kProtoUdp = 17;

uint16_t load16(const uint8_t* p) {
  return uint16_t((p[0] << 8) | p[1]);
}

bool isUdpOverIpv6(std::span<const uint8_t> ip) {
  constexpr size_t kFixedHeader = 40;
  if (ip.size() < kFixedHeader || (ip[0] >> 4) != 6) return false;
  uint8_t next = ip[6];
  size_t off = kFixedHeader;
  // A bounded walk: a frame <= MTU cannot hold many extension headers, and a
  // hostile chain must not loop.
  for (int hops = 0; hops < 8; ++hops) {
    if (next == kProtoUdp) return true;
    if (ip.size() < off + 8) return false;
    switch (next) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        next = ip[off];
        off += (size_t(ip[off + 1]) + 1) * 8;
        break;
      case 44:  // fragment: only the first fragment carries the UDP header,
                // but every fragment belongs to the same datagram's loss.
        next = ip[off];
        off += 8;
        break;
      default:
        return false;
    }
  }
  return false;
}

}  // namespace

bool isUdpOverIp(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeaderBytes) return false;
  size_t off = 12;
  uint16_t type = load16(&frame[off]);
  for (int tags = 0; tags < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinQ); ++tags) {
    off += kVlanTagBytes;
    if (frame.size() < off + 2) return false;
    type = load16(&frame[off]);
  }
  auto ip = frame.subspan(off + 2);
  if (type == kEtherTypeIpv4) {
    return ip.size() >= 20 && (ip[0] >> 4) == 4 && ip[9] == kProtoUdp;
  }
  if (type == kEtherTypeIpv6) return isUdpOverIpv6(ip);
  return false;
}

bool completeChecksum(std::span<uint8_t> frame, size_t csumStart, size_t csumOffset) {
  if (csumStart > frame.size() || csumOffset + 2 > frame.size() - csumStart) return false;
  uint64_t sum = 0;
  size_t i = csumStart;
  for (; i + 1 < frame.size(); i += 2) sum += load16(&frame[i]);
  if (i < frame.size()) sum += uint16_t(frame[i] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t csum = uint16_t(~sum);
  if (csum == 0) csum = 0xffff;
  frame[csumStart + csumOffset] = uint8_t(csum >> 8);
  frame[csumStart + csumOffset + 1] = uint8_t(csum);
  return true;
}

std::span<uint8_t> insertVlanTag(std::span<uint8_t> frame, uint16_t tpid, uint16_t tci) {
  uint8_t* start = frame.data() - kVlanTagBytes;
  std::memmove(start, frame.data(), 12);
  start[12] = uint8_t(tpid >> 8);
  start[13] = uint8_t(tpid);
  start[14] = uint8_t(tci >> 8);
  start[15] = uint8_t(tci);
  return {start, frame.size() + kVlanTagBytes};
}

}  // namespace stamp::delayline
