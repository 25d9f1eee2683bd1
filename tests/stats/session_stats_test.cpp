// SessionStats as the Session-Sender drives it: the delay formulas on
// hand-computed timestamps, loss/late/duplicate/reorder accounting, 32-bit
// sequence wrap, the bounded receipt window, IPDV pairing, and the JSON
// object of `stampctl session start --json`.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reply_fixture.hpp"
#include "sender/stats.hpp"

namespace stamp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using testing::kEpoch;
using testing::kMs;
using testing::kUs;
using testing::reply;

// ---- Formulas

TEST(SessionStatsDelay, HandComputedTimestamps) {
  SessionStats st;
  // Packet 0: 3 ms out, 250 us in the reflector, 5 ms back.
  ReplySample a;
  a.senderSeq = 0;
  a.t1 = kEpoch;
  a.t2 = kEpoch + 3'000'000;
  a.t3 = kEpoch + 3'250'000;
  a.t4 = kEpoch + 8'250'000;
  // Packet 1: 4 ms out, 1 ms in the reflector, 6 ms back.
  ReplySample b;
  b.senderSeq = 1;
  b.t1 = kEpoch + 100'000'000;
  b.t2 = kEpoch + 104'000'000;
  b.t3 = kEpoch + 105'000'000;
  b.t4 = kEpoch + 111'000'000;
  ASSERT_TRUE(st.onSent(0, a.t1));
  ASSERT_TRUE(st.onSent(1, b.t1));
  st.onReply(a);
  st.onReply(b);

  const Summary s = st.summary();
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.received, 2u);
  // RTT = (T4 - T1) - (T3 - T2): the reflector's dwell is not network delay.
  EXPECT_EQ(*s.rtt.min, 8'000'000);   // 8.25 ms - 0.25 ms
  EXPECT_EQ(*s.rtt.max, 10'000'000);  // 11 ms - 1 ms
  EXPECT_DOUBLE_EQ(*s.rtt.avg, 9'000'000.0);
  EXPECT_DOUBLE_EQ(*s.rtt.stddev, 1'000'000.0);
  EXPECT_EQ(*s.rtt.p99, 10'000'000);
  EXPECT_EQ(*s.forward.min, 3'000'000);  // T2 - T1
  EXPECT_EQ(*s.forward.max, 4'000'000);
  EXPECT_EQ(*s.backward.min, 5'000'000);  // T4 - T3
  EXPECT_EQ(*s.backward.max, 6'000'000);
  EXPECT_EQ(s.rttWithoutDwell, 0u);
  EXPECT_EQ(s.negativeForward + s.negativeBackward + s.negativeRtt, 0u);
  // forward + backward == rtt, packet by packet.
  EXPECT_EQ(*s.forward.min + *s.backward.min, *s.rtt.min);
}

TEST(SessionStatsDelay, NegativeOneWayIsKeptAndFlagged) {
  SessionStats st;
  // The reflector clock is 10 ms behind: forward 3 ms reads as -7 ms,
  // backward 5 ms as 15 ms; the RTT does not see the offset.
  ASSERT_TRUE(st.onSent(0, kEpoch));
  st.onReply(reply(0, kEpoch, 3 * kMs, 250 * kUs, 5 * kMs, -10 * kMs));
  // A day ahead: forward is huge, backward hugely negative; nothing clamps.
  const int64_t day = 86'400 * kNsPerSec;
  ASSERT_TRUE(st.onSent(1, kEpoch + 100 * kMs));
  st.onReply(reply(1, kEpoch + 100 * kMs, 3 * kMs, 250 * kUs, 5 * kMs, day));

  const Summary s = st.summary();
  EXPECT_EQ(s.negativeForward, 1u);
  EXPECT_EQ(s.negativeBackward, 1u);
  EXPECT_EQ(s.negativeRtt, 0u);
  EXPECT_EQ(*s.forward.min, -7 * kMs);
  EXPECT_EQ(*s.forward.max, day + 3 * kMs);
  EXPECT_EQ(*s.backward.min, 5 * kMs - day);
  EXPECT_EQ(*s.backward.max, 15 * kMs);
  EXPECT_EQ(*s.rtt.min, 8 * kMs);
  EXPECT_EQ(*s.rtt.max, 8 * kMs);

  const nlohmann::json j = st.toJson();
  EXPECT_EQ(j["forward_ns"]["min"].get<int64_t>(), -7 * kMs);
  EXPECT_EQ(j["backward_ns"]["min"].get<int64_t>(), 5 * kMs - day);
  EXPECT_EQ(j["negative_forward"], 1);
  EXPECT_EQ(j["negative_backward"], 1);
}

