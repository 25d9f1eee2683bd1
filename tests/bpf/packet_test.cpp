// Self-checks of the bpf tier's packet builder, parser and checksum
// verifier, so that a reflector fixture passing means the reflector is
// right, not that two helpers agree on a mistake. Pure computation: these
// run without privileges.
#include <gtest/gtest.h>

#include "packet.hpp"

namespace stamp::test {
namespace {

PacketSpec udp4(Bytes payload) {
  PacketSpec s;
  s.src = ip("10.0.0.1");
  s.dst = ip("10.0.0.2");
  s.sport = 1234;
  s.dport = 862;
  s.payload = std::move(payload);
  return s;
}

PacketSpec udp6(Bytes payload) {
  PacketSpec s = udp4(std::move(payload));
  s.src = ip("2001:db8::1");
  s.dst = ip("2001:db8::2");
  return s;
}

// The IPv4 header example quoted in many references:
// 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
TEST(PacketHelpers, Ipv4HeaderKnownVector) {
  PacketSpec s = udp4(Bytes(0x73 - 20 - 8, 0));
  s.src = ip("192.168.0.1");
  s.dst = ip("192.168.0.199");
  s.ipId = 0;
  s.fragField = 0x4000;
  Bytes f = buildFrame(s);
  EXPECT_EQ(rd16(f, 14 + 2), 0x0073);
  EXPECT_EQ(rd16(f, 14 + 10), 0xb861);
  auto v = parseFrame(f);
  ASSERT_TRUE(v);
  EXPECT_TRUE(ipv4HeaderChecksumValid(f, *v));
  f[14 + 8] ^= 0x01;  // TTL
  EXPECT_FALSE(ipv4HeaderChecksumValid(f, *v));
}

// Reference value computed separately (a few lines of Python's struct).
TEST(PacketHelpers, UdpKnownVectorOddLength) {
  Bytes f = buildFrame(udp4({'S', 'T', 'A', 'M', 'P'}));
  auto v = parseFrame(f);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->udpCheck, 0xfeff);
  EXPECT_EQ(verifyUdpChecksum(f, *v), UdpChecksum::Valid);
}

TEST(PacketHelpers, VerifierCatchesEveryCorruptedOctet) {
  for (bool v6 : {false, true}) {
    for (size_t len : {0u, 7u, 14u, 44u, 45u}) {
      SCOPED_TRACE(testing::Message() << (v6 ? "IPv6" : "IPv4") << " payload " << len);
      SenderFields fields{.seq = 1, .t1 = 0x0102030405060708ULL, .errEst = 3, .ssid = 4, .mbz = 0};
      Bytes f =
          buildFrame(v6 ? udp6(senderPayload(len, fields)) : udp4(senderPayload(len, fields)));
      auto v = parseFrame(f);
      ASSERT_TRUE(v);
      ASSERT_EQ(verifyUdpChecksum(f, *v), UdpChecksum::Valid);
      // Any single flipped octet in the addresses (pseudo-header) or the
      // UDP datagram must be caught.
      size_t addrOff = v->l3Off + (v6 ? 8 : 12);
      size_t addrLen = v6 ? 32 : 8;
      for (size_t i = addrOff; i < f.size(); ++i) {
        if (i >= addrOff + addrLen && i < v->l4Off) continue;
        Bytes bad = f;
        bad[i] ^= 0x20;
        auto bv = parseFrame(bad);
        if (!bv) continue;  // a corrupted length no longer parses: also caught
        EXPECT_NE(verifyUdpChecksum(bad, *bv), UdpChecksum::Valid) << "octet " << i;
      }
    }
  }
}

TEST(PacketHelpers, ZeroUdpChecksumIsAbsent) {
  PacketSpec s = udp4({1, 2, 3});
  s.zeroUdpChecksum = true;
  Bytes f = buildFrame(s);
  auto v = parseFrame(f);
  ASSERT_TRUE(v);
  EXPECT_EQ(verifyUdpChecksum(f, *v), UdpChecksum::Absent);
}

TEST(PacketHelpers, BuilderLayouts) {
  PacketSpec s = udp6(senderPayload(44, {}));
  s.vlanTci = 0x2064;
  Bytes f = buildFrame(s);
  EXPECT_EQ(f.size(), 14u + 4 + 40 + 8 + 44);
  EXPECT_EQ(rd16(f, 12), 0x8100);
  EXPECT_EQ(rd16(f, 16), 0x86dd);
  auto v = parseFrame(f);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->vlanTci, 0x2064);
  EXPECT_EQ(v->payloadOff, 14u + 4 + 40 + 8);
  EXPECT_EQ(v->ip6PayloadLen, 8 + 44);

