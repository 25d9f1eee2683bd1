// The bpf tier: the reflector's guards (bpf/stamp_guard.bpf.h) in the real
// stamp_refl_in, through BPF_PROG_TEST_RUN. Allow and deny prefixes (IPv4
// and IPv6, the longest match deciding), the per-source and the global rate
// limit (exactly the burst through, then drops), the order of the checks,
// and the counters by reason.
//
// Rate-limit rows use intervals of an hour, so the clock cannot refill a
// bucket during a test; "time passing" is simulated by moving a bucket's
// theoretical arrival time back, as the stateful tests move last_ns.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <time.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/clock.hpp"
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

const Ip16 kRefl4 = ip("192.0.2.2");
const Ip16 kRefl6 = ip("2001:db8::2");

uint64_t monoNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ULL + uint64_t(ts.tv_nsec);
}

// A 44-octet request (or `len` octets) from `src` to this host's address of
// the same family, from UDP port `sport`.
Bytes requestFrom(const std::string& src, size_t len = 44, uint16_t sport = 40000) {
  PacketSpec s;
  s.src = ip(src);
  s.dst = isV4(s.src) ? kRefl4 : kRefl6;
  s.sport = sport;
  s.payload = senderPayload(len, {.seq = 7, .t1 = 0xe93c7f0080000000ULL, .errEst = 0x0d2a});
  return buildFrame(s);
}

IpPrefix prefix(const std::string& text) {
  auto p = parsePrefix(text);
  if (!p) ADD_FAILURE() << p.error().message;
  return p ? *p : IpPrefix{};
}

// Rate limits as GCRA parameters: `burst` requests back to back, then one
// per `interval`.
stamp_guard_cfg perSource(uint64_t burst, uint64_t interval = kHourNs) {
  return {.src_interval_ns = interval, .src_tolerance_ns = (burst - 1) * interval};
}
stamp_guard_cfg global(uint64_t burst, uint64_t interval = kHourNs) {
  return {.all_interval_ns = interval, .all_tolerance_ns = (burst - 1) * interval};
}

// What a run of requests did, from the verdicts and the counters.
struct Tally {
  uint64_t rx = 0, reflected = 0, notAllowed = 0, ratePerSource = 0, rateGlobal = 0;
  bool operator==(const Tally&) const = default;
};
void PrintTo(const Tally& t, std::ostream* os) {
  *os << "{rx " << t.rx << ", reflected " << t.reflected << ", not_allowed " << t.notAllowed
      << ", rate_per_source " << t.ratePerSource << ", rate_global " << t.rateGlobal << "}";
}

struct SourceRow {
  const char* source;
  bool answered;
};

