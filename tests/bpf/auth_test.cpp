// The bpf tier, authenticated mode (RFC 8762 sections 4.2.2, 4.3.2, 4.4):
// the reflector's real programs check the request's HMAC in ingress and sign
// the reply in egress, the sender's sign T1's packet and check the reply.
// Every HMAC is checked here with OpenSSL, which shares nothing with the
// code under test.
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/clock.hpp"
#include "libstamp/error_estimate.hpp"
#include "libstamp/hmac.hpp"
#include "packet.hpp"
#include "kernel/sender_bpf.hpp"
#include "stamp_abi.h"
#include "tc_run.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp::test {
namespace {

constexpr int kTcNext = TC_ACT_UNSPEC;
constexpr int kTcShot = TC_ACT_SHOT;
constexpr int kTcRedirect = TC_ACT_REDIRECT;
constexpr size_t kAuth = STAMP_AUTH_BASE;

// Authenticated layouts (RFC 8762 Figures 4 and 6).
constexpr size_t kSeq = 0, kTs = 16, kErrEst = 24, kSsid = 26, kRx = 32, kSenderSeq = 48,
                 kSenderTs = 64, kSenderErrEst = 72, kSenderTtl = 80, kHmac = 96;

const Ip16 kSender4 = ip("192.0.2.1"), kRefl4 = ip("192.0.2.2");
const Ip16 kSender6 = ip("2001:db8::1"), kRefl6 = ip("2001:db8::2");

std::vector<uint8_t> key1() {
  std::vector<uint8_t> k(32);
  for (size_t i = 0; i < k.size(); i++) k[i] = uint8_t(0xa0 + i);
  return k;
}

// OpenSSL's HMAC-SHA-256 over octets 0..95, truncated to 16.
Bytes opensslMac(const std::vector<uint8_t>& key, std::span<const uint8_t> pkt) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), pkt.data(), kHmac, out, &len);
  return Bytes(out, out + STAMP_HMAC_LEN);
}

void put32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; i++) b[off + i] = uint8_t(v >> (24 - 8 * i));
}
void put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = uint8_t(v >> 8);
  b[off + 1] = uint8_t(v);
}

// An authenticated Session-Sender payload of `len` octets, signed with
// `key` (octets beyond 112 are a pattern: padding).
Bytes authRequest(size_t len, uint32_t seq, const std::vector<uint8_t>& key,
                  uint16_t ssid = 0x5151) {
  Bytes b(len, 0);
  for (size_t i = kAuth; i < len; i++) b[i] = uint8_t(i);
  put32(b, kSeq, seq);
  put32(b, kTs, 0xe93c7f00);
  put32(b, kTs + 4, 0x80000000);
  put16(b, kErrEst, 0x0d2a);
  put16(b, kSsid, ssid);
  if (len >= kAuth) {
    Bytes mac = opensslMac(key, b);
    std::copy(mac.begin(), mac.end(), b.begin() + kHmac);
  }
  return b;
}

PacketSpec spec4(Bytes payload) {
  PacketSpec s;
  s.src = kSender4;
  s.dst = kRefl4;
  s.payload = std::move(payload);
  return s;
}

PacketSpec spec6(Bytes payload) {
  PacketSpec s = spec4(std::move(payload));
  s.src = kSender6;
  s.dst = kRefl6;
  return s;
}

stamp_auth_counters loAuth(const ReflectorBpf& bpf) {
  return loEntry(bpf.authCounters());
}