  PacketSpec o = udp4(senderPayload(14, {}));
  o.ipOptions = Bytes(40, 1);
  Bytes g = buildFrame(o);
  auto w = parseFrame(g);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->ihlWords, 15);
  EXPECT_EQ(w->ipTotalLen, 60 + 8 + 14);
  EXPECT_TRUE(ipv4HeaderChecksumValid(g, *w));
  EXPECT_EQ(verifyUdpChecksum(g, *w), UdpChecksum::Valid);
}

// The reflector payload against Figure 5 of RFC 8762 written out octet by
// octet, so the sender fixtures do not trust the builder's own offsets.
TEST(PacketHelpers, ReflectorPayloadLayout) {
  const ReflectorFields f{.seq = 0x00010203,
                          .t3 = 0x0405060708090a0bULL,
                          .errEst = 0x0c0d,
                          .ssid = 0x0e0f,
                          .t2 = 0x1011121314151617ULL,
                          .senderSeq = 0x18191a1b,
                          .t1 = 0x1c1d1e1f20212223ULL,
                          .senderErrEst = 0x2425,
                          .senderTtl = 0x28};
  Bytes p = reflectorPayload(46, f);
  ASSERT_EQ(p.size(), 46u);
  for (size_t i = 0; i < 38; ++i) EXPECT_EQ(p[i], i) << "octet " << i;
  EXPECT_EQ(p[38], 0);  // MBZ
  EXPECT_EQ(p[39], 0);
  EXPECT_EQ(p[40], 0x28);  // Session-Sender TTL
  EXPECT_EQ(p[41], 0);     // MBZ
  EXPECT_EQ(p[42], 0);
  EXPECT_EQ(p[43], 0);
  EXPECT_EQ(reflectorPayload(38, f), Bytes(p.begin(), p.begin() + 38));
  EXPECT_EQ(reflectorPayload(41, f), Bytes(p.begin(), p.begin() + 41));
}

TEST(PacketHelpers, Ipv6FragmentHeaderAndForcedFamily) {
  PacketSpec s = udp6(Bytes(44, 0));
  s.v6Fragment = true;
  Bytes f = buildFrame(s);
  EXPECT_EQ(f.size(), 14u + 40 + 8 + 8 + 44);
  EXPECT_EQ(f[14 + 6], kProtoFragment);  // IPv6 Next Header
  EXPECT_EQ(f[54], kProtoUdp);           // Fragment header's Next Header
  EXPECT_EQ(rd16(f, 56), 0x0001);        // offset 0, M = 1
  EXPECT_EQ(rd16(f, 14 + 4), 8 + 8 + 44);

  PacketSpec m = udp4(Bytes(44, 0));
  m.forceIpv6 = true;
  Bytes g = buildFrame(m);
  auto v = parseFrame(g);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ipv6);
  EXPECT_EQ(v->src, ip("10.0.0.1"));  // ::ffff:10.0.0.1 on the wire
  EXPECT_EQ(verifyUdpChecksum(g, *v), UdpChecksum::Valid);
}

TEST(PacketHelpers, ParserRejectsInconsistentLengths) {
  PacketSpec longUdp = udp4(Bytes(44, 0));
  longUdp.udpLenOverride = 8 + 45;
  EXPECT_FALSE(parseFrame(buildFrame(longUdp)));
  PacketSpec cut = udp6(Bytes(44, 0));
  cut.truncateTo = 14 + 40 + 8 + 20;
  EXPECT_FALSE(parseFrame(buildFrame(cut)));
  PacketSpec trailer = udp4(Bytes(14, 0));
  trailer.ipTrailer = 10;  // legal: the UDP length governs
  auto v = parseFrame(buildFrame(trailer));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload.size(), 14u);
}

}  // namespace
}  // namespace stamp::test