class Guards : public BpfSuite<Guards, ReflectorBpf> {
 protected:
  // Port 862 stateless, this host kRefl4 and kRefl6, no guard, empty
  // buckets and session table.
  void prepare() override {
    ASSERT_TRUE(ok(bpf_->setPorts({862}, stamp_port_cfg{})));
    ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, kRefl6})));
    ClockState clock;
    clock.synchronized = true;
    clock.taiOffsetSec = kernelTaiOffsetSec();
    ASSERT_TRUE(ok(bpf_->setClock(clock)));
    ASSERT_TRUE(ok(bpf_->setGuards({}, stamp_guard_cfg{})));
    ASSERT_TRUE(ok(bpf_->resetRateBuckets()));
    const int fd = bpf_->sessionMapFd();
    stamp_refl_sess_key k{};
    while (bpf_map_get_next_key(fd, nullptr, &k) == 0) ASSERT_EQ(bpf_map_delete_elem(fd, &k), 0);
  }

  static void setRules(const std::vector<std::pair<std::string, uint8_t>>& rules,
                       stamp_guard_cfg cfg = {}) {
    std::vector<std::pair<IpPrefix, uint8_t>> r;
    bool anyAllow = false;
    for (const auto& [text, rule] : rules) {
      r.emplace_back(prefix(text), rule);
      anyAllow |= rule == STAMP_RULE_ALLOW;
    }
    cfg.flags |= STAMP_GUARD_ALLOW_SHORT;  // rows of 14 octets, as TWAMP-Light sends
    if (!r.empty()) cfg.flags |= STAMP_GUARD_PREFIXES;
    if (anyAllow) cfg.flags |= STAMP_GUARD_DEFAULT_DENY;
    ASSERT_TRUE(ok(bpf_->setGuards(r, cfg)));
  }

  static Tally counters() {
    Tally t;
    auto refl = bpf_->counters();
    auto guard = bpf_->guardCounters();
    EXPECT_TRUE(refl && guard);
    if (refl)
      if (auto it = refl->find(kLoIfindex); it != refl->end())
        t.rx = it->second.rx, t.reflected = it->second.reflected;
    if (guard)
      if (auto it = guard->find(kLoIfindex); it != guard->end()) {
        t.notAllowed = it->second.not_allowed;
        t.ratePerSource = it->second.rate_per_source;
        t.rateGlobal = it->second.rate_global;
      }
    return t;
  }

  // Runs `frame` through stamp_refl_in: true when it was answered, false
  // when dropped; anything else fails the test.
  static bool answered(const Bytes& frame) {
    TcRun run;
    EXPECT_TRUE(runTc(bpf_->inProgFd(), frame, 0, run));
    EXPECT_TRUE(run.verdict == kTcRedirect || run.verdict == kTcShot) << "verdict " << run.verdict;
    if (run.verdict == kTcShot) {
      EXPECT_EQ(run.out, frame) << "a dropped request is untouched";
    }
    return run.verdict == kTcRedirect;
  }

  // Sends `n` requests from `src`; returns how many were answered.
  static int send(const std::string& src, int n) {
    int got = 0;
    for (int i = 0; i < n; ++i) {
      PacketSpec s;
      s.src = ip(src);
      s.dst = isV4(s.src) ? kRefl4 : kRefl6;
      s.payload = senderPayload(44, {.seq = uint32_t(i)});
      got += answered(buildFrame(s));
    }
    return got;
  }

  static Tally delta(const Tally& before) {
    Tally a = counters();
    return {a.rx - before.rx, a.reflected - before.reflected, a.notAllowed - before.notAllowed,
            a.ratePerSource - before.ratePerSource, a.rateGlobal - before.rateGlobal};
  }

  static size_t entries(int fd, size_t keySize) {
    std::vector<uint8_t> cur(keySize), next(keySize);
    const void* prev = nullptr;
    size_t n = 0;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      ++n;
      cur = next;
      prev = cur.data();
    }
    return n;
  }

  // Each row's source sends one request: answered, or dropped and counted
  // as not_allowed.
  static void expectRows(const std::vector<SourceRow>& rows, size_t len = 44) {
    for (const auto& row : rows) {
      SCOPED_TRACE(::testing::Message() << "source " << row.source << ", " << len << " octets");
      const Tally before = counters();
      TcRun run;
      const Bytes frame = requestFrom(row.source, len);
      ASSERT_TRUE(runTc(bpf_->inProgFd(), frame, 0, run));
      EXPECT_EQ(run.verdict, row.answered ? kTcRedirect : kTcShot);
      if (!row.answered) {
        EXPECT_EQ(run.out, frame) << "a refused request is dropped untouched";
        EXPECT_EQ(run.markOut, 0u);
      }
      const Tally want{
          .rx = 1, .reflected = row.answered ? 1u : 0u, .notAllowed = row.answered ? 0u : 1u};
      EXPECT_EQ(delta(before), want);
    }
  }
};

// ---- Allow and deny prefixes ----

TEST_F(Guards, NoGuardAnswersEverySource) {
  expectRows({{"192.0.2.1", true}, {"10.9.8.7", true}, {"2001:db8::1", true}, {"fd00::7", true}});
  EXPECT_EQ(entries(bpf_->sourceRateMapFd(), sizeof(stamp_addr_key)), 0u)
      << "no rate limit: no per-source state";
}