class AuthProgs : public BpfSuite<AuthProgs, ReflectorBpf> {
 protected:
  void prepare() override {
    ASSERT_TRUE(ok(bpf_->setPorts({862}, {.auth = 1})));
    ASSERT_TRUE(ok(bpf_->setKeys({862}, hmacKey(key1()))));
    ASSERT_TRUE(ok(bpf_->setTos(stamp_tos_cfg{})));  // replies copy DSCP and ECN
    ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, kRefl6})));
    ASSERT_TRUE(ok(bpf_->setClock(syncedClock(kernelTaiOffsetSec()))));
  }

  // Ingress then egress, as the kernel would run them; the final frame.
  std::optional<Bytes> reflect(const Bytes& frame) {
    TcRun in;
    EXPECT_TRUE(runTc(bpf_->inProgFd(), frame, 0, in));
    EXPECT_EQ(in.verdict, kTcRedirect);
    if (in.verdict != kTcRedirect) return std::nullopt;
    EXPECT_EQ(in.markOut & STAMP_REFLECT_MARK_MASK, STAMP_REFLECT_MARK);
    EXPECT_TRUE(in.markOut & STAMP_REFLECT_MARK_AUTH)
        << "ingress must mark the reply authenticated";
    TcRun out;
    EXPECT_TRUE(runTc(bpf_->outProgFd(), in.out, in.markOut, out));
    EXPECT_EQ(out.verdict, kTcNext);
    EXPECT_EQ(out.markOut, 0u);
    return out.out;
  }

  // The request is refused: dropped, no reply, and `field` of the auth
  // counters moved by one.
  void expectRefused(const Bytes& frame, __u64 stamp_auth_counters::*field) {
    const stamp_auth_counters before = loAuth(*bpf_);
    TcRun in;
    ASSERT_TRUE(runTc(bpf_->inProgFd(), frame, 0, in));
    EXPECT_EQ(in.verdict, kTcShot);
    EXPECT_EQ(in.markOut, 0u);
    const stamp_auth_counters after = loAuth(*bpf_);
    EXPECT_EQ(after.*field - before.*field, 1u);
    EXPECT_EQ(after.verified, before.verified) << "nothing verified";
  }
};

// The reply of RFC 8762 Figure 6, with an HMAC OpenSSL agrees with, for
// IPv4 and IPv6 and with padding beyond the base reflected as it came.
TEST_F(AuthProgs, SignedRequestGetsASignedReply) {
  for (bool v6 : {false, true}) {
    for (size_t len : {kAuth, size_t{160}}) {
      SCOPED_TRACE(::testing::Message() << (v6 ? "IPv6 " : "IPv4 ") << len << " octets");
      const Bytes reqPayload = authRequest(len, 77, key1());
      const Bytes req = buildFrame(v6 ? spec6(reqPayload) : spec4(reqPayload));
      const stamp_auth_counters before = loAuth(*bpf_);
      UnixNs lo = realtimeNow();
      auto reply = reflect(req);
      UnixNs hi = realtimeNow();
      ASSERT_TRUE(reply);
      EXPECT_EQ(loAuth(*bpf_).verified - before.verified, 1u);
      auto v = parseFrame(*reply);
      ASSERT_TRUE(v);
      ASSERT_EQ(v->payload.size(), len) << "the reply is as long as the request";
      const Bytes p(v->payload.begin(), v->payload.end());
      EXPECT_EQ(rd32(p, kSeq), 77u) << "stateless: the sender's sequence";
      EXPECT_EQ(rd16(p, kSsid), 0x5151) << "SSID copied";
      EXPECT_EQ(rd32(p, kSenderSeq), 77u);
      EXPECT_EQ(rd64(p, kSenderTs), 0xe93c7f0080000000ULL);
      EXPECT_EQ(rd16(p, kSenderErrEst), 0x0d2a);
      EXPECT_EQ(p[kSenderTtl], 64);
      EXPECT_EQ(rd16(p, kErrEst), ErrorEstimate::fromErrorNs(1000, true).encode());
      const UnixNs t2 = unixNsFromNtp(WireTs::fromRaw(rd64(p, kRx)), lo);
      const UnixNs t3 = unixNsFromNtp(WireTs::fromRaw(rd64(p, kTs)), lo);
      EXPECT_GE(t2, lo - 2 * kNsPerSec);
      EXPECT_LE(t3, hi + 2 * kNsPerSec);
      EXPECT_GE(t3, t2) << "T3 is egress's, after T2";
      for (size_t i : {4, 28, 40, 52, 74, 81, 95}) EXPECT_EQ(p[i], 0) << "MBZ octet " << i;
      for (size_t i = kAuth; i < len; i++) ASSERT_EQ(p[i], uint8_t(i)) << "padding octet " << i;
      EXPECT_EQ(Bytes(p.begin() + kHmac, p.begin() + kAuth), opensslMac(key1(), p))
          << "reply HMAC (OpenSSL) over\n"
          << hexDump(p);
      EXPECT_EQ(verifyUdpChecksum(*reply, *v), UdpChecksum::Valid);
      if (!v6) {
        EXPECT_TRUE(ipv4HeaderChecksumValid(*reply, *v));
      }
    }
  }
}

