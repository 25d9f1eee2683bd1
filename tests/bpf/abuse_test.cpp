// The bpf tier: the reflector's abuse defences (bpf/stamp_guard.bpf.c) in
// the real stamp_refl_in, through BPF_PROG_TEST_RUN, with the flags stampd
// writes by default (all zero: every defence on) and with each one turned
// off. Short requests (a reply larger than its request), source ports of
// the reflector's own and reflected packets (loops between reflectors),
// martian sources on an interface other than lo, and the IPv6 per-source
// rate bucket per prefix. Each refused request is dropped untouched and
// counted under its reason in stamp_abuse_cnt.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <net/if.h>

#include <time.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/netif.hpp"
#include "packet.hpp"
#include "prog_test_run.hpp"
#include "stamp_abi.h"
#include "tc_run.hpp"

namespace stamp::test {
namespace {

constexpr int kTcShot = TC_ACT_SHOT;
constexpr int kTcRedirect = TC_ACT_REDIRECT;
constexpr uint64_t kHourNs = 3600ULL * 1'000'000'000ULL;
constexpr uint64_t kNtpUnixOffset = 2208988800ULL;

const Ip16 kRefl4 = ip("192.0.2.2");
const Ip16 kRefl6 = ip("2001:db8::2");

// This host's clock now as a wire timestamp, NTP (seconds since 1900,
// fraction) or PTP (TAI seconds, nanoseconds).
uint64_t ntpNow(int64_t offsetS = 0) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec + offsetS + int64_t(kNtpUnixOffset)) << 32;
}
uint64_t ptpNow(int64_t offsetS = 0) {
  timespec ts{};
  clock_gettime(CLOCK_TAI, &ts);
  return uint64_t(ts.tv_sec + offsetS) << 32 | uint64_t(ts.tv_nsec);
}

PacketSpec requestSpec(const std::string& src, Bytes payload, uint16_t sport = 40000) {
  PacketSpec s;
  s.src = ip(src);
  s.dst = isV4(s.src) ? kRefl4 : kRefl6;
  s.sport = sport;
  s.payload = std::move(payload);
  return s;
}

Bytes request(const std::string& src, size_t len = 44, uint16_t sport = 40000) {
  return buildFrame(
      requestSpec(src, senderPayload(len, {.seq = 7, .t1 = ntpNow(), .errEst = 0x0d2a}), sport));
}

class Abuse : public BpfSuite<Abuse, ReflectorBpf> {
 protected:
  // Port 862 stateless, this host kRefl4 and kRefl6, the defaults stampd
  // writes (no rate limit here: guards_test.cpp has those).
  void prepare() override {
    ASSERT_TRUE(ok(bpf_->setPorts({862, 8620}, stamp_port_cfg{})));
    ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, kRefl6})));
    ASSERT_TRUE(ok(bpf_->setClock(syncedClock(kernelTaiOffsetSec()))));
    setFlags(0);
    ASSERT_TRUE(ok(bpf_->resetRateBuckets()));
  }

  static void setFlags(uint32_t flags, stamp_guard_cfg g = {}) {
    g.flags = flags;
    ASSERT_TRUE(ok(bpf_->setGuards({}, g)));
  }

  static stamp_abuse_counters abuse(unsigned ifindex = kLoIfindex) {
    auto all = bpf_->abuseCounters();
    EXPECT_TRUE(all) << (all ? "" : all.error().message);
    if (!all) return {};
    auto it = all->find(ifindex);
    return it == all->end() ? stamp_abuse_counters{} : it->second;
  }

  // Runs `frame` through stamp_refl_in on `ifindex`: true when answered
  // (the reply in *reply), false when dropped untouched.
  static bool answered(const Bytes& frame, unsigned ifindex = 0, Bytes* reply = nullptr) {
    Bytes out;
    __sk_buff ctxIn{}, ctxOut{};
    ctxIn.ifindex = ifindex;
    bpf_test_run_opts opts = tcTestRunOpts(frame, out, ctxIn, ctxOut);
    EXPECT_EQ(bpf_prog_test_run_opts(bpf_->inProgFd(), &opts), 0) << std::strerror(errno);
    out.resize(opts.data_size_out);
    const int verdict = int(opts.retval);
    EXPECT_TRUE(verdict == kTcRedirect || verdict == kTcShot) << "verdict " << verdict;
    if (verdict == kTcShot) {
      EXPECT_EQ(out, frame) << "a refused request is dropped untouched";
    }
    if (reply) *reply = out;
    return verdict == kTcRedirect;
  }

  // The reply to `frame` after egress too (T3 written), as it leaves.
  static Bytes reflectFully(const Bytes& frame) {
    Bytes reply;
    EXPECT_TRUE(answered(frame, 0, &reply));
    TcRun out;
    EXPECT_TRUE(runTc(bpf_->outProgFd(), reply, STAMP_REFLECT_MARK | 42, out));
    return out.out;
  }
};

