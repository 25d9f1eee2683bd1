// stampctl's flag values (ctl/flags.hpp): numbers out of range, negative
// counts, sizes beyond the codec's maximum and durations beyond 64-bit
// nanoseconds are refused with a message naming the flag, never wrapped.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "ctl/flags.hpp"
#include "libstamp/control_args.hpp"

namespace stamp::ctl {
namespace {

namespace arg = control::arg;
using control::schema::kSessionStart;

std::string refusal(const Result<int64_t>& r) {
  return r ? "accepted " + std::to_string(r.value()) : r.error().message;
}

TEST(CtlFlags, IntegersAreWholeDecimalAndInRange) {
  EXPECT_EQ(*parseIntegerFlag("--x", "0", 0, 10), 0);
  EXPECT_EQ(*parseIntegerFlag("--x", "10", 0, 10), 10);
  EXPECT_EQ(*parseIntegerFlag("--x", "-5", -5, 10), -5);
  EXPECT_EQ(*parseIntegerFlag("--x", "9223372036854775807", 0, INT64_MAX), INT64_MAX);
  // Leading zeros are decimal, not octal as CLI11's strtoll(.., 0) reads them.
  EXPECT_EQ(*parseIntegerFlag("--x", "010", 0, 100), 10);
  for (const char* bad : {"", " 1", "1 ", "+1", "0x10", "1e3", "1.0", "one", "11", "-1",
                          "9223372036854775808", "18446744073709551615", "1\n"}) {
    auto r = parseIntegerFlag("--x", bad, 0, 10);
    ASSERT_FALSE(r) << "'" << bad << "'";
    EXPECT_EQ(r.error().message.rfind("--x must be an integer 0..10, not '", 0), 0u);
  }
}

TEST(CtlFlags, SessionFlagsTakeTheRangesStampdChecks) {
  EXPECT_EQ(refusal(parseArgFlag("--port", "70000", kSessionStart, arg::kPort)),
            "--port must be an integer 1..65535, not '70000'");
  EXPECT_EQ(refusal(parseArgFlag("--port", "0", kSessionStart, arg::kPort)),
            "--port must be an integer 1..65535, not '0'");
  EXPECT_EQ(*parseArgFlag("--port", "65535", kSessionStart, arg::kPort), 65535);
  EXPECT_EQ(refusal(parseArgFlag("--count", "-1", kSessionStart, arg::kCount)),
            "--count must be an integer 0..9223372036854775807, not '-1'");
  EXPECT_FALSE(parseArgFlag("--count", "18446744073709551615", kSessionStart, arg::kCount));
  EXPECT_EQ(*parseArgFlag("--count", "0", kSessionStart, arg::kCount), 0);
  EXPECT_EQ(refusal(parseArgFlag("--size", "4294967340", kSessionStart, arg::kSize)),
            "--size must be an integer 44..8952, not '4294967340'");
  EXPECT_FALSE(parseArgFlag("--size", "8953", kSessionStart, arg::kSize));
  EXPECT_FALSE(parseArgFlag("--size", "43", kSessionStart, arg::kSize));
  EXPECT_EQ(*parseArgFlag("--size", "8952", kSessionStart, arg::kSize), 8952);
  EXPECT_FALSE(parseArgFlag("--dscp", "64", kSessionStart, arg::kDscp));
  EXPECT_FALSE(parseArgFlag("--ecn", "4", kSessionStart, arg::kEcn));
  EXPECT_FALSE(parseArgFlag("--tlv-padding", "8953", kSessionStart, arg::kTlvPadding));
  EXPECT_FALSE(parseArgFlag("--tlv-cos", "-1", kSessionStart, arg::kTlvCosDscp));
  EXPECT_FALSE(parseArgFlag("--x", "3", control::schema::kAccessReport, arg::kAccessId));
  EXPECT_FALSE(parseArgFlag("--x", "256", control::schema::kAccessReport, arg::kReturnCode));
  // Not an integer argument: a bug in stampctl, said as such.
  EXPECT_FALSE(parseArgFlag("--x", "1", kSessionStart, arg::kTarget));
}

TEST(CtlFlags, DurationsFitSixtyFourBitNanoseconds) {
  EXPECT_EQ(*parseDurationFlag("--interval", "10ms", 1000), 10'000'000);
  EXPECT_EQ(*parseDurationFlag("--interval", "1us", 1000), 1000);
  EXPECT_EQ(*parseDurationFlag("--timeout", "9223372036854775807ns", 1), INT64_MAX);
  auto tooShort = parseDurationFlag("--interval", "999ns", 1000);
  ASSERT_FALSE(tooShort);
  EXPECT_EQ(tooShort.error().message, "--interval must be at least 1us, not '999ns'");
  EXPECT_FALSE(parseDurationFlag("--timeout", "0s", 1));
  for (const char* big :
       {"9223372036854775808ns", "106752d", "2562048h", "99999999999999999999s"}) {
    auto r = parseDurationFlag("--interval", big, 1000);
    ASSERT_FALSE(r) << big;
    EXPECT_NE(r.error().message.find("is too long"), std::string::npos) << r.error().message;
  }
  for (const char* bad : {"10", "ms", "-1s", "1.5s", "10 ms", "1y", ""}) {
    auto r = parseDurationFlag("--interval", bad, 1000);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("takes a duration like"), std::string::npos)
        << r.error().message;
  }
}

TEST(CtlFlags, SecondsAreFiniteAndInRange) {
  EXPECT_DOUBLE_EQ(*parseSecondsFlag("--every", "0.5", 0.1, 3600), 0.5);
  EXPECT_DOUBLE_EQ(*parseSecondsFlag("--every", "3600", 0.1, 3600), 3600);
  for (const char* bad : {"nan", "inf", "-1", "0.05", "3601", "1e3", "", "1s"}) {
    auto r = parseSecondsFlag("--every", bad, 0.1, 3600);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message.rfind("--every must be seconds 0.1..3600, not '", 0), 0u);
  }
}

}  // namespace
}  // namespace stamp::ctl