// DSCP and ECN are outside the HMAC: an authenticated reply gets the
// configured ones like any other, IPv4 header checksum and HMAC intact.
TEST_F(AuthProgs, ReplyDscpAndEcnPolicyApplies) {
  constexpr uint8_t kRequestTos = 46 << 2 | 1;  // EF, ECT(1)
  for (bool set : {false, true}) {
    stamp_tos_cfg policy{};
    if (set) policy = {.flags = STAMP_TOS_SET_DSCP | STAMP_TOS_SET_ECN, .dscp = 10, .ecn = 0};
    ASSERT_TRUE(ok(bpf_->setTos(policy)));
    const uint8_t want = set ? 10 << 2 : kRequestTos;
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(::testing::Message() << (v6 ? "IPv6" : "IPv4") << (set ? ", set" : ", copy"));
      PacketSpec spec =
          v6 ? spec6(authRequest(kAuth, 5, key1())) : spec4(authRequest(kAuth, 5, key1()));
      spec.tos = kRequestTos;
      const Bytes req = buildFrame(spec);
      auto reply = reflect(req);
      ASSERT_TRUE(reply);
      auto v = parseFrame(*reply);
      auto rq = parseFrame(req);
      ASSERT_TRUE(v && rq);
      if (v6) {
        EXPECT_EQ(v->v6VerTcFlow, (rq->v6VerTcFlow & ~0x0ff00000u) | uint32_t{want} << 20)
            << "Traffic Class " << int(want) << ", version and Flow Label kept";
      } else {
        EXPECT_EQ(v->tos, want);
        EXPECT_TRUE(ipv4HeaderChecksumValid(*reply, *v));
      }
      const Bytes p(v->payload.begin(), v->payload.end());
      EXPECT_EQ(Bytes(p.begin() + kHmac, p.begin() + kAuth), opensslMac(key1(), p));
      EXPECT_EQ(verifyUdpChecksum(*reply, *v), UdpChecksum::Valid);
    }
  }
}

TEST_F(AuthProgs, WrongKeyIsDroppedAndCounted) {
  std::vector<uint8_t> other = key1();
  other[0] ^= 1;
  expectRefused(buildFrame(spec4(authRequest(kAuth, 1, other))), &stamp_auth_counters::failed);
  expectRefused(buildFrame(spec6(authRequest(kAuth, 1, other))), &stamp_auth_counters::failed);
}

// Any octet the HMAC covers, changed after signing, fails: MBZ, SSID,
// timestamp, sequence, and the HMAC itself, in its first, a middle and its
// last octet (the comparison has no early exit and must still see them all).
TEST_F(AuthProgs, TamperedRequestIsDropped) {
  for (size_t off : {size_t{0}, size_t{5}, size_t{17}, size_t{27}, size_t{60}, size_t{95},
                     size_t{96}, size_t{103}, size_t{104}, size_t{110}, size_t{111}}) {
    SCOPED_TRACE(::testing::Message() << "octet " << off);
    Bytes p = authRequest(kAuth, 9, key1());
    p[off] ^= 0x10;
    expectRefused(buildFrame(spec4(p)), &stamp_auth_counters::failed);
  }
}

