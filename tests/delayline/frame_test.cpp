// The delay line's pure parts: which frames count as UDP for
// --drop-every-*, finishing partial checksums, VLAN tag reinsertion and the
// bounded FIFO.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "frame.hpp"
#include "frame_queue.hpp"

namespace stamp::delayline {
namespace {

void put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = uint8_t(v >> 8);
  f[at + 1] = uint8_t(v);
}

uint32_t sum16(const std::vector<uint8_t>& f, size_t from, size_t to) {
  uint32_t s = 0;
  for (size_t i = from; i < to; i += 2) s += uint32_t(f[i] << 8) | (i + 1 < to ? f[i + 1] : 0);
  return s;
}

uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

// Ethernet / IPv4 / UDP, with `payload` bytes of 0xa5 and the UDP checksum
// field left as a NIC would get it from a CHECKSUM_PARTIAL skb: the folded
// pseudo-header sum, not complemented.
std::vector<uint8_t> ipv4UdpPartial(size_t payload) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload, 0xa5);
  put16(f, 12, 0x0800);
  const size_t ip = 14, udp = 34;
  f[ip] = 0x45;
  f[ip + 1] = 0;
  put16(f, ip + 2, uint16_t(20 + 8 + payload));
  put16(f, ip + 4, 0);
  put16(f, ip + 6, 0);
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  put16(f, ip + 10, 0);
  const uint8_t src[4] = {10, 201, 1, 1}, dst[4] = {10, 201, 1, 2};
  std::copy(src, src + 4, &f[ip + 12]);
  std::copy(dst, dst + 4, &f[ip + 16]);
  put16(f, udp, 40000);
  put16(f, udp + 2, 8620);
  put16(f, udp + 4, uint16_t(8 + payload));
  uint32_t pseudo = sum16(f, ip + 12, ip + 20) + 17 + uint32_t(8 + payload);
  put16(f, udp + 6, fold(pseudo));
  return f;
}

bool udpChecksumVerifies(const std::vector<uint8_t>& f) {
  const size_t ip = 14, udp = 34;
  uint32_t s = sum16(f, ip + 12, ip + 20) + 17 + uint32_t(f.size() - udp) + sum16(f, udp, f.size());
  return fold(s) == 0xffff;
}

TEST(DelaylineFrame, CompletesPartialUdpChecksumEvenAndOddLength) {
  for (size_t payload : {24u, 25u, 1400u, 1401u}) {
    auto f = ipv4UdpPartial(payload);
    ASSERT_FALSE(udpChecksumVerifies(f)) << payload;
    ASSERT_TRUE(completeChecksum(f, 34, 6)) << payload;
    EXPECT_TRUE(udpChecksumVerifies(f)) << payload;
  }
}

TEST(DelaylineFrame, RefusesChecksumOffsetsOutsideTheFrame) {
  auto f = ipv4UdpPartial(8);
  auto before = f;
  EXPECT_FALSE(completeChecksum(f, f.size() - 1, 0));
  EXPECT_FALSE(completeChecksum(f, f.size() + 10, 0));
  EXPECT_FALSE(completeChecksum(f, 34, f.size()));
  EXPECT_EQ(f, before);
}

TEST(DelaylineFrame, CountsUdpOverIpv4AndVlanTagged) {
  auto f = ipv4UdpPartial(8);
  EXPECT_TRUE(isUdpOverIp(f));
  f[14 + 9] = 6;  // TCP
  EXPECT_FALSE(isUdpOverIp(f));
  f[14 + 9] = 17;
  // Behind 802.1ad + 802.1Q tags.
  std::vector<uint8_t> tagged(f.begin(), f.begin() + 12);
  for (uint8_t b : {0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14}) tagged.push_back(b);
  tagged.insert(tagged.end(), f.begin() + 12, f.end());
  EXPECT_TRUE(isUdpOverIp(tagged));
}

TEST(DelaylineFrame, NeverCountsArpOrNeighbourDiscovery) {
  std::vector<uint8_t> arp(42, 0);
  put16(arp, 12, 0x0806);
  EXPECT_FALSE(isUdpOverIp(arp));
  std::vector<uint8_t> nd(14 + 40 + 24, 0);
  put16(nd, 12, 0x86dd);
  nd[14] = 0x60;
  nd[14 + 6] = 58;  // ICMPv6
  EXPECT_FALSE(isUdpOverIp(nd));
  std::vector<uint8_t> tooShort(13, 0);
  EXPECT_FALSE(isUdpOverIp(tooShort));
}

TEST(DelaylineFrame, CountsUdpOverIpv6BehindExtensionHeaders) {
  std::vector<uint8_t> f(14 + 40 + 8 + 8 + 8, 0);
  put16(f, 12, 0x86dd);
  f[14] = 0x60;
  f[14 + 6] = 17;
  EXPECT_TRUE(isUdpOverIp(f));
  f[14 + 6] = 0;  // hop-by-hop, 8 bytes
  f[54] = 44;     // -> fragment
  f[54 + 1] = 0;
  f[62] = 17;  // -> UDP
  EXPECT_TRUE(isUdpOverIp(f));
  f[62] = 58;
  EXPECT_FALSE(isUdpOverIp(f));
}

TEST(DelaylineFrame, ReinsertsVlanTagBetweenAddressesAndEtherType) {
  std::vector<uint8_t> buf(4, 0xee);
  for (int i = 0; i < 12; ++i) buf.push_back(uint8_t(i + 1));
  buf.push_back(0x08);
  buf.push_back(0x00);
  buf.push_back(0x45);
  std::span<uint8_t> frame(buf.data() + 4, buf.size() - 4);
  auto tagged = insertVlanTag(frame, 0x8100, 0x2064);
  ASSERT_EQ(tagged.data(), buf.data());
  ASSERT_EQ(tagged.size(), frame.size() + 4);
  const std::vector<uint8_t> want = {1,  2,  3,    4,    5,    6,    7,    8,    9,   10,
                                     11, 12, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00, 0x45};
  EXPECT_EQ(std::vector<uint8_t>(tagged.begin(), tagged.end()), want);
}

TEST(DelaylineQueue, KeepsOrderWrapsAroundAndReportsFull) {
  FrameQueue q(3, 16);
  EXPECT_TRUE(q.empty());
  int64_t t = 100;
  uint8_t next = 0;
  for (int round = 0; round < 5; ++round) {
    while (!q.full()) {
      auto slot = q.backSlot();
      ASSERT_EQ(slot.size(), 16u);
      slot[0] = next++;
      q.push(slot.first(1), t++);
    }
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.lastReleaseNs(), t - 1);
    uint8_t expect = uint8_t(next - 3);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(q.front().frame[0], expect++);
      q.pop();
    }
  }
  EXPECT_EQ(q.size(), 1u);
}

}  // namespace
}  // namespace stamp::delayline
