// The unauthenticated base packets on the wire (docs/stamp-wire.md, Packet
// layouts): every field at its RFC offset, big-endian, MBZ zero on transmit
// and ignored on receipt, and short TWAMP-Light replies reported honestly.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <vector>

#include "libstamp/codec.hpp"

namespace stamp {
namespace {

std::string hex(std::span<const uint8_t> b) {
  std::ostringstream os;
  os << std::hex;
  for (size_t i = 0; i < b.size(); ++i) os << (i ? " " : "") << (b[i] < 16 ? "0" : "") << int(b[i]);
  return os.str();
}

// Distinct bytes in every field, so a field at a wrong offset shows.
const SenderPacket kSender{0x01020304, {0x11121314, 0x15161718}, 0x8F84, 0xBEEF};

// Offset: 0 seq, 4 T1, 12 Error Estimate, 14 SSID, 16..43 MBZ.
const std::vector<uint8_t> kSenderWire = [] {
  std::vector<uint8_t> w = {0x01, 0x02, 0x03, 0x04,                          // 0 seq
                            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,  // 4 T1
                            0x8F, 0x84,                                      // 12 err est
                            0xBE, 0xEF};                                     // 14 SSID
  w.resize(44, 0);                                                           // 16 MBZ
  return w;
}();

const ReflectorPacket kReflector = [] {
  ReflectorPacket p;
  p.seq = 0x01020304;
  p.ts = {0x11121314, 0x15161718};
  p.errEst = 0x8F84;
  p.ssid = 0xBEEF;
  p.rxTs = {0x21222324, 0x25262728};
  p.senderSeq = 0x31323334;
  p.senderTs = {0x41424344, 0x45464748};
  p.senderErrEst = 0x8005;
  p.senderTtl = 0x40;
  return p;
}();

const std::vector<uint8_t> kReflectorWire = {
    0x01, 0x02, 0x03, 0x04,                          // 0 seq
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,  // 4 T3
    0x8F, 0x84,                                      // 12 err est
    0xBE, 0xEF,                                      // 14 SSID
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,  // 16 T2
    0x31, 0x32, 0x33, 0x34,                          // 24 sender seq
    0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,  // 28 T1
    0x80, 0x05,                                      // 36 sender err est
    0x00, 0x00,                                      // 38 MBZ
    0x40,                                            // 40 sender TTL
    0x00, 0x00, 0x00,                                // 41 MBZ
};

void expectSameReflector(const ReflectorPacket& got, const ReflectorPacket& want) {
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.ts, want.ts);
  EXPECT_EQ(got.errEst, want.errEst);
  EXPECT_EQ(got.ssid, want.ssid);
  EXPECT_EQ(got.rxTs, want.rxTs);
  EXPECT_EQ(got.senderSeq, want.senderSeq);
  EXPECT_EQ(got.senderTs, want.senderTs);
  EXPECT_EQ(got.senderErrEst, want.senderErrEst);
  EXPECT_EQ(got.senderTtl, want.senderTtl);
}

TEST(Codec, SenderBytesAtRfcOffsets) {
  std::vector<uint8_t> buf(48, 0xAA);
  ASSERT_TRUE(encodeSender(kSender, buf));
  EXPECT_EQ(hex(std::span(buf).first(44)), hex(kSenderWire));
  // Octets past the base (TLVs, padding) are the caller's.
  EXPECT_EQ(hex(std::span(buf).subspan(44)), "aa aa aa aa");
}

TEST(Codec, SenderRoundTrip) {
  std::array<uint8_t, 44> buf{};
  ASSERT_TRUE(encodeSender(kSender, buf));
  auto d = decodeSender(buf);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->seq, kSender.seq);
  EXPECT_EQ(d->ts, kSender.ts);
  EXPECT_EQ(d->errEst, kSender.errEst);
  EXPECT_EQ(d->ssid, kSender.ssid);
}

TEST(Codec, SenderEncodeNeeds44Octets) {
  std::vector<uint8_t> buf(43, 0xAA);
  EXPECT_FALSE(encodeSender(kSender, buf));
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0xAA; }));
}

TEST(Codec, SenderDecodeNeeds16Octets) {
  for (size_t len = 0; len < 16; ++len)
    EXPECT_FALSE(decodeSender(std::span(kSenderWire).first(len)).has_value()) << "len " << len;
  auto d = decodeSender(std::span(kSenderWire).first(16));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->seq, 0x01020304u);
  EXPECT_EQ(d->ts, (WireTs{0x11121314, 0x15161718}));
  EXPECT_EQ(d->errEst, 0x8F84);
  EXPECT_EQ(d->ssid, 0xBEEF);
}

