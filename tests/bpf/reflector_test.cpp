// The bpf tier: the reflector's real tc programs (stamp_refl_in and
// stamp_refl_out, loaded from the embedded skeleton by ReflectorBpf) run
// through BPF_PROG_TEST_RUN on table-driven packet fixtures.
//
// Each row is a description, an input frame, the tc verdict stamp_refl_in
// must return and the kind of output expected. An answered row's reply is
// then fed to stamp_refl_out with the mark the ingress program set, as the
// kernel would after the redirect, and must come back with T3 stamped.
//
// BPF_PROG_TEST_RUN runs tc programs on a skb of the loopback device when
// the context's ifindex is 0, so the counters land under ifindex 1.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/clock.hpp"
#include "libstamp/error_estimate.hpp"
#include "packet.hpp"
#include "stamp_abi.h"
#include "tc_run.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp::test {
namespace {

// Verdicts. The programs say "not mine" with TC_ACT_UNSPEC (STAMP_TC_NEXT in
// stamp_parse.bpf.h: TCX_NEXT on tcx, next filter on cls_bpf), also after
// stamping T3, so other programs on the hook still see the packet.
constexpr int kTcNext = TC_ACT_UNSPEC;        // -1
constexpr int kTcShot = TC_ACT_SHOT;          // 2
constexpr int kTcRedirect = TC_ACT_REDIRECT;  // 7
constexpr int64_t kTimeTolerance = 2 * kNsPerSec;
constexpr size_t kBase = STAMP_UNAUTH_BASE;

// Reply payload offsets (RFC 8762 section 4.3.1, Figure 5).
constexpr size_t kOffSeq = 0, kOffT3 = 4, kOffErrEst = 12, kOffSsid = 14, kOffT2 = 16,
                 kOffSenderSeq = 24, kOffSenderTs = 28, kOffSenderErrEst = 36, kOffSenderTtl = 40;

const Ip16 kSender4 = ip("192.0.2.1");
const Ip16 kRefl4 = ip("192.0.2.2");
const Ip16 kForeign4 = ip("198.51.100.7");
const Ip16 kSender6 = ip("2001:db8::1");
const Ip16 kRefl6 = ip("2001:db8::2");
const Ip16 kForeign6 = ip("2001:db8::99");

const SenderFields kFields{.seq = 0x01020304,
                           .t1 = 0xe93c7f0080000000ULL,  // 2024-01-01T00:00:00.5Z
                           .errEst = 0x0d2a,
                           .ssid = 0xbeef,
                           .mbz = 0};

// The reflector's configured clock: synchronised, 1 us error.
ErrorEstimate configuredErrorEstimate() {
  return ErrorEstimate::fromErrorNs(1000, true);
}

// ---- Counters ----

const char* dropName(int reason) {
  switch (reason) {
    case STAMP_DROP_BAD_SOURCE:
      return "bad_source";
    case STAMP_DROP_SRC_PORT_ZERO:
      return "src_port_zero";
    case STAMP_DROP_MALFORMED:
      return "malformed";
    case STAMP_DROP_BAD_CHECKSUM:
      return "bad_checksum";
    case STAMP_DROP_RESIZE:
      return "resize";
    case STAMP_DROP_UNSUPPORTED:
      return "unsupported";
    default:
      return "?";
  }
}

stamp_refl_counters loCounters(const ReflectorBpf& bpf) {
  return loEntry(bpf.counters());
}

void expectCounterDelta(const stamp_refl_counters& before, const stamp_refl_counters& after,
                        const stamp_refl_counters& want) {
  EXPECT_EQ(after.rx - before.rx, want.rx) << "rx";
  EXPECT_EQ(after.reflected - before.reflected, want.reflected) << "reflected";
  EXPECT_EQ(after.fragments - before.fragments, want.fragments) << "fragments";
  EXPECT_EQ(after.t3_stamped - before.t3_stamped, want.t3_stamped) << "t3_stamped";
  for (int i = 0; i < STAMP_DROP_MAX; ++i)
    EXPECT_EQ(after.drop[i] - before.drop[i], want.drop[i]) << "drop[" << dropName(i) << "]";
}

// ---- Checking a reply ----

// What a wire timestamp must decode to: [lo, hi] widened by the tolerance.
struct TimeWindow {
  UnixNs lo = 0, hi = 0;
};

void expectNtpWithin(uint64_t raw, const TimeWindow& w, const char* what) {
  UnixNs t = unixNsFromNtp(WireTs::fromRaw(raw), w.lo);
  EXPECT_GE(t, w.lo - kTimeTolerance) << what << " is " << (w.lo - t) / 1e9 << " s early";
  EXPECT_LE(t, w.hi + kTimeTolerance) << what << " is " << (t - w.hi) / 1e9 << " s late";
}

// A PTP timestamp (RFC 8877: TAI seconds, low 32 bits, then nanoseconds)
// must lie in the CLOCK_TAI window `tai` exactly: the reflector takes it from
// bpf_ktime_get_tai_ns() unchanged, between the two clock_gettime() calls.
void expectPtpWithin(uint64_t raw, const TimeWindow& tai, const char* what) {
  const uint32_t sec32 = uint32_t(raw >> 32), nsec = uint32_t(raw);
  EXPECT_LT(nsec, uint32_t(kNsPerSec)) << what << ": PTP nanoseconds out of range";
  const int64_t era = (tai.lo / kNsPerSec) & ~int64_t{0xffffffff};
  const int64_t t = (era + sec32) * kNsPerSec + nsec;
  EXPECT_GE(t, tai.lo) << what << " is " << tai.lo - t << " ns before the CLOCK_TAI window";
  EXPECT_LE(t, tai.hi) << what << " is " << t - tai.hi << " ns after the CLOCK_TAI window";
}

// What a reply must carry beyond the stateless NTP defaults.
struct Expect {
  const TimeWindow* tai = nullptr;  // a PTP port: T2 (and T3) PTP, in this window
  std::optional<uint32_t> seq;      // stateful: the reflector's own sequence number
  std::optional<uint8_t> tos;       // the reply's TOS / Traffic Class; unset: the request's
};

// The request's base as the reflector must read it: octets a short request
// lacks count as zero (RFC 8762 section 4.6).
Bytes requestBase(const FrameView& rq) {
  Bytes b(rq.payload.begin(), rq.payload.begin() + long(std::min(rq.payload.size(), kBase)));
  b.resize(kBase, 0);
  return b;
}

bool udpChecksumWasZero(const FrameView& rq) {
  return !rq.ipv6 && rq.udpCheck == 0;
}

void expectChecksums(const Bytes& frame, const FrameView& v, bool mayBeAbsent) {
  if (!v.ipv6) {
    EXPECT_TRUE(ipv4HeaderChecksumValid(frame, v)) << "IPv4 header checksum";
  }
  UdpChecksum c = verifyUdpChecksum(frame, v);
  // IPv6 forbids a zero UDP checksum (RFC 8200 section 8.1): a computed 0
  // must go out as 0xffff.
  EXPECT_FALSE(v.ipv6 && c == UdpChecksum::Absent) << "IPv6 reply with UDP checksum 0x0000";
  if (mayBeAbsent) {
    EXPECT_EQ(c, UdpChecksum::Absent) << "IPv4 request without UDP checksum: reply keeps 0";
  } else {
    EXPECT_EQ(c, UdpChecksum::Valid) << "UDP checksum 0x" << std::hex << v.udpCheck;
  }
}

// Everything stamp_refl_in must have done to turn `req` into `reply`.
void checkIngressReply(const Bytes& req, const TcRun& run, const TimeWindow& when,
                       uint16_t wantErrEst, const Expect& x = {}) {
  const Bytes& reply = run.out;
  auto rq = parseFrame(req);
  ASSERT_TRUE(rq) << "fixture request does not parse";
  auto rp = parseFrame(reply);
  ASSERT_TRUE(rp) << "reply is not a consistent IP/UDP frame (" << reply.size() << " octets):\n"
                  << hexDump(reply);

  EXPECT_EQ(run.markOut, STAMP_REFLECT_MARK | uint32_t(rp->l4Off + 8))
      << "ingress must mark the reply for egress, with the payload offset";

  // Sizes: short requests get the 44-octet base, others keep their size.
  const bool grown = rq->payload.size() < kBase;
  const size_t replyPayload = grown ? kBase : rq->payload.size();
  EXPECT_EQ(rp->payload.size(), replyPayload);
  EXPECT_EQ(rp->udpLen, 8 + replyPayload);
  EXPECT_EQ(reply.size(), grown ? rq->payloadOff + kBase : req.size());
  const size_t l3HdrLen = rq->payloadOff - 8 - rq->l3Off;
  if (rp->ipv6) {
    EXPECT_EQ(rp->ip6PayloadLen, grown ? 8 + kBase : rq->ip6PayloadLen) << "IPv6 payload length";
  } else {
    EXPECT_EQ(rp->ipTotalLen, grown ? l3HdrLen + 8 + kBase : rq->ipTotalLen) << "IPv4 total length";
  }

  // Headers: everything swapped that must be, the rest untouched.
  EXPECT_EQ(rp->dstMac, rq->srcMac);
  EXPECT_EQ(rp->srcMac, rq->dstMac);
  EXPECT_EQ(rp->vlanTci, rq->vlanTci);
  EXPECT_EQ(rp->ipv6, rq->ipv6);
  EXPECT_EQ(rp->l4Off, rq->l4Off);
  EXPECT_EQ(rp->src, rq->dst);
  EXPECT_EQ(rp->dst, rq->src);
  EXPECT_EQ(rp->sport, rq->dport);
  EXPECT_EQ(rp->dport, rq->sport);
  EXPECT_EQ(rp->ttl, STAMP_REPLY_TTL) << "TTL / Hop Limit of the reply";
  if (rp->ipv6) {
    // Version and Flow Label kept; the Traffic Class the request's or x.tos.
    const uint32_t tc = x.tos ? uint32_t{*x.tos} << 20 : rq->v6VerTcFlow & 0x0ff00000u;
    EXPECT_EQ(rp->v6VerTcFlow, (rq->v6VerTcFlow & ~0x0ff00000u) | tc)
        << std::hex << "IPv6 version / Traffic Class / Flow Label 0x" << rp->v6VerTcFlow;
  } else {
    EXPECT_EQ(rp->ihlWords, rq->ihlWords);
    EXPECT_EQ(rp->tos, x.tos.value_or(rq->tos)) << "IPv4 TOS (DSCP and ECN)";
    EXPECT_EQ(rp->ipId, rq->ipId);
    EXPECT_EQ(rp->fragField, rq->fragField);
    EXPECT_TRUE(std::equal(reply.begin() + long(rp->l3Off + 20), reply.begin() + long(rp->l4Off),
                           req.begin() + long(rq->l3Off + 20)))
        << "IPv4 options must be kept";
  }
  expectChecksums(reply, *rp, udpChecksumWasZero(*rq));

  // The reflector's fields.
  const Bytes base = requestBase(*rq);
  const auto p = rp->payload;
  if (x.seq)
    EXPECT_EQ(rd32(p, kOffSeq), *x.seq) << "stateful: the reflector's own Sequence Number";
  else
    EXPECT_EQ(rd32(p, kOffSeq), rd32(base, 0)) << "stateless: Sequence Number = sender's";
  EXPECT_EQ(rd16(p, kOffErrEst), wantErrEst) << "reflector Error Estimate";
  EXPECT_EQ(rd16(p, kOffSsid), rd16(base, 14)) << "SSID copied";
  EXPECT_EQ(rd32(p, kOffSenderSeq), rd32(base, 0)) << "Session-Sender Sequence Number";
  EXPECT_EQ(rd64(p, kOffSenderTs), rd64(base, 4)) << "Session-Sender Timestamp";
  EXPECT_EQ(rd16(p, kOffSenderErrEst), rd16(base, 12)) << "Session-Sender Error Estimate";
  EXPECT_EQ(p[kOffSenderTtl], rq->ttl) << "Session-Sender TTL = TTL the request arrived with";
  for (size_t i : {38u, 39u, 41u, 42u, 43u}) EXPECT_EQ(p[i], 0) << "MBZ octet " << i;
  if (x.tai)
    expectPtpWithin(rd64(p, kOffT2), *x.tai, "PTP T2");
  else
    expectNtpWithin(rd64(p, kOffT2), when, "T2");

  // Symmetric size: whatever follows the base is copied unchanged.
  if (!grown) {
    EXPECT_TRUE(std::equal(reply.begin() + long(rp->payloadOff + kBase), reply.end(),
                           req.begin() + long(rq->payloadOff + kBase), req.end()))
        << "octets beyond the base must be copied unchanged";
  }
}

// stamp_refl_out on a marked reply: T3 rewritten (>= T2), mark cleared,
// checksums still valid, nothing else touched.
// `shiftNs`: how far behind UTC the configured TAI offset puts the clock.
// `ptp`: the reply announces PTP (Z set); T3 must then be PTP, exactly in
// the CLOCK_TAI window of the run.
void checkEgress(const ReflectorBpf& bpf, const Bytes& req, const Bytes& reply, int64_t shiftNs = 0,
                 bool ptp = false) {
  TcRun run;
  TimeWindow when{realtimeNow() - shiftNs, 0}, tai{taiNow(), 0};
  auto rv = parseFrame(reply);
  ASSERT_TRUE(rv);
  ASSERT_TRUE(runTc(bpf.outProgFd(), reply, STAMP_REFLECT_MARK | uint32_t(rv->l4Off + 8), run));
  tai.hi = taiNow();
  when.hi = realtimeNow() - shiftNs;
  EXPECT_EQ(run.verdict, kTcNext);
  EXPECT_EQ(run.markOut, 0u) << "egress must clear the reflect mark";
  ASSERT_EQ(run.out.size(), reply.size());
  auto rq = parseFrame(req);
  auto in = parseFrame(reply);
  auto out = parseFrame(run.out);
  ASSERT_TRUE(rq && in && out);

  const size_t t3Off = out->payloadOff + kOffT3;
  const size_t csumOff = out->l4Off + 6;
  for (size_t i = 0; i < reply.size(); ++i) {
    if ((i >= t3Off && i < t3Off + 8) || i == csumOff || i == csumOff + 1) continue;
    ASSERT_EQ(run.out[i], reply[i]) << "egress changed octet " << i;
  }
  uint64_t t2 = rd64(out->payload, kOffT2);
  uint64_t t3 = rd64(out->payload, kOffT3);
  EXPECT_NE(t3, rd64(in->payload, kOffT3)) << "T3 was not rewritten";
  EXPECT_GE(t3, t2) << "T3 before T2";
  EXPECT_EQ(rd16(out->payload, kOffErrEst) & STAMP_EE_Z, ptp ? STAMP_EE_Z : 0)
      << "Z bit of the reply's Error Estimate";
  if (ptp)
    expectPtpWithin(t3, tai, "PTP T3");
  else
    expectNtpWithin(t3, when, "T3");
  expectChecksums(run.out, *out, udpChecksumWasZero(*rq));
}

// ---- The fixture table ----

enum class Outcome {
  Reflected,  // answered: a reply redirected, then stamped on egress
  Passed,     // not the reflector's: frame unchanged, no counter moves
  Fragment,   // a first fragment for us: passed unchanged, counted
  Dropped,    // TC_ACT_SHOT, counted under drop[reason]
};

struct Fixture {
  std::string name;
  std::string description;
  Bytes packet;
  int verdict = kTcNext;
  Outcome outcome = Outcome::Passed;
  int dropReason = -1;
  std::string knownBug;  // non-empty: the row documents a bug and skips
};

void PrintTo(const Fixture& f, std::ostream* os) {
  *os << f.description;
}

PacketSpec request4(size_t payloadLen) {
  PacketSpec s;
  s.src = kSender4;
  s.dst = kRefl4;
  s.payload = senderPayload(payloadLen, kFields);
  return s;
}

PacketSpec request6(size_t payloadLen) {
  PacketSpec s = request4(payloadLen);
  s.src = kSender6;
  s.dst = kRefl6;
  return s;
}

template <typename Edit>
PacketSpec with(PacketSpec s, Edit edit) {
  edit(s);
  return s;
}

Bytes nopOptions(size_t words) {
  Bytes o(words * 4, 0x01);  // NOP
  o.back() = 0x00;           // End of Option List
  return o;
}

Bytes arpFrame() {
  Bytes f(42, 0);
  std::fill_n(f.begin(), 6, 0xff);
  f[6] = 0x02;
  f[11] = 0x01;
  f[12] = 0x08;
  f[13] = 0x06;
  return f;
}

std::vector<Fixture> fixtures() {
  std::vector<Fixture> t;
  auto reflected = [&](const char* name, const char* desc, const PacketSpec& s,
                       const char* bug = "") {
    t.push_back({name, desc, buildFrame(s), kTcRedirect, Outcome::Reflected, -1, bug});
  };
  auto passed = [&](const char* name, const char* desc, const Bytes& frame) {
    t.push_back({name, desc, frame, kTcNext, Outcome::Passed, -1, ""});
  };
  auto fragment = [&](const char* name, const char* desc, const PacketSpec& s) {
    t.push_back({name, desc, buildFrame(s), kTcNext, Outcome::Fragment, -1, ""});
  };
  auto dropped = [&](const char* name, const char* desc, const PacketSpec& s, int reason) {
    t.push_back({name, desc, buildFrame(s), kTcShot, Outcome::Dropped, reason, ""});
  };
  const uint16_t kTci = 0x2064;  // PCP 1, VLAN 100

  // Answered.
  reflected("ipv4_44", "IPv4, 44-octet request", request4(44));
  reflected("ipv6_44", "IPv6, 44-octet request", request6(44));
  reflected("vlan_ipv4_44", "802.1Q-tagged IPv4, 44 octets",
            with(request4(44), [&](PacketSpec& s) { s.vlanTci = kTci; }));
  reflected("vlan_ipv6_44", "802.1Q-tagged IPv6, 44 octets",
            with(request6(44), [&](PacketSpec& s) { s.vlanTci = kTci; }));
  reflected("ipv4_14", "IPv4, 14-octet TWAMP-Light request: 44-octet reply", request4(14));
  reflected("ipv6_14", "IPv6, 14-octet request: 44-octet reply", request6(14));
  reflected("ipv4_40", "IPv4, 40-octet request: 44-octet reply", request4(40));
  reflected("ipv6_40", "IPv6, 40-octet request: 44-octet reply", request6(40));
  reflected("ipv4_7_odd", "IPv4, 7-octet request (odd length, T1 cut): 44-octet reply",
            request4(7));
  reflected("vlan_ipv6_14", "802.1Q-tagged IPv6, 14 octets: 44-octet reply",
            with(request6(14), [&](PacketSpec& s) { s.vlanTci = kTci; }));
  reflected("ipv4_1400", "IPv4, 1400-octet request: symmetric reply", request4(1400));
  reflected("ipv6_1400", "IPv6, 1400-octet request: symmetric reply", request6(1400));
  reflected("ipv4_45_odd", "IPv4, 45-octet request (odd length beyond the base)", request4(45));
  reflected("ipv4_mbz_nonzero", "IPv4, MBZ octets non-zero: answered, reply MBZ zero",
            with(request4(44), [](PacketSpec& s) {
              s.payload =
                  senderPayload(44, {.seq = 9, .t1 = 1, .errEst = 0x8001, .ssid = 0, .mbz = 0xa5});
            }));
  reflected("ipv6_mbz_nonzero", "IPv6, MBZ octets non-zero: answered, reply MBZ zero",
            with(request6(44), [](PacketSpec& s) {
              s.payload =
                  senderPayload(44, {.seq = 9, .t1 = 1, .errEst = 0x8001, .ssid = 7, .mbz = 0xff});
            }));
  reflected("ipv4_options_ihl6", "IPv4 with 4 octets of options (ihl 6)",
            with(request4(44), [](PacketSpec& s) {
              s.ipOptions = {0x94, 0x04, 0x00, 0x00};
            }));
  reflected("ipv4_options_ihl15", "IPv4 with 40 octets of options (ihl 15)",
            with(request4(44), [](PacketSpec& s) { s.ipOptions = nopOptions(10); }));
  reflected("vlan_ipv4_options_ihl15_short",
            "802.1Q-tagged IPv4, ihl 15, 14 octets: deepest UDP header, grown reply",
            with(request4(14), [&](PacketSpec& s) {
              s.vlanTci = kTci;
              s.ipOptions = nopOptions(10);
            }));
  reflected("ipv4_udp_csum_zero", "IPv4, UDP checksum 0: reply keeps 0",
            with(request4(44), [](PacketSpec& s) { s.zeroUdpChecksum = true; }));
  reflected("ipv4_udp_csum_zero_short", "IPv4, UDP checksum 0, 14 octets: grown reply keeps 0",
            with(request4(14), [](PacketSpec& s) { s.zeroUdpChecksum = true; }));
  reflected("ipv4_df", "IPv4 with DF set is not a fragment",
            with(request4(44), [](PacketSpec& s) { s.fragField = 0x4000; }));
  reflected("ipv4_ptp_request_ntp_port",
            "IPv4, a PTP request (Z set, PTP T1) to an NTP port: NTP T2/T3, Z clear, "
            "T1 and its Error Estimate copied",
            with(request4(44), [](PacketSpec& s) {
              s.payload = senderPayload(
                  44, {.seq = 5, .t1 = 0x659200a500000001ULL, .errEst = 0xc587, .ssid = 3});
            }));
  reflected("ipv6_ptp_request_short",
            "IPv6, 14-octet PTP request (Z set) to an NTP port: 44-octet NTP reply",
            with(request6(14), [](PacketSpec& s) {
              s.payload =
                  senderPayload(14, {.seq = 6, .t1 = 0x659200a500000002ULL, .errEst = 0x4001});
            }));
  reflected("ipv6_port_8620", "IPv6 to the second configured port, 8620",
            with(request6(44), [](PacketSpec& s) { s.dport = 8620; }));
  reflected("ipv4_ttl1_tos", "IPv4, TTL 1 and TOS 0xb8: Session-Sender TTL 1, TOS kept",
            with(request4(44), [](PacketSpec& s) {
              s.ttl = 1;
              s.tos = 0xb8;
            }));
  reflected("ipv4_short_eth_padding",
            "IPv4, 14 octets in a 60-octet frame with non-zero Ethernet padding",
            with(request4(14), [](PacketSpec& s) {
              s.l2Padding = 4;
              s.paddingByte = 0xaa;
            }));
  reflected("ipv4_44_ip_trailer", "IPv4, 44 octets, IP payload 6 octets longer than UDP",
            with(request4(44), [](PacketSpec& s) { s.ipTrailer = 6; }));
  reflected("ipv4_short_ip_trailer", "IPv4, 14 octets, IP payload 10 octets longer than UDP",
            with(request4(14), [](PacketSpec& s) { s.ipTrailer = 10; }));
  reflected("ipv6_short_ip_trailer", "IPv6, 14 octets, IP payload 10 octets longer than UDP",
            with(request6(14), [](PacketSpec& s) { s.ipTrailer = 10; }));

  // Not the reflector's business: passed unchanged, nothing counted.
  passed("ipv4_wrong_port", "IPv4 to port 863",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.dport = 863; })));
  passed("ipv6_wrong_port", "IPv6 to port 863",
         buildFrame(with(request6(44), [](PacketSpec& s) { s.dport = 863; })));
  passed("ipv4_foreign_dst", "IPv4 to an address not in stamp_addrs (forwarded traffic)",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.dst = kForeign4; })));
  passed("ipv6_foreign_dst", "IPv6 to an address not in stamp_addrs (forwarded traffic)",
         buildFrame(with(request6(44), [](PacketSpec& s) { s.dst = kForeign6; })));
  passed("ipv4_tcp_862", "IPv4 TCP to port 862",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.ipProto = kProtoTcp; })));
  passed("ipv6_hop_by_hop", "IPv6 UDP to 862 behind a Hop-by-Hop header (not walked)",
         buildFrame(with(request6(44), [](PacketSpec& s) { s.v6HopByHop = true; })));
  passed("ipv4_fragment_offset", "IPv4 non-first fragment whose data looks like UDP to 862",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.fragField = 185; })));
  passed("ipv4_ip_len_cuts_udp_header", "IPv4 total length ends inside the UDP header",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.ipLenOverride = 20 + 4; })));
  passed("ipv4_frame_ends_in_udp_header", "frame ends inside the UDP header",
         buildFrame(with(request4(44), [](PacketSpec& s) { s.truncateTo = 14 + 20 + 4; })));
  passed("ipv6_frame_ends_in_udp_header", "IPv6 frame ends inside the UDP header",
         buildFrame(with(request6(44), [](PacketSpec& s) { s.truncateTo = 14 + 40 + 6; })));
  passed("arp", "ARP request", arpFrame());

  // A first fragment to us: passed to the stack, counted.
  fragment("ipv4_first_fragment", "IPv4 first fragment (MF set): passed, counted",
           with(request4(44), [](PacketSpec& s) {
             s.fragField = 0x2000;
             s.udpLenOverride = 8 + 1000;
           }));

  // Dropped and counted.
  dropped("ipv4_udp_len_beyond_ip", "IPv4, UDP length 1 octet beyond the IP payload",
          with(request4(44), [](PacketSpec& s) { s.udpLenOverride = 8 + 45; }),
          STAMP_DROP_MALFORMED);
  dropped("ipv6_udp_len_beyond_ip", "IPv6, UDP length 1 octet beyond the IP payload",
          with(request6(44), [](PacketSpec& s) { s.udpLenOverride = 8 + 45; }),
          STAMP_DROP_MALFORMED);
  dropped("ipv4_udp_len_below_header", "IPv4, UDP length 4 (below the UDP header)",
          with(request4(44), [](PacketSpec& s) { s.udpLenOverride = 4; }), STAMP_DROP_MALFORMED);
  dropped("ipv4_ip_len_beyond_frame", "IPv4 total length beyond the end of the frame",
          with(request4(44), [](PacketSpec& s) { s.truncateTo = 14 + 20 + 8 + 20; }),
          STAMP_DROP_MALFORMED);
  dropped("ipv6_ip_len_beyond_frame", "IPv6 payload length beyond the end of the frame",
          with(request6(44), [](PacketSpec& s) { s.truncateTo = 14 + 40 + 8 + 20; }),
          STAMP_DROP_MALFORMED);
  dropped("ipv4_src_multicast", "IPv4 source 224.0.0.1",
          with(request4(44), [](PacketSpec& s) { s.src = ip("224.0.0.1"); }),
          STAMP_DROP_BAD_SOURCE);
  dropped("ipv4_src_broadcast", "IPv4 source 255.255.255.255",
          with(request4(44), [](PacketSpec& s) { s.src = ip("255.255.255.255"); }),
          STAMP_DROP_BAD_SOURCE);
  dropped("ipv4_src_unspecified", "IPv4 source 0.0.0.0",
          with(request4(44), [](PacketSpec& s) { s.src = ip("0.0.0.0"); }), STAMP_DROP_BAD_SOURCE);
  dropped("ipv6_src_unspecified",
          "IPv6 source ::", with(request6(44), [](PacketSpec& s) { s.src = ip("::"); }),
          STAMP_DROP_BAD_SOURCE);
  dropped("ipv6_src_multicast", "IPv6 source ff02::1",
          with(request6(44), [](PacketSpec& s) { s.src = ip("ff02::1"); }), STAMP_DROP_BAD_SOURCE);
  dropped(
      "ipv4_src_mac_group", "IPv4 from a group (multicast) source MAC",
      with(request4(44), [](PacketSpec& s) { s.srcMac = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}; }),
      STAMP_DROP_BAD_SOURCE);
  dropped(
      "ipv6_src_mac_group", "IPv6 from a group (multicast) source MAC",
      with(request6(44), [](PacketSpec& s) { s.srcMac = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01}; }),
      STAMP_DROP_BAD_SOURCE);
  dropped("ipv4_src_port_zero", "IPv4 from UDP source port 0",
          with(request4(44), [](PacketSpec& s) { s.sport = 0; }), STAMP_DROP_SRC_PORT_ZERO);
  dropped("ipv6_src_port_zero", "IPv6 from UDP source port 0",
          with(request6(44), [](PacketSpec& s) { s.sport = 0; }), STAMP_DROP_SRC_PORT_ZERO);
  dropped("ipv6_udp_csum_zero", "IPv6 with UDP checksum 0 (mandatory in IPv6)",
          with(request6(44), [](PacketSpec& s) { s.zeroUdpChecksum = true; }),
          STAMP_DROP_BAD_CHECKSUM);
  return t;
}

