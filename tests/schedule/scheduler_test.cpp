// Scheduler with a fake clock: first runs without replay, due() and its
// order, overlap skipping and counting, splay bounds and determinism with a
// seed, forward and backward clock jumps, nextWake(), info() and the errors.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sender/schedule.hpp"
#include "time_util.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using test::kHour;
using test::kMin;
using test::kSec;
using test::show;
using test::utc;
using Names = std::vector<std::string>;

constexpr uint64_t kSeed = 20260505;

// The time the code under test sees: it never reads a real clock.
struct FakeClock {
  UnixNs now;
  UnixNs advance(int64_t ns) { return now += ns; }
  UnixNs set(const char* t) { return now = utc(t); }
};

Schedule sched(const char* text, UnixNs anchor = 0) {
  ScheduleOptions opt;
  opt.anchor = anchor;
  auto s = Schedule::parse(text, opt);
  EXPECT_TRUE(s.ok()) << text;
  return *s;
}

void addOk(Scheduler& s, const char* name, const char* text, std::chrono::nanoseconds splay,
           UnixNs now, UnixNs anchor = 0) {
  auto r = s.add(name, sched(text, anchor), splay, now);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

UnixNs nextRunOf(const Scheduler& s, const std::string& name) {
  auto i = s.info(name);
  EXPECT_TRUE(i.has_value()) << name;
  return i ? i->nextRun : Schedule::kNever;
}

TEST(Scheduler, FirstRunIsTheNextSlotAfterNow) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:17:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  auto i = s.info("hourly");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->name, "hourly");
  EXPECT_EQ(i->schedule, "0 * * * *");
  EXPECT_EQ(i->zone, ScheduleZone::kUtc);
  EXPECT_EQ(show(i->nextRun), show(utc("2026-05-05T11:00Z")));
  EXPECT_EQ(i->nextSplay, 0ns);
  EXPECT_FALSE(i->lastStart.has_value());
  EXPECT_FALSE(i->lastEnd.has_value());
  EXPECT_FALSE(i->running);
  EXPECT_EQ(i->runs, 0u);
  EXPECT_EQ(i->skippedOverlaps, 0u);
  EXPECT_EQ(s.due(clock.now), Names{});
}

TEST(Scheduler, DueReturnsAnEntryOnceWhenItsTimeComes) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:17:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:59:59.999Z")), Names{});
  EXPECT_EQ(s.due(clock.set("2026-05-05T11:00Z")), Names{"hourly"});
  EXPECT_EQ(s.due(clock.now), Names{});  // the same moment again
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-05T12:00Z")));

  ASSERT_TRUE(s.started("hourly", clock.advance(5 * kMin)).ok());
  auto i = s.info("hourly");
  EXPECT_TRUE(i->running);
  EXPECT_EQ(i->lastStart, clock.now);
  EXPECT_EQ(i->runs, 1u);
  ASSERT_TRUE(s.finished("hourly", clock.advance(10 * kSec)).ok());
  i = s.info("hourly");
  EXPECT_FALSE(i->running);
  EXPECT_EQ(i->lastEnd, clock.now);

  EXPECT_EQ(s.due(clock.set("2026-05-05T12:00:00.3Z")), Names{"hourly"});  // a late wake-up
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-05T13:00Z")));
}

TEST(Scheduler, DueOrdersByTimeThenName) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:00:10Z")};
  addOk(s, "b-minute", "* * * * *", 0s, clock.now);
  addOk(s, "a-minute", "* * * * *", 0s, clock.now);
  addOk(s, "every-20s", "@every 20s", 0s, clock.now);  // 10:00:20
  addOk(s, "later", "0 11 * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:01Z")), (Names{"every-20s", "a-minute", "b-minute"}));
  EXPECT_EQ(s.size(), 4u);
  auto all = s.list();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].name, "a-minute");
  EXPECT_EQ(all[3].name, "later");
}

