// SessionStats with limits: memory proportional to what a session has seen
// (figures printed for docs/sender.md), a small sequence window, reset()
// and reuse, the O(1) counters() and inFlight(), and trusted one-way
// statistics that share the as-measured storage until a flagged sample.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "reply_fixture.hpp"
#include "sender/stats.hpp"

namespace stamp {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

using testing::kEpoch;
using testing::kMs;
using testing::kUs;
using testing::reply;

// 1 pps with realistic delays: RTT lognormal around 200 us with 30 %
// jitter, a reflector clock `offset` off (one-way +-offset), all trusted.
void feedRealistic(SessionStats& st, uint32_t replies, int64_t offset, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> rtt(std::log(200.0 * kUs), 0.3);
  for (uint32_t i = 0; i < replies; ++i) {
    const UnixNs t = kEpoch + int64_t(i) * kNsPerSec;
    ASSERT_TRUE(st.onSent(i, t));
    const auto r = int64_t(rtt(rng));
    const int64_t fwd = r * 45 / 100;
    st.onReply(reply(i, t, fwd, 10 * kUs, r - fwd, offset));
    st.expire(t, seconds(2));
  }
}

TEST(SessionStatsMemory, EmptyIsSmallAndAllocatesNothing) {
  SessionStats st;
  std::cout << "[ memory   ] empty SessionStats (default limits): " << st.memoryBytes()
            << " bytes (sizeof " << sizeof(SessionStats) << ")\n";
  RecordProperty("empty_bytes", std::to_string(st.memoryBytes()));
  EXPECT_EQ(st.memoryBytes(), sizeof(SessionStats));
  EXPECT_LT(st.memoryBytes(), size_t{1536});
  SessionStats small({}, StatsLimits::forSchedule(seconds(1), seconds(2)));
  EXPECT_EQ(small.memoryBytes(), st.memoryBytes());
}

TEST(SessionStatsMemory, ThirtySecondWindowAtOnePacketPerSecond) {
  SessionStats st({}, StatsLimits::forSchedule(seconds(1), seconds(2)));
  EXPECT_EQ(st.limits().exactSamples, LogHistogram::kExactSamples);
  feedRealistic(st, 30, 1 * kMs, 1);
  ASSERT_EQ(st.summary().received, 30u);
  std::cout << "[ memory   ] 30 replies, default exactSamples, window " << st.limits().seqWindow
            << ": " << st.memoryBytes() << " bytes\n";
  RecordProperty("window_30_bytes", std::to_string(st.memoryBytes()));
  EXPECT_LT(st.memoryBytes(), size_t{4096});
  // Exact percentiles still.
  EXPECT_EQ(st.summary().trustedForward.p50, st.summary().forward.p50);
}

TEST(SessionStatsMemory, TenMinutesWithoutExactSamples) {
  StatsLimits limits = StatsLimits::forSchedule(seconds(1), seconds(2));
  limits.exactSamples = 0;
  for (int64_t offset : {1 * kMs, -1 * kMs}) {
    SessionStats st({}, limits);
    feedRealistic(st, 600, offset, 2);
    const Summary s = st.summary();
    ASSERT_EQ(s.received, 600u);
    ASSERT_EQ(s.trustedForward.count, 600u);
    std::cout << "[ memory   ] 600 replies, exactSamples 0, window " << st.limits().seqWindow
              << ", one-way offset " << offset / kMs << " ms: " << st.memoryBytes() << " bytes\n";
    RecordProperty("run_600_bytes", std::to_string(st.memoryBytes()));
    EXPECT_LT(st.memoryBytes(), size_t{8192});
  }
}

TEST(SessionStatsMemory, AllTrustedStoresNoSecondCopy) {
  SessionStats trusted, flagged;
  std::mt19937_64 rng(3);
  for (uint32_t i = 0; i < 3000; ++i) {
    const UnixNs t = kEpoch + int64_t(i) * kMs;
    trusted.onSent(i, t);
    flagged.onSent(i, t);
    ReplySample r = reply(i, t, int64_t(rng() % 1000) * kUs, kUs, int64_t(rng() % 1000) * kUs);
    trusted.onReply(r);
    if (i == 1500) r.forwardFlag = OneWayFlag::kBelowError;
    flagged.onReply(r);
  }
  // The flagged one copies the forward histogram once; the other has none.
  EXPECT_GT(flagged.memoryBytes(), trusted.memoryBytes());
  const Summary s = trusted.summary();
  EXPECT_EQ(s.trustedForward.count, s.forward.count);
  EXPECT_EQ(s.trustedForward.p99, s.forward.p99);
  EXPECT_TRUE(s.trustedForward.histogram.empty()) << "the trusted side exports no histogram";
}

// The trusted aggregates equal a reference fed only the trusted values,
// whatever the order of trusted and flagged samples and across the exact
// limit.
TEST(SessionStatsTrusted, MatchesAReferenceOfTrustedValuesOnly) {
  for (int pattern = 0; pattern < 4; ++pattern) {
    SessionStats st;
    RunningStats refRunning;
    LogHistogram refHist;
    std::mt19937_64 rng(uint64_t(pattern) + 20);
    for (uint32_t i = 0; i < 5000; ++i) {
      const UnixNs t = kEpoch + int64_t(i) * kMs;
      st.onSent(i, t);
      ReplySample r = reply(i, t, int64_t(rng() % 5000) * kUs, kUs, 3 * kMs);
      bool flag = false;
      switch (pattern) {
        case 0:
          flag = i == 0;
          break;  // the first one flagged
        case 1:
          flag = i == 2500;
          break;  // one flagged past the exact limit
        case 2:
          flag = i % 7 == 0;
          break;  // many
        case 3:
          flag = i >= 100 && i < 200;
          break;  // a run, within the exact range
      }
      if (flag) r.forwardFlag = OneWayFlag::kLocalUnsynchronized;
      st.onReply(r);
      if (!flag) {
        refRunning.add(r.t2 - r.t1);
        refHist.add(r.t2 - r.t1);
      }
    }
    const Summary s = st.summary();
    const std::string what = "pattern " + std::to_string(pattern);
    EXPECT_EQ(s.trustedForward.count, refRunning.count()) << what;
    EXPECT_EQ(s.trustedForward.min, refRunning.min()) << what;
    EXPECT_EQ(s.trustedForward.max, refRunning.max()) << what;
    EXPECT_EQ(s.trustedForward.avg, refRunning.mean()) << what;
    EXPECT_EQ(s.trustedForward.stddev, refRunning.stddev()) << what;
    EXPECT_EQ(s.trustedForward.p50, refHist.quantile(0.5)) << what;
    EXPECT_EQ(s.trustedForward.p90, refHist.quantile(0.9)) << what;
    EXPECT_EQ(s.trustedForward.p99, refHist.quantile(0.99)) << what;
    EXPECT_EQ(s.trustedBackward.count, 5000u) << what;
    EXPECT_EQ(s.forward.count, 5000u) << what;
  }
  // Only flagged: nothing trusted, null figures.
  SessionStats st;
  st.onSent(0, kEpoch);
  ReplySample r = reply(0, kEpoch, kMs, 0, kMs);
  r.backwardFlag = OneWayFlag::kNegative;
  st.onReply(r);
  EXPECT_EQ(st.summary().trustedBackward.count, 0u);
  EXPECT_TRUE(st.toJson()["one_way"]["backward_ns"]["p50"].is_null());
}

// ---- The sequence window

TEST(StatsLimits, ForScheduleAndNormalisation) {
  EXPECT_EQ(StatsLimits::forSchedule(seconds(1), seconds(2)).seqWindow, 64);
  EXPECT_EQ(StatsLimits::forSchedule(milliseconds(1), seconds(2)).seqWindow, 8192);
  EXPECT_EQ(StatsLimits::forSchedule(milliseconds(10), seconds(2)).seqWindow, 1024);
  EXPECT_EQ(StatsLimits::forSchedule(nanoseconds(10'000), seconds(2)).seqWindow, 65536);
  EXPECT_EQ(StatsLimits::forSchedule(nanoseconds(0), seconds(2)).seqWindow, 65536);
  EXPECT_EQ(StatsLimits::forSchedule(nanoseconds(-5), seconds(2)).seqWindow, 65536);
  EXPECT_EQ(StatsLimits::forSchedule(seconds(1), nanoseconds(-1)).seqWindow, 64);
  EXPECT_EQ(StatsLimits::forSchedule(nanoseconds(1), nanoseconds(INT64_MAX)).seqWindow, 65536);
  EXPECT_EQ(StatsLimits::forSchedule(seconds(1), seconds(2)).exactSamples,
            LogHistogram::kExactSamples);
  for (auto [given, used] : std::initializer_list<std::pair<int64_t, int64_t>>{{100, 128},
                                                                               {1, 64},
                                                                               {0, 64},
                                                                               {-5, 64},
                                                                               {INT64_MIN, 64},
                                                                               {64, 64},
                                                                               {65536, 65536},
                                                                               {65537, 65536},
                                                                               {INT64_MAX, 65536},
                                                                               {4097, 8192}}) {
    SessionStats st({}, StatsLimits{LogHistogram::kExactSamples, given});
    EXPECT_EQ(st.limits().seqWindow, used) << given;
  }
}

TEST(SessionStatsWindow, SmallWindowSlides) {
  SessionStats st({}, StatsLimits{LogHistogram::kExactSamples, 64});
  for (uint32_t i = 0; i < 64; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + i * kMs));
  EXPECT_EQ(st.inFlight(), 64u);
  EXPECT_EQ(st.counters().lost, 0u);
  // Seq 64 pushes 0 out of the window, still unanswered: lost now.
  ASSERT_TRUE(st.onSent(64, kEpoch + 64 * kMs));
  EXPECT_EQ(st.counters().lost, 1u);
  EXPECT_EQ(st.inFlight(), 64u);
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));  // older than the window
  EXPECT_EQ(st.counters().outOfWindow, 1u);
  EXPECT_EQ(st.counters().late, 0u);
  st.onReply(reply(1, kEpoch + kMs, kMs, 0, kMs));  // the oldest tracked, in time
  EXPECT_EQ(st.counters().received, 1u);
  // Everything up to seq 64 times out; a reply then is late, not out of window.
  st.expire(kEpoch + 64 * kMs + 2 * kNsPerSec + 1, seconds(2));
  EXPECT_EQ(st.inFlight(), 0u);
  EXPECT_EQ(st.counters().lost, 64u);
  st.onReply(reply(2, kEpoch + 2 * kMs, kMs, 0, kMs));
  EXPECT_EQ(st.counters().late, 1u);
  st.onReply(reply(2, kEpoch + 2 * kMs, kMs, 0, kMs));
  st.onReply(reply(1, kEpoch + kMs, kMs, 0, kMs));
  EXPECT_EQ(st.counters().duplicates, 2u);
  // 64 more sent: seq 2 leaves the window; its reply is now out of window.
  for (uint32_t i = 65; i < 129; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + 3 * kNsPerSec));
  st.onReply(reply(2, kEpoch + 2 * kMs, kMs, 0, kMs));
  st.onReply(reply(64, kEpoch + 64 * kMs, kMs, 0, kMs));  // 65..128 tracked
  // Seq 65 times out, still in the window: late.
  st.expire(kEpoch + 6 * kNsPerSec, seconds(2));
  st.onReply(reply(65, kEpoch + 3 * kNsPerSec, kMs, 0, kMs));
  const Summary s = st.summary();
  EXPECT_EQ(s.outOfWindow, 3u);
  EXPECT_EQ(s.late, 2u);
  EXPECT_EQ(s.lost, 128u);
  EXPECT_EQ(s.inFlight, 0u);
  EXPECT_EQ(s.sent, s.received + s.lost + s.inFlight);
  // A gap larger than the window: what was unanswered is lost at once.
  for (uint32_t i = 129; i < 139; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + 7 * kNsPerSec));
  ASSERT_TRUE(st.onSent(100'000, kEpoch + 8 * kNsPerSec));
  EXPECT_EQ(st.counters().lost, 138u);
  EXPECT_EQ(st.inFlight(), 1u);
  // Memory stays with the window: bitmaps 3 x 8 bytes, IPDV ring 8 entries,
  // in-flight ring at most 64 + 1 entries.
  EXPECT_LT(st.memoryBytes(), sizeof(SessionStats) + 24 + 16 * 40 + 128 * 16 + 1024);
}

TEST(SessionStatsWindow, IpdvRingFollowsTheWindow) {
  // Window 64: an IPDV ring of 8. A pair reordered by 8 or more is
  // skipped, by less is paired.
  SessionStats st({}, StatsLimits{LogHistogram::kExactSamples, 64});
  for (uint32_t i = 0; i < 40; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + i * kMs));
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));
  for (uint32_t i = 2; i <= 9; ++i) st.onReply(reply(i, kEpoch + i * kMs, kMs, 0, kMs));
  st.onReply(reply(1, kEpoch + kMs, 2 * kMs, 0, kMs));  // 8 behind 9: 0-1 lost
  EXPECT_EQ(st.summary().ipdvRtt.count, 7u + 1u);       // 2..9 pairs, and 1-2
  SessionStats near({}, StatsLimits{LogHistogram::kExactSamples, 64});
  for (uint32_t i = 0; i < 40; ++i) ASSERT_TRUE(near.onSent(i, kEpoch + i * kMs));
  near.onReply(reply(0, kEpoch, kMs, 0, kMs));
  for (uint32_t i = 2; i <= 7; ++i) near.onReply(reply(i, kEpoch + i * kMs, kMs, 0, kMs));
  near.onReply(reply(1, kEpoch + kMs, 2 * kMs, 0, kMs));
  EXPECT_EQ(near.summary().ipdvRtt.count, 5u + 2u);  // 2..7 pairs, 0-1 and 1-2
}