TEST(SessionStatsDelay, AbsentTimestampsAreLeftOutNotZero) {
  SessionStats st;
  ReplySample noT2 = reply(0, kEpoch, 3 * kMs, 1 * kMs, 5 * kMs);
  noT2.hasT2 = false;
  noT2.t2 = 0;  // what a short reply decodes to: must not become a delay
  ReplySample noT3 = reply(1, kEpoch + 10 * kMs, 3 * kMs, 1 * kMs, 5 * kMs);
  noT3.hasT3 = false;
  noT3.t3 = 0;
  ASSERT_TRUE(st.onSent(0, noT2.t1));
  ASSERT_TRUE(st.onSent(1, noT3.t1));
  st.onReply(noT2);
  st.onReply(noT3);

  const Summary s = st.summary();
  EXPECT_EQ(s.received, 2u);
  // Without both reflector timestamps the dwell cannot be removed: T4 - T1.
  EXPECT_EQ(s.rtt.count, 2u);
  EXPECT_EQ(*s.rtt.min, 9 * kMs);
  EXPECT_EQ(s.rttWithoutDwell, 2u);
  EXPECT_EQ(s.forward.count, 1u);  // only packet 1 had T2
  EXPECT_EQ(*s.forward.min, 3 * kMs);
  EXPECT_EQ(s.backward.count, 1u);  // only packet 0 had T3
  EXPECT_EQ(*s.backward.min, 5 * kMs);
  EXPECT_EQ(s.negativeForward + s.negativeBackward, 0u);
}

// ---- Percentiles through the session

