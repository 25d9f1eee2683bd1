#include "packet.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace stamp::test {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr size_t kEthLen = 14, kVlanLen = 4, kIpv4Len = 20, kIpv6Len = 40, kUdpLen = 8;

void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}
void set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = uint8_t(v >> 8);
  b[off + 1] = uint8_t(v);
}
void putBytes(Bytes& b, std::span<const uint8_t> s) {
  b.insert(b.end(), s.begin(), s.end());
}

// The builder's checksum: complement of the 16-bit one's complement sum,
// computed word by word with the field itself still zero.
uint16_t builderChecksum(const Bytes& covered) {
  uint32_t sum = 0;
  for (size_t i = 0; i < covered.size(); i += 2) {
    uint16_t word = uint16_t(covered[i] << 8);
    if (i + 1 < covered.size()) word |= covered[i + 1];
    sum += word;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return uint16_t(~sum);
}

// Pseudo-header (RFC 768 / RFC 8200 section 8.1) followed by the segment.
Bytes pseudoHeaderPlus(bool v6, const Ip16& src, const Ip16& dst, uint32_t udpLen,
                       std::span<const uint8_t> segment) {
  Bytes b;
  if (!v6) {
    b.insert(b.end(), src.begin() + 12, src.end());
    b.insert(b.end(), dst.begin() + 12, dst.end());
    b.push_back(0);
    b.push_back(kProtoUdp);
    put16(b, uint16_t(udpLen));
  } else {
    b.insert(b.end(), src.begin(), src.end());
    b.insert(b.end(), dst.begin(), dst.end());
    put32(b, udpLen);
    put32(b, kProtoUdp);  // three zero octets, then Next Header
  }
  putBytes(b, segment);
  return b;
}

// The verifier's arithmetic, deliberately not the builder's code: a 64-bit
// accumulator over big-endian octet pairs with the carries folded only at
// the end (RFC 1071 section 4.1, "deferred carries").
uint64_t wordSum(std::span<const uint8_t> data) {
  uint64_t acc = 0;
  size_t n = data.size();
  for (size_t i = 0; i + 1 < n; i += 2) acc += (uint64_t{data[i]} << 8) | data[i + 1];
  if (n % 2) acc += uint64_t{data[n - 1]} << 8;  // odd octet padded with zero
  return acc;
}
uint16_t fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(acc);
}

}  // namespace

Ip16 ip(const std::string& text) {
  auto r = parseIp(text);
  if (!r) {
    std::fprintf(stderr, "bad fixture address %s\n", text.c_str());
    std::abort();
  }
  return *r;
}

bool isV4(const Ip16& a) {
  return isV4Mapped(a);
}

uint16_t rd16(std::span<const uint8_t> b, size_t off) {
  return uint16_t((b[off] << 8) | b[off + 1]);
}
uint32_t rd32(std::span<const uint8_t> b, size_t off) {
  return (uint32_t{rd16(b, off)} << 16) | rd16(b, off + 2);
}
uint64_t rd64(std::span<const uint8_t> b, size_t off) {
  return (uint64_t{rd32(b, off)} << 32) | rd32(b, off + 4);
}

Bytes senderPayload(size_t len, const SenderFields& f) {
  Bytes p;
  put32(p, f.seq);
  put32(p, uint32_t(f.t1 >> 32));
  put32(p, uint32_t(f.t1));
  put16(p, f.errEst);
  put16(p, f.ssid);
  p.resize(44, f.mbz);
  for (size_t i = 44; i < len; ++i) p.push_back(uint8_t(i * 7 + 3));
  p.resize(len);
  return p;
}

ReflectorFields reflecting(const SenderFields& req, ReflectorFields own) {
  own.senderSeq = req.seq;
  own.t1 = req.t1;
  own.senderErrEst = req.errEst;
  own.ssid = req.ssid;
  return own;
}