// ---- counters(), inFlight(), reset()

// Loss, late, duplicates, reordering, unknown and out-of-window replies,
// with a stateful reflector; a checker runs after every step.
template <typename Check>
void mixedScenario(SessionStats& st, Check check) {
  st.setStatefulReflector(true);
  std::mt19937_64 rng(9);
  for (uint32_t i = 0; i < 400; ++i) {
    const UnixNs t = kEpoch + int64_t(i) * 10 * kMs;
    st.onSent(i, t);
    check();
    if (i % 13 == 5) {
      // no reply: lost
    } else if (i % 17 == 3 && i > 2) {
      st.onReply(reply(i - 2, t - 20 * kMs, kMs, 0, kMs));  // reordered or dup
    } else {
      ReplySample r = reply(i, t, int64_t(rng() % 900) * kUs, kUs, 700 * kUs, -kMs);
      if (i % 29 == 0) r.forwardFlag = OneWayFlag::kNegative;
      if (i % 31 == 0) r.late = true;
      st.onReply(r);
      if (i % 11 == 0) st.onReply(r);  // duplicate
    }
    check();
    if (i % 23 == 0) st.onReply(reply(i + 1000, t, kMs, 0, kMs));                        // unknown
    if (i % 37 == 0 && i > 100) st.onReply(reply(i - 100, t - kNsPerSec, kMs, 0, kMs));  // late
    st.expire(t, milliseconds(150));
    check();
  }
  st.expire(kEpoch + 10 * kNsPerSec, milliseconds(150));
  check();
}