// Shorter than the authenticated base: an unauthenticated request, a
// truncated one, and one that lost only its last HMAC octet.
TEST_F(AuthProgs, TruncatedRequestIsDropped) {
  for (size_t len : {size_t{44}, size_t{96}, size_t{111}}) {
    SCOPED_TRACE(::testing::Message() << len << " octets");
    Bytes p = authRequest(kAuth, 3, key1());
    p.resize(len);
    expectRefused(buildFrame(spec4(p)), &stamp_auth_counters::short_);
  }
}

TEST_F(AuthProgs, PortWithoutKeyAnswersNothing) {
  ASSERT_TRUE(ok(bpf_->setKeys({}, stamp_hmac_key{})));
  expectRefused(buildFrame(spec4(authRequest(kAuth, 3, key1()))), &stamp_auth_counters::no_key);
}

// A port's key changed in the map (a reload) applies from the next packet.
TEST_F(AuthProgs, KeyChangeAppliesAtOnce) {
  std::vector<uint8_t> k2(48, 0x42);
  ASSERT_TRUE(ok(bpf_->setKeys({862}, hmacKey(k2))));
  expectRefused(buildFrame(spec4(authRequest(kAuth, 1, key1()))), &stamp_auth_counters::failed);
  auto reply = reflect(buildFrame(spec4(authRequest(kAuth, 1, k2))));
  ASSERT_TRUE(reply);
  auto v = parseFrame(*reply);
  ASSERT_TRUE(v);
  const Bytes p(v->payload.begin(), v->payload.end());
  EXPECT_EQ(Bytes(p.begin() + kHmac, p.begin() + kAuth), opensslMac(k2, p));
}

// Stateful and PTP combine with authentication: the reflector's own
// sequence from 0, and Z with a PTP T3, both under the HMAC.
TEST_F(AuthProgs, StatefulPtpAuthenticated) {
  ASSERT_TRUE(ok(bpf_->setPorts(
      {862},
      {.mode = STAMP_MODE_STATEFUL, .ts_format = STAMP_TS_PTP, .auth = 1, .idle_timeout_s = 60})));
  const int fd = bpf_->sessionMapFd();
  stamp_refl_sess_key k{};
  while (bpf_map_get_next_key(fd, nullptr, &k) == 0) bpf_map_delete_elem(fd, &k);
  for (uint32_t i = 0; i < 3; i++) {
    const int64_t taiLo = taiNow();
    auto reply = reflect(buildFrame(spec4(authRequest(kAuth, 1000 + i, key1(), 0x7777))));
    const int64_t taiHi = taiNow();
    ASSERT_TRUE(reply);
    auto v = parseFrame(*reply);
    ASSERT_TRUE(v);
    const Bytes p(v->payload.begin(), v->payload.end());
    EXPECT_EQ(rd32(p, kSeq), i) << "the reflector's own sequence";
    EXPECT_EQ(rd32(p, kSenderSeq), 1000 + i);
    EXPECT_TRUE(rd16(p, kErrEst) & STAMP_EE_Z);
    EXPECT_LT(rd32(p, kTs + 4), 1'000'000'000u) << "PTP nanoseconds";
    EXPECT_LE(rd32(p, kTs), uint32_t(taiHi / kNsPerSec));
    EXPECT_GE(rd32(p, kTs), uint32_t(taiLo / kNsPerSec));
    EXPECT_EQ(Bytes(p.begin() + kHmac, p.begin() + kAuth), opensslMac(key1(), p));
  }
}

// A request that fails its HMAC creates no stateful session.
TEST_F(AuthProgs, RefusedRequestCreatesNoSession) {
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.mode = STAMP_MODE_STATEFUL, .auth = 1})));
  const int fd = bpf_->sessionMapFd();
  stamp_refl_sess_key k{};
  while (bpf_map_get_next_key(fd, nullptr, &k) == 0) bpf_map_delete_elem(fd, &k);
  std::vector<uint8_t> other(32, 1);
  expectRefused(buildFrame(spec4(authRequest(kAuth, 1, other))), &stamp_auth_counters::failed);
  auto n = bpf_->sessionCount();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

