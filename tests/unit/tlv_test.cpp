// RFC 8972 TLVs on the sender's side: the TLVs a test packet carries
// (octet by octet), reading replies (typed values, the U/M/I rules, the
// Access Report procedure, Direct Measurement loss, Follow-Up checks), the
// tlv_* configuration keys, and random bytes thrown at the parser.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/config.hpp"
#include "sender/session.hpp"
#include "stamp_abi.h"
#include "libstamp/tlv.hpp"
#include "sender/tlv_report.hpp"
#include "tests/bpf/tlv_bytes.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;
using nlohmann::json;

using test::cat;
using test::tlvBytes;
using test::zeros;

constexpr uint8_t U = STAMP_TLV_U, M = STAMP_TLV_M, I = STAMP_TLV_I;

// ---- Encoding ----

TEST(TlvEncode, EveryRequestTlvOctetByOctet) {
  tlv::RequestOptions o;
  o.location = o.timestampInfo = o.directMeasurement = o.followUp = true;
  o.cosDscp = 46;
  o.accessReport = tlv::AccessReportRequest{2, 1};
  o.padding = 3;
  const size_t n = tlv::requestSize(o);
  EXPECT_EQ(n, 56u + 4 + 8 + 8 + 16 + 8 + 20 + 7);
  Bytes out(n, 0xee);
  const Bytes fill{0xa1, 0xa2};
  ASSERT_TRUE(tlv::encodeRequest(o, 77, true, fill, out));
  const Bytes want = cat({
      tlvBytes(U, STAMP_TLV_LOCATION,
               cat({zeros(4), tlvBytes(U, 1, zeros(8)), tlvBytes(U, 4, zeros(16)),
                    tlvBytes(U, 7, zeros(16))})),
      tlvBytes(U, STAMP_TLV_TS_INFO, zeros(4)),
      tlvBytes(U, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}),
      tlvBytes(U, STAMP_TLV_DIRECT, Bytes{0, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0, 0}),
      tlvBytes(U, STAMP_TLV_ACCESS, Bytes{0x20, 1, 0, 0}),
      tlvBytes(U, STAMP_TLV_FOLLOW_UP, zeros(16)),
      tlvBytes(U, STAMP_TLV_PADDING, Bytes{0xa1, 0xa2, 0xa1}),
  });
  EXPECT_EQ(out, want);
}

TEST(TlvEncode, PaddingTakesWhatIsLeft) {
  tlv::RequestOptions o;
  o.timestampInfo = true;
  Bytes out(8 + 10, 0xee);
  ASSERT_TRUE(tlv::encodeRequest(o, 1, false, Bytes{}, out)) << "10 octets left: a TLV of 6";
  EXPECT_EQ(out, cat({tlvBytes(U, STAMP_TLV_TS_INFO, zeros(4)),
                      tlvBytes(U, STAMP_TLV_PADDING, zeros(6))}));

  Bytes exact(8);
  EXPECT_TRUE(tlv::encodeRequest(o, 1, false, Bytes{}, exact)) << "nothing left: no padding";
  for (size_t extra : {1u, 2u, 3u}) {
    Bytes odd(8 + extra);
    EXPECT_FALSE(tlv::encodeRequest(o, 1, false, Bytes{}, odd))
        << extra << " octets cannot be a TLV";
  }
  Bytes small(7);
  EXPECT_FALSE(tlv::encodeRequest(o, 1, false, Bytes{}, small));

  // An Access Report not due this time: its 8 octets go to padding.
  o.accessReport = tlv::AccessReportRequest{};
  Bytes ar(tlv::requestSize(o));
  ASSERT_TRUE(tlv::encodeRequest(o, 1, false, Bytes{}, ar));
  EXPECT_EQ(ar, cat({tlvBytes(U, STAMP_TLV_TS_INFO, zeros(4)),
                     tlvBytes(U, STAMP_TLV_PADDING, zeros(4))}));

  // No options at all: one Extra Padding TLV (a plain session's size).
  Bytes plain(100);
  ASSERT_TRUE(tlv::encodeRequest({}, 1, false, Bytes{7}, plain));
  EXPECT_EQ(plain, tlvBytes(U, STAMP_TLV_PADDING, Bytes(96, 7)));
}