void expectSameCounters(const Summary& a, const Summary& b) {
  EXPECT_EQ(a.sent, b.sent);
  EXPECT_EQ(a.received, b.received);
  EXPECT_EQ(a.lost, b.lost);
  EXPECT_EQ(a.late, b.late);
  EXPECT_EQ(a.duplicates, b.duplicates);
  EXPECT_EQ(a.reordered, b.reordered);
  EXPECT_EQ(a.inFlight, b.inFlight);
  EXPECT_EQ(a.unknownSeq, b.unknownSeq);
  EXPECT_EQ(a.outOfWindow, b.outOfWindow);
  EXPECT_EQ(a.negativeRtt, b.negativeRtt);
  EXPECT_EQ(a.negativeForward, b.negativeForward);
  EXPECT_EQ(a.negativeBackward, b.negativeBackward);
  EXPECT_EQ(a.rttWithoutDwell, b.rttWithoutDwell);
  EXPECT_EQ(a.flaggedForward, b.flaggedForward);
  EXPECT_EQ(a.flaggedBackward, b.flaggedBackward);
  EXPECT_EQ(a.forwardLost, b.forwardLost);
  EXPECT_EQ(a.backwardLost, b.backwardLost);
}

TEST(SessionStatsCounters, EqualTheSummaryCounters) {
  SessionStats st({}, StatsLimits::forSchedule(milliseconds(10), milliseconds(150)));
  int checks = 0;
  mixedScenario(st, [&] {
    const Summary full = st.summary();
    const Summary fast = st.counters();
    expectSameCounters(fast, full);
    EXPECT_EQ(st.inFlight(), full.inFlight);
    EXPECT_EQ(fast.rtt.count, 0u) << "no delay parts";
    EXPECT_TRUE(fast.rtt.histogram.empty());
    ++checks;
  });
  const Summary s = st.summary();
  EXPECT_GT(s.lost, 0u);
  EXPECT_GT(s.late, 0u);
  EXPECT_GT(s.duplicates, 0u);
  EXPECT_GT(s.reordered, 0u);
  EXPECT_GT(s.unknownSeq, 0u);
  ASSERT_TRUE(s.forwardLost);
  EXPECT_EQ(*s.forwardLost + *s.backwardLost, s.lost);
  EXPECT_GT(checks, 1000);
}