// An unauthenticated port next to it is untouched by the key map.
TEST_F(AuthProgs, UnauthenticatedPortStillAnswers44) {
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {})));
  SenderFields f;
  f.seq = 5;
  TcRun in;
  ASSERT_TRUE(runTc(bpf_->inProgFd(), buildFrame(spec4(senderPayload(44, f))), 0, in));
  EXPECT_EQ(in.verdict, kTcRedirect);
  EXPECT_FALSE(in.markOut & STAMP_REFLECT_MARK_AUTH);
}

// ---- Sender ----

class SenderAuth : public SenderSuite<SenderAuth> {
 protected:
  void prepare() override {
    ASSERT_TRUE(ok(bpf_->setClock(syncedClock(kernelTaiOffsetSec()))));
    stamp_send_session v{};
    v.session_id = kId;
    v.peer_port = 862;
    v.flags = STAMP_SEND_F_AUTH;
    std::memcpy(v.peer.addr, kRefl4.data(), 16);
    const stamp_hmac_key k = hmacKey(key1());
    ASSERT_TRUE(ok(bpf_->addSession(kKey, v, &k)));
    records_.clear();
  }
  void TearDown() override {
    if (bpf_) bpf_->removeSession(kKey, kId);
  }

  static constexpr uint32_t kId = 4242;
  static constexpr stamp_send_key kKey{40000, 0, 0};
};

// Egress writes T1 at octet 16 and then the HMAC over octets 0..95.
TEST_F(SenderAuth, EgressSignsAfterT1) {
  Bytes payload(kAuth, 0);
  put32(payload, kSeq, 12);
  put16(payload, kErrEst, 0x8001);
  put16(payload, kSsid, 0x0102);
  PacketSpec spec;
  spec.src = kSender4;
  spec.dst = kRefl4;
  spec.payload = payload;
  const Bytes frame = buildFrame(spec);
  UnixNs lo = realtimeNow();
  TcRun r;
  ASSERT_TRUE(runTc(bpf_->outProgFd(), frame, 0, r));
  UnixNs hi = realtimeNow();
  EXPECT_EQ(r.verdict, kTcNext);
  auto v = parseFrame(r.out);
  ASSERT_TRUE(v);
  const Bytes p(v->payload.begin(), v->payload.end());
  const UnixNs t1 = unixNsFromNtp(WireTs::fromRaw(rd64(p, kTs)), lo);
  EXPECT_GE(t1, lo - 2 * kNsPerSec);
  EXPECT_LE(t1, hi + 2 * kNsPerSec);
  EXPECT_EQ(rd32(p, kSeq), 12u);
  EXPECT_EQ(rd16(p, kSsid), 0x0102);
  EXPECT_EQ(Bytes(p.begin() + kHmac, p.end()), opensslMac(key1(), p)) << hexDump(p);
  EXPECT_EQ(verifyUdpChecksum(r.out, *v), UdpChecksum::Valid);
}