// ---- Splitting and decoding ----

TEST(TlvDecode, SplitMarksOverrunAndTruncatedHeader) {
  Bytes in = cat({tlvBytes(0, 1, Bytes{1, 2}), tlvBytes(0, 4, zeros(4), 9)});
  auto s = tlv::split(in);
  ASSERT_EQ(s.tlvs.size(), 2u);
  EXPECT_FALSE(s.tlvs[0].overrun);
  EXPECT_EQ(s.tlvs[0].value.size(), 2u);
  EXPECT_TRUE(s.tlvs[1].overrun);
  EXPECT_EQ(s.tlvs[1].value.size(), 4u) << "what is there, never more";
  EXPECT_EQ(s.tlvs[1].offset, 6u);

  auto t = tlv::split(cat({tlvBytes(0, 1, {}), Bytes{1, 2, 3}}));
  EXPECT_EQ(t.tlvs.size(), 1u);
  EXPECT_EQ(t.truncatedHeader, 3u);

  Bytes many;
  for (int i = 0; i < 10; ++i) many = cat({many, tlvBytes(0, 1, {})});
  auto m = tlv::split(many, 4);
  EXPECT_EQ(m.tlvs.size(), 4u);
  EXPECT_TRUE(m.more);
}

TEST(TlvDecode, TypedValues) {
  Bytes mac{2, 0, 0x5e, 0, 0, 1, 0, 0};
  Bytes v4{10, 0, 0, 2};
  v4.resize(16, 0);
  Bytes v6(16, 0);
  v6[0] = 0xfd;
  v6[15] = 1;
  auto loc = tlv::decodeLocation(
      tlv::split(tlvBytes(0, STAMP_TLV_LOCATION,
                          cat({Bytes{3, 0x5e, 0x9c, 0x40}, tlvBytes(0, 2, mac), tlvBytes(0, 5, v4),
                               tlvBytes(0, 9, v6), tlvBytes(U, 7, zeros(16))})))
          .tlvs[0]);
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->dstPort, 862);
  EXPECT_EQ(loc->srcPort, 40000);
  ASSERT_TRUE(loc->srcMac);
  EXPECT_TRUE(loc->srcMacEui48);
  EXPECT_EQ(loc->dstIp, (Bytes{10, 0, 0, 2}));
  EXPECT_EQ(loc->srcIp, v6);
  EXPECT_EQ(loc->unanswered, 1);
  EXPECT_FALSE(loc->malformedSub);

  auto cos = tlv::decodeClassOfService(
      tlv::split(tlvBytes(0, STAMP_TLV_COS,
                          Bytes{(46 << 2) | (34 >> 4), ((34 & 0xf) << 4) | (3 << 2) | 1, 0, 0}))
          .tlvs[0]);
  ASSERT_TRUE(cos);
  EXPECT_EQ(cos->dscp1, 46);
  EXPECT_EQ(cos->dscp2, 34);
  EXPECT_EQ(cos->ecn, 3);
  EXPECT_EQ(cos->rp, 1);

  auto dm = tlv::decodeDirectMeasurement(
      tlv::split(tlvBytes(0, STAMP_TLV_DIRECT, Bytes{0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 1, 0})).tlvs[0]);
  ASSERT_TRUE(dm);
  EXPECT_EQ(dm->sTxC, 9u);
  EXPECT_EQ(dm->rRxC, 8u);
  EXPECT_EQ(dm->rTxC, 256u);

  auto fu = tlv::decodeFollowUp(
      tlv::split(tlvBytes(0, STAMP_TLV_FOLLOW_UP,
                          Bytes{0, 0, 0, 5, 0xe9, 0x3c, 0x7f, 0, 0x80, 0, 0, 0, 2, 0, 0, 0}))
          .tlvs[0]);
  ASSERT_TRUE(fu);
  EXPECT_EQ(fu->seq, 5u);
  EXPECT_EQ(fu->timestamp, 0xe93c7f0080000000ULL);
  EXPECT_EQ(fu->mode, STAMP_TSM_SW);

  // Wrong lengths are refused, not guessed at.
  EXPECT_FALSE(tlv::decodeClassOfService(tlv::split(tlvBytes(0, STAMP_TLV_COS, zeros(5))).tlvs[0]));
  EXPECT_FALSE(
      tlv::decodeDirectMeasurement(tlv::split(tlvBytes(0, STAMP_TLV_DIRECT, zeros(8))).tlvs[0]));
  EXPECT_FALSE(
      tlv::decodeFollowUp(tlv::split(tlvBytes(0, STAMP_TLV_FOLLOW_UP, zeros(12))).tlvs[0]));
  EXPECT_FALSE(tlv::decodeLocation(tlv::split(tlvBytes(0, STAMP_TLV_LOCATION, zeros(3))).tlvs[0]));
  EXPECT_FALSE(tlv::decodeAccessReport(tlv::split(tlvBytes(0, STAMP_TLV_COS, zeros(4))).tlvs[0]))
      << "the type is checked too";
  auto badSub = tlv::decodeLocation(
      tlv::split(tlvBytes(0, STAMP_TLV_LOCATION, cat({zeros(4), tlvBytes(0, 5, zeros(16), 30)})))
          .tlvs[0]);
  ASSERT_TRUE(badSub);
  EXPECT_TRUE(badSub->malformedSub);
}