// ---- Amplification: a reply is never larger than its request ----

// By default requests shorter than the 44-octet base are refused: their reply
// would be larger (0 octets: 28 IPv4 octets in, 72 out). From 44 octets
// up the reply has the request's size. answer_short_requests = true grows
// them to the base as RFC 8762 section 4.6 says.
TEST_F(Abuse, ShortRequestsRefusedUnlessAllowed) {
  for (const char* src : {"192.0.2.1", "2001:db8::1"}) {
    for (size_t len : {0, 1, 14, 40, 43}) {
      SCOPED_TRACE(::testing::Message() << src << ", " << len << " octets");
      const stamp_abuse_counters before = abuse();
      EXPECT_FALSE(answered(request(src, len)));
      EXPECT_EQ(abuse().short_request - before.short_request, 1u);
    }
    for (size_t len : {44, 45, 100, 1400}) {
      SCOPED_TRACE(::testing::Message() << src << ", " << len << " octets");
      const Bytes req = request(src, len);
      Bytes reply;
      ASSERT_TRUE(answered(req, 0, &reply));
      EXPECT_EQ(reply.size(), req.size()) << "the reply is as large as the request";
    }
  }
  setFlags(STAMP_GUARD_ALLOW_SHORT);
  for (size_t len : {0, 14}) {
    const Bytes req = request("192.0.2.1", len);
    Bytes reply;
    ASSERT_TRUE(answered(req, 0, &reply)) << len;
    auto v = parseFrame(reply);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->payload.size(), 44u) << "grown to the base when allowed";
  }
}

// An authenticated port never answers a request shorter than 112 octets
// anyway (auth_short): it is not counted as a short request.
TEST_F(Abuse, AuthenticatedPortLeavesShortRequestsToAuth) {
  ASSERT_TRUE(ok(bpf_->setKeys({862}, stamp_hmac_key{})));
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.auth = 1})));
  const stamp_abuse_counters before = abuse();
  const stamp_auth_counters authBefore = loEntry(bpf_->authCounters());
  EXPECT_FALSE(answered(request("192.0.2.1", 14)));
  EXPECT_EQ(abuse().short_request, before.short_request);
  EXPECT_EQ(loEntry(bpf_->authCounters()).short_ - authBefore.short_, 1u);
  ASSERT_TRUE(ok(bpf_->setKeys({}, stamp_hmac_key{})));
}

// ---- Loops ----

// A request whose source port is one of the reflector's ports (862, 8620)
// is refused: it can be another reflector's reply. Other ports are
// answered; answer_reflector_source_ports = true answers them too.
TEST_F(Abuse, SourcePortOfTheReflectorRefused) {
  for (uint16_t sport : {862, 8620}) {
    for (const char* src : {"192.0.2.1", "2001:db8::1"}) {
      SCOPED_TRACE(::testing::Message() << src << " port " << sport);
      const stamp_abuse_counters before = abuse();
      EXPECT_FALSE(answered(request(src, 44, sport)));
      EXPECT_EQ(abuse().reflector_source_port - before.reflector_source_port, 1u);
    }
  }
  EXPECT_TRUE(answered(request("192.0.2.1", 44, 863)));
  EXPECT_TRUE(answered(request("192.0.2.1", 44, 40000)));
  setFlags(STAMP_GUARD_ALLOW_REFL_SPORT);
  EXPECT_TRUE(answered(request("192.0.2.1", 44, 862)));
}

