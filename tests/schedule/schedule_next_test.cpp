// Schedule::next() in UTC: rollovers of every field, month ends, leap days,
// the day-of-month / day-of-week OR rule, names, steps and @every; checked
// against hand-written instants and against a minute-by-minute oracle.
#include <gtest/gtest.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <limits>
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

Schedule parsed(const std::string& text, const ScheduleOptions& opt = {}) {
  auto s = Schedule::parse(text, opt);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : *Schedule::parse("* * * * *");
}

// The runs of `text` after `after`, each computed from the one before.
std::vector<std::string> runs(const std::string& text, const char* after, size_t n) {
  Schedule s = parsed(text);
  std::vector<std::string> out;
  UnixNs t = utc(after);
  for (size_t i = 0; i < n; ++i) {
    t = s.next(t);
    out.push_back(show(t));
    if (t == Schedule::kNever) break;
  }
  return out;
}

std::string at(const char* minute) {
  return show(utc(minute));
}

TEST(ScheduleNext, IsStrictlyAfterAndOnAWholeMinute) {
  Schedule s = parsed("* * * * *");
  EXPECT_EQ(show(s.next(utc("2026-05-05T10:20:30.5Z"))), at("2026-05-05T10:21Z"));
  EXPECT_EQ(show(s.next(utc("2026-05-05T10:21Z"))), at("2026-05-05T10:22Z"));
  EXPECT_EQ(show(s.next(utc("2026-05-05T10:21Z") - 1)), at("2026-05-05T10:21Z"));
  EXPECT_EQ(show(s.next(utc("2026-05-05T10:20:59.999999999Z"))), at("2026-05-05T10:21Z"));
}

TEST(ScheduleNext, MinuteHourAndDayRollovers) {
  EXPECT_EQ(runs("*/15 * * * *", "2026-05-05T10:50Z", 3),
            (std::vector<std::string>{at("2026-05-05T11:00Z"), at("2026-05-05T11:15Z"),
                                      at("2026-05-05T11:30Z")}));
  EXPECT_EQ(runs("59 23 * * *", "2026-05-05T23:59Z", 2),
            (std::vector<std::string>{at("2026-05-06T23:59Z"), at("2026-05-07T23:59Z")}));
  EXPECT_EQ(runs("0 0 * * *", "2026-05-05T00:00Z", 1),
            (std::vector<std::string>{at("2026-05-06T00:00Z")}));
  EXPECT_EQ(runs("30 */8 * * *", "2026-05-05T16:31Z", 3),
            (std::vector<std::string>{at("2026-05-06T00:30Z"), at("2026-05-06T08:30Z"),
                                      at("2026-05-06T16:30Z")}));
  // A later minute of the hour, then the first matching minute of a later hour.
  EXPECT_EQ(runs("5,55 9,17 * * *", "2026-05-05T09:06Z", 3),
            (std::vector<std::string>{at("2026-05-05T09:55Z"), at("2026-05-05T17:05Z"),
                                      at("2026-05-05T17:55Z")}));
}

TEST(ScheduleNext, MonthEnds) {
  EXPECT_EQ(runs("0 12 * * *", "2026-01-31T12:00Z", 1),
            (std::vector<std::string>{at("2026-02-01T12:00Z")}));
  EXPECT_EQ(runs("0 0 1 * *", "2026-01-31T00:00Z", 3),
            (std::vector<std::string>{at("2026-02-01T00:00Z"), at("2026-03-01T00:00Z"),
                                      at("2026-04-01T00:00Z")}));
  // "31" skips February and the 30-day months.
  EXPECT_EQ(runs("30 12 31 * *", "2026-01-31T13:00Z", 5),
            (std::vector<std::string>{at("2026-03-31T12:30Z"), at("2026-05-31T12:30Z"),
                                      at("2026-07-31T12:30Z"), at("2026-08-31T12:30Z"),
                                      at("2026-10-31T12:30Z")}));
  EXPECT_EQ(runs("0 0 30 * *", "2026-01-30T00:00Z", 2),
            (std::vector<std::string>{at("2026-03-30T00:00Z"), at("2026-04-30T00:00Z")}));
  EXPECT_EQ(runs("0 0 31 4,6,12 *", "2026-01-01T00:00Z", 2),
            (std::vector<std::string>{at("2026-12-31T00:00Z"), at("2027-12-31T00:00Z")}));
}

