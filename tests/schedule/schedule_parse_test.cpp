// Schedule::parse(): the cron fields as bit sets, macros, @every, and every
// kind of error with its exact message (field, reason, column).
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "sender/schedule.hpp"
#include "time_util.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;

uint64_t bits(std::initializer_list<int> values) {
  uint64_t m = 0;
  for (int v : values) m |= uint64_t{1} << v;
  return m;
}
uint64_t range(int lo, int hi, int step = 1) {
  uint64_t m = 0;
  for (int v = lo; v <= hi; v += step) m |= uint64_t{1} << v;
  return m;
}

CronFields fieldsOf(const std::string& text) {
  auto s = Schedule::parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() ? s->cron() : CronFields{};
}

const CronFields kEveryMinute{range(0, 59),
                              uint32_t(range(0, 23)),
                              uint32_t(range(1, 31)),
                              uint16_t(range(1, 12)),
                              uint8_t(range(0, 6)),
                              false,
                              false};

TEST(ScheduleParse, StarsMatchEverything) {
  EXPECT_EQ(fieldsOf("* * * * *"), kEveryMinute);
}

TEST(ScheduleParse, ListsRangesAndSteps) {
  struct Row {
    const char* minute;
    uint64_t want;
  };
  for (const Row& r :
       {Row{"1,5,9", bits({1, 5, 9})}, Row{"1-5", range(1, 5)}, Row{"*/5", range(0, 59, 5)},
        Row{"10-50/10", bits({10, 20, 30, 40, 50})}, Row{"10-55/20", bits({10, 30, 50})},
        Row{"3/15", bits({3, 18, 33, 48})}, Row{"59", bits({59})}, Row{"0", bits({0})},
        Row{"007", bits({7})}, Row{"*/59", bits({0, 59})}, Row{"*/1", range(0, 59)},
        Row{"1-3,7,20-30/5,*/30", bits({0, 1, 2, 3, 7, 20, 25, 30})}, Row{"5,5,5", bits({5})},
        Row{"4-4", bits({4})}}) {
    CronFields f = fieldsOf(std::string(r.minute) + " * * * *");
    EXPECT_EQ(f.minutes, r.want) << r.minute;
  }
  EXPECT_EQ(fieldsOf("0 */6 * * *").hours, range(0, 23, 6));
  EXPECT_EQ(fieldsOf("0 9-17/4 * * *").hours, bits({9, 13, 17}));
  EXPECT_EQ(fieldsOf("0 0 */10 * *").days, bits({1, 11, 21, 31}));
  EXPECT_EQ(fieldsOf("0 0 15/5 * *").days, bits({15, 20, 25, 30}));
  EXPECT_EQ(fieldsOf("0 0 1 */3 *").months, bits({1, 4, 7, 10}));
}

TEST(ScheduleParse, MonthAndWeekdayNamesAreCaseInsensitive) {
  EXPECT_EQ(fieldsOf("0 0 1 jan,Mar,DEC *").months, bits({1, 3, 12}));
  EXPECT_EQ(fieldsOf("0 0 1 JAN-MAR *").months, bits({1, 2, 3}));
  EXPECT_EQ(fieldsOf("0 0 1 feb/3 *").months, bits({2, 5, 8, 11}));
  EXPECT_EQ(fieldsOf("0 0 1 Jun-8 *").months, bits({6, 7, 8}));  // names and numbers mix
  EXPECT_EQ(fieldsOf("0 0 * * MON-FRI").weekdays, range(1, 5));
  EXPECT_EQ(fieldsOf("0 0 * * sat,Sun").weekdays, bits({0, 6}));
  EXPECT_EQ(fieldsOf("0 0 * * tue-thu/2").weekdays, bits({2, 4}));
}

TEST(ScheduleParse, ZeroAndSevenAreBothSunday) {
  EXPECT_EQ(fieldsOf("0 0 * * 0").weekdays, bits({0}));
  EXPECT_EQ(fieldsOf("0 0 * * 7").weekdays, bits({0}));
  EXPECT_EQ(fieldsOf("0 0 * * 0,7").weekdays, bits({0}));
  EXPECT_EQ(fieldsOf("0 0 * * 5-7").weekdays, bits({0, 5, 6}));
  EXPECT_EQ(fieldsOf("0 0 * * 0-7").weekdays, range(0, 6));
  EXPECT_EQ(fieldsOf("0 0 * * */2").weekdays, bits({0, 2, 4, 6}));
  EXPECT_EQ(fieldsOf("0 0 * * 1/2").weekdays, bits({0, 1, 3, 5}));  // 1-7/2: 7 is Sunday
  EXPECT_EQ(fieldsOf("0 0 * * */7").weekdays, bits({0}));
}