// Another reflector's reply arriving as a request: its Receive Timestamp
// (T2) or its Session-Sender Timestamp (the T1 it copied, here our own T3)
// near this host's clock, NTP or PTP, gives it away. Zeros there (a STAMP
// sender's MBZ), or padding that is no timestamp of now, are answered, as
// are the same packets with answer_reflected_packets = true.
TEST_F(Abuse, ReflectedPacketsRefused) {
  struct Row {
    const char* what;
    Bytes payload;
    bool reflected;
  };
  const uint64_t far = ntpNow(-3600);  // another clock, an hour off
  std::vector<Row> rows = {
      {"another reflector's reply, its T2 now (NTP)",
       reflectorPayload(44, {.seq = 1, .t3 = ntpNow(), .t2 = ntpNow(), .t1 = far}), true},
      {"another reflector's reply, its T2 now (PTP)",
       reflectorPayload(44, {.seq = 1, .t3 = ptpNow(), .t2 = ptpNow(), .t1 = far}), true},
      {"our reply reflected by a reflector an hour off: our T3 as its T1",
       reflectorPayload(44, {.seq = 1, .t3 = far, .t2 = far, .t1 = ntpNow(-1)}), true},
      {"the same, PTP", reflectorPayload(44, {.seq = 1, .t3 = far, .t2 = far, .t1 = ptpNow(1)}),
       true},
      {"T2 10 s ahead", reflectorPayload(44, {.t2 = ntpNow(10)}), true},
      {"a STAMP request, MBZ zero", senderPayload(44, {.seq = 1, .t1 = ntpNow()}), false},
      {"TWAMP-Light padding 0xa5", senderPayload(100, {.seq = 1, .t1 = ntpNow(), .mbz = 0xa5}),
       false},
      {"a reply an hour off in both slots", reflectorPayload(44, {.t2 = far, .t1 = far}), false},
      {"T2 a minute old", reflectorPayload(44, {.t2 = ntpNow(-60)}), false},
  };
  for (uint32_t flags : {0u, uint32_t(STAMP_GUARD_ALLOW_REFLECTED)}) {
    setFlags(flags);
    for (const auto& row : rows)
      for (const char* src : {"192.0.2.1", "2001:db8::1"}) {
        SCOPED_TRACE(::testing::Message() << row.what << ", " << src << ", flags " << flags);
        const bool refuse = row.reflected && flags == 0;
        const stamp_abuse_counters before = abuse();
        EXPECT_EQ(answered(buildFrame(requestSpec(src, row.payload))), !refuse);
        EXPECT_EQ(abuse().reflected_packet - before.reflected_packet, refuse ? 1u : 0u);
      }
  }
}

// Two reflectors facing each other, played by one program that owns both
// ends' addresses and ports (192.0.2.2:862 and 192.0.2.1:40000). A spoofed
// request from one end's reflector port to the other is refused for its
// source port; with that defence off it is answered once, and the reply,
// handed back as the other end's request, is refused as a reflected packet.
// With both off the ping-pong would go on, as the last step shows.
TEST_F(Abuse, TwoReflectorsPingPongStopsAtTheFirstReply) {
  ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, ip("192.0.2.1")})));
  ASSERT_TRUE(ok(bpf_->setPorts({862, 40000}, stamp_port_cfg{})));
  const Bytes spoofed = request("192.0.2.1", 44, 40000);
  stamp_abuse_counters before = abuse();
  EXPECT_FALSE(answered(spoofed)) << "a request from a reflector port";
  EXPECT_EQ(abuse().reflector_source_port - before.reflector_source_port, 1u);

  setFlags(STAMP_GUARD_ALLOW_REFL_SPORT);
  const Bytes first = reflectFully(spoofed);  // 192.0.2.2:862 -> 192.0.2.1:40000
  auto v = parseFrame(first);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->sport, 862);
  ASSERT_EQ(v->dport, 40000);
  before = abuse();
  EXPECT_FALSE(answered(first)) << "the reply is recognised by its timestamps";
  EXPECT_EQ(abuse().reflected_packet - before.reflected_packet, 1u);

  setFlags(STAMP_GUARD_ALLOW_REFL_SPORT | STAMP_GUARD_ALLOW_REFLECTED);
  EXPECT_TRUE(answered(first)) << "without the defences the loop goes on";
}

// ---- Martian sources ----