// ---- Test fixtures ----

class ReflectorProgs : public BpfSuite<ReflectorProgs, ReflectorBpf> {
 protected:
  void prepare() override { ASSERT_TRUE(configure(*bpf_, kernelTaiOffsetSec())); }

  // Ports 862 and 8620 stateless/NTP, this host = kRefl4 and kRefl6, and a
  // synchronised clock whose TAI offset is `taiOffsetSec`.
  // The stateful session table starts empty.
  static ::testing::AssertionResult configure(ReflectorBpf& bpf, int32_t taiOffsetSec) {
    const int fd = bpf.sessionMapFd();
    stamp_refl_sess_key k{};
    while (bpf_map_get_next_key(fd, nullptr, &k) == 0)
      if (bpf_map_delete_elem(fd, &k) != 0)
        return ::testing::AssertionFailure() << "cannot empty " << STAMP_MAP_REFL_SESS;
    auto r = bpf.setPorts({862, 8620}, stamp_port_cfg{});
    if (r) r = bpf.setTos(stamp_tos_cfg{});  // copy DSCP and ECN
    if (r) r = bpf.setAddresses({kRefl4, kRefl6});
    if (r) {
      r = bpf.setClock(syncedClock(taiOffsetSec));
    }
    // These fixtures are about how requests are answered, TWAMP-Light's
    // short ones included ([reflector] answer_short_requests = true); the
    // abuse defences have theirs in abuse_test.cpp.
    if (r) r = bpf.setGuards({}, stamp_guard_cfg{.flags = STAMP_GUARD_ALLOW_SHORT});
    return ok(r);
  }

