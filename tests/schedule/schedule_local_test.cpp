// Schedule::next() in the local time zone across DST changes: Europe/Berlin
// (2026-03-29, 2026-10-25) and America/New_York (2026-03-08, 2026-11-01),
// for an hourly and a 02:30 daily schedule, plus an oracle that walks real
// minutes. The documented rules: a wall-clock time missing on the
// spring-forward day is skipped; a repeated one runs at its first occurrence.
//
// Each test sets TZ (setenv + tzset) and restores it; a zone whose data is
// not installed makes the test skip with the reason.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sender/schedule.hpp"
#include "time_util.hpp"

namespace stamp {
namespace {

using test::kDay;
using test::kHour;
using test::kMin;
using test::kSec;
using test::show;
using test::utc;

class LocalTime : public ::testing::Test {
 protected:
  void TearDown() override {
    if (saved_) {
      if (*saved_)
        setenv("TZ", saved_->value().c_str(), 1);
      else
        unsetenv("TZ");
      tzset();
    }
  }

  // Switches the process to `zone`; false (and the test skips) if its data
  // is missing, detected by the UTC offset it should have at `probe`.
  bool useZone(const char* zone, UnixNs probe, long wantOffsetSec) {
    if (!saved_) {
      const char* old = getenv("TZ");
      saved_ = old ? std::optional<std::string>(old) : std::optional<std::string>();
    }
    setenv("TZ", zone, 1);
    tzset();
    time_t t = time_t(probe / kSec);
    struct tm tm {};
    if (localtime_r(&t, &tm) == nullptr || tm.tm_gmtoff != wantOffsetSec) return false;
    return true;
  }

  Schedule local(const char* text) {
    ScheduleOptions opt;
    opt.zone = ScheduleZone::kLocal;
    auto s = Schedule::parse(text, opt);
    EXPECT_TRUE(s.ok()) << text;
    return *s;
  }

  std::vector<std::string> runs(const char* text, const char* after, size_t n) {
    Schedule s = local(text);
    std::vector<std::string> out;
    UnixNs t = utc(after);
    for (size_t i = 0; i < n; ++i) out.push_back(show(t = s.next(t)));
    return out;
  }