TEST(SessionStatsDelay, PercentilesMatchExactWithinBound) {
  SessionStats st;
  std::vector<int64_t> rtts;
  uint64_t x = 88172645463325252ull;  // xorshift: deterministic, no <random> needed
  for (uint32_t i = 0; i < 100'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int64_t rtt = 1 * kMs + int64_t(x % uint64_t(50 * kMs));
    const UnixNs t1 = kEpoch + int64_t(i) * kMs;
    ASSERT_TRUE(st.onSent(i, t1));
    st.onReply(reply(i, t1, rtt / 2, 10 * kUs, rtt - rtt / 2));
    st.expire(t1, seconds(2));
    rtts.push_back(rtt);
  }
  std::sort(rtts.begin(), rtts.end());
  const Summary s = st.summary();
  ASSERT_EQ(s.rtt.count, 100'000u);
  auto check = [&](int64_t est, size_t rank) {
    const int64_t exact = rtts[rank - 1];
    EXPECT_LE(std::abs(double(est - exact)), double(exact) / 128) << "rank " << rank;
  };
  check(*s.rtt.p50, 50'000);
  check(*s.rtt.p90, 90'000);
  check(*s.rtt.p99, 99'000);
  EXPECT_EQ(*s.rtt.min, rtts.front());
  EXPECT_EQ(*s.rtt.max, rtts.back());
}

// ---- IPDV

TEST(SessionStatsIpdv, PairsOnlyConsecutiveReceivedPackets) {
  SessionStats st;
  // RTTs by sequence number; seq 3 is lost, so 2 and 4 do not pair.
  const int64_t rtt[] = {10 * kMs, 12 * kMs, 9 * kMs, 0, 15 * kMs, 14 * kMs};
  for (uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + i * 100 * kMs));
  auto send = [&](uint32_t i) {
    ReplySample r = reply(i, kEpoch + i * 100 * kMs, rtt[i] / 2, 0, rtt[i] - rtt[i] / 2);
    if (i == 5) r.hasT2 = false;  // no forward value: forward pair (4, 5) is skipped
    st.onReply(r);
  };
  // Arrival order differs from sequence order; IPDV follows sequence.
  for (uint32_t i : {0u, 2u, 1u, 5u, 4u}) send(i);
  st.expire(kEpoch + 10'000 * kMs, seconds(2));

  const Summary s = st.summary();
  EXPECT_EQ(s.lost, 1u);
  // Signed IPDV(n) = D(n) - D(n-1): (1,0) +2 ms, (2,1) -3 ms, (5,4) -1 ms.
  EXPECT_EQ(s.ipdvRtt.count, 3u);
  EXPECT_EQ(*s.ipdvRtt.min, -3 * kMs);
  EXPECT_EQ(*s.ipdvRtt.max, 2 * kMs);
  EXPECT_DOUBLE_EQ(*s.ipdvRtt.avgAbs, 2.0 * kMs);
  EXPECT_EQ(*s.ipdvRtt.p99Abs, 3 * kMs);
  EXPECT_NEAR(double(*s.ipdvRtt.p50Abs), 2.0 * kMs, 2.0 * kMs / 128);
  // Forward: the same pairs minus (5,4); forward = rtt / 2.
  EXPECT_EQ(s.ipdvForward.count, 2u);
  EXPECT_EQ(*s.ipdvForward.min, -3 * kMs / 2);
  EXPECT_EQ(*s.ipdvForward.max, 1 * kMs);
  EXPECT_EQ(s.ipdvBackward.count, 3u);

  const nlohmann::json j = st.toJson();
  EXPECT_EQ(j["ipdv_ns"]["rtt"]["min"], -3 * kMs);
  EXPECT_EQ(j["ipdv_ns"]["rtt"]["max"], 2 * kMs);
  EXPECT_EQ(j["ipdv_ns"]["rtt"]["avg_abs"], 2 * kMs);
  EXPECT_EQ(j["ipdv_ns"]["rtt"]["p99_abs"], 3 * kMs);
}

TEST(SessionStatsIpdv, LateAndDuplicateRepliesDoNotPair) {
  SessionStats st;
  for (uint32_t i = 0; i < 3; ++i) ASSERT_TRUE(st.onSent(i, kEpoch + i * kMs));
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));
  ReplySample late = reply(1, kEpoch + kMs, 5 * kMs, 0, 5 * kMs);
  late.late = true;
  st.onReply(late);
  st.onReply(reply(0, kEpoch, 7 * kMs, 0, 7 * kMs));  // duplicate, other delay
  st.onReply(reply(2, kEpoch + 2 * kMs, kMs, 0, kMs));
  const Summary s = st.summary();
  EXPECT_EQ(s.ipdvRtt.count, 0u);
  EXPECT_FALSE(s.ipdvRtt.min);
  EXPECT_EQ(s.rtt.count, 2u);
  EXPECT_EQ(*s.rtt.max, 2 * kMs);  // neither the late nor the duplicate delay
}

// ---- Loss, late, duplicates, reordering

TEST(SessionStatsLoss, MixedScenario) {
  SessionStats st;
  const auto timeout = seconds(1);
  auto t1 = [](uint32_t i) { return kEpoch + int64_t(i) * 10 * kMs; };
  for (uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(st.onSent(i, t1(i)));
  EXPECT_EQ(st.summary().inFlight, 10u);

  auto in = [&](uint32_t i) { st.onReply(reply(i, t1(i), kMs, 0, kMs)); };
  in(0);
  in(1);
  in(3);
  in(2);  // below the highest seen (3): reordered
  in(4);
  in(4);  // duplicate
  in(6);
  in(5);  // reordered
  ReplySample flagged = reply(7, t1(7), kMs, 0, 2 * kNsPerSec);
  flagged.late = true;  // the caller saw it after the timeout
  st.onReply(flagged);
  in(9);

  Summary s = st.summary();
  EXPECT_EQ(s.received, 8u);
  EXPECT_EQ(s.lost, 1u);  // 7
  EXPECT_EQ(s.late, 1u);
  EXPECT_EQ(s.inFlight, 1u);  // 8, whose timeout has not passed
  EXPECT_EQ(s.duplicates, 1u);
  EXPECT_EQ(s.reordered, 2u);

  st.expire(t1(9) + 500 * kMs, timeout);  // too early for 8
  EXPECT_EQ(st.summary().lost, 1u);
  st.expire(t1(9) + 2'000 * kMs, timeout);
  s = st.summary();
  EXPECT_EQ(s.lost, 2u);  // 7 and 8
  EXPECT_EQ(s.inFlight, 0u);

  in(8);  // arrives after all: late, never received
  in(8);  // and again: a duplicate
  in(7);  // 7 again: a duplicate
  in(3);  // an old in-time one again: a duplicate, not reordered
  s = st.summary();
  EXPECT_EQ(s.sent, 10u);
  EXPECT_EQ(s.received, 8u);
  EXPECT_EQ(s.lost, 2u);
  EXPECT_EQ(s.late, 2u);
  EXPECT_EQ(s.duplicates, 4u);
  EXPECT_EQ(s.reordered, 2u);
  EXPECT_EQ(s.sent, s.received + s.lost + s.inFlight);
  EXPECT_EQ(s.rtt.count, 8u);  // delays of received replies only
}

TEST(SessionStatsLoss, TimeoutBoundaryIsInclusive) {
  SessionStats st;
  ASSERT_TRUE(st.onSent(0, kEpoch));
  ASSERT_TRUE(st.onSent(1, kEpoch));
  st.expire(kEpoch + 2 * kNsPerSec, seconds(2));  // exactly the timeout: in time
  EXPECT_EQ(st.summary().lost, 0u);
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));
  st.expire(kEpoch + 2 * kNsPerSec + 1, seconds(2));
  const Summary s = st.summary();
  EXPECT_EQ(s.received, 1u);
  EXPECT_EQ(s.lost, 1u);
  EXPECT_EQ(s.inFlight, 0u);
}

TEST(SessionStatsLoss, UnknownSequenceNumbersAreIgnored) {
  SessionStats st;
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));  // nothing sent yet
  ASSERT_TRUE(st.onSent(10, kEpoch));
  ASSERT_TRUE(st.onSent(12, kEpoch + kMs));  // 11 skipped, never sent
  st.onReply(reply(11, kEpoch, kMs, 0, kMs));
  st.onReply(reply(13, kEpoch, kMs, 0, kMs));  // not sent yet
  st.onReply(reply(9, kEpoch, kMs, 0, kMs));   // before the first
  const Summary s = st.summary();
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.unknownSeq, 4u);
  EXPECT_EQ(s.received, 0u);
  EXPECT_EQ(s.duplicates, 0u);
  EXPECT_EQ(s.rtt.count, 0u);
}