  // Runs ingress on `frame` and returns the run and the time window it
  // happened in.
  TcRun ingress(const Bytes& frame, TimeWindow& when) {
    TcRun run;
    when.lo = realtimeNow();
    EXPECT_TRUE(runTc(bpf_->inProgFd(), frame, 0, run));
    when.hi = realtimeNow();
    return run;
  }
};

class PacketFixture : public ReflectorProgs, public ::testing::WithParamInterface<Fixture> {};

TEST_P(PacketFixture, IngressThenEgress) {
  const Fixture& f = GetParam();
  if (!f.knownBug.empty()) GTEST_SKIP() << "known bug: " << f.knownBug;

  const stamp_refl_counters before = loCounters(*bpf_);
  TimeWindow when;
  TcRun run = ingress(f.packet, when);
  if (HasFatalFailure()) return;
  EXPECT_EQ(run.verdict, f.verdict) << "tc verdict of " << STAMP_PROG_REFL_IN;

  stamp_refl_counters want{};
  switch (f.outcome) {
    case Outcome::Reflected:
      want.rx = want.reflected = want.t3_stamped = 1;
      checkIngressReply(f.packet, run, when, configuredErrorEstimate().encode());
      if (HasFatalFailure()) return;
      checkEgress(*bpf_, f.packet, run.out);
      break;
    case Outcome::Fragment:
      want.rx = want.fragments = 1;
      [[fallthrough]];
    case Outcome::Passed:
      EXPECT_EQ(run.out, f.packet) << "a passed frame must be unchanged";
      EXPECT_EQ(run.markOut, 0u);
      break;
    case Outcome::Dropped:
      want.rx = 1;
      want.drop[f.dropReason] = 1;
      break;
  }
  expectCounterDelta(before, loCounters(*bpf_), want);
}