// An allow-list of IPv4 and IPv6 prefixes: sources inside are answered,
// others dropped and counted as not_allowed; on both reply paths (44 octets
// with direct access, 14 octets grown on the general path).
TEST_F(Guards, AllowListIpv4AndIpv6) {
  setRules({{"192.0.2.0/24", STAMP_RULE_ALLOW},
            {"198.51.100.7", STAMP_RULE_ALLOW},
            {"2001:db8::/32", STAMP_RULE_ALLOW}});
  const std::vector<SourceRow> rows = {
      {"192.0.2.1", true},        {"192.0.2.255", true},       {"192.0.3.1", false},
      {"192.0.1.255", false},     {"198.51.100.7", true},      {"198.51.100.8", false},
      {"10.0.0.1", false},        {"2001:db8::1", true},       {"2001:db8:ffff::9", true},
      {"2001:db9::1", false},     {"2001:db7:ffff::1", false}, {"fd00::1", false},
      {"::ffff:192.0.2.9", true},  // IPv4-mapped is how IPv4 is keyed
  };
  expectRows(rows);
  expectRows(rows, 14);
}

// The longest matching prefix decides, whichever list it is in: deny holes
// in allowed ranges, and allowed islands in those holes.
TEST_F(Guards, LongestPrefixDecides) {
  setRules({{"10.0.0.0/8", STAMP_RULE_ALLOW},
            {"10.1.0.0/16", STAMP_RULE_DENY},
            {"10.1.2.0/24", STAMP_RULE_ALLOW},
            {"10.1.2.3/32", STAMP_RULE_DENY},
            {"2001:db8::/32", STAMP_RULE_ALLOW},
            {"2001:db8:bad::/48", STAMP_RULE_DENY},
            {"2001:db8:bad:1::/64", STAMP_RULE_ALLOW}});
  expectRows({{"10.2.0.1", true},
              {"10.1.0.1", false},
              {"10.1.3.1", false},
              {"10.1.2.1", true},
              {"10.1.2.3", false},
              {"10.1.2.4", true},
              {"11.0.0.1", false},
              {"2001:db8:1::1", true},
              {"2001:db8:bad::1", false},
              {"2001:db8:bad:2::1", false},
              {"2001:db8:bad:1::1", true},
              {"2001:db9::1", false}});
}

// Deny alone is a block-list: every other source is answered.
TEST_F(Guards, DenyOnlyRefusesJustThoseSources) {
  setRules({{"192.0.2.0/25", STAMP_RULE_DENY}, {"2001:db8:dead::/48", STAMP_RULE_DENY}});
  expectRows({{"192.0.2.1", false},
              {"192.0.2.127", false},
              {"192.0.2.128", true},
              {"198.51.100.1", true},
              {"2001:db8:dead::1", false},
              {"2001:db8::1", true}});
}

// IPv4 sources are keyed IPv4-mapped: 0.0.0.0/0 is every IPv4 source and no
// IPv6 one; ::/0 covers ::ffff:0:0/96 and so IPv4 too.
TEST_F(Guards, Ipv4IsKeyedIpv4Mapped) {
  setRules({{"0.0.0.0/0", STAMP_RULE_ALLOW}});
  expectRows({{"192.0.2.1", true}, {"203.0.113.9", true}, {"2001:db8::1", false}});
  setRules({{"::/0", STAMP_RULE_ALLOW}});
  expectRows({{"192.0.2.1", true}, {"2001:db8::1", true}});
}

// A new rule set replaces the old one entirely; an empty one turns the
// lookup off.
TEST_F(Guards, RulesAreReplacedNotMerged) {
  setRules({{"192.0.2.0/24", STAMP_RULE_ALLOW}});
  expectRows({{"192.0.2.1", true}, {"198.51.100.1", false}});
  setRules({{"198.51.100.0/24", STAMP_RULE_ALLOW}});
  expectRows({{"192.0.2.1", false}, {"198.51.100.1", true}});
  setRules({});
  expectRows({{"192.0.2.1", true}, {"198.51.100.1", true}, {"2001:db8::1", true}});
}