TEST(ScheduleNext, LeapDays) {
  EXPECT_EQ(runs("0 0 29 2 *", "2026-03-01T00:00Z", 3),
            (std::vector<std::string>{at("2028-02-29T00:00Z"), at("2032-02-29T00:00Z"),
                                      at("2036-02-29T00:00Z")}));
  EXPECT_EQ(runs("0 0 29 2 *", "2028-02-28T23:59:59.999Z", 1),
            (std::vector<std::string>{at("2028-02-29T00:00Z")}));
  // 2100 is not a leap year: the longest wait there is, nearly eight years.
  EXPECT_EQ(runs("0 0 29 2 *", "2096-03-01T00:00Z", 1),
            (std::vector<std::string>{at("2104-02-29T00:00Z")}));
  EXPECT_EQ(runs("0 0 29 2 *", "2000-01-01T00:00Z", 1),  // 2000 is one
            (std::vector<std::string>{at("2000-02-29T00:00Z")}));
  EXPECT_EQ(runs("0 12 28-31 2 *", "2027-02-27T00:00Z", 3),
            (std::vector<std::string>{at("2027-02-28T12:00Z"), at("2028-02-28T12:00Z"),
                                      at("2028-02-29T12:00Z")}));
}

TEST(ScheduleNext, YearEnd) {
  EXPECT_EQ(runs("0 0 * * *", "2026-12-31T12:00Z", 1),
            (std::vector<std::string>{at("2027-01-01T00:00Z")}));
  EXPECT_EQ(runs("59 23 31 12 *", "2026-12-31T23:59Z", 1),
            (std::vector<std::string>{at("2027-12-31T23:59Z")}));
  EXPECT_EQ(runs("@yearly", "2026-01-01T00:00Z", 2),
            (std::vector<std::string>{at("2027-01-01T00:00Z"), at("2028-01-01T00:00Z")}));
  EXPECT_EQ(runs("* * * * *", "2026-12-31T23:59:30Z", 1),
            (std::vector<std::string>{at("2027-01-01T00:00Z")}));
}

TEST(ScheduleNext, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // April 2026: Fridays 3, 10, 17, 24; the 13th is a Monday.
  EXPECT_EQ(runs("0 0 13 * FRI", "2026-04-01T00:00Z", 7),
            (std::vector<std::string>{at("2026-04-03T00:00Z"), at("2026-04-10T00:00Z"),
                                      at("2026-04-13T00:00Z"), at("2026-04-17T00:00Z"),
                                      at("2026-04-24T00:00Z"), at("2026-05-01T00:00Z"),
                                      at("2026-05-08T00:00Z")}));
  // "*/10" is a restriction too: days 1, 11, 21, 31 or Mondays.
  EXPECT_EQ(runs("0 0 */10 * MON", "2026-04-30T00:00Z", 8),
            (std::vector<std::string>{at("2026-05-01T00:00Z"), at("2026-05-04T00:00Z"),
                                      at("2026-05-11T00:00Z"), at("2026-05-18T00:00Z"),
                                      at("2026-05-21T00:00Z"), at("2026-05-25T00:00Z"),
                                      at("2026-05-31T00:00Z"), at("2026-06-01T00:00Z")}));
}

TEST(ScheduleNext, OnlyOneDayFieldRestrictedMeansThatOne) {
  // 2026-05-05 is a Tuesday.
  EXPECT_EQ(runs("0 0 * * MON", "2026-05-05T00:00Z", 2),
            (std::vector<std::string>{at("2026-05-11T00:00Z"), at("2026-05-18T00:00Z")}));
  EXPECT_EQ(runs("0 0 13 * *", "2026-05-05T00:00Z", 2),
            (std::vector<std::string>{at("2026-05-13T00:00Z"), at("2026-06-13T00:00Z")}));
  EXPECT_EQ(runs("0 6 * * 0,6", "2026-05-05T00:00Z", 3),
            (std::vector<std::string>{at("2026-05-09T06:00Z"), at("2026-05-10T06:00Z"),
                                      at("2026-05-16T06:00Z")}));
  EXPECT_EQ(runs("0 6 * * 7", "2026-05-05T00:00Z", 1),
            (std::vector<std::string>{at("2026-05-10T06:00Z")}));
}