INSTANTIATE_TEST_SUITE_P(Stamp, PacketFixture, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<Fixture>& i) { return i.param.name; });

// ---- Behaviour beyond single rows ----

TEST_F(ReflectorProgs, EgressIgnoresUnmarkedPackets) {
  TimeWindow when;
  TcRun reply = ingress(buildFrame(request4(44)), when);
  ASSERT_EQ(reply.verdict, kTcRedirect);
  const stamp_refl_counters before = loCounters(*bpf_);
  for (const Bytes& frame : {reply.out, buildFrame(request6(44))}) {
    TcRun run;
    ASSERT_TRUE(runTc(bpf_->outProgFd(), frame, 0, run));
    EXPECT_EQ(run.verdict, kTcNext);
    EXPECT_EQ(run.out, frame) << "egress must not touch unmarked packets";
  }
  expectCounterDelta(before, loCounters(*bpf_), {});
}

TEST_F(ReflectorProgs, EgressPassesMarkedNonStampFrames) {
  const stamp_refl_counters before = loCounters(*bpf_);
  for (const Bytes& frame : {arpFrame(), buildFrame(request4(14))}) {
    TcRun run;
    ASSERT_TRUE(runTc(bpf_->outProgFd(), frame, STAMP_REFLECT_MARK, run));
    EXPECT_EQ(run.verdict, kTcNext);
    EXPECT_EQ(run.out, frame) << "nothing to stamp: frame unchanged";
    EXPECT_EQ(run.markOut, 0u);
  }
  expectCounterDelta(before, loCounters(*bpf_), {});
}