TEST(Codec, SenderMbzIsIgnoredOnReceipt) {
  std::vector<uint8_t> w = kSenderWire;
  std::fill(w.begin() + 16, w.end(), 0xFF);
  w.resize(60, 0x77);  // and TLVs after the base
  auto d = decodeSender(w);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->seq, kSender.seq);
  EXPECT_EQ(d->ssid, kSender.ssid);
}

TEST(Codec, ReflectorBytesAtRfcOffsets) {
  std::vector<uint8_t> buf(50, 0xAA);
  ASSERT_TRUE(encodeReflector(kReflector, buf));
  EXPECT_EQ(hex(std::span(buf).first(44)), hex(kReflectorWire));
  EXPECT_EQ(hex(std::span(buf).subspan(44)), "aa aa aa aa aa aa");
  std::vector<uint8_t> small(43, 0xAA);
  EXPECT_FALSE(encodeReflector(kReflector, small));
}

TEST(Codec, ReflectorRoundTrip) {
  std::array<uint8_t, 44> buf{};
  ASSERT_TRUE(encodeReflector(kReflector, buf));
  auto d = decodeReflector(buf);
  ASSERT_TRUE(d.has_value());
  expectSameReflector(*d, kReflector);
  EXPECT_TRUE(d->hasSsid);
  EXPECT_TRUE(d->hasSenderTtl);
}

TEST(Codec, ReflectorMbzIsIgnoredOnReceipt) {
  std::vector<uint8_t> w = kReflectorWire;
  for (size_t i : {38, 39, 41, 42, 43}) w[i] = 0xFF;
  auto d = decodeReflector(w);
  ASSERT_TRUE(d.has_value());
  expectSameReflector(*d, kReflector);
}

// TWAMP-Light reflectors answer with fewer octets; what is missing is
// reported as absent, never as a zero value.
TEST(Codec, ReflectorShortReplies) {
  struct Row {
    size_t len;
    bool decodes;
    bool hasSenderTtl;
    bool hasSsid;
  };
  for (const Row& r :
       {Row{0, false, false, false}, Row{16, false, false, false}, Row{37, false, false, false},
        Row{38, true, false, false}, Row{40, true, false, false}, Row{41, true, true, false},
        Row{43, true, true, false}, Row{44, true, true, true}, Row{60, true, true, true}}) {
    std::vector<uint8_t> w = kReflectorWire;
    w.resize(std::max<size_t>(r.len, w.size()), 0x99);  // bytes past 44 stand for TLVs
    auto d = decodeReflector(std::span(w).first(r.len));
    ASSERT_EQ(d.has_value(), r.decodes) << "len " << r.len;
    if (!d) continue;
    EXPECT_EQ(d->hasSenderTtl, r.hasSenderTtl) << "len " << r.len;
    EXPECT_EQ(d->hasSsid, r.hasSsid) << "len " << r.len;
    EXPECT_EQ(d->senderTtl, r.hasSenderTtl ? 0x40 : 0) << "len " << r.len;
    EXPECT_EQ(d->ssid, r.hasSsid ? 0xBEEF : 0) << "len " << r.len;
    // The fields up to the Session-Sender Error Estimate are always there.
    EXPECT_EQ(d->seq, kReflector.seq);
    EXPECT_EQ(d->ts, kReflector.ts);
    EXPECT_EQ(d->errEst, kReflector.errEst);
    EXPECT_EQ(d->rxTs, kReflector.rxTs);
    EXPECT_EQ(d->senderSeq, kReflector.senderSeq);
    EXPECT_EQ(d->senderTs, kReflector.senderTs);
    EXPECT_EQ(d->senderErrEst, kReflector.senderErrEst) << "len " << r.len;
  }
}

// A reflector reply decoded as what the sender sent: the copied fields sit
// where the sender put them.
TEST(Codec, ReflectorCopiesSenderFields) {
  std::array<uint8_t, 44> sent{};
  ASSERT_TRUE(encodeSender(kSender, sent));
  auto s = decodeSender(sent);
  ASSERT_TRUE(s.has_value());
  ReflectorPacket r;
  r.seq = s->seq;
  r.senderSeq = s->seq;
  r.senderTs = s->ts;
  r.senderErrEst = s->errEst;
  r.ssid = s->ssid;
  std::array<uint8_t, 44> reply{};
  ASSERT_TRUE(encodeReflector(r, reply));
  EXPECT_EQ(hex(std::span(reply).subspan(24, 4)), hex(std::span(sent).subspan(0, 4)));
  EXPECT_EQ(hex(std::span(reply).subspan(28, 8)), hex(std::span(sent).subspan(4, 8)));
  EXPECT_EQ(hex(std::span(reply).subspan(36, 2)), hex(std::span(sent).subspan(12, 2)));
  EXPECT_EQ(hex(std::span(reply).subspan(14, 2)), hex(std::span(sent).subspan(14, 2)));
}

}  // namespace
}  // namespace stamp