TEST(SessionStatsLoss, SendsMustMoveForward) {
  SessionStats st;
  EXPECT_TRUE(st.onSent(5, kEpoch));
  EXPECT_FALSE(st.onSent(5, kEpoch));
  EXPECT_FALSE(st.onSent(4, kEpoch));
  EXPECT_TRUE(st.onSent(6, kEpoch));
  EXPECT_EQ(st.summary().sent, 2u);
}

// ---- Sequence wrap

TEST(SessionStatsWrap, AcrossTwoToThe32) {
  SessionStats st;
  const std::vector<uint32_t> seqs = {0xFFFFFFFDu, 0xFFFFFFFEu, 0xFFFFFFFFu, 0u, 1u, 2u};
  for (size_t i = 0; i < seqs.size(); ++i)
    ASSERT_TRUE(st.onSent(seqs[i], kEpoch + int64_t(i) * kMs)) << i;
  EXPECT_FALSE(st.onSent(0xFFFFFFFFu, kEpoch)) << "behind the wrap is the past";

  auto in = [&](size_t i, int64_t rtt) {
    st.onReply(reply(seqs[i], kEpoch + int64_t(i) * kMs, rtt / 2, 0, rtt - rtt / 2));
  };
  in(0, 10 * kMs);
  in(1, 10 * kMs);
  in(3, 11 * kMs);  // seq 0 before 0xFFFFFFFF
  in(2, 10 * kMs);  // 0xFFFFFFFF after 0: reordered, not "2^32 - 1 ahead"
  in(4, 10 * kMs);
  in(4, 10 * kMs);  // duplicate
  in(5, 10 * kMs);
  st.onReply(reply(3u, kEpoch, kMs, 0, kMs));  // seq 3: never sent
  st.expire(kEpoch + 10 * kNsPerSec, seconds(2));

  const Summary s = st.summary();
  EXPECT_EQ(s.sent, 6u);
  EXPECT_EQ(s.received, 6u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.reordered, 1u);
  EXPECT_EQ(s.duplicates, 1u);
  EXPECT_EQ(s.unknownSeq, 1u);
  // Five consecutive pairs, including (0xFFFFFFFF, 0): +1 ms and -1 ms.
  EXPECT_EQ(s.ipdvRtt.count, 5u);
  EXPECT_EQ(*s.ipdvRtt.min, -1 * kMs);
  EXPECT_EQ(*s.ipdvRtt.max, 1 * kMs);
}