// T2 and T3 are bpf_ktime_get_tai_ns() minus the configured offset: with
// an offset 37 s larger than the kernel's, both must read 37 s behind UTC.
TEST_F(ReflectorProgs, TaiOffsetIsSubtracted) {
  constexpr int64_t kShift = 37 * kNsPerSec;
  ASSERT_TRUE(configure(*bpf_, kernelTaiOffsetSec() + 37));
  const Bytes req = buildFrame(request6(44));
  TimeWindow when;
  TcRun run = ingress(req, when);
  ASSERT_EQ(run.verdict, kTcRedirect);
  auto rp = parseFrame(run.out);
  ASSERT_TRUE(rp);
  const TimeWindow shifted{when.lo - kShift, when.hi - kShift};
  expectNtpWithin(rd64(rp->payload, kOffT2), shifted, "T2");
  checkEgress(*bpf_, req, run.out, kShift);
}

// A reply's IPv6 UDP checksum must never be 0x0000. The egress program
// stamps T3, a fresh time each run, so its checksum results spread over all
// values: 200000 runs (about 2 s) meet a computed 0 with 95 % probability.
TEST_F(ReflectorProgs, Ipv6ReplyChecksumNeverZero) {
  const Bytes req = buildFrame(request6(44));
  TimeWindow when;
  TcRun reply = ingress(req, when);
  ASSERT_EQ(reply.verdict, kTcRedirect);
  int zeros = 0;
  for (int i = 0; i < 200000; ++i) {
    TcRun run;
    ASSERT_TRUE(runTc(bpf_->outProgFd(), reply.out, reply.markOut, run));
    auto v = parseFrame(run.out);
    ASSERT_TRUE(v);
    if (v->udpCheck == 0) ++zeros;
  }
  EXPECT_EQ(zeros, 0) << "IPv6 replies sent with UDP checksum 0x0000";
}

TEST_F(ReflectorProgs, StatelessSequenceFollowsSender) {
  for (uint32_t seq : {0u, 1u, 0x7fffffffu, 0xffffffffu}) {
    PacketSpec s = request4(44);
    s.payload = senderPayload(44, {.seq = seq, .t1 = 0, .errEst = 0, .ssid = 0, .mbz = 0});
    TimeWindow when;
    TcRun run = ingress(buildFrame(s), when);
    ASSERT_EQ(run.verdict, kTcRedirect);
    auto rp = parseFrame(run.out);
    ASSERT_TRUE(rp);
    EXPECT_EQ(rd32(rp->payload, kOffSeq), seq);
    EXPECT_EQ(rd32(rp->payload, kOffSenderSeq), seq);
  }
  auto n = bpf_->sessionCount();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 0u) << "a stateless port keeps no session state";
}

TEST_F(ReflectorProgs, UnsupportedPortModesAreDropped) {
  const stamp_port_cfg modes[] = {
      {.mode = STAMP_MODE_STATEFUL + 1},
      {.ts_format = STAMP_TS_PTP + 1},
      {.auth = 2},
      {.mode = STAMP_MODE_STATEFUL, .ts_format = STAMP_TS_PTP, .auth = 2}};
  for (const stamp_port_cfg& cfg : modes) {
    ASSERT_TRUE(ok(bpf_->setPorts({862}, cfg)));
    const stamp_refl_counters before = loCounters(*bpf_);
    TimeWindow when;
    TcRun run = ingress(buildFrame(request4(44)), when);
    EXPECT_EQ(run.verdict, kTcShot);
    stamp_refl_counters want{};
    want.rx = 1;
    want.drop[STAMP_DROP_UNSUPPORTED] = 1;
    expectCounterDelta(before, loCounters(*bpf_), want);
  }
}

// ---- PTPv2 timestamps (RFC 8762 section 4.2.1, Z bit from RFC 8186) ----