 private:
  std::optional<std::optional<std::string>> saved_;
};

// GTEST_SKIP() has to be in the test body itself to end the test.
#define USE_ZONE(zone, probe, offset)                                       \
  do {                                                                      \
    if (!useZone(zone, utc(probe), offset))                                 \
      GTEST_SKIP() << "time zone " << zone << " is not installed (tzdata)"; \
  } while (0)

std::string at(const char* t) {
  return show(utc(t));
}
using Runs = std::vector<std::string>;

TEST_F(LocalTime, BerlinSpringForwardHourly) {
  USE_ZONE("Europe/Berlin", "2026-01-15T12:00Z", 3600);
  // 01:00 CET, then 03:00 CEST: one real hour apart, 02:00 does not exist.
  EXPECT_EQ(runs("0 * * * *", "2026-03-28T22:30Z", 4),
            (Runs{at("2026-03-28T23:00Z"), at("2026-03-29T00:00Z"), at("2026-03-29T01:00Z"),
                  at("2026-03-29T02:00Z")}));
}

TEST_F(LocalTime, BerlinSpringForwardDailyAt0230IsSkippedThatDay) {
  USE_ZONE("Europe/Berlin", "2026-01-15T12:00Z", 3600);
  EXPECT_EQ(runs("30 2 * * *", "2026-03-27T12:00Z", 3),
            (Runs{at("2026-03-28T01:30Z"),  // 02:30 CET
                  at("2026-03-30T00:30Z"),  // 02:30 CEST; none on the 29th
                  at("2026-03-31T00:30Z")}));
  // From inside the gap's real hour.
  EXPECT_EQ(runs("30 2 * * *", "2026-03-29T01:15Z", 1), (Runs{at("2026-03-30T00:30Z")}));
  // The minutes of the missing hour are skipped, the rest of the day runs.
  EXPECT_EQ(runs("*/30 2-3 * * *", "2026-03-29T00:00Z", 3),
            (Runs{at("2026-03-29T01:00Z"), at("2026-03-29T01:30Z"), at("2026-03-30T00:00Z")}));
}

TEST_F(LocalTime, BerlinFallBackHourly) {
  USE_ZONE("Europe/Berlin", "2026-01-15T12:00Z", 3600);
  // 02:00 CEST runs; 02:00 CET (the repeat) does not; next is 03:00 CET.
  EXPECT_EQ(runs("0 * * * *", "2026-10-24T21:30Z", 5),
            (Runs{at("2026-10-24T22:00Z"), at("2026-10-24T23:00Z"), at("2026-10-25T00:00Z"),
                  at("2026-10-25T02:00Z"), at("2026-10-25T03:00Z")}));
}

TEST_F(LocalTime, BerlinFallBackDailyAt0230RunsOnce) {
  USE_ZONE("Europe/Berlin", "2026-01-15T12:00Z", 3600);
  EXPECT_EQ(runs("30 2 * * *", "2026-10-24T12:00Z", 3),
            (Runs{at("2026-10-25T00:30Z"),  // 02:30 CEST, the first 02:30
                  at("2026-10-26T01:30Z"),  // 02:30 CET the next day
                  at("2026-10-27T01:30Z")}));
  // Asked during the repeated hour, before or after its second 02:30.
  EXPECT_EQ(runs("30 2 * * *", "2026-10-25T00:40Z", 1), (Runs{at("2026-10-26T01:30Z")}));
  EXPECT_EQ(runs("30 2 * * *", "2026-10-25T01:10Z", 1), (Runs{at("2026-10-26T01:30Z")}));
  EXPECT_EQ(runs("30 2 * * *", "2026-10-25T01:45Z", 1), (Runs{at("2026-10-26T01:30Z")}));
  // Every minute of the repeated hour runs once, in its first pass.
  EXPECT_EQ(runs("*/20 2 * * *", "2026-10-24T23:59Z", 4),
            (Runs{at("2026-10-25T00:00Z"), at("2026-10-25T00:20Z"), at("2026-10-25T00:40Z"),
                  at("2026-10-26T01:00Z")}));
}

TEST_F(LocalTime, NewYorkSpringForward) {
  USE_ZONE("America/New_York", "2026-01-15T12:00Z", -5 * 3600);
  EXPECT_EQ(runs("0 * * * *", "2026-03-08T05:30Z", 3),
            (Runs{at("2026-03-08T06:00Z"),  // 01:00 EST
                  at("2026-03-08T07:00Z"),  // 03:00 EDT
                  at("2026-03-08T08:00Z")}));
  EXPECT_EQ(runs("30 2 * * *", "2026-03-07T00:00Z", 3),
            (Runs{at("2026-03-07T07:30Z"),  // 02:30 EST
                  at("2026-03-09T06:30Z"),  // 02:30 EDT; none on the 8th
                  at("2026-03-10T06:30Z")}));
}

TEST_F(LocalTime, NewYorkFallBack) {
  USE_ZONE("America/New_York", "2026-01-15T12:00Z", -5 * 3600);
  EXPECT_EQ(runs("0 * * * *", "2026-11-01T03:30Z", 4),
            (Runs{at("2026-11-01T04:00Z"),  // 00:00 EDT
                  at("2026-11-01T05:00Z"),  // 01:00 EDT; 01:00 EST is the repeat
                  at("2026-11-01T07:00Z"),  // 02:00 EST
                  at("2026-11-01T08:00Z")}));
  // 02:30 is not repeated in New York (the repeated hour is 01:00-02:00).
  EXPECT_EQ(runs("30 2 * * *", "2026-10-31T00:00Z", 3),
            (Runs{at("2026-10-31T06:30Z"), at("2026-11-01T07:30Z"), at("2026-11-02T07:30Z")}));
  EXPECT_EQ(runs("30 1 * * *", "2026-10-31T00:00Z", 3),
            (Runs{at("2026-10-31T05:30Z"), at("2026-11-01T05:30Z"), at("2026-11-02T06:30Z")}));
}

TEST_F(LocalTime, ZoneWithAHalfHourOffsetAndNoDst) {
  USE_ZONE("Asia/Kolkata", "2026-01-15T12:00Z", 5 * 3600 + 1800);
  EXPECT_EQ(runs("0 * * * *", "2026-05-05T10:00Z", 2),
            (Runs{at("2026-05-05T10:30Z"), at("2026-05-05T11:30Z")}));
  EXPECT_EQ(runs("@daily", "2026-05-05T10:00Z", 1), (Runs{at("2026-05-05T18:30Z")}));
}

TEST_F(LocalTime, EveryIgnoresTheZone) {
  USE_ZONE("Europe/Berlin", "2026-01-15T12:00Z", 3600);
  ScheduleOptions opt;
  opt.zone = ScheduleZone::kLocal;
  opt.anchor = utc("2026-03-29T00:30Z");
  auto s = Schedule::parse("@every 1h", opt);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(show(s->next(opt.anchor)), at("2026-03-29T01:30Z"));
  EXPECT_EQ(show(s->next(utc("2026-03-29T01:30Z"))), at("2026-03-29T02:30Z"));
}

// Walks every real minute of a window, reads the wall clock with
// localtime_r, and keeps the minutes that match and show a wall time not
// seen before in the window (the first occurrence); next() chained from the
// window start must give the same list.
void expectOracle(const Schedule& s, UnixNs from, int64_t minutes) {
  std::vector<UnixNs> want;
  int64_t latestWall = INT64_MIN;
  for (int64_t m = 0; m <= minutes; ++m) {
    time_t t = time_t(from / kSec + m * 60);
    struct tm tm {};
    ASSERT_NE(localtime_r(&t, &tm), nullptr);
    int64_t wall = int64_t(t) + tm.tm_gmtoff;
    bool first = wall > latestWall;
    latestWall = std::max(latestWall, wall);
    if (m == 0 || !first) continue;
    const CronFields& c = s.cron();
    bool dom = c.days >> tm.tm_mday & 1;
    bool dow = c.weekdays >> tm.tm_wday & 1;
    bool day = (c.daysRestricted && c.weekdaysRestricted) ? (dom || dow) : (dom && dow);
    if ((c.minutes >> tm.tm_min & 1) && (c.hours >> tm.tm_hour & 1) &&
        (c.months >> (tm.tm_mon + 1) & 1) && day)
      want.push_back(from + m * kMin);
  }
  std::vector<UnixNs> got;
  for (UnixNs t = s.next(from); t <= from + minutes * kMin; t = s.next(t)) got.push_back(t);
  ASSERT_EQ(got.size(), want.size()) << s.text();
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(show(got[i]), show(want[i])) << s.text() << " run " << i;
}

TEST_F(LocalTime, AgreesWithAWallClockOracleAcrossDstChanges) {
  struct Window {
    const char* zone;
    const char* probe;
    long offset;
    const char* from;  // two days around a change
  };
  const char* schedules[] = {"* * * * *",  "0 * * * *",      "30 2 * * *",    "*/20 1-3 * * *",
                             "30 1 * * *", "45 * 25,29 * *", "0,30 2 * * SUN"};
  std::string missing;
  for (const Window& w :
       {Window{"Europe/Berlin", "2026-01-15T12:00Z", 3600, "2026-03-28T12:00Z"},
        Window{"Europe/Berlin", "2026-01-15T12:00Z", 3600, "2026-10-24T12:00Z"},
        Window{"America/New_York", "2026-01-15T12:00Z", -5 * 3600, "2026-03-07T12:00Z"},
        Window{"America/New_York", "2026-01-15T12:00Z", -5 * 3600, "2026-10-31T12:00Z"},
        // A half-hour DST shift (+10:30 / +11).
        Window{"Australia/Lord_Howe", "2026-06-15T12:00Z", 10 * 3600 + 1800, "2026-04-03T12:00Z"},
        Window{"Australia/Lord_Howe", "2026-06-15T12:00Z", 10 * 3600 + 1800,
               "2026-10-02T12:00Z"}}) {
    if (!useZone(w.zone, utc(w.probe), w.offset)) {
      missing += std::string(missing.empty() ? "" : ", ") + w.zone;
      continue;
    }
    for (const char* text : schedules) {
      SCOPED_TRACE(std::string(w.zone) + " from " + w.from + ": " + text);
      expectOracle(local(text), utc(w.from), 3 * 24 * 60);
    }
  }
  if (!missing.empty()) GTEST_SKIP() << "time zones not installed (tzdata): " << missing;
}

}  // namespace
}  // namespace stamp