TEST(SessionStatsWrap, LongRunThroughSeveralWraps) {
  // Steps of 2^30 - 1 cross 2^32 repeatedly; each is a legal forward move.
  SessionStats st;
  uint32_t seq = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(st.onSent(seq, kEpoch + i * kMs)) << i;
    st.onReply(reply(seq, kEpoch + i * kMs, kMs, 0, kMs));
    seq += (1u << 30) - 1;
  }
  const Summary s = st.summary();
  EXPECT_EQ(s.sent, 20u);
  EXPECT_EQ(s.received, 20u);
  EXPECT_EQ(s.reordered, 0u);
  EXPECT_EQ(s.unknownSeq + s.outOfWindow + s.duplicates, 0u);
}

// ---- The bounded window

TEST(SessionStatsWindow, OldestInFlightIsLostWhenTheWindowSlides) {
  SessionStats st;
  const int64_t n = SessionStats::kSeqWindow + 10;
  for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(st.onSent(uint32_t(i), kEpoch + i * kUs));
  Summary s = st.summary();
  EXPECT_EQ(s.sent, uint64_t(n));
  EXPECT_EQ(s.lost, 10u);  // seqs 0..9 left the window unanswered
  EXPECT_EQ(s.inFlight, uint64_t(SessionStats::kSeqWindow));

  // Seq 0 has left the window: ignored. Seq 10 is the oldest still tracked.
  st.onReply(reply(0, kEpoch, kMs, 0, kMs));
  st.onReply(reply(10, kEpoch + 10 * kUs, kMs, 0, kMs));
  s = st.summary();
  EXPECT_EQ(s.outOfWindow, 1u);
  EXPECT_EQ(s.late, 0u);
  EXPECT_EQ(s.received, 1u);
  EXPECT_EQ(s.sent, s.received + s.lost + s.inFlight);
}