// A PTP port answers with T2 and T3 taken from bpf_ktime_get_tai_ns() as
// they are, and says so with Z in its Error Estimate; S, Scale and
// Multiplier stay those of the clock map. Rows cover the direct-access path
// (44 octets, IPv4 and IPv6, VLAN) and the general one (short, IP options),
// and an NTP or a PTP request alike.
TEST_F(ReflectorProgs, PtpPortAnswersInPtp) {
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.ts_format = STAMP_TS_PTP})));
  const uint16_t wantEe = configuredErrorEstimate().encode() | STAMP_EE_Z;
  const PacketSpec specs[] = {
      request4(44),
      request6(44),
      with(request6(44), [](PacketSpec& s) { s.vlanTci = 0x0064; }),
      request4(14),
      with(request4(44), [](PacketSpec& s) { s.ipOptions = nopOptions(10); }),
      with(request4(44),
           [](PacketSpec& s) {
             s.payload =
                 senderPayload(44, {.seq = 7, .t1 = 0x659200a512345678ULL, .errEst = 0xc587});
           }),
  };
  for (const PacketSpec& spec : specs) {
    SCOPED_TRACE(spec.payload.size());
    const Bytes req = buildFrame(spec);
    const stamp_refl_counters before = loCounters(*bpf_);
    TimeWindow when, tai;
    tai.lo = taiNow();
    TcRun run = ingress(req, when);
    tai.hi = taiNow();
    ASSERT_EQ(run.verdict, kTcRedirect);
    checkIngressReply(req, run, when, wantEe, {.tai = &tai});
    if (HasFatalFailure()) return;
    checkEgress(*bpf_, req, run.out, 0, true);
    stamp_refl_counters want{};
    want.rx = want.reflected = want.t3_stamped = 1;
    expectCounterDelta(before, loCounters(*bpf_), want);

    // What a sender makes of it: decoded by the Z bit with this host's TAI
    // offset, T2 is UTC again.
    auto rp = parseFrame(run.out);
    ASSERT_TRUE(rp);
    auto ee = ErrorEstimate::decode(rd16(rp->payload, kOffErrEst));
    EXPECT_TRUE(ee.ptp);
    UnixNs t2 = unixNsFromWire(WireTs::fromRaw(rd64(rp->payload, kOffT2)), ee.ptp,
                               kernelTaiOffsetSec(), when.lo);
    EXPECT_GE(t2, when.lo - kTimeTolerance);
    EXPECT_LE(t2, when.hi + kTimeTolerance);
  }
}

// The reflector's format is its own (the Z bit of its Error Estimate says
// which): the same PTP request (Z set, PTP T1) gets PTP T2/T3 from a PTP port
// and NTP ones from an NTP port, T1 and its Error Estimate copied either way.
TEST_F(ReflectorProgs, FormatIsTheReflectorsNotTheSenders) {
  const PacketSpec spec = with(request6(44), [](PacketSpec& s) {
    s.payload = senderPayload(44, {.seq = 1, .t1 = 0x659200a500000000ULL, .errEst = 0x4001});
  });
  const Bytes req = buildFrame(spec);
  for (uint8_t fmt : {uint8_t(STAMP_TS_PTP), uint8_t(STAMP_TS_NTP), uint8_t(STAMP_TS_PTP)}) {
    SCOPED_TRACE(fmt == STAMP_TS_PTP ? "PTP port" : "NTP port");
    ASSERT_TRUE(ok(bpf_->setPorts({862}, {.ts_format = fmt})));
    TimeWindow when, tai;
    tai.lo = taiNow();
    TcRun run = ingress(req, when);
    tai.hi = taiNow();
    ASSERT_EQ(run.verdict, kTcRedirect);
    const bool ptp = fmt == STAMP_TS_PTP;
    checkIngressReply(req, run, when, configuredErrorEstimate().encode() | (ptp ? STAMP_EE_Z : 0),
                      {.tai = ptp ? &tai : nullptr});
    if (HasFatalFailure()) return;
    checkEgress(*bpf_, req, run.out, 0, ptp);
  }
}

// An unset clock on a PTP port: "error unknown" with Z set.
TEST(ReflectorFreshLoad, UnsetClockOnPtpPortKeepsZ) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs";
  auto bpf = ReflectorBpf::load();
  if (!bpf && bpf.error().code == EPERM) GTEST_SKIP() << "BPF program load not permitted (EPERM)";
  ASSERT_TRUE(bpf) << bpf.error().message;
  ASSERT_TRUE(ok(bpf->setPorts({862}, {.ts_format = STAMP_TS_PTP})));
  ASSERT_TRUE(ok(bpf->setAddresses({kRefl4})));
  TcRun run;
  ASSERT_TRUE(runTc(bpf->inProgFd(), buildFrame(request4(44)), 0, run));
  ASSERT_EQ(run.verdict, kTcRedirect);
  auto rp = parseFrame(run.out);
  ASSERT_TRUE(rp);
  EXPECT_EQ(rd16(rp->payload, kOffErrEst), kErrorEstimateUnknown | STAMP_EE_Z);
}

// ---- Stateful mode (RFC 8762 section 4.3.1) ----

stamp_state_counters loStateCounters(const ReflectorBpf& bpf) {
  return loEntry(bpf.stateCounters());
}

class StatefulProgs : public ReflectorProgs {
 protected:
  void prepare() override {
    ReflectorProgs::prepare();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(
        ok(bpf_->setPorts({862, 8620}, {.mode = STAMP_MODE_STATEFUL, .idle_timeout_s = kIdleS})));
  }

  // One request through ingress and egress; checks the whole reply with the
  // reflector sequence `wantSeq` and returns it.
  void reflectExpecting(const PacketSpec& spec, uint32_t wantSeq, bool ptp = false) {
    const Bytes req = buildFrame(spec);
    TimeWindow when, tai;
    tai.lo = taiNow();
    TcRun run = ingress(req, when);
    tai.hi = taiNow();
    ASSERT_EQ(run.verdict, kTcRedirect);
    checkIngressReply(req, run, when, configuredErrorEstimate().encode() | (ptp ? STAMP_EE_Z : 0),
                      {.tai = ptp ? &tai : nullptr, .seq = wantSeq});
    if (HasFatalFailure()) return;
    checkEgress(*bpf_, req, run.out, 0, ptp);
  }

  static PacketSpec withSeq(PacketSpec s, uint32_t seq, uint16_t ssid = 0) {
    s.payload = senderPayload(
        s.payload.size(), {.seq = seq, .t1 = kFields.t1, .errEst = kFields.errEst, .ssid = ssid});
    return s;
  }

  static constexpr uint32_t kIdleS = 60;
};

// Two sessions interleaved, each numbered from 0 by the reflector whatever
// the sender's numbers are: one IPv4 on the direct-access path, one IPv6
// 14-octet TWAMP-Light request on the general path.
TEST_F(StatefulProgs, InterleavedSessionsCountIndependently) {
  const stamp_state_counters before = loStateCounters(*bpf_);
  const PacketSpec a = request4(44);
  const PacketSpec b = with(request6(14), [](PacketSpec& s) { s.sport = 40001; });
  struct Step {
    const PacketSpec* spec;
    uint32_t senderSeq, wantSeq;
  };
  const Step steps[] = {{&a, 100, 0}, {&b, 7, 0},   {&a, 101, 1}, {&a, 103, 2},
                        {&b, 8, 1},   {&a, 102, 3}, {&b, 9, 2}};
  for (const Step& st : steps) {
    SCOPED_TRACE(::testing::Message()
                 << (st.spec == &a ? "A" : "B") << " sender seq " << st.senderSeq);
    reflectExpecting(withSeq(*st.spec, st.senderSeq), st.wantSeq);
    if (HasFatalFailure()) return;
  }
  auto n = bpf_->sessionCount();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2u);
  const stamp_state_counters after = loStateCounters(*bpf_);
  EXPECT_EQ(after.sessions_new - before.sessions_new, 2u);
  EXPECT_EQ(after.sessions_expired - before.sessions_expired, 0u);
  EXPECT_EQ(after.drop_no_state - before.drop_no_state, 0u);
}