// The guards come first, right after T2: a refused source's request is
// not_allowed whatever else is wrong with it (and its first fragment is
// dropped, not passed); an allowed source's invalid request keeps its own
// reason.
TEST_F(Guards, GuardsComeBeforeTheOtherChecks) {
  setRules({{"192.0.2.0/24", STAMP_RULE_ALLOW}});
  auto portZero = [](const char* src) {
    PacketSpec s;
    s.src = ip(src);
    s.dst = kRefl4;
    s.sport = 0;
    s.payload = senderPayload(44, {});
    return buildFrame(s);
  };
  auto dropsOf = [&](int reason) {
    auto c = bpf_->counters();
    EXPECT_TRUE(c);
    return c ? (*c)[kLoIfindex].drop[reason] : 0;
  };
  Tally before = counters();
  uint64_t zeroBefore = dropsOf(STAMP_DROP_SRC_PORT_ZERO);
  EXPECT_FALSE(answered(portZero("198.51.100.1")));
  EXPECT_EQ(delta(before), (Tally{.rx = 1, .notAllowed = 1}));
  EXPECT_EQ(dropsOf(STAMP_DROP_SRC_PORT_ZERO), zeroBefore);
  EXPECT_FALSE(answered(portZero("192.0.2.1")));
  EXPECT_EQ(dropsOf(STAMP_DROP_SRC_PORT_ZERO), zeroBefore + 1);

  auto firstFragment = [](const char* src) {
    PacketSpec s;
    s.src = ip(src);
    s.dst = kRefl4;
    s.fragField = 0x2000;  // MF
    s.udpLenOverride = 8 + 1000;
    s.payload = senderPayload(44, {});
    return buildFrame(s);
  };
  TcRun run;
  ASSERT_TRUE(runTc(bpf_->inProgFd(), firstFragment("198.51.100.1"), 0, run));
  EXPECT_EQ(run.verdict, kTcShot) << "a refused source's fragment gets nothing back either";
  ASSERT_TRUE(runTc(bpf_->inProgFd(), firstFragment("192.0.2.1"), 0, run));
  EXPECT_EQ(run.verdict, TC_ACT_UNSPEC) << "an allowed source's fragment goes to the stack";

  // On an authenticated port (here without a key) the HMAC is never
  // looked at for a refused source.
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.auth = 1})));
  auto authDrops = [&] {
    auto a = bpf_->authCounters();
    EXPECT_TRUE(a);
    if (!a) return uint64_t(0);
    const auto& c = (*a)[kLoIfindex];
    return uint64_t(c.failed + c.short_ + c.no_key);
  };
  const uint64_t authBefore = authDrops();
  before = counters();
  EXPECT_FALSE(answered(requestFrom("198.51.100.1")));
  EXPECT_EQ(delta(before), (Tally{.rx = 1, .notAllowed = 1}));
  EXPECT_EQ(authDrops(), authBefore);
  EXPECT_FALSE(answered(requestFrom("192.0.2.1")));
  EXPECT_EQ(authDrops(), authBefore + 1) << "an allowed source meets the HMAC check";
}

// ---- Rate limits ----

// Exactly the burst from each source, then drops; another source has its
// own bucket. One interval later exactly one more request passes.
TEST_F(Guards, PerSourceLimitPassesExactlyTheBurst) {
  ASSERT_TRUE(ok(bpf_->setGuards({}, perSource(5))));
  Tally before = counters();
  EXPECT_EQ(send("192.0.2.1", 8), 5);
  EXPECT_EQ(send("2001:db8::1", 7), 5);
  EXPECT_EQ(send("192.0.2.1", 2), 0) << "still empty";
  EXPECT_EQ(delta(before), (Tally{.rx = 17, .reflected = 10, .ratePerSource = 7}));

  // The bucket is keyed by the source address (IPv4-mapped) and holds its
  // theoretical arrival time: five intervals ahead of the first request.
  const int fd = bpf_->sourceRateMapFd();
  EXPECT_EQ(entries(fd, sizeof(stamp_addr_key)), 2u);
  stamp_addr_key k{};
  std::memcpy(k.addr, ip("192.0.2.1").data(), 16);
  uint64_t tat = 0;
  ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &tat), 0);
  const uint64_t now = monoNowNs();
  EXPECT_GT(tat, now + 4 * kHourNs);
  EXPECT_LE(tat, now + 5 * kHourNs);

  // An hour "passes" for this source: one more request, not two.
  tat -= kHourNs;
  ASSERT_EQ(bpf_map_update_elem(fd, &k, &tat, BPF_EXIST), 0);
  before = counters();
  EXPECT_EQ(send("192.0.2.1", 3), 1);
  EXPECT_EQ(delta(before), (Tally{.rx = 3, .reflected = 1, .ratePerSource = 2}));

  // Idle long enough: a full burst again, never more. Any TAT at or before
  // now is a full bucket. (Not `now - kHourNs`: CLOCK_MONOTONIC counts from
  // boot, and in the first hour after it that wraps around to a TAT far in
  // the future.)
  tat = now;
  ASSERT_EQ(bpf_map_update_elem(fd, &k, &tat, BPF_EXIST), 0);
  EXPECT_EQ(send("192.0.2.1", 9), 5);
  // The oldest TAT there is, as of a source last seen at boot.
  tat = 0;
  ASSERT_EQ(bpf_map_update_elem(fd, &k, &tat, BPF_EXIST), 0);
  EXPECT_EQ(send("192.0.2.1", 9), 5);
}