TEST(ScheduleParse, RestrictedMeansAnythingButAPlainStar) {
  CronFields f = fieldsOf("0 0 * * *");
  EXPECT_FALSE(f.daysRestricted);
  EXPECT_FALSE(f.weekdaysRestricted);
  f = fieldsOf("0 0 1 * *");
  EXPECT_TRUE(f.daysRestricted);
  EXPECT_FALSE(f.weekdaysRestricted);
  f = fieldsOf("0 0 * * MON");
  EXPECT_FALSE(f.daysRestricted);
  EXPECT_TRUE(f.weekdaysRestricted);
  f = fieldsOf("0 0 */2 * 1-7");  // every day, yet written as a restriction
  EXPECT_TRUE(f.daysRestricted);
  EXPECT_TRUE(f.weekdaysRestricted);
}

TEST(ScheduleParse, BlanksSeparateFieldsAndAreTrimmed) {
  auto s = Schedule::parse("  0\t12  *   * *\t ");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->text(), "0\t12  *   * *");
  EXPECT_EQ(s->cron().minutes, bits({0}));
  EXPECT_EQ(s->cron().hours, bits({12}));
}

TEST(ScheduleParse, MacrosExpandToTheirCronSchedules) {
  struct Row {
    const char* macro;
    const char* cron;
  };
  for (const Row& r :
       {Row{"@hourly", "0 * * * *"}, Row{"@daily", "0 0 * * *"}, Row{"@midnight", "0 0 * * *"},
        Row{"@weekly", "0 0 * * 0"}, Row{"@monthly", "0 0 1 * *"}, Row{"@yearly", "0 0 1 1 *"},
        Row{"@annually", "0 0 1 1 *"}, Row{"@DAILY", "0 0 * * *"}, Row{" @Hourly ", "0 * * * *"}}) {
    auto s = Schedule::parse(r.macro);
    ASSERT_TRUE(s.ok()) << r.macro << ": " << s.error().message;
    EXPECT_EQ(s->cron(), fieldsOf(r.cron)) << r.macro;
    EXPECT_FALSE(s->isEvery());
  }
  EXPECT_EQ(Schedule::parse(" @Hourly ")->text(), "@Hourly");
}

TEST(ScheduleParse, EveryTakesADurationOfAtLeastOneSecond) {
  ScheduleOptions opt;
  opt.anchor = 123 * kNsPerSec;
  auto s = Schedule::parse("@every 30s", opt);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->isEvery());
  EXPECT_EQ(s->every(), 30s);
  EXPECT_EQ(s->anchor(), 123 * kNsPerSec);
  EXPECT_EQ(s->cron(), CronFields{});
  EXPECT_EQ(s->text(), "@every 30s");

  struct Row {
    const char* text;
    std::chrono::nanoseconds want;
  };
  for (const Row& r :
       {Row{"@every 1s", 1s}, Row{"@every 1500ms", 1500ms}, Row{"@every 5m", 5min},
        Row{"@EVERY   2h", 2h}, Row{"@every 1000000000ns", 1s}, Row{"@every 1000000us", 1s}}) {
    auto e = Schedule::parse(r.text);
    ASSERT_TRUE(e.ok()) << r.text << ": " << e.error().message;
    EXPECT_EQ(e->every(), r.want) << r.text;
  }
}

TEST(ScheduleParse, KeepsTheZone) {
  EXPECT_EQ(Schedule::parse("0 * * * *")->zone(), ScheduleZone::kUtc);
  ScheduleOptions local;
  local.zone = ScheduleZone::kLocal;
  EXPECT_EQ(Schedule::parse("0 * * * *", local)->zone(), ScheduleZone::kLocal);
  EXPECT_EQ(Schedule::parse("@daily", local)->zone(), ScheduleZone::kLocal);
}

// The day-of-month list must occur in some allowed month (Feb counts 29);
// with a restricted weekday the OR rule always finds days.
TEST(ScheduleParse, DaysThatOccurInTheMonthsAreAccepted) {
  for (const char* text :
       {"0 0 29 2 *", "0 0 31 1 *", "0 0 30 2 MON", "0 0 30,31 2,4 *", "0 0 31 4,6,9,11,12 *"})
    EXPECT_TRUE(Schedule::parse(text).ok()) << text;
}

struct ErrorRow {
  const char* text;
  const char* message;
};

void expectErrors(std::initializer_list<ErrorRow> rows) {
  for (const ErrorRow& r : rows) {
    auto s = Schedule::parse(r.text);
    ASSERT_FALSE(s.ok()) << "accepted: " << r.text;
    EXPECT_EQ(s.error().code, EINVAL) << r.text;
    EXPECT_EQ(s.error().message, r.message) << "for: " << r.text;
  }
}