// ---- The report: RFC 8972 4 rules at the sender ----

TlvReport::Context ctx(uint64_t received = 1) {
  TlvReport::Context c;
  c.senderReceived = received;
  c.now = 1'700'000'000LL * 1'000'000'000;
  return c;
}

TEST(TlvReport, UnknownSkippedMalformedStopsIntegrityDiscards) {
  tlv::RequestOptions o;
  o.cosDscp = 46;
  o.timestampInfo = true;
  TlvReport r(o);
  const Bytes cos = tlvBytes(0, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0});
  const Bytes ts = tlvBytes(0, STAMP_TLV_TS_INFO, Bytes{1, 2, 1, 2});
  r.onReplyTos(46 << 2);
  r.onReply(cat({tlvBytes(U, STAMP_TLV_TS_INFO, zeros(4)), cos}), 16, ctx());
  r.onReply(cat({tlvBytes(M, STAMP_TLV_COS, zeros(5)), ts}), 17, ctx());
  r.onReply(
      cat({tlvBytes(I | U, STAMP_TLV_COS, zeros(4)), tlvBytes(I, STAMP_TLV_TS_INFO, zeros(4))}), 16,
      ctx());
  json j = r.toJson();
  EXPECT_EQ(j["replies"], 3);
  EXPECT_EQ(j["integrity_failed"], 1);
  EXPECT_EQ(j["stopped_malformed"], 1);
  EXPECT_EQ(j["timestamp_info"]["received"], 2) << "after M, the TLV is not even looked at";
  EXPECT_EQ(j["timestamp_info"]["unrecognized"], 1);
  EXPECT_EQ(j["timestamp_info"]["integrity"], 1);
  EXPECT_TRUE(j["timestamp_info"]["last"].is_null())
      << "never decoded: U, then M before it, then I";
  EXPECT_EQ(j["class_of_service"]["received"], 3);
  EXPECT_EQ(j["class_of_service"]["malformed"], 1);
  EXPECT_EQ(j["class_of_service"]["last"]["dscp1"], 46);
  EXPECT_EQ(j["class_of_service"]["last"]["rp"], 0);
  EXPECT_EQ(j["class_of_service"]["last"]["reply_dscp"], 46);
  EXPECT_EQ(j["class_of_service"]["requested_dscp"], 46);
}

