// Loss by direction with a stateful reflector (RFC 8762 4.3): the reflector
// numbers the requests it saw from 0, so a sender that knows it can tell
// requests lost on the way there from replies lost on the way back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sender/stats.hpp"

namespace stamp {
namespace {

constexpr UnixNs kEpoch = 1'700'000'000 * kNsPerSec;
constexpr int64_t kMs = 1'000'000;

// Sends `n` packets; `forwardDrop(i)` loses request i, `backwardDrop(i)` its
// reply; the reflector numbers the requests it sees from 0 (a new session:
// stampd's sessions use a fresh source port).
template <typename F, typename B>
Summary run(SessionStats& st, uint32_t n, F forwardDrop, B backwardDrop) {
  uint32_t reflectorSeq = 0;
  for (uint32_t i = 0; i < n; ++i) {
    UnixNs t1 = kEpoch + int64_t(i) * 10 * kMs;
    EXPECT_TRUE(st.onSent(i, t1));
    if (forwardDrop(i)) continue;
    uint32_t rs = reflectorSeq++;
    if (backwardDrop(i)) continue;
    ReplySample r;
    r.senderSeq = i;
    r.reflectorSeq = rs;
    r.t1 = t1;
    r.t2 = t1 + kMs;
    r.t3 = r.t2;
    r.t4 = r.t3 + kMs;
    st.onReply(r);
  }
  st.expire(kEpoch + int64_t(n) * 10 * kMs + 10'000 * kMs, std::chrono::seconds(2));
  return st.summary();
}

TEST(DirectionalLoss, EveryTenthRequestLostOnTheWayThere) {
  SessionStats st;
  st.setStatefulReflector(true);
  auto s = run(
      st, 100, [](uint32_t i) { return i % 10 == 5; }, [](uint32_t) { return false; });
  EXPECT_EQ(s.lost, 10u);
  ASSERT_TRUE(s.forwardLost && s.backwardLost);
  EXPECT_EQ(*s.forwardLost, 10u);
  EXPECT_EQ(*s.backwardLost, 0u);
}

TEST(DirectionalLoss, EveryTenthReplyLostOnTheWayBack) {
  SessionStats st;
  st.setStatefulReflector(true);
  auto s = run(
      st, 100, [](uint32_t) { return false; }, [](uint32_t i) { return i % 10 == 5; });
  EXPECT_EQ(s.lost, 10u);
  EXPECT_EQ(*s.forwardLost, 0u);
  EXPECT_EQ(*s.backwardLost, 10u);
}

TEST(DirectionalLoss, BothWaysAndTheSumIsTheLoss) {
  SessionStats st;
  st.setStatefulReflector(true);
  auto s = run(
      st, 200, [](uint32_t i) { return i % 20 == 3; }, [](uint32_t i) { return i % 25 == 7; });
  EXPECT_EQ(*s.forwardLost, 10u);
  EXPECT_EQ(*s.backwardLost, 8u);
  EXPECT_EQ(*s.forwardLost + *s.backwardLost, s.lost);
  auto j = st.toJson();
  EXPECT_EQ(j["forward_lost"], 10);
  EXPECT_EQ(j["backward_lost"], 8);
}

TEST(DirectionalLoss, ALateReplyWasLostOnTheWayBack) {
  // The reflector answered it, so the request made it there.
  SessionStats st;
  st.setStatefulReflector(true);
  ASSERT_TRUE(st.onSent(0, kEpoch));
  ASSERT_TRUE(st.onSent(1, kEpoch + 10 * kMs));
  ReplySample late;
  late.senderSeq = 0;
  late.reflectorSeq = 0;
  late.t1 = kEpoch;
  late.t2 = late.t3 = kEpoch + kMs;
  late.t4 = kEpoch + 5000 * kMs;
  late.late = true;
  st.onReply(late);
  ReplySample ok = late;
  ok.senderSeq = 1;
  ok.reflectorSeq = 1;
  ok.t1 = kEpoch + 10 * kMs;
  ok.t2 = ok.t3 = ok.t1 + kMs;
  ok.t4 = ok.t3 + kMs;
  ok.late = false;
  st.onReply(ok);
  auto s = st.summary();
  EXPECT_EQ(s.lost, 1u);
  EXPECT_EQ(s.late, 1u);
  EXPECT_EQ(*s.forwardLost, 0u);
  EXPECT_EQ(*s.backwardLost, 1u);
}

TEST(DirectionalLoss, NullWithAStatelessReflector) {
  SessionStats st;  // the default: the reflector copies the sender's numbers
  auto s = run(
      st, 20, [](uint32_t i) { return i == 3; }, [](uint32_t) { return false; });
  EXPECT_EQ(s.lost, 1u);
  EXPECT_FALSE(s.forwardLost.has_value());
  EXPECT_TRUE(st.toJson()["forward_lost"].is_null());
}

}  // namespace
}  // namespace stamp