TEST(ScheduleParseError, OutOfRangeValues) {
  expectErrors({
      {"61 * * * *", "minute field: 61 is out of range 0..59 (column 1)"},
      {"60 * * * *", "minute field: 60 is out of range 0..59 (column 1)"},
      {"0 24 * * *", "hour field: 24 is out of range 0..23 (column 3)"},
      {"0 0 0 * *", "day-of-month field: 0 is out of range 1..31 (column 5)"},
      {"0 0 32 * *", "day-of-month field: 32 is out of range 1..31 (column 5)"},
      {"0 0 * 0 *", "month field: 0 is out of range 1..12 (column 7)"},
      {"0 0 * 13 *", "month field: 13 is out of range 1..12 (column 7)"},
      {"0 0 * * 8", "day-of-week field: 8 is out of range 0..7 (column 9)"},
      {"0 0 * * 1,8", "day-of-week field: 8 is out of range 0..7 (column 11)"},
      {"1-60 * * * *", "minute field: 60 is out of range 0..59 (column 3)"},
      {"99999999999999999999 * * * *",
       "minute field: 99999999999999999999 is out of range 0..59 (column 1)"},
  });
}

TEST(ScheduleParseError, ReversedRanges) {
  expectErrors({
      {"5-2 * * * *", "minute field: range '5-2' is reversed (column 1)"},
      {"0 1,23-22 * * *", "hour field: range '23-22' is reversed (column 5)"},
      {"0 0 * DEC-JAN *", "month field: range 'DEC-JAN' is reversed (column 7)"},
      {"0 0 * * FRI-MON", "day-of-week field: range 'FRI-MON' is reversed (column 9)"},
      {"0 0 * * 7-1", "day-of-week field: range '7-1' is reversed (column 9)"},
  });
}

TEST(ScheduleParseError, BadSteps) {
  expectErrors({
      {"*/0 * * * *", "minute field: step must be at least 1 (column 3)"},
      {"0 0-23/00 * * *", "hour field: step must be at least 1 (column 8)"},
      {"*/60 * * * *", "minute field: step 60 is out of range 1..59 (column 3)"},
      {"0 */24 * * *", "hour field: step 24 is out of range 1..23 (column 5)"},
      {"0 0 * * */8", "day-of-week field: step 8 is out of range 1..7 (column 11)"},
      {"*/ * * * *", "minute field: missing step after '/' (column 3)"},
      {"*/x * * * *", "minute field: expected a step number after '/', found 'x' (column 3)"},
      {"0 0 * */JAN *", "month field: expected a step number after '/', found 'J' (column 9)"},
      {"*/5/5 * * * *", "minute field: unexpected '/' (column 4)"},
  });
}

TEST(ScheduleParseError, EmptyAndMalformedListElements) {
  expectErrors({
      {"1,,5 * * * *", "minute field: empty list element (column 3)"},
      {",1 * * * *", "minute field: empty list element (column 1)"},
      {"1, * * * *", "minute field: empty list element (column 3)"},
      {"0 0 * * MON,", "day-of-week field: empty list element (column 13)"},
      {"1- * * * *", "minute field: missing a number after '-' (column 3)"},
      {"1-* * * * *", "minute field: expected a number after '-', found '*' (column 3)"},
      {"-5 * * * *", "minute field: expected a number or '*', found '-' (column 1)"},
      {"0 0 * -JAN *",
       "month field: expected a number or a month name or '*', found '-' "
       "(column 7)"},
      {"1x * * * *", "minute field: unexpected 'x' (column 2)"},
      {"** * * * *", "minute field: unexpected '*' (column 2)"},
      {"0 0 * * *-1", "day-of-week field: unexpected '-' (column 10)"},
      {"1;2 * * * *", "minute field: unexpected ';' (column 2)"},
      {"0\x01 * * * *", "minute field: unexpected '\\x01' (column 2)"},
      {"0 0 ? * *", "day-of-month field: expected a number or '*', found '?' (column 5)"},
  });
}

TEST(ScheduleParseError, NamesWhereTheyDoNotBelong) {
  expectErrors({
      {"abc * * * *", "minute field: 'abc' is not a number (column 1)"},
      {"0 0 MON * *", "day-of-month field: 'MON' is not a number (column 5)"},
      {"0 0 * FOO *", "month field: unknown month name 'FOO'; expected JAN..DEC (column 7)"},
      {"0 0 * January *",
       "month field: unknown month name 'January'; expected JAN..DEC (column 7)"},
      {"0 0 * MON *", "month field: unknown month name 'MON'; expected JAN..DEC (column 7)"},
      {"0 0 * * Monday",
       "day-of-week field: unknown day name 'Monday'; expected SUN..SAT (column 9)"},
      {"0 0 * * JAN", "day-of-week field: unknown day name 'JAN'; expected SUN..SAT (column 9)"},
  });
}