TEST(TlvReport, DirectMeasurementLossAndFollowUpMatch) {
  tlv::RequestOptions o;
  o.directMeasurement = o.followUp = true;
  TlvReport r(o);
  r.onReplyT3(41, 0xe93c7f0080000000ULL);
  r.onReplyT3(42, 0xe93c7f0190000000ULL);
  auto dm = [](uint32_t s, uint32_t rx, uint32_t tx) {
    Bytes v;
    for (uint32_t x : {s, rx, tx})
      for (int k = 3; k >= 0; --k) v.push_back(uint8_t(x >> (8 * k)));
    return tlvBytes(0, STAMP_TLV_DIRECT, v);
  };
  auto fu = [](uint32_t seq, uint64_t ts) {
    Bytes v;
    for (int k = 3; k >= 0; --k) v.push_back(uint8_t(seq >> (8 * k)));
    for (int k = 7; k >= 0; --k) v.push_back(uint8_t(ts >> (8 * k)));
    v.insert(v.end(), {STAMP_TSM_SW, 0, 0, 0});
    return tlvBytes(0, STAMP_TLV_FOLLOW_UP, v);
  };
  // 10 sent, the reflector got 8 and sent 8, we got 7.
  r.onReply(cat({dm(10, 8, 8), fu(41, 0xe93c7f0080000000ULL)}), 36, ctx(7));
  r.onReply(fu(42, 0xe93c7f0190000001ULL), 20, ctx(8));  // not the T3 seen
  r.onReply(fu(0, 0), 20, ctx(9));                       // nothing reported
  json j = r.toJson();
  EXPECT_EQ(j["direct_measurement"]["last"]["forward_lost"], 2);
  EXPECT_EQ(j["direct_measurement"]["last"]["backward_lost"], 1);
  EXPECT_EQ(j["follow_up"]["t3_matched"], 1);
  EXPECT_EQ(j["follow_up"]["t3_mismatched"], 1);
  EXPECT_TRUE(j["follow_up"]["last"]["timestamp_ns"].is_null());
}

TEST(TlvReport, CaptureCutIsNotMalformed) {
  TlvReport r(tlv::RequestOptions{.padding = 1000});
  // The kernel captured 100 octets of a 1004-octet padding TLV.
  Bytes captured = tlvBytes(0, STAMP_TLV_PADDING, zeros(96), 1000);
  r.onReply(captured, 1004, ctx());
  json j = r.toJson();
  EXPECT_EQ(j["capture_cut"], 1);
  EXPECT_EQ(j["stopped_malformed"], 0);
  EXPECT_EQ(j["extra_padding"]["malformed"], 0);
  // The same octets as a whole reply: it does run past its end.
  r.onReply(captured, captured.size(), ctx());
  EXPECT_EQ(r.toJson()["stopped_malformed"], 1);
}

TEST(TlvReport, AccessReportRetransmitsThenAborts) {
  tlv::RequestOptions o;
  o.accessReport = tlv::AccessReportRequest{1, 2};
  TlvReport r(o);
  // Packets every 1 s, timer 3 s, 2 retransmissions.
  std::vector<int> carried;
  for (int s = 0; s < 15; ++s)
    if (r.accessReportDue(std::chrono::seconds(s), 3s, 2)) carried.push_back(s);
  EXPECT_EQ(carried, (std::vector<int>{0, 3, 6})) << "first send, then one per expiry";
  json j = r.toJson();
  EXPECT_EQ(j["access_report"]["sent"], 3);
  EXPECT_EQ(j["access_report"]["retransmissions"], 2);
  EXPECT_EQ(j["access_report"]["aborted"], true);
  EXPECT_EQ(j["access_report"]["acknowledged"], false);

  TlvReport acked(o);
  EXPECT_TRUE(acked.accessReportDue(0s, 3s, 4));
  acked.onReply(tlvBytes(0, STAMP_TLV_ACCESS, Bytes{0x10, 2, 0, 0}), 8, ctx());
  for (int s = 1; s < 20; ++s) EXPECT_FALSE(acked.accessReportDue(std::chrono::seconds(s), 3s, 4));
  j = acked.toJson();
  EXPECT_EQ(j["access_report"]["acknowledged"], true);
  EXPECT_EQ(j["access_report"]["last"]["return_code"], 2);

  // U back (the reflector did not understand it): not an acknowledgement.
  TlvReport ignored(o);
  EXPECT_TRUE(ignored.accessReportDue(0s, 3s, 4));
  ignored.onReply(tlvBytes(U, STAMP_TLV_ACCESS, Bytes{0x10, 2, 0, 0}), 8, ctx());
  EXPECT_TRUE(ignored.accessReportDue(3s, 3s, 4));
}

