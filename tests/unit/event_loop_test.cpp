// The loop's timers: one heap served by the loop's wait, for the thousands
// of session timers (daemon/event_loop.hpp). Real loop, real clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "event_loop.hpp"

namespace stamp {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

std::unique_ptr<EventLoop> makeLoop() {
  auto loop = EventLoop::create();
  if (!loop) return nullptr;
  return std::make_unique<EventLoop>(std::move(*loop));
}

TEST(LoopTimer, ManyTimersFireInDeadlineOrderOnce) {
  auto owner = makeLoop();
  ASSERT_TRUE(owner);
  EventLoop& loop = *owner;
  const auto now = monotonicNow();
  std::vector<nanoseconds> fired;
  std::vector<std::unique_ptr<LoopTimer>> timers;
  std::mt19937 rng(7);
  std::vector<nanoseconds> deadlines;
  for (int i = 0; i < 2000; ++i) {
    // All in the past: one runDueTimers() takes them all.
    deadlines.push_back(now - nanoseconds(1 + rng() % 1'000'000));
    timers.push_back(
        std::make_unique<LoopTimer>(loop, [&fired](nanoseconds due) { fired.push_back(due); }));
    timers.back()->armAt(deadlines.back());
  }
  EXPECT_EQ(loop.timers(), 2000u);
  loop.runDueTimers();
  EXPECT_EQ(loop.timers(), 0u);
  std::sort(deadlines.begin(), deadlines.end());
  EXPECT_EQ(fired, deadlines);  // each once, earliest first
  for (const auto& t : timers) EXPECT_FALSE(t->armed());
}

TEST(LoopTimer, CancelRearmAndDestroyLeaveTheHeapConsistent) {
  auto owner = makeLoop();
  ASSERT_TRUE(owner);
  EventLoop& loop = *owner;
  const auto past = monotonicNow() - milliseconds(10);
  const auto future = monotonicNow() + std::chrono::hours(1);
  std::vector<int> fired;
  std::vector<std::unique_ptr<LoopTimer>> timers;
  for (int i = 0; i < 100; ++i) {
    timers.push_back(
        std::make_unique<LoopTimer>(loop, [&fired, i](nanoseconds) { fired.push_back(i); }));
    timers.back()->armAt(past + nanoseconds(i));
  }
  for (int i = 0; i < 100; i += 3) timers[size_t(i)]->cancel();       // never fire
  for (int i = 1; i < 100; i += 3) timers[size_t(i)]->armAt(future);  // moved away
  for (int i = 2; i < 100; i += 9) timers[size_t(i)].reset();         // destroyed armed
  loop.runDueTimers();
  std::vector<int> want;
  for (int i = 2; i < 100; i += 3)
    if ((i - 2) % 9 != 0) want.push_back(i);
  EXPECT_EQ(fired, want);
  EXPECT_EQ(loop.timers(), 33u);  // the ones moved an hour ahead
}

TEST(LoopTimer, EarlyLetsATimerShareAWakeUpButNotBeforeItsWindow) {
  auto owner = makeLoop();
  ASSERT_TRUE(owner);
  EventLoop& loop = *owner;
  const auto now = monotonicNow();
  int a = 0, b = 0, c = 0;
  LoopTimer due(loop, [&a](nanoseconds) { ++a; });
  LoopTimer soon(loop, [&b](nanoseconds) { ++b; });
  LoopTimer strict(loop, [&c](nanoseconds) { ++c; });
  due.armAt(now - milliseconds(1));
  soon.armAt(now + milliseconds(500), std::chrono::seconds(1));  // may go 1 s early
  strict.armAt(now + milliseconds(600));                         // may not
  loop.runDueTimers();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 0);
  EXPECT_TRUE(strict.armed());
}

TEST(LoopTimer, RunWaitsForTheEarliestDeadlineAndCallbacksMayRearm) {
  auto owner = makeLoop();
  ASSERT_TRUE(owner);
  EventLoop& loop = *owner;
  int ticks = 0;
  const auto start = monotonicNow();
  LoopTimer far(loop, [](nanoseconds) {});
  far.armAt(start + std::chrono::hours(1));
  LoopTimer* self = nullptr;
  LoopTimer tick(loop, [&](nanoseconds due) {
    if (++ticks == 5)
      loop.stop();
    else
      self->armAt(due + milliseconds(2));
  });
  self = &tick;
  tick.armAt(start + milliseconds(2));
  ASSERT_TRUE(loop.run().ok());
  const auto took = monotonicNow() - start;
  EXPECT_EQ(ticks, 5);
  EXPECT_GE(took, milliseconds(10));  // never before a deadline
  EXPECT_TRUE(far.armed());
}

TEST(LoopTimer, TheDrainHookRunsBeforeTimersAndDuringLongBatches) {
  auto owner = makeLoop();
  ASSERT_TRUE(owner);
  EventLoop& loop = *owner;
  int hooks = 0;
  std::vector<int> hooksSeen;  // the drains before each timer ran
  loop.beforeTimers([&hooks] { ++hooks; });
  const auto past = monotonicNow() - milliseconds(1);
  std::vector<std::unique_ptr<LoopTimer>> timers;
  for (int i = 0; i < 100; ++i) {
    timers.push_back(
        std::make_unique<LoopTimer>(loop, [&](nanoseconds) { hooksSeen.push_back(hooks); }));
    timers.back()->armAt(past + nanoseconds(i));
  }
  loop.runDueTimers();
  ASSERT_EQ(hooksSeen.size(), 100u);
  EXPECT_EQ(hooksSeen.front(), 1);  // drained before the first timer
  EXPECT_EQ(hooks, 4);              // and again every 32 timers (100: three more)
  loop.runDueTimers();              // nothing due: no drain
  EXPECT_EQ(hooks, 4);
}

TEST(LoopTimer, ATimerOutlivingItsLoopIsHarmless) {
  auto loop = makeLoop();
  ASSERT_TRUE(loop);
  auto t = std::make_unique<LoopTimer>(*loop, [](nanoseconds) {});
  t->armAt(monotonicNow() + std::chrono::hours(1));
  loop.reset();
  EXPECT_FALSE(t->armed());
  t.reset();  // no access to the gone loop
}

}  // namespace
}  // namespace stamp
