// Clock-aware one-way delay: classifyOneWay's rules (an unsynchronised clock
// at either end, an unknown error, a negative value, a value below the two
// Error Estimates together), their order, and how SessionStats keeps the
// flagged values out of the trusted one-way aggregates while RTT and the
// as-measured figures keep them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "libstamp/error_estimate.hpp"
#include "sender/stats.hpp"

namespace stamp {
namespace {

constexpr UnixNs kEpoch = 1'700'000'000 * kNsPerSec;
constexpr int64_t kMs = 1'000'000;

ErrorEstimate synced(uint64_t errorNs) {
  return ErrorEstimate::fromErrorNs(errorNs, true);
}

TEST(OneWayFlag, TrustedWhenBothSynchronisedAndAboveTheErrors) {
  // 1 ms + 2 ms of error: 3.1 ms can be believed, 2.9 ms cannot.
  auto local = synced(1 * kMs), remote = synced(2 * kMs);
  auto bound = *local.errorNs() + *remote.errorNs();  // rounded up by the encoding
  EXPECT_GE(bound, 3.0 * kMs);
  EXPECT_EQ(classifyOneWay(int64_t(bound) + 1, local, remote), OneWayFlag::kOk);
  EXPECT_EQ(classifyOneWay(int64_t(bound) - 1, local, remote), OneWayFlag::kBelowError);
  EXPECT_EQ(classifyOneWay(50 * kMs, local, remote), OneWayFlag::kOk);
}

TEST(OneWayFlag, ReasonsInOrder) {
  auto ok = synced(1000);
  ErrorEstimate unsynced = ErrorEstimate::fromErrorNs(1000, false);
  ErrorEstimate unknown = ok;
  unknown.multiplier = 0;  // RFC 4656: corrupt; TWAMP-Light peers send it
  EXPECT_EQ(classifyOneWay(50 * kMs, unsynced, ok), OneWayFlag::kLocalUnsynchronized);
  EXPECT_EQ(classifyOneWay(50 * kMs, ok, unsynced), OneWayFlag::kRemoteUnsynchronized);
  // Local first when both are unsynchronised; unsynchronised before negative.
  EXPECT_EQ(classifyOneWay(-5 * kMs, unsynced, unsynced), OneWayFlag::kLocalUnsynchronized);
  EXPECT_EQ(classifyOneWay(50 * kMs, ok, unknown), OneWayFlag::kErrorUnknown);
  EXPECT_EQ(classifyOneWay(-1, ok, ok), OneWayFlag::kNegative);
  EXPECT_EQ(classifyOneWay(0, ok, ok), OneWayFlag::kBelowError);
}

TEST(OneWayFlag, Names) {
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kOk), "ok");
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kLocalUnsynchronized), "local_unsynchronized");
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kRemoteUnsynchronized), "remote_unsynchronized");
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kErrorUnknown), "error_unknown");
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kNegative), "negative");
  EXPECT_STREQ(oneWayFlagName(OneWayFlag::kBelowError), "below_error");
}

TEST(OneWayStats, FlaggedValuesLeaveTheTrustedAggregatesOnly) {
  SessionStats st;
  for (uint32_t seq = 0; seq < 4; ++seq) {
    UnixNs t1 = kEpoch + seq * 100 * kMs;
    ASSERT_TRUE(st.onSent(seq, t1));
    ReplySample r;
    r.senderSeq = seq;
    r.t1 = t1;
    r.t2 = t1 + 10 * kMs;
    r.t3 = r.t2 + kMs;
    r.t4 = r.t3 + 20 * kMs;
    if (seq == 1) r.forwardFlag = OneWayFlag::kLocalUnsynchronized;
    if (seq == 2) r.backwardFlag = OneWayFlag::kBelowError;
    if (seq == 3) r.forwardFlag = r.backwardFlag = OneWayFlag::kRemoteUnsynchronized;
    st.onReply(r);
  }
  Summary s = st.summary();
  EXPECT_EQ(s.rtt.count, 4u);  // RTT needs one clock: never flagged
  EXPECT_EQ(s.forward.count, 4u);
  EXPECT_EQ(s.backward.count, 4u);
  EXPECT_EQ(s.trustedForward.count, 2u);
  EXPECT_EQ(s.trustedBackward.count, 2u);
  EXPECT_EQ(s.flaggedForward[size_t(OneWayFlag::kLocalUnsynchronized)], 1u);
  EXPECT_EQ(s.flaggedForward[size_t(OneWayFlag::kRemoteUnsynchronized)], 1u);
  EXPECT_EQ(s.flaggedBackward[size_t(OneWayFlag::kBelowError)], 1u);
  EXPECT_EQ(s.flaggedBackward[size_t(OneWayFlag::kRemoteUnsynchronized)], 1u);
  EXPECT_EQ(s.flaggedForward[size_t(OneWayFlag::kOk)], 0u);

  auto j = st.toJson();
  EXPECT_FALSE(j["one_way"]["trusted"].get<bool>());
  EXPECT_EQ(j["one_way"]["forward_ns"]["avg"], 10 * kMs);
  EXPECT_EQ(j["one_way"]["flagged"]["forward"]["local_unsynchronized"], 1);
  EXPECT_EQ(j["one_way"]["flagged"]["backward"]["below_error"], 1);
  EXPECT_FALSE(j["one_way"]["flagged"]["forward"].contains("ok"));
  EXPECT_EQ(j["forward_ns"]["avg"], 10 * kMs);  // as measured, all four
}

TEST(OneWayStats, AllTrustedAndNothingReceived) {
  SessionStats none;
  EXPECT_FALSE(none.toJson()["one_way"]["trusted"].get<bool>()) << "nothing to trust";
  EXPECT_TRUE(none.toJson()["one_way"]["forward_ns"]["avg"].is_null());
  SessionStats st;
  ASSERT_TRUE(st.onSent(0, kEpoch));
  ReplySample r;
  r.t1 = kEpoch;
  r.t2 = kEpoch + 5 * kMs;
  r.t3 = r.t2;
  r.t4 = r.t3 + 5 * kMs;
  st.onReply(r);
  EXPECT_TRUE(st.toJson()["one_way"]["trusted"].get<bool>());
  EXPECT_EQ(st.toJson()["one_way"]["backward_ns"]["p50"], 5 * kMs);
}

}  // namespace
}  // namespace stamp