// ---- Random input ----

// Random spans (half of them built from TLV-looking pieces, so that the
// walk gets deep) through split, every decoder and the report. Nothing may
// read out of bounds (the address sanitizer build of the fuzz target checks
// that too); here the invariants: every value lies inside the span at its
// offset + 4, holds min(Length, what is left), and TLVs tile the span.
TEST(TlvDecode, RandomBytesKeepTheInvariants) {
  std::mt19937_64 rng(20240601);
  TlvReport report(tlv::RequestOptions{.location = true,
                                       .timestampInfo = true,
                                       .cosDscp = 1,
                                       .directMeasurement = true,
                                       .accessReport = tlv::AccessReportRequest{},
                                       .followUp = true});
  for (int iter = 0; iter < 100000; ++iter) {
    Bytes in;
    size_t len = rng() % 300;
    if (iter % 2) {
      while (in.size() < len) {
        uint8_t type = uint8_t(rng() % 12);
        uint16_t l = uint16_t(rng() % 8 == 0 ? rng() % 65536 : rng() % 24);
        Bytes v(std::min<size_t>(l, rng() % 32));
        for (auto& b : v) b = uint8_t(rng());
        if (type == STAMP_TLV_LOCATION && rng() % 2)
          v = cat({zeros(4), tlvBytes(uint8_t(rng()), uint8_t(rng() % 10), zeros(rng() % 20),
                                      int(rng() % 24))});
        in = cat({in, tlvBytes(uint8_t(rng()), type, v, rng() % 4 ? int(v.size()) : int(l))});
      }
      in.resize(len);
    } else {
      in.resize(len);
      for (auto& b : in) b = uint8_t(rng());
    }
    auto s = tlv::split(in, 1 + rng() % 70);
    size_t next = 0;
    for (const auto& t : s.tlvs) {
      ASSERT_EQ(t.offset, next);
      ASSERT_LE(t.offset + tlv::kHeader, in.size());
      ASSERT_EQ(t.value.data(), in.data() + t.offset + tlv::kHeader);
      ASSERT_EQ(t.value.size(), std::min<size_t>(t.length, in.size() - t.offset - tlv::kHeader));
      ASSERT_EQ(t.overrun, t.length > in.size() - t.offset - tlv::kHeader);
      next = t.offset + tlv::kHeader + t.length;
      (void)tlv::decodeLocation(t);
      (void)tlv::decodeTimestampInfo(t);
      (void)tlv::decodeClassOfService(t);
      (void)tlv::decodeDirectMeasurement(t);
      (void)tlv::decodeAccessReport(t);
      (void)tlv::decodeFollowUp(t);
    }
    if (!s.more && !s.tlvs.empty() && !s.tlvs.back().overrun) {
      ASSERT_EQ(next + s.truncatedHeader, in.size());
    }
    report.onReplyT3(uint32_t(rng()), rng());
    report.onReply(in, in.size() + (rng() % 3 ? 0 : rng() % 100), ctx(rng()));
  }
  json j = report.toJson();
  EXPECT_GT(j["replies"].get<uint64_t>(), 0u);
  EXPECT_FALSE(j.dump().empty());
}

// ---- Configuration and session specs ----