// Ingress reads the authenticated reply layout and says whether its HMAC
// matched; either way the reply is consumed.
TEST_F(SenderAuth, IngressChecksTheReplyHmac) {
  for (bool good : {true, false}) {
    SCOPED_TRACE(good ? "good HMAC" : "bad HMAC");
    Bytes p(kAuth, 0);
    put32(p, kSeq, 3);
    put32(p, kTs, 0xe93c7f01);
    put16(p, kErrEst, 0x8002);
    put16(p, kSsid, 0x0a0b);
    put32(p, kRx, 0xe93c7f01);
    put32(p, kSenderSeq, 12);
    put32(p, kSenderTs, 0xe93c7f00);
    put16(p, kSenderErrEst, 0x8001);
    p[kSenderTtl] = 61;
    Bytes mac = opensslMac(key1(), p);
    if (!good) mac[15] ^= 1;
    std::copy(mac.begin(), mac.end(), p.begin() + kHmac);
    PacketSpec spec;
    spec.src = kRefl4;
    spec.dst = kSender4;
    spec.sport = 862;
    spec.dport = 40000;
    spec.payload = p;
    TcRun r;
    records_.clear();
    ASSERT_TRUE(runTc(bpf_->inProgFd(), buildFrame(spec), 0, r));
    EXPECT_EQ(r.verdict, kTcShot);
    bpf_->consume();
    ASSERT_EQ(records_.size(), 1u);
    const stamp_rx_record& rec = records_[0];
    EXPECT_EQ(rec.session_id, kId);
    EXPECT_EQ(rec.flags & (STAMP_RX_AUTH | STAMP_RX_AUTH_FAIL),
              good ? STAMP_RX_AUTH : STAMP_RX_AUTH_FAIL);
    EXPECT_EQ(rec.refl_seq, 3u);
    EXPECT_EQ(rec.sender_seq, 12u);
    EXPECT_EQ(rec.t3, 0xe93c7f0100000000ULL);
    EXPECT_EQ(rec.t2, 0xe93c7f0100000000ULL);
    EXPECT_EQ(rec.t1, 0xe93c7f0000000000ULL);
    EXPECT_EQ(rec.refl_err_est, 0x8002);
    EXPECT_EQ(rec.sender_err_est, 0x8001);
    EXPECT_EQ(rec.ssid, 0x0a0b);
    EXPECT_EQ(rec.sender_ttl, 61);
    EXPECT_EQ(rec.length, kAuth);
  }
}

// A reply shorter than the authenticated base is not the session's: the
// socket gets it, no record.
TEST_F(SenderAuth, ShortReplyPasses) {
  PacketSpec spec;
  spec.src = kRefl4;
  spec.dst = kSender4;
  spec.sport = 862;
  spec.dport = 40000;
  spec.payload = Bytes(44, 0);
  TcRun r;
  records_.clear();
  ASSERT_TRUE(runTc(bpf_->inProgFd(), buildFrame(spec), 0, r));
  EXPECT_EQ(r.verdict, kTcNext);
  bpf_->consume();
  EXPECT_TRUE(records_.empty());
}

// ---- RFC 8972 TLVs after the authenticated base, the HMAC TLV (4.8) ----

// OpenSSL's HMAC-SHA-256 of `data`, truncated to 16.
Bytes opensslMacOf(const std::vector<uint8_t>& key, const Bytes& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), data.data(), data.size(), out, &len);
  return Bytes(out, out + STAMP_HMAC_LEN);
}

// An authenticated request carrying a Class of Service TLV (all zero:
// DSCP1 0) and, when `hmacTlv`, an HMAC TLV over its Sequence Number and the
// CoS TLV; `corrupt` (0..15) flips a bit of that HMAC's octet so numbered.
Bytes authRequestWithTlvs(const std::vector<uint8_t>& key, bool hmacTlv, int corrupt = -1) {
  Bytes base = authRequest(kAuth, 4242, key);
  Bytes cos = {0, STAMP_TLV_COS, 0, 4, 0, 0, 0, 0};
  base.insert(base.end(), cos.begin(), cos.end());
  if (hmacTlv) {
    Bytes covered(base.begin(), base.begin() + 4);
    covered.insert(covered.end(), cos.begin(), cos.end());
    Bytes mac = opensslMacOf(key, covered);
    if (corrupt >= 0) mac[size_t(corrupt)] ^= 0x40;
    Bytes h = {0, STAMP_TLV_HMAC, 0, 16};
    h.insert(h.end(), mac.begin(), mac.end());
    base.insert(base.end(), h.begin(), h.end());
  }
  return base;
}