TEST(ScheduleNext, NamesAndSteps) {
  EXPECT_EQ(runs("0 9 * JAN,jul MON-FRI", "2026-07-29T09:00Z", 3),
            (std::vector<std::string>{at("2026-07-30T09:00Z"), at("2026-07-31T09:00Z"),
                                      at("2027-01-01T09:00Z")}));
  EXPECT_EQ(runs("10-50/20 */6 * * *", "2026-05-05T05:00Z", 4),
            (std::vector<std::string>{at("2026-05-05T06:10Z"), at("2026-05-05T06:30Z"),
                                      at("2026-05-05T06:50Z"), at("2026-05-05T12:10Z")}));
  EXPECT_EQ(runs("3/15 * * * *", "2026-05-05T05:48Z", 2),
            (std::vector<std::string>{at("2026-05-05T06:03Z"), at("2026-05-05T06:18Z")}));
  EXPECT_EQ(runs("0 0 1 */4 *", "2026-05-05T00:00Z", 2),
            (std::vector<std::string>{at("2026-09-01T00:00Z"), at("2027-01-01T00:00Z")}));
}

TEST(ScheduleNext, Macros) {
  EXPECT_EQ(runs("@hourly", "2026-05-05T10:00Z", 1),
            (std::vector<std::string>{at("2026-05-05T11:00Z")}));
  EXPECT_EQ(runs("@daily", "2026-05-05T10:00Z", 1),
            (std::vector<std::string>{at("2026-05-06T00:00Z")}));
  EXPECT_EQ(runs("@weekly", "2026-05-05T10:00Z", 1),  // Sunday
            (std::vector<std::string>{at("2026-05-10T00:00Z")}));
  EXPECT_EQ(runs("@monthly", "2026-05-05T10:00Z", 1),
            (std::vector<std::string>{at("2026-06-01T00:00Z")}));
}

TEST(ScheduleNext, BeforeTheEpochAndAtTheEndOfUnixNs) {
  EXPECT_EQ(show(parsed("0 0 1 1 *").next(utc("1969-06-01T12:00Z"))), at("1970-01-01T00:00Z"));
  EXPECT_EQ(parsed("0 0 1 1 *").next(-1), 0);
  EXPECT_EQ(show(parsed("* * * * *").next(utc("1969-12-31T23:58:30Z"))), at("1969-12-31T23:59Z"));
  // UnixNs ends on 2262-04-11T23:47:16Z.
  EXPECT_EQ(parsed("* * * * *").next(Schedule::kNever - 1), Schedule::kNever);
  EXPECT_EQ(show(parsed("* * * * *").next(utc("2262-04-11T23:46Z"))), at("2262-04-11T23:47Z"));
  EXPECT_EQ(parsed("0 0 1 1 *").next(utc("2262-01-01T00:00Z")), Schedule::kNever);
}

TEST(ScheduleNext, EveryRunsOnTheAnchorGrid) {
  ScheduleOptions opt;
  const UnixNs anchor = utc("2026-05-05T10:00:07.25Z");
  opt.anchor = anchor;
  Schedule s = parsed("@every 30s", opt);
  EXPECT_EQ(s.next(anchor - kHour), anchor);
  EXPECT_EQ(s.next(anchor - 1), anchor);
  EXPECT_EQ(s.next(anchor), anchor + 30 * kSec);
  EXPECT_EQ(s.next(anchor + 30 * kSec - 1), anchor + 30 * kSec);
  EXPECT_EQ(s.next(anchor + 30 * kSec), anchor + 60 * kSec);
  EXPECT_EQ(s.next(anchor + 1'000'000 * 30 * kSec + 1), anchor + 1'000'001 * 30 * kSec);

  // Late wake-ups do not shift later runs: no drift.
  UnixNs t = anchor;
  for (int i = 1; i <= 1000; ++i) {
    t = s.next(t + (i * 7919) % (29 * kSec));  // woke up to 29 s late
    ASSERT_EQ(t, anchor + i * 30 * kSec) << i;
  }
}