TEST(TlvConfig, SessionKeys) {
  auto c = parseConfig(R"toml(
[[session]]
name = "all"
target = "192.0.2.1"
tlv_padding = 10
tlv_location = true
tlv_timestamp_info = true
tlv_cos = { dscp = 46 }
tlv_direct_measurement = true
tlv_access_report = { access_id = 2, return_code = 1, timeout = "5s", retries = 2 }
tlv_follow_up = true
[reflector]
tlvs = true
tlv_location_report = false
tlv_cos_allowed_dscp = [0, 46]
tlv_sync_source = "ptp"
)toml",
                       "t.toml");
  ASSERT_TRUE(c) << c.error().message;
  const auto& t = c->sessions[0].tlvs;
  EXPECT_EQ(t.padding, 10u);
  EXPECT_TRUE(t.location && t.timestampInfo && t.directMeasurement && t.followUp);
  EXPECT_EQ(t.cosDscp, 46);
  ASSERT_TRUE(t.accessReport);
  EXPECT_EQ(t.accessReport->accessId, 2);
  EXPECT_EQ(c->sessions[0].tlvAccessReportTimeout, 5s);
  EXPECT_EQ(c->sessions[0].tlvAccessReportRetries, 2u);
  EXPECT_TRUE(c->reflector.tlvs);
  EXPECT_FALSE(c->reflector.tlvLocationReport);
  EXPECT_EQ(c->reflector.tlvCosAllowedDscp, (uint64_t{1} << 46) | 1);
  EXPECT_EQ(c->reflector.tlvSyncSource, "ptp");

  auto spec = specFromConfig(c->sessions[0]);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->size, 44 + tlv::requestSize(t)) << "the TLVs set the size";
}

TEST(TlvConfig, ErrorsNameTheirPlace) {
  struct Case {
    const char* toml;
    const char* where;
    const char* what;
  } cases[] = {
      {"[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntlv_cos = { dscp = 64 }\n",
       "t.toml:4:", "out of range 0..63"},
      {"[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntlv_cos = 46\n",
       "t.toml:4:", "must be a table"},
      {"[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntlv_access_report = { access_id = 3 }\n",
       "t.toml:4:", "out of range 1..2"},
      {"[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntlv_access_report = { acces_id = 1 }\n",
       "t.toml:4:", "did you mean 'access_id'"},
      {"[reflector]\ntlv_cos_allowed_dscp = [1, 99]\n", "t.toml:2:", "0..63"},
      {"[reflector]\ntlv_sync_source = \"gps\"\n", "t.toml:2:", "one of auto, ntp"},
  };
  for (const auto& c : cases) {
    auto r = parseConfig(c.toml, "t.toml");
    ASSERT_FALSE(r) << c.toml;
    EXPECT_NE(r.error().message.find(c.where), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.what), std::string::npos) << r.error().message;
  }
}

TEST(TlvConfig, SizeAndSpecChecks) {
  SessionConfig c;
  c.name = "s";
  c.target = "192.0.2.1";
  c.tlvs.timestampInfo = true;  // 8 octets: base + TLVs = 52
  c.size = 54;
  auto bad = specFromConfig(c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("use 52 or at least 56"), std::string::npos)
      << bad.error().message;
  c.size = 56;
  EXPECT_TRUE(specFromConfig(c));
  c.tlvs.padding = 0;  // an explicit padding TLV takes any excess
  c.size = 57;
  EXPECT_TRUE(specFromConfig(c));

  auto j = specFromJson({{"target", "192.0.2.1"},
                         {"tlv_cos_dscp", 34},
                         {"tlv_access_report", {{"access_id", 1}, {"return_code", 2}}}});
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->tlvs.cosDscp, 34);
  EXPECT_EQ(j->tlvs.accessReport->returnCode, 2);
  EXPECT_EQ(j->size, 44u + 8 + 8);
  EXPECT_FALSE(specFromJson({{"target", "192.0.2.1"}, {"tlv_access_report", {{"access_id", 5}}}}));
}

}  // namespace
}  // namespace stamp