Bytes reflectorPayload(size_t len, const ReflectorFields& f) {
  Bytes p;
  put32(p, f.seq);
  put32(p, uint32_t(f.t3 >> 32));
  put32(p, uint32_t(f.t3));
  put16(p, f.errEst);
  put16(p, f.ssid);
  put32(p, uint32_t(f.t2 >> 32));
  put32(p, uint32_t(f.t2));
  put32(p, f.senderSeq);
  put32(p, uint32_t(f.t1 >> 32));
  put32(p, uint32_t(f.t1));
  put16(p, f.senderErrEst);
  put16(p, 0);
  p.push_back(f.senderTtl);
  p.resize(44, 0);
  for (size_t i = 44; i < len; ++i) p.push_back(uint8_t(i * 5 + 1));
  p.resize(len);
  return p;
}

Bytes buildFrame(const PacketSpec& s) {
  const bool v6 = s.forceIpv6 || !isV4(s.src);
  Bytes f;
  putBytes(f, s.dstMac);
  putBytes(f, s.srcMac);
  if (s.vlanTci) {
    put16(f, kEtherVlan);
    put16(f, *s.vlanTci);
  }
  put16(f, v6 ? kEtherIpv6 : kEtherIpv4);

  // The UDP datagram first: the IP header needs its length.
  Bytes udp;
  uint16_t udpLen = uint16_t(kUdpLen + s.payload.size());
  put16(udp, s.sport);
  put16(udp, s.dport);
  put16(udp, s.udpLenOverride.value_or(udpLen));
  put16(udp, 0);
  putBytes(udp, s.payload);
  if (!s.zeroUdpChecksum) {
    uint16_t c = builderChecksum(pseudoHeaderPlus(v6, s.src, s.dst, udpLen, udp));
    if (c == 0) c = 0xffff;  // RFC 768: a computed zero is sent as all ones
    set16(udp, 6, c);
  }

  Bytes ext;
  uint8_t v6NextHeader = s.ipProto;
  if (v6 && s.v6HopByHop) {
    ext = {kProtoUdp, 0, 1, 4, 0, 0, 0, 0};  // PadN
    v6NextHeader = kProtoHopByHop;
  } else if (v6 && s.v6Fragment) {
    ext = {kProtoUdp, 0, 0x00, 0x01, 0x5e, 0xed, 0xf0, 0x0d};  // offset 0, M = 1
    v6NextHeader = kProtoFragment;
  }
  size_t ipPayload = ext.size() + udp.size() + s.ipTrailer;

  size_t l3 = f.size();
  if (!v6) {
    size_t hdr = kIpv4Len + s.ipOptions.size();
    f.push_back(uint8_t(0x40 | (hdr / 4)));
    f.push_back(s.tos);
    put16(f, s.ipLenOverride.value_or(uint16_t(hdr + ipPayload)));
    put16(f, s.ipId);
    put16(f, s.fragField);
    f.push_back(s.ttl);
    f.push_back(s.ipProto);
    put16(f, 0);
    f.insert(f.end(), s.src.begin() + 12, s.src.end());
    f.insert(f.end(), s.dst.begin() + 12, s.dst.end());
    putBytes(f, s.ipOptions);
    set16(f, l3 + 10, builderChecksum(Bytes(f.begin() + long(l3), f.end())));
  } else {
    put32(f, 0x60000000u | (uint32_t{s.tos} << 20) | 0x12345u);
    put16(f, s.ipLenOverride.value_or(uint16_t(ipPayload)));
    f.push_back(v6NextHeader);
    f.push_back(s.ttl);
    putBytes(f, s.src);
    putBytes(f, s.dst);
    putBytes(f, ext);
  }
  putBytes(f, udp);
  f.insert(f.end(), s.ipTrailer, uint8_t(0x5a));
  f.insert(f.end(), s.l2Padding, s.paddingByte);
  if (s.truncateTo) f.resize(std::min(f.size(), *s.truncateTo));
  return f;
}