TEST(Scheduler, OverlappingRunIsSkippedAndCounted) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:00:00Z")};
  addOk(s, "probe", "@every 10s", 0s, clock.now, clock.now);
  EXPECT_EQ(s.due(clock.advance(10 * kSec)), Names{"probe"});
  ASSERT_TRUE(s.started("probe", clock.now).ok());

  // Still running at its next two slots: skipped, counted, rescheduled.
  EXPECT_EQ(s.due(clock.advance(10 * kSec)), Names{});
  EXPECT_EQ(s.info("probe")->skippedOverlaps, 1u);
  EXPECT_EQ(nextRunOf(s, "probe"), clock.now + 10 * kSec);
  EXPECT_EQ(s.due(clock.advance(10 * kSec)), Names{});
  EXPECT_EQ(s.info("probe")->skippedOverlaps, 2u);

  ASSERT_TRUE(s.finished("probe", clock.advance(5 * kSec)).ok());
  EXPECT_EQ(s.due(clock.advance(5 * kSec)), Names{"probe"});
  auto i = s.info("probe");
  EXPECT_EQ(i->skippedOverlaps, 2u);
  EXPECT_EQ(i->runs, 1u);
  EXPECT_FALSE(i->running);
}

TEST(Scheduler, OverlapSkipsComputeTheNextRunFromNow) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:00:00Z")};
  addOk(s, "probe", "* * * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:01Z")), Names{"probe"});
  ASSERT_TRUE(s.started("probe", clock.now).ok());
  // The loop was busy for 3.5 minutes: one skip, not three.
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:04:30Z")), Names{});
  EXPECT_EQ(s.info("probe")->skippedOverlaps, 1u);
  EXPECT_EQ(show(nextRunOf(s, "probe")), show(utc("2026-05-05T10:05Z")));
}

TEST(Scheduler, NoReplayAfterDowntime) {
  FakeClock clock{utc("2026-05-05T09:30Z")};
  {
    Scheduler before(kSeed);
    addOk(before, "hourly", "0 * * * *", 0s, clock.now);
    EXPECT_EQ(before.due(clock.set("2026-05-05T10:00Z")), Names{"hourly"});
  }
  // The daemon was down from 10:05 to 15:30: the 11:00..15:00 runs are gone.
  Scheduler after(kSeed);
  addOk(after, "hourly", "0 * * * *", 0s, clock.set("2026-05-05T15:30Z"));
  EXPECT_EQ(after.due(clock.now), Names{});
  EXPECT_EQ(show(nextRunOf(after, "hourly")), show(utc("2026-05-05T16:00Z")));
  EXPECT_EQ(after.due(clock.set("2026-05-05T16:00Z")), Names{"hourly"});
}

TEST(Scheduler, ForwardClockJumpRunsOnceNotOncePerMissedSlot) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T09:59:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  addOk(s, "minutely", "@every 1m", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00Z")), (Names{"hourly", "minutely"}));
  // Each once, the one whose run was due first (10:01) first.
  EXPECT_EQ(s.due(clock.set("2026-05-05T15:30:10Z")), (Names{"minutely", "hourly"}));
  EXPECT_EQ(s.due(clock.now), Names{});
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-05T16:00Z")));
  EXPECT_EQ(show(nextRunOf(s, "minutely")), show(utc("2026-05-05T15:31Z")));
}

TEST(Scheduler, SmallBackwardStepDoesNotRepeatTheSlotThatRan) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T09:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00:00.1Z")), Names{"hourly"});
  // NTP steps the clock back half a second, across the 10:00 boundary.
  EXPECT_EQ(s.due(clock.set("2026-05-05T09:59:59.6Z")), Names{});
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-05T11:00Z")));
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00:00.1Z")), Names{});
  EXPECT_EQ(s.due(clock.set("2026-05-05T11:00Z")), Names{"hourly"});
}