TEST(SessionStatsReset, EqualsAFreshObjectAndReusesStorage) {
  const HistogramSpec spec{20, -5 * kMs, 5 * kMs};
  const StatsLimits limits{100, 128};
  SessionStats fresh(spec, limits);
  SessionStats reused(spec, limits);
  // A different history first: flagged samples (trusted storage), past the
  // exact limit, a stateful reflector, a wrap of the window.
  mixedScenario(reused, [] {});
  const size_t used = reused.memoryBytes();
  reused.reset();
  EXPECT_EQ(reused.limits(), fresh.limits());
  EXPECT_LE(reused.memoryBytes(), used) << "no leak";
  EXPECT_EQ(reused.toJson(), fresh.toJson());
  expectSameCounters(reused.counters(), fresh.counters());
  EXPECT_EQ(reused.inFlight(), 0u);

  // Reuse gives what a fresh object gives.
  SessionStats again(spec, limits);
  mixedScenario(again, [] {});
  mixedScenario(reused, [] {});
  EXPECT_EQ(reused.toJson(), again.toJson());
  // Twice more, with realistic 1 pps traffic.
  reused.reset();
  SessionStats third(spec, limits);
  third.setStatefulReflector(true);  // a setting: reset() keeps it
  feedRealistic(reused, 300, kMs, 4);
  feedRealistic(third, 300, kMs, 4);
  EXPECT_EQ(reused.toJson(), third.toJson());
  EXPECT_EQ(reused.toJson()["forward_ns"]["histogram"]["bins"], 20);
}