// All sources together: exactly the burst, whichever source sends.
TEST_F(Guards, GlobalLimitPassesExactlyTheBurst) {
  ASSERT_TRUE(ok(bpf_->setGuards({}, global(3))));
  Tally before = counters();
  int got = 0;
  for (const char* src : {"192.0.2.1", "192.0.2.2", "2001:db8::1", "192.0.2.3", "2001:db8::9"})
    got += send(src, 1);
  EXPECT_EQ(got, 3);
  EXPECT_EQ(delta(before), (Tally{.rx = 5, .reflected = 3, .rateGlobal = 2}));
  EXPECT_EQ(entries(bpf_->sourceRateMapFd(), sizeof(stamp_addr_key)), 0u)
      << "no per-source limit: no per-source state";

  // One interval later: one more.
  const uint32_t key0 = 0;
  stamp_rate_all b{};
  ASSERT_EQ(bpf_map_lookup_elem(bpf_->allRateMapFd(), &key0, &b), 0);
  EXPECT_GT(b.tat_ns, monoNowNs() + 2 * kHourNs);
  b.tat_ns -= kHourNs;
  ASSERT_EQ(bpf_map_update_elem(bpf_->allRateMapFd(), &key0, &b, BPF_ANY), 0);
  EXPECT_EQ(send("198.51.100.1", 3), 1);

  // resetRateBuckets() (a changed limit) fills it again.
  ASSERT_TRUE(ok(bpf_->resetRateBuckets()));
  EXPECT_EQ(send("198.51.100.1", 4), 3);
}

// A source over its own limit does not use up the budget of the others:
// the per-source bucket is checked first, the global one only for requests
// that pass it.
TEST_F(Guards, PerSourceLimitComesBeforeTheGlobalOne) {
  stamp_guard_cfg cfg = perSource(2);
  cfg.all_interval_ns = global(4).all_interval_ns;
  cfg.all_tolerance_ns = global(4).all_tolerance_ns;
  ASSERT_TRUE(ok(bpf_->setGuards({}, cfg)));
  const Tally before = counters();
  EXPECT_EQ(send("192.0.2.1", 5), 2);    // 2 of the global 4
  EXPECT_EQ(send("192.0.2.2", 3), 2);    // the other 2
  EXPECT_EQ(send("2001:db8::1", 1), 0);  // its own bucket is full, the global one empty
  EXPECT_EQ(delta(before), (Tally{.rx = 9, .reflected = 4, .ratePerSource = 4, .rateGlobal = 1}));
}