TEST(Scheduler, LargeBackwardStepFollowsTheNewTimeAtOnce) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T09:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  addOk(s, "every", "@every 10m", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00Z")), (Names{"every", "hourly"}));  // 09:40 first
  // Back a whole day: no waiting a day for the old next run.
  EXPECT_EQ(s.due(clock.set("2026-05-04T09:35Z")), Names{});
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-04T10:00Z")));
  EXPECT_EQ(show(nextRunOf(s, "every")), show(utc("2026-05-04T09:40Z")));
  EXPECT_EQ(s.due(clock.set("2026-05-04T09:40Z")), Names{"every"});
  EXPECT_EQ(s.due(clock.set("2026-05-04T10:00Z")), (Names{"every", "hourly"}));
}

TEST(Scheduler, BackwardStepIsNoticedByAnyCallThatTakesNow) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T09:30Z")};
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00Z")), Names{"hourly"});
  ASSERT_TRUE(s.started("hourly", clock.set("2026-05-04T08:10Z")).ok());
  EXPECT_EQ(show(nextRunOf(s, "hourly")), show(utc("2026-05-04T09:00Z")));
}

TEST(Scheduler, SplayDelaysEachRunWithinBounds) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:00:00Z")};
  const std::chrono::nanoseconds splay = 10s;
  addOk(s, "probe", "@every 1m", splay, clock.now);
  std::set<int64_t> delays;
  int64_t below1s = 0, above9s = 0;
  for (int i = 0; i < 500; ++i) {
    auto info = s.info("probe");
    int64_t delay = info->nextSplay.count();
    UnixNs slot = info->nextRun - delay;
    ASSERT_EQ(slot % kMin, 0) << "run " << i;
    ASSERT_GE(delay, 0);
    ASSERT_LE(delay, splay.count());
    delays.insert(delay);
    below1s += delay < kSec;
    above9s += delay > 9 * kSec;
    // Not before the delayed time, then at it.
    ASSERT_EQ(s.due(info->nextRun - 1), Names{});
    ASSERT_EQ(s.due(info->nextRun), Names{"probe"});
  }
  EXPECT_GT(delays.size(), 490u);  // drawn per run, not once
  EXPECT_GT(below1s, 20);          // spread over the whole range (expect ~50)
  EXPECT_GT(above9s, 20);
}

TEST(Scheduler, SplayOfOneNanosecondGivesBothValues) {
  Scheduler s(kSeed);
  addOk(s, "probe", "@every 1s", 1ns, 0);
  std::set<int64_t> seen;
  for (int i = 0; i < 64; ++i) {
    auto info = s.info("probe");
    seen.insert(info->nextSplay.count());
    ASSERT_EQ(s.due(info->nextRun), Names{"probe"});
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
}

// The runs of a small fleet of entries over an hour.
std::vector<UnixNs> fleetRuns(uint64_t seed) {
  Scheduler s(seed);
  UnixNs now = utc("2026-05-05T10:00Z");
  for (const char* name : {"a", "b", "c", "d"}) addOk(s, name, "* * * * *", 30s, now);
  std::vector<UnixNs> out;
  while (*s.nextWake() < utc("2026-05-05T11:00Z")) {
    now = *s.nextWake();
    for (const std::string& name : s.due(now)) {
      out.push_back(now);
      EXPECT_TRUE(s.started(name, now).ok());
      EXPECT_TRUE(s.finished(name, now).ok());
    }
  }
  return out;
}

TEST(Scheduler, SplayIsDeterministicForASeed) {
  std::vector<UnixNs> first = fleetRuns(kSeed);
  EXPECT_EQ(first.size(), 4u * 59u);  // 10:01 to 10:59
  EXPECT_EQ(fleetRuns(kSeed), first);
  EXPECT_NE(fleetRuns(kSeed + 1), first);
  // The fleet does not probe in lockstep.
  EXPECT_GT(std::set<UnixNs>(first.begin(), first.end()).size(), 200u);
}

TEST(Scheduler, NextWakeIsTheEarliestNextRun) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T10:00:10Z")};
  EXPECT_EQ(s.nextWake(), std::nullopt);
  addOk(s, "hourly", "0 * * * *", 0s, clock.now);
  EXPECT_EQ(s.nextWake(), utc("2026-05-05T11:00Z"));
  addOk(s, "minutely", "* * * * *", 0s, clock.now);
  EXPECT_EQ(s.nextWake(), utc("2026-05-05T10:01Z"));
  EXPECT_EQ(s.due(*s.nextWake()), Names{"minutely"});
  EXPECT_EQ(s.nextWake(), utc("2026-05-05T10:02Z"));
  // A running entry keeps its wake-up: its skip must be counted on time.
  ASSERT_TRUE(s.started("minutely", clock.set("2026-05-05T10:01:01Z")).ok());
  EXPECT_EQ(s.nextWake(), utc("2026-05-05T10:02Z"));
  ASSERT_TRUE(s.remove("minutely").ok());
  EXPECT_EQ(s.nextWake(), utc("2026-05-05T11:00Z"));
  ASSERT_TRUE(s.remove("hourly").ok());
  EXPECT_EQ(s.nextWake(), std::nullopt);
}