// ---- Cost of onReply (no timed assertion: figures for the record)

TEST(SessionStatsCost, NanosecondsPerReply) {
  for (size_t exact : {size_t{0}, LogHistogram::kExactSamples}) {
    StatsLimits limits = StatsLimits::forSchedule(milliseconds(1), seconds(2));
    limits.exactSamples = exact;
    SessionStats st({}, limits);
    std::mt19937_64 rng(5);
    std::lognormal_distribution<double> rtt(std::log(200.0 * kUs), 0.3);
    constexpr uint32_t kN = 300'000;
    std::vector<ReplySample> replies;
    replies.reserve(kN);
    for (uint32_t i = 0; i < kN; ++i) {
      const UnixNs t = kEpoch + int64_t(i) * kMs;
      const auto r = int64_t(rtt(rng));
      replies.push_back(reply(i, t, r / 2, 10 * kUs, r - r / 2, kMs));
    }
    int64_t replyNs = 0;
    for (uint32_t i = 0; i < kN; ++i) {
      st.onSent(i, replies[i].t1);
      const auto a = std::chrono::steady_clock::now();
      st.onReply(replies[i]);
      replyNs += (std::chrono::steady_clock::now() - a).count();
      if (i % 64 == 0) st.expire(replies[i].t1, seconds(2));
    }
    std::cout << "[ cost     ] onReply, exactSamples " << exact << ": " << double(replyNs) / kN
              << " ns per reply (incl. clock reads)\n";
    EXPECT_EQ(st.summary().received, kN);
  }
}

}  // namespace
}  // namespace stamp