// A session is the 4-tuple plus the SSID: another SSID, another address,
// another port each starts at 0; a request too short for an SSID counts as
// SSID 0.
TEST_F(StatefulProgs, SsidAndEachTupleFieldMakeASession) {
  const PacketSpec base = request4(44);
  reflectExpecting(withSeq(base, 1, 0x1111), 0);
  reflectExpecting(withSeq(base, 2, 0x1111), 1);
  reflectExpecting(withSeq(base, 1, 0x2222), 0);  // same 4-tuple, other SSID
  reflectExpecting(withSeq(base, 3, 0x1111), 2);
  reflectExpecting(withSeq(base, 1, 0), 0);       // SSID 0 is a session too
  reflectExpecting(withSeq(request4(14), 2), 1);  // no SSID octets: SSID 0
  reflectExpecting(withSeq(with(base, [](PacketSpec& s) { s.src = ip("192.0.2.9"); }), 1, 0x1111),
                   0);
  reflectExpecting(withSeq(with(base, [](PacketSpec& s) { s.sport = 40002; }), 1, 0x1111), 0);
  reflectExpecting(withSeq(with(base, [](PacketSpec& s) { s.dport = 8620; }), 1, 0x1111), 0);
  reflectExpecting(withSeq(with(base,
                                [](PacketSpec& s) {
                                  s.dst = kRefl6;
                                  s.src = kSender6;
                                }),
                           1, 0x1111),
                   0);
  reflectExpecting(withSeq(base, 4, 0x1111), 3);
  auto n = bpf_->sessionCount();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 7u);
}

// A session idle longer than idle_timeout_s starts again at 0 (REFWAIT). The
// test moves the entry's last-seen time back instead of waiting.
TEST_F(StatefulProgs, IdleSessionRestartsAtZero) {
  const PacketSpec a = request4(44);
  for (uint32_t i = 0; i < 3; ++i) reflectExpecting(withSeq(a, 50 + i), i);
  if (HasFatalFailure()) return;

  const int fd = bpf_->sessionMapFd();
  stamp_refl_sess_key key{};
  ASSERT_EQ(bpf_map_get_next_key(fd, nullptr, &key), 0);
  EXPECT_EQ(std::memcmp(key.saddr.addr, kSender4.data(), 16), 0);
  EXPECT_EQ(std::memcmp(key.daddr.addr, kRefl4.data(), 16), 0);
  EXPECT_EQ(key.sport, 40000);
  EXPECT_EQ(key.dport, 862);
  EXPECT_EQ(key.ssid, 0);
  stamp_refl_sess v{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &v), 0);
  EXPECT_EQ(v.next_seq, 3u);
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const uint64_t now = uint64_t(mono.tv_sec) * kNsPerSec + uint64_t(mono.tv_nsec);
  EXPECT_LE(v.last_ns, now) << "last_ns is CLOCK_MONOTONIC (bpf_ktime_get_ns)";
  EXPECT_LT(now - v.last_ns, 10 * uint64_t(kNsPerSec));

  // Just inside the timeout: the session goes on. (On a machine up for less
  // than a minute the last-seen times below wrap around; the program only
  // looks at now - last_ns, which modulo 2^64 is still the idle time.)
  v.last_ns = now - (kIdleS - 5) * uint64_t(kNsPerSec);
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &v, BPF_EXIST), 0);
  reflectExpecting(withSeq(a, 53), 3);

  const stamp_state_counters before = loStateCounters(*bpf_);
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &v), 0);
  v.last_ns -= (kIdleS + 1) * uint64_t(kNsPerSec);
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &v, BPF_EXIST), 0);
  reflectExpecting(withSeq(a, 54), 0);
  reflectExpecting(withSeq(a, 55), 1);
  const stamp_state_counters after = loStateCounters(*bpf_);
  EXPECT_EQ(after.sessions_new - before.sessions_new, 1u);
  EXPECT_EQ(after.sessions_expired - before.sessions_expired, 1u);
}

// idle_timeout_s 0: no expiry at all.
TEST_F(StatefulProgs, ZeroIdleTimeoutNeverExpires) {
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.mode = STAMP_MODE_STATEFUL, .idle_timeout_s = 0})));
  const PacketSpec a = request4(44);
  reflectExpecting(withSeq(a, 9), 0);
  const int fd = bpf_->sessionMapFd();
  stamp_refl_sess_key key{};
  ASSERT_EQ(bpf_map_get_next_key(fd, nullptr, &key), 0);
  stamp_refl_sess v{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &v), 0);
  v.last_ns = 1;  // as old as it gets
  ASSERT_EQ(bpf_map_update_elem(fd, &key, &v, BPF_EXIST), 0);
  reflectExpecting(withSeq(a, 10), 1);
}

// Stateful and PTP together; and the sender's sequence wrapping does not
// matter to the reflector's.
TEST_F(StatefulProgs, StatefulPtp) {
  ASSERT_TRUE(ok(bpf_->setPorts(
      {862}, {.mode = STAMP_MODE_STATEFUL, .ts_format = STAMP_TS_PTP, .idle_timeout_s = 900})));
  const PacketSpec a = request6(44);
  reflectExpecting(withSeq(a, 0xfffffffe), 0, true);
  reflectExpecting(withSeq(a, 0xffffffff), 1, true);
  reflectExpecting(withSeq(a, 0), 2, true);
}

// Dropped requests (bad source, source port 0) create no session.
TEST_F(StatefulProgs, DroppedRequestsCreateNoSession) {
  for (const PacketSpec& s :
       {with(request4(44), [](PacketSpec& s) { s.src = ip("224.0.0.1"); }),
        with(request4(44), [](PacketSpec& s) { s.sport = 0; }),
        with(request6(44), [](PacketSpec& s) { s.zeroUdpChecksum = true; })}) {
    TimeWindow when;
    TcRun run = ingress(buildFrame(s), when);
    EXPECT_EQ(run.verdict, kTcShot);
  }
  auto n = bpf_->sessionCount();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 0u);
}

// The table's size comes from the caller (stampd: [reflector] max_sessions).
// A full table makes room by forgetting sessions the kernel's LRU picks (an
// approximation: a session seen twice gets a second chance), never refuses a
// new one, and a forgotten session that comes back starts again at 0.
TEST(ReflectorFreshLoad, SessionTableSizeAndLruEviction) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs";
  installLibbpfLogger();
  auto bpf = ReflectorBpf::load({}, 64);
  if (!bpf && bpf.error().code == EPERM) GTEST_SKIP() << "BPF program load not permitted (EPERM)";
  ASSERT_TRUE(bpf) << bpf.error().message;
  EXPECT_EQ(bpf->maxSessions(), 64u);
  ASSERT_TRUE(ok(bpf->setPorts({862}, {.mode = STAMP_MODE_STATEFUL, .idle_timeout_s = 900})));
  ASSERT_TRUE(ok(bpf->setAddresses({kRefl4})));
  auto seqOf = [&](uint16_t sport) {
    TcRun run;
    EXPECT_TRUE(runTc(bpf->inProgFd(),
                      buildFrame(with(request4(44), [&](PacketSpec& s) { s.sport = sport; })), 0,
                      run));
    auto rp = parseFrame(run.out);
    return rp ? rd32(rp->payload, kOffSeq) : 0xdeadbeef;
  };
  for (uint16_t p = 2000; p < 2000 + 1000; ++p) ASSERT_EQ(seqOf(p), 0u) << "new session " << p;
  auto n = bpf->sessionCount();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_LE(*n, 64u) << "LRU bounded by max_entries";
  EXPECT_GT(*n, 0u);
  EXPECT_EQ(seqOf(2000), 0u) << "the first session is long forgotten: it starts again at 0";
  EXPECT_EQ(seqOf(2999), 1u) << "the last one is still there";
}