TEST(Scheduler, NextWakeIncludesSplay) {
  Scheduler s(kSeed);
  addOk(s, "probe", "0 * * * *", 5min, utc("2026-05-05T10:00:10Z"));
  auto i = s.info("probe");
  EXPECT_EQ(s.nextWake(), i->nextRun);
  EXPECT_EQ(i->nextRun, utc("2026-05-05T11:00Z") + i->nextSplay.count());
  EXPECT_EQ(i->splay, 5min);
}

TEST(Scheduler, UpdateReplacesTheScheduleAndKeepsTheHistory) {
  Scheduler s(kSeed);
  FakeClock clock{utc("2026-05-05T09:30Z")};
  addOk(s, "probe", "0 * * * *", 0s, clock.now);
  EXPECT_EQ(s.due(clock.set("2026-05-05T10:00Z")), Names{"probe"});
  ASSERT_TRUE(s.started("probe", clock.now).ok());
  EXPECT_EQ(s.due(clock.set("2026-05-05T11:00Z")), Names{});  // overlap
  ASSERT_TRUE(s.update("probe", sched("*/5 * * * *"), 0s, clock.set("2026-05-05T11:02Z")).ok());
  auto i = s.info("probe");
  EXPECT_EQ(i->schedule, "*/5 * * * *");
  EXPECT_EQ(show(i->nextRun), show(utc("2026-05-05T11:05Z")));
  EXPECT_TRUE(i->running);
  EXPECT_EQ(i->runs, 1u);
  EXPECT_EQ(i->skippedOverlaps, 1u);
  EXPECT_EQ(i->lastStart, utc("2026-05-05T10:00Z"));
}

TEST(Scheduler, Errors) {
  Scheduler s(kSeed);
  const UnixNs now = utc("2026-05-05T10:00Z");
  addOk(s, "probe", "* * * * *", 0s, now);

  auto dup = s.add("probe", sched("@hourly"), 0s, now);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_EQ(dup.error().message, "schedule entry 'probe' already exists");

  auto negative = s.add("other", sched("@hourly"), -1s, now);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, EINVAL);
  EXPECT_EQ(negative.error().message, "schedule entry 'other': splay -1s is negative");
  EXPECT_FALSE(s.info("other").has_value());

  for (auto r : {s.update("nope", sched("@hourly"), 0s, now), s.remove("nope"),
                 s.started("nope", now), s.finished("nope", now)}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_EQ(r.error().message, "no schedule entry 'nope'");
  }

  auto notRunning = s.finished("probe", now);
  ASSERT_FALSE(notRunning.ok());
  EXPECT_EQ(notRunning.error().code, EINVAL);
  EXPECT_EQ(notRunning.error().message, "schedule entry 'probe' is not running");

  ASSERT_TRUE(s.started("probe", now).ok());
  auto twice = s.started("probe", now);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, EBUSY);
  EXPECT_EQ(twice.error().message, "schedule entry 'probe' is already running");

  // Removing a running entry is allowed; its end then has nowhere to go.
  ASSERT_TRUE(s.remove("probe").ok());
  EXPECT_EQ(s.finished("probe", now).error().code, ENOENT);
  EXPECT_EQ(s.size(), 0u);
}

}  // namespace
}  // namespace stamp