// Memory is bounded by the window and the buckets in use, not by the
// number of packets: it stops growing once the delay values have all been
// seen, and holds no more than the in-flight ring needs.
TEST(SessionStatsWindow, MemoryIsBoundedOverAMillionPackets) {
  SessionStats st({}, StatsLimits::forSchedule(milliseconds(1), seconds(2)));
  EXPECT_EQ(st.limits().seqWindow, 8192);  // 2001 in flight, x4, rounded up
  size_t afterWarmUp = 0;
  for (uint32_t i = 0; i < 1'000'000; ++i) {
    const UnixNs t = kEpoch + int64_t(i) * kMs;
    st.onSent(i, t);
    if (i % 97 != 0) st.onReply(reply(i, t, int64_t(i % 1000) * kUs, 0, 2 * kMs));
    st.expire(t, seconds(2));
    if (i == 100'000) afterWarmUp = st.memoryBytes();
  }
  // At most a bucket or two seen for the first time after the warm-up.
  EXPECT_LE(st.memoryBytes(), afterWarmUp + 256);
  // Bitmaps 3 KiB, IPDV ring 1024 x 40 bytes, in-flight ring 2048 x 16
  // bytes (2000 packets within a timeout), buckets.
  EXPECT_LT(st.memoryBytes(), size_t{96 * 1024});
  std::cout << "[ memory   ] 1,000,000 packets, window 8192: " << st.memoryBytes() << " bytes\n";
  const Summary s = st.summary();
  EXPECT_EQ(s.sent, 1'000'000u);
  EXPECT_EQ(s.sent, s.received + s.lost + s.inFlight);
  EXPECT_LE(s.inFlight, 2001u / 97 + 1);  // unanswered within the last 2 s
}

// ---- Export and JSON

TEST(SessionStatsJson, EmptySessionHasNullDelays) {
  SessionStats st;
  ASSERT_TRUE(st.onSent(0, kEpoch));
  st.expire(kEpoch + 3 * kNsPerSec, seconds(2));
  const nlohmann::json j = st.toJson();
  for (const char* key : {"sent", "received", "lost", "duplicates", "reordered"})
    ASSERT_TRUE(j.contains(key) && j[key].is_number_unsigned()) << key;
  EXPECT_EQ(j["sent"], 1);
  EXPECT_EQ(j["received"], 0);
  EXPECT_EQ(j["lost"], 1);
  for (const char* obj : {"rtt_ns", "forward_ns", "backward_ns"}) {
    ASSERT_TRUE(j.contains(obj) && j[obj].is_object()) << obj;
    for (const char* key : {"min", "avg", "max", "p50", "p99", "p90", "stddev"}) {
      ASSERT_TRUE(j[obj].contains(key)) << obj << "." << key;
      EXPECT_TRUE(j[obj][key].is_null()) << obj << "." << key << " = " << j[obj][key];
    }
    EXPECT_EQ(j[obj]["count"], 0);
  }
  for (const char* dir : {"rtt", "forward", "backward"})
    EXPECT_TRUE(j["ipdv_ns"][dir]["p99_abs"].is_null()) << dir;
}

TEST(SessionStatsJson, FieldNamesAndIntegerValues) {
  SessionStats st({4, 0, 20 * kMs});  // bins of 5 ms
  const int64_t rtts[] = {1 * kMs, 7 * kMs, 12 * kMs, 19 * kMs, 25 * kMs};
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(st.onSent(i, kEpoch + i * kMs));
    st.onReply(reply(i, kEpoch + i * kMs, rtts[i] / 2, 3 * kUs, rtts[i] - rtts[i] / 2));
  }
  ReplySample clockBehind = reply(5, kEpoch + 5 * kMs, kMs, 0, kMs, -5 * kMs);
  ASSERT_TRUE(st.onSent(5, clockBehind.t1));
  st.onReply(clockBehind);  // forward -4 ms: below the floor, counts in bin 0
  const nlohmann::json j = st.toJson();

  // The names of docs/control-protocol.md, "The run summary".
  for (const char* key :
       {"sent", "received", "lost", "duplicates", "reordered", "late", "in_flight",
        "negative_forward", "negative_backward", "rtt_ns", "forward_ns", "backward_ns", "ipdv_ns"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* obj : {"rtt_ns", "forward_ns", "backward_ns"})
    for (const char* key : {"min", "avg", "max", "p50", "p99"})
      EXPECT_TRUE(j[obj][key].is_number_integer()) << obj << "." << key;

  const nlohmann::json& rtt = j["rtt_ns"];
  EXPECT_EQ(rtt["count"], 6);
  EXPECT_EQ(rtt["min"], 1 * kMs);
  EXPECT_EQ(rtt["max"], 25 * kMs);
  EXPECT_EQ(rtt["avg"], 11 * kMs);  // (1+7+12+19+25+2)/6 = 11 ms
  const nlohmann::json& h = rtt["histogram"];
  EXPECT_EQ(h["bins"], 4);
  EXPECT_EQ(h["floor_ns"], 0);
  EXPECT_EQ(h["ceiling_ns"], 20 * kMs);
  // 1, 2 | 7 | 12 | 19, 25 (above the ceiling: last bin)
  EXPECT_EQ(h["counts"], nlohmann::json({2, 1, 1, 2}));
  EXPECT_EQ(j["forward_ns"]["histogram"]["counts"][0], 3);  // 0.5, 3.5 and -4 ms
  EXPECT_EQ(j["forward_ns"]["min"], -4 * kMs);
  EXPECT_EQ(j["negative_forward"], 1);
  EXPECT_EQ(j["negative_backward"], 0);
}

}  // namespace
}  // namespace stamp