TEST(ScheduleParseError, MissingAndExtraFields) {
  expectErrors({
      {"",
       "schedule: empty; expected five cron fields (MIN HOUR DOM MON DOW) or a macro such "
       "as @daily or @every 30s (column 1)"},
      {" \t ",
       "schedule: empty; expected five cron fields (MIN HOUR DOM MON DOW) or a macro "
       "such as @daily or @every 30s (column 1)"},
      {"0",
       "hour field: missing; a cron schedule has five fields: MIN HOUR DOM MON DOW "
       "(column 2)"},
      {"0 0 * *",
       "day-of-week field: missing; a cron schedule has five fields: MIN HOUR DOM "
       "MON DOW (column 8)"},
      {"0 0 * *  ",
       "day-of-week field: missing; a cron schedule has five fields: MIN HOUR DOM "
       "MON DOW (column 8)"},
      {"0 0 * * * *",
       "schedule: extra field '*'; a cron schedule has five fields: MIN HOUR DOM "
       "MON DOW (column 11)"},
      {"0 0 * * * /usr/bin/true x",
       "schedule: extra field '/usr/bin/true'; a cron schedule "
       "has five fields: MIN HOUR DOM MON DOW (column 11)"},
  });
}

TEST(ScheduleParseError, DaysThatNeverOccur) {
  expectErrors({
      {"0 0 30 2 *",
       "day-of-month field: never matches: none of its days occurs in the months "
       "of the month field (column 5)"},
      {"0 0 30,31 FEB *",
       "day-of-month field: never matches: none of its days occurs in the "
       "months of the month field (column 5)"},
      {"0 0 31 4,6,9,11 *",
       "day-of-month field: never matches: none of its days occurs in the "
       "months of the month field (column 5)"},
  });
}

TEST(ScheduleParseError, Macros) {
  const char* kExpected =
      "; expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or "
      "@every DURATION";
  auto check = [](const char* text, const std::string& message) {
    auto s = Schedule::parse(text);
    ASSERT_FALSE(s.ok()) << "accepted: " << text;
    EXPECT_EQ(s.error().message, message) << "for: " << text;
  };
  check("@foo", std::string("schedule: unknown macro '@foo'") + kExpected + " (column 1)");
  check("@", std::string("schedule: unknown macro '@'") + kExpected + " (column 1)");
  check("  @reboot", std::string("schedule: unknown macro '@reboot'") + kExpected + " (column 3)");
  check("@every30s",
        std::string("schedule: unknown macro '@every30s'") + kExpected + " (column 1)");
  expectErrors({
      {"@hourly 5", "@hourly: unexpected '5'; the macro takes no argument (column 9)"},
      {"@daily  0 0 * * *",
       "@daily: unexpected '0 0 * * *'; the macro takes no argument (column 9)"},
  });
}

TEST(ScheduleParseError, Every) {
  expectErrors({
      {"@every", "@every: missing duration, e.g. '@every 30s' (column 7)"},
      {"@every  ", "@every: missing duration, e.g. '@every 30s' (column 7)"},
      {"@every 30",
       "@every: invalid duration '30'; expected a whole number and a unit (ns, us, "
       "ms, s, m, h), e.g. 30s (column 8)"},
      {"@every -1s",
       "@every: invalid duration '-1s'; expected a whole number and a unit (ns, "
       "us, ms, s, m, h), e.g. 30s (column 8)"},
      {"@every 1.5s",
       "@every: invalid duration '1.5s'; expected a whole number and a unit (ns, "
       "us, ms, s, m, h), e.g. 30s (column 8)"},
      {"@every 500ms", "@every: duration '500ms' is shorter than the minimum 1s (column 8)"},
      {"@every 0s", "@every: duration '0s' is shorter than the minimum 1s (column 8)"},
      {"@every 999999999ns",
       "@every: duration '999999999ns' is shorter than the minimum 1s (column 8)"},
      {"@every 30s 10s", "@every: unexpected '10s' after the duration (column 12)"},
  });
}

// Columns count characters, not bytes, so a multi-byte character before the
// problem does not shift it.
TEST(ScheduleParseError, ColumnsCountCharacters) {
  expectErrors({
      {"@every \xc3\xbc x", "@every: unexpected 'x' after the duration (column 10)"},
      {"0 0 * * \xc3\xa9",
       "day-of-week field: expected a number or a day name or '*', found "
       "'\xc3\xa9' (column 9)"},
  });
}

TEST(ScheduleParseError, LongTextIsCutShortInTheMessage) {
  std::string text = "0 0 * * * " + std::string(40, 'x');
  auto s = Schedule::parse(text);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "schedule: extra field '" + std::string(32, 'x') +
                                   "...'; a cron schedule has five fields: MIN HOUR DOM MON DOW "
                                   "(column 11)");
}

}  // namespace
}  // namespace stamp