class AuthTlv : public AuthProgs {
 protected:
  void prepare() override {
    AuthProgs::prepare();
    if (HasFatalFailure()) return;
    stamp_tlv_cfg c{};
    c.dscp_allowed = ~uint64_t{0};
    c.flags = STAMP_TLV_CFG_ON;
    c.sync_src = STAMP_SYNC_NTP;
    c.ts_method = STAMP_TSM_SW;
    ASSERT_TRUE(ok(bpf_->setTlvConfig(c)));
  }
  // The reply's payload, its base HMAC checked.
  // The request arrives with DSCP 10, so the answered CoS TLV (DSCP2)
  // differs from the request's and so must the HMAC TLVs.
  Bytes reflectPayload(const Bytes& req) {
    PacketSpec spec = spec4(req);
    spec.tos = 10 << 2;
    auto reply = reflect(buildFrame(spec));
    EXPECT_TRUE(reply);
    if (!reply) return {};
    auto v = parseFrame(*reply);
    EXPECT_TRUE(v);
    if (!v) return {};
    EXPECT_EQ(verifyUdpChecksum(*reply, *v), UdpChecksum::Valid);
    Bytes p(v->payload.begin(), v->payload.end());
    EXPECT_EQ(p.size(), req.size());
    EXPECT_EQ(Bytes(p.begin() + kHmac, p.begin() + kAuth), opensslMac(key1(), p))
        << "the base's HMAC";
    return p;
  }
};

// The HMAC TLV verified with the port's key: the CoS TLV is answered, and the
// reply's HMAC TLV is OpenSSL's over the reply's Sequence Number and its
// (answered) CoS TLV.
TEST_F(AuthTlv, HmacTlvVerifiedAndReplySigned) {
  const Bytes req = authRequestWithTlvs(key1(), true);
  Bytes p = reflectPayload(req);
  ASSERT_EQ(p.size(), kAuth + 8 + 20);
  ASSERT_NE(Bytes(p.begin() + kAuth, p.begin() + kAuth + 8),
            Bytes(req.begin() + kAuth, req.begin() + kAuth + 8))
      << "the CoS TLV was not answered (DSCP2)";
  EXPECT_NE(Bytes(p.begin() + kAuth + 12, p.end()), Bytes(req.begin() + kAuth + 12, req.end()))
      << "the reply's HMAC TLV is the request's";
  EXPECT_EQ(p[kAuth] & (STAMP_TLV_U | STAMP_TLV_M | STAMP_TLV_I), 0) << "CoS TLV flags";
  EXPECT_EQ(p[kAuth + 1], STAMP_TLV_COS);
  EXPECT_EQ(p[kAuth + 8] & STAMP_TLV_I, 0) << "HMAC TLV flags";
  Bytes covered(p.begin(), p.begin() + 4);
  covered.insert(covered.end(), p.begin() + kAuth, p.begin() + kAuth + 8);
  EXPECT_EQ(Bytes(p.begin() + kAuth + 12, p.end()), opensslMacOf(key1(), covered))
      << "reply HMAC TLV\n"
      << hexDump(p);
}

// A wrong HMAC TLV: the base is still answered (its own HMAC was right), but
// every TLV comes back as received with I = 1 (RFC 8972 4.8). The HMAC is
// compared in full (no early exit), so a wrong first, middle or last octet
// each fails.
TEST_F(AuthTlv, WrongHmacTlvSetsIOnEveryTlv) {
  for (int octet : {0, 3, 7, 8, 14, 15}) {
    SCOPED_TRACE(::testing::Message() << "HMAC octet " << octet);
    const Bytes req = authRequestWithTlvs(key1(), true, octet);
    Bytes p = reflectPayload(req);
    ASSERT_EQ(p.size(), req.size());
    EXPECT_TRUE(p[kAuth] & STAMP_TLV_I) << "CoS TLV";
    EXPECT_TRUE(p[kAuth + 8] & STAMP_TLV_I) << "HMAC TLV";
    EXPECT_EQ(Bytes(p.begin() + kAuth + 12, p.end()), Bytes(req.begin() + kAuth + 12, req.end()))
        << "the HMAC TLV comes back as received";
  }
}

// Authenticated mode: TLVs other than Extra Padding need the HMAC TLV.
TEST_F(AuthTlv, AuthenticatedTlvsWithoutHmacTlvFailIntegrity) {
  Bytes p = reflectPayload(authRequestWithTlvs(key1(), false));
  ASSERT_EQ(p.size(), kAuth + 8);
  EXPECT_TRUE(p[kAuth] & STAMP_TLV_I);
}

}  // namespace
}  // namespace stamp::test