// A veth pair for runs on an interface other than lo, removed again
// whatever happens (deleting one end deletes both).
class DummyLink {
 public:
  static constexpr const char* kName = "stampabuse0";
  DummyLink() {
    remove();
    if (std::system("ip link add stampabuse0 type veth peer name stampabuse1 2>/dev/null") == 0)
      ifindex_ = if_nametoindex(kName);
  }
  ~DummyLink() { remove(); }
  DummyLink(const DummyLink&) = delete;
  DummyLink& operator=(const DummyLink&) = delete;
  unsigned ifindex() const { return ifindex_; }

 private:
  static void remove() {
    if (if_nametoindex(kName) != 0) (void)std::system("ip link del stampabuse0 2>/dev/null");
  }
  unsigned ifindex_ = 0;
};

// 127/8, 240/4 (the limited broadcast with it), ::1 and IPv4-mapped
// loopback are refused on any interface but lo, and answered on lo, where
// the host talks to itself. Ordinary sources are answered on both.
TEST_F(Abuse, MartianSourcesRefusedOffLoopback) {
  DummyLink dummy;
  if (dummy.ifindex() == 0) GTEST_SKIP() << "cannot create a veth pair (ip link add ... type veth)";
  struct Row {
    const char* src;
    bool forceIpv6;
    bool martian;
  };
  const Row rows[] = {
      {"127.0.0.1", false, true},
      {"127.255.3.4", false, true},
      {"240.0.0.1", false, true},
      {"255.255.255.254", false, true},
      {"::1", false, true},
      {"::ffff:127.0.0.1", true, true},
      {"192.0.2.1", false, false},
      {"2001:db8::1", false, false},
      {"::ffff:192.0.2.1", true, false},
      {"126.255.255.255", false, false},
  };
  for (const Row& r : rows) {
    PacketSpec s = requestSpec(r.src, senderPayload(44, {.seq = 1}));
    s.forceIpv6 = r.forceIpv6;
    if (r.forceIpv6) s.dst = kRefl6;
    const Bytes frame = buildFrame(s);
    {
      SCOPED_TRACE(::testing::Message() << r.src << " on " << DummyLink::kName);
      const stamp_abuse_counters before = abuse(dummy.ifindex());
      EXPECT_EQ(answered(frame, dummy.ifindex()), !r.martian);
      EXPECT_EQ(abuse(dummy.ifindex()).martian_source - before.martian_source, r.martian ? 1u : 0u);
    }
    SCOPED_TRACE(::testing::Message() << r.src << " on lo");
    EXPECT_TRUE(answered(frame)) << "on lo every such source is answered";
  }
}

// ---- IPv6 per-source buckets per prefix ----

// With a per-source burst of 2 and the default /64, three addresses of one
// /64 share one bucket (2 answered in all) and the next /64 has its own;
// IPv4 sources keep one bucket per address. With /128 every address has
// its own; with /56 two /64s of one /56 share.
TEST_F(Abuse, Ipv6PerSourceBucketPerPrefix) {
  auto burst2 = [](uint32_t plen) {
    stamp_guard_cfg g{.src_interval_ns = kHourNs, .src_tolerance_ns = kHourNs};
    g.src6_prefix = plen;
    setFlags(0, g);
    ASSERT_TRUE(ok(bpf_->resetRateBuckets()));
  };
  auto send = [](const std::vector<std::string>& sources) {
    int got = 0;
    for (const auto& s : sources) got += answered(request(s));
    return got;
  };
  burst2(64);
  EXPECT_EQ(send({"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"}), 2);
  EXPECT_EQ(send({"2001:db8:1:3::1", "2001:db8:1:3::1", "2001:db8:1:3::1"}), 2);
  EXPECT_EQ(send({"192.0.2.1", "192.0.2.3", "192.0.2.4"}), 3) << "IPv4: per address";
  burst2(128);
  EXPECT_EQ(send({"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"}), 3);
  burst2(56);
  EXPECT_EQ(send({"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ff::1"}), 2);
  EXPECT_EQ(send({"2001:db8:1:100::1"}), 1) << "another /56";
  burst2(0);  // what ABI 1 wrote there: per address
  EXPECT_EQ(send({"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}), 3);
}

}  // namespace
}  // namespace stamp::test