std::optional<FrameView> parseFrame(std::span<const uint8_t> f) {
  FrameView v;
  size_t off = kEthLen;
  if (f.size() < off) return std::nullopt;
  std::copy_n(f.begin(), 6, v.dstMac.begin());
  std::copy_n(f.begin() + 6, 6, v.srcMac.begin());
  uint16_t type = rd16(f, 12);
  if (type == kEtherVlan) {
    if (f.size() < off + kVlanLen) return std::nullopt;
    v.vlanTci = rd16(f, off);
    type = rd16(f, off + 2);
    off += kVlanLen;
  }
  v.l3Off = off;
  size_t l3End = 0;
  if (type == kEtherIpv4) {
    if (f.size() < off + kIpv4Len || (f[off] >> 4) != 4) return std::nullopt;
    v.ihlWords = f[off] & 0x0f;
    size_t hdr = size_t{v.ihlWords} * 4;
    if (hdr < kIpv4Len || f.size() < off + hdr) return std::nullopt;
    v.tos = f[off + 1];
    v.ipTotalLen = rd16(f, off + 2);
    v.ipId = rd16(f, off + 4);
    v.fragField = rd16(f, off + 6);
    v.ttl = f[off + 8];
    v.ipProto = f[off + 9];
    v.src[10] = v.src[11] = v.dst[10] = v.dst[11] = 0xff;
    std::copy_n(f.begin() + long(off) + 12, 4, v.src.begin() + 12);
    std::copy_n(f.begin() + long(off) + 16, 4, v.dst.begin() + 12);
    l3End = off + v.ipTotalLen;
    off += hdr;
  } else if (type == kEtherIpv6) {
    if (f.size() < off + kIpv6Len || (f[off] >> 4) != 6) return std::nullopt;
    v.ipv6 = true;
    v.v6VerTcFlow = rd32(f, off);
    v.ip6PayloadLen = rd16(f, off + 4);
    v.ipProto = f[off + 6];
    v.ttl = f[off + 7];
    std::copy_n(f.begin() + long(off) + 8, 16, v.src.begin());
    std::copy_n(f.begin() + long(off) + 24, 16, v.dst.begin());
    l3End = off + kIpv6Len + v.ip6PayloadLen;
    off += kIpv6Len;
  } else {
    return std::nullopt;
  }
  if (v.ipProto != kProtoUdp || l3End > f.size() || off + kUdpLen > l3End) return std::nullopt;
  v.l4Off = off;
  v.sport = rd16(f, off);
  v.dport = rd16(f, off + 2);
  v.udpLen = rd16(f, off + 4);
  v.udpCheck = rd16(f, off + 6);
  if (v.udpLen < kUdpLen || off + v.udpLen > l3End) return std::nullopt;
  v.payloadOff = off + kUdpLen;
  v.payload = f.subspan(v.payloadOff, v.udpLen - kUdpLen);
  return v;
}

bool ipv4HeaderChecksumValid(std::span<const uint8_t> f, const FrameView& v) {
  if (v.ipv6) return false;
  return fold(wordSum(f.subspan(v.l3Off, size_t{v.ihlWords} * 4))) == 0xffff;
}

UdpChecksum verifyUdpChecksum(std::span<const uint8_t> f, const FrameView& v) {
  if (v.udpCheck == 0) return UdpChecksum::Absent;
  // Pseudo-header words added straight from the parsed fields.
  std::span<const uint8_t> src(v.src), dst(v.dst);
  uint64_t acc =
      v.ipv6 ? wordSum(src) + wordSum(dst) : wordSum(src.subspan(12)) + wordSum(dst.subspan(12));
  acc += kProtoUdp + v.udpLen;  // IPv6: the 32-bit length's high half is 0
  acc += wordSum(f.subspan(v.l4Off, v.udpLen));
  return fold(acc) == 0xffff ? UdpChecksum::Valid : UdpChecksum::Invalid;
}

}  // namespace stamp::test