// ---- DSCP and ECN of the reply (stamp_refl_tos, stamp_tos.bpf.h) ----

constexpr uint8_t kTosEf1 = 46 << 2 | 1;  // DSCP 46 (EF), ECN ECT(1)

// The requests that take each path through stamp_refl_in with a given TOS:
// the fast path (Ethernet or 802.1Q, IPv4 without options or IPv6, 44 octets
// or more) and the general one (IPv4 options, short TWAMP-Light requests).
std::vector<std::pair<std::string, PacketSpec>> tosRequests(uint8_t tos) {
  auto t = [tos](PacketSpec s) {
    s.tos = tos;
    return s;
  };
  return {
      {"ipv4 fast", t(request4(44))},
      {"ipv4 fast 802.1Q", t(with(request4(60), [](PacketSpec& s) { s.vlanTci = 100; }))},
      {"ipv4 general: options",
       t(with(request4(44), [](PacketSpec& s) { s.ipOptions = nopOptions(2); }))},
      {"ipv4 general: short", t(request4(14))},
      {"ipv4 general: no UDP checksum",
       t(with(request4(20), [](PacketSpec& s) { s.zeroUdpChecksum = true; }))},
      {"ipv6 fast", t(request6(44))},
      {"ipv6 fast 802.1Q", t(with(request6(100), [](PacketSpec& s) { s.vlanTci = 7; }))},
      {"ipv6 general: short", t(request6(41))},
  };
}

// RFC 791/1071 header checksum of the reply's IPv4 header, computed here
// from the octets with the checksum field taken as zero.
uint16_t ipv4HeaderChecksum(const Bytes& frame, const FrameView& v) {
  uint32_t sum = 0;
  for (size_t i = 0; i < size_t(v.ihlWords) * 4; i += 2)
    if (i != 10) sum += uint32_t(frame[v.l3Off + i]) << 8 | frame[v.l3Off + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

class TosPolicy : public ReflectorProgs {
 protected:
  // Reflects every request of tosRequests(requestTos) on port 862 and checks
  // the reply has `wantTos` (and everything else checkIngressReply checks,
  // then egress); returns the replies.
  void reflectAll(uint8_t requestTos, uint8_t wantTos) {
    for (const auto& [name, spec] : tosRequests(requestTos)) {
      SCOPED_TRACE(name);
      const Bytes req = buildFrame(spec);
      TimeWindow when;
      TcRun run = ingress(req, when);
      ASSERT_EQ(run.verdict, kTcRedirect);
      checkIngressReply(req, run, when, configuredErrorEstimate().encode(), Expect{.tos = wantTos});
      if (HasFatalFailure()) return;
      auto rp = parseFrame(run.out);
      ASSERT_TRUE(rp);
      if (!rp->ipv6) {
        EXPECT_EQ(rd16(run.out, rp->l3Off + 10), ipv4HeaderChecksum(run.out, *rp))
            << "IPv4 header checksum after the TOS rewrite";
      } else {
        EXPECT_EQ(rp->v6VerTcFlow >> 28, 6u) << "IP version";
        EXPECT_EQ((rp->v6VerTcFlow >> 20) & 0xff, wantTos) << "Traffic Class";
        EXPECT_EQ(rp->v6VerTcFlow & 0xfffff, 0x12345u) << "Flow Label untouched";
      }
      // T3 on egress leaves the DSCP/ECN (and every other header octet) alone.
      checkEgress(*bpf_, req, run.out);
      if (HasFatalFailure()) return;
    }
  }
  ::testing::AssertionResult policy(uint8_t flags, uint8_t dscp, uint8_t ecn) {
    stamp_tos_cfg c{};
    c.flags = flags;
    c.dscp = dscp;
    c.ecn = ecn;
    return ok(bpf_->setTos(c));
  }
};

TEST_F(TosPolicy, CopyKeepsDscpAndEcn) {
  reflectAll(kTosEf1, kTosEf1);
  reflectAll(0xff, 0xff);  // DSCP 63, CE: every bit kept
  reflectAll(0x00, 0x00);
}

TEST_F(TosPolicy, ConfiguredDscpAndEcnAreWritten) {
  ASSERT_TRUE(policy(STAMP_TOS_SET_DSCP | STAMP_TOS_SET_ECN, 10, 0));
  reflectAll(kTosEf1, 10 << 2);
  ASSERT_TRUE(policy(STAMP_TOS_SET_DSCP | STAMP_TOS_SET_ECN, 63, 3));
  reflectAll(0x00, 0xff);
  ASSERT_TRUE(policy(STAMP_TOS_SET_DSCP | STAMP_TOS_SET_ECN, 46, 1));
  reflectAll(kTosEf1, kTosEf1);  // already right: nothing to change
}

TEST_F(TosPolicy, DscpOnlyKeepsTheRequestsEcn) {
  ASSERT_TRUE(policy(STAMP_TOS_SET_DSCP, 34, 3));  // ecn ignored without its flag
  reflectAll(kTosEf1, 34 << 2 | 1);
  reflectAll(46 << 2 | 3, 34 << 2 | 3);  // CE from the path is kept
}

TEST_F(TosPolicy, EcnOnlyKeepsTheRequestsDscp) {
  ASSERT_TRUE(policy(STAMP_TOS_SET_ECN, 12, 0));  // dscp ignored without its flag
  reflectAll(kTosEf1, 46 << 2);
  reflectAll(8 << 2 | 3, 8 << 2);
}

TEST_F(TosPolicy, PolicyAppliesToEveryPortAndClears) {
  ASSERT_TRUE(policy(STAMP_TOS_SET_DSCP, 0, 0));
  reflectAll(kTosEf1, 1);
  // Port 8620 (the other configured port) too.
  const Bytes req = buildFrame(with(request6(44), [](PacketSpec& s) {
    s.dport = 8620;
    s.tos = kTosEf1;
  }));
  TimeWindow when;
  TcRun run = ingress(req, when);
  ASSERT_EQ(run.verdict, kTcRedirect);
  checkIngressReply(req, run, when, configuredErrorEstimate().encode(), Expect{.tos = 1});
  // No flags: every port copies again.
  ASSERT_TRUE(policy(0, 63, 3));
  reflectAll(kTosEf1, kTosEf1);
}

// Before stampd writes the clock state the reply must say "error unknown".
TEST(ReflectorFreshLoad, UnsetClockGivesUnknownErrorEstimate) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs";
  auto bpf = ReflectorBpf::load();
  if (!bpf && bpf.error().code == EPERM) GTEST_SKIP() << "BPF program load not permitted (EPERM)";
  ASSERT_TRUE(bpf) << bpf.error().message;
  ASSERT_TRUE(ok(bpf->setPorts({862}, stamp_port_cfg{})));
  ASSERT_TRUE(ok(bpf->setAddresses({kRefl4})));
  TcRun run;
  ASSERT_TRUE(runTc(bpf->inProgFd(), buildFrame(request4(44)), 0, run));
  ASSERT_EQ(run.verdict, kTcRedirect);
  auto rp = parseFrame(run.out);
  ASSERT_TRUE(rp);
  EXPECT_EQ(rd16(rp->payload, kOffErrEst), kErrorEstimateUnknown);
}

}  // namespace
}  // namespace stamp::test