// Refused sources are not rate-limited (no bucket is made for them), and
// neither a refused nor a rate-limited request creates a stateful session.
TEST_F(Guards, RefusedRequestsLeaveNoState) {
  ASSERT_TRUE(ok(bpf_->setPorts({862}, {.mode = STAMP_MODE_STATEFUL, .idle_timeout_s = 900})));
  stamp_guard_cfg cfg = perSource(2);
  setRules({{"192.0.2.0/24", STAMP_RULE_ALLOW}}, cfg);
  const Tally before = counters();
  EXPECT_EQ(send("198.51.100.1", 3), 0);
  EXPECT_EQ(send("2001:db8::1", 3), 0);
  EXPECT_EQ(entries(bpf_->sourceRateMapFd(), sizeof(stamp_addr_key)), 0u);
  EXPECT_EQ(entries(bpf_->sessionMapFd(), sizeof(stamp_refl_sess_key)), 0u);
  EXPECT_EQ(send("192.0.2.1", 5), 2);
  EXPECT_EQ(entries(bpf_->sourceRateMapFd(), sizeof(stamp_addr_key)), 1u);
  EXPECT_EQ(entries(bpf_->sessionMapFd(), sizeof(stamp_refl_sess_key)), 1u);
  EXPECT_EQ(delta(before), (Tally{.rx = 11, .reflected = 2, .notAllowed = 6, .ratePerSource = 3}));
}

// Many CPUs at once: the per-source bucket (compare-and-swap) and the
// global one (spin lock) never let more than their burst through, however
// the requests race. Each thread runs its own skb through stamp_refl_in
// 200000 times in the kernel (BPF_PROG_TEST_RUN repeat): with both ends'
// addresses and ports configured, a reply is itself a request back, so the
// skb ping-pongs between 192.0.2.1 and 192.0.2.2 until a guard drops it,
// and a dropped one is retried as it is.
TEST_F(Guards, ConcurrentRequestsNeverExceedTheBurst) {
  const unsigned threads = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  constexpr uint64_t kBurst = 5000;
  ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, ip("192.0.2.1")})));
  ASSERT_TRUE(ok(bpf_->setPorts({862, 40000}, stamp_port_cfg{})));
  auto race = [&] {
    const Tally before = counters();
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        const Bytes frame = requestFrom("192.0.2.1");
        Bytes out;
        __sk_buff ctxIn{}, ctxOut{};
        bpf_test_run_opts opts = tcTestRunOpts(frame, out, ctxIn, ctxOut, 200000);
        if (bpf_prog_test_run_opts(bpf_->inProgFd(), &opts) != 0) ++failures;
      });
    for (auto& th : pool) th.join();
    EXPECT_EQ(failures.load(), 0);
    return delta(before);
  };
  // Each repeat runs on the reply of the run before: the two ends take
  // turns, a loop the abuse defences would cut (abuse_test.cpp), so they
  // are off here.
  constexpr uint32_t kLoopOk = STAMP_GUARD_ALLOW_REFL_SPORT | STAMP_GUARD_ALLOW_REFLECTED;
  stamp_guard_cfg g = perSource(kBurst);
  g.flags = kLoopOk;
  ASSERT_TRUE(ok(bpf_->setGuards({}, g)));
  Tally t = race();
  EXPECT_LE(t.reflected, 2 * kBurst) << threads << " threads: two sources, a burst each";
  EXPECT_GE(t.reflected, kBurst) << "one source at least used its burst up";
  EXPECT_EQ(t.reflected + t.ratePerSource, t.rx);
  ASSERT_TRUE(ok(bpf_->resetRateBuckets()));
  g = global(kBurst);
  g.flags = kLoopOk;
  ASSERT_TRUE(ok(bpf_->setGuards({}, g)));
  t = race();
  EXPECT_EQ(t.reflected, kBurst) << threads << " threads, one bucket";
  EXPECT_EQ(t.reflected + t.rateGlobal, t.rx);
}

// Requests no closer than the interval all pass even with no burst at all
// (tolerance 0). The gaps are real time, longer than the interval.
TEST_F(Guards, SteadyRateWithinTheLimitPasses) {
  constexpr uint64_t kIntervalNs = 2'000'000;  // 500 requests/s
  stamp_guard_cfg cfg = perSource(1, kIntervalNs);
  cfg.all_interval_ns = kIntervalNs;
  ASSERT_TRUE(ok(bpf_->setGuards({}, cfg)));
  int got = 0;
  for (int i = 0; i < 20; ++i) {
    got += send("192.0.2.1", 1);
    timespec gap{0, long(2 * kIntervalNs)};
    nanosleep(&gap, nullptr);
  }
  EXPECT_EQ(got, 20);
  EXPECT_EQ(send("192.0.2.1", 2), 1) << "back to back: the second is early";
}

}  // namespace
}  // namespace stamp::test