TEST(ScheduleNext, EveryDefaultsToTheEpochAsAnchor) {
  Schedule s = parsed("@every 1m");
  EXPECT_EQ(show(s.next(utc("2026-05-05T10:00:07Z"))), at("2026-05-05T10:01Z"));
  Schedule odd = parsed("@every 1500ms");
  EXPECT_EQ(odd.next(0), 1'500'000'000);
  EXPECT_EQ(odd.next(-1), 0);
  EXPECT_EQ(odd.next(2'999'999'999), 3'000'000'000);
}

TEST(ScheduleNext, EveryStopsAtTheEndOfUnixNs) {
  ScheduleOptions opt;
  opt.anchor = Schedule::kNever - 10 * kSec;
  Schedule s = parsed("@every 4s", opt);
  EXPECT_EQ(s.next(opt.anchor), opt.anchor + 4 * kSec);
  EXPECT_EQ(s.next(opt.anchor + 8 * kSec), Schedule::kNever);
  opt.anchor = std::numeric_limits<UnixNs>::min();  // the widest distance there is
  Schedule far = parsed("@every 1h", opt);
  EXPECT_EQ(far.next(Schedule::kNever - 1), Schedule::kNever);
  EXPECT_GT(far.next(0), 0);
  EXPECT_LE(far.next(0), kHour);
}

// ---- Oracle -------------------------------------------------------------

// Whether the fields match a UTC minute, from gmtime_r: an implementation
// of the rules independent of the one under test.
bool oracleMatches(const CronFields& c, int64_t sec) {
  time_t t = time_t(sec);
  struct tm tm {};
  gmtime_r(&t, &tm);
  bool minute = c.minutes >> tm.tm_min & 1;
  bool hour = c.hours >> tm.tm_hour & 1;
  bool month = c.months >> (tm.tm_mon + 1) & 1;
  bool dom = c.days >> tm.tm_mday & 1;
  bool dow = c.weekdays >> tm.tm_wday & 1;
  bool day = (c.daysRestricted && c.weekdaysRestricted) ? (dom || dow) : (dom && dow);
  return minute && hour && month && day;
}

TEST(ScheduleNext, AgreesWithAMinuteByMinuteOracle) {
  const UnixNs from = utc("2027-12-20T00:00Z");
  const int64_t minutes = 75 * 24 * 60;  // through Feb 2028, a leap month
  for (const char* text :
       {"* * * * *", "*/7 * * * *", "0 */5 * * *", "13 13 13 * *", "0 0 13 * FRI", "0 0 */10 * MON",
        "45 23 * * 0", "0 12 28-31 * *", "5-10/5 2,14 * JAN,FEB SAT,SUN", "0 0 29 2 *",
        "59 23 31 12 *", "0 0 * * 1-5", "1-59/2 3 1,15 * 2-4"}) {
    Schedule s = parsed(text);
    std::vector<UnixNs> want;
    for (int64_t m = 1; m <= minutes; ++m)
      if (oracleMatches(s.cron(), from / kSec + m * 60)) want.push_back(from + m * kMin);
    std::vector<UnixNs> got;
    for (UnixNs t = s.next(from); t <= from + minutes * kMin; t = s.next(t)) got.push_back(t);
    ASSERT_EQ(got.size(), want.size()) << text;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(show(got[i]), show(want[i])) << text << " run " << i;
    // From anywhere inside a minute.
    for (UnixNs t = from + 17 * kSec; t < from + 3 * kDay; t += 7 * kMin + 13 * kSec) {
      UnixNs n = s.next(t);
      ASSERT_GT(n, t) << text;
      ASSERT_EQ(n % kMin, 0) << text;
      ASSERT_TRUE(oracleMatches(s.cron(), n / kSec)) << text << " " << show(n);
    }
  }
}

}  // namespace
}  // namespace stamp
