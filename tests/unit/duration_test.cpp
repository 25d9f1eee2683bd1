// Durations as stamp.toml and stampctl spell them: parseDuration() accepts
// a whole number and a unit, formatDuration() gives the shortest exact
// spelling back.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "libstamp/duration.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsWholeNumbersWithAUnit) {
  struct Row {
    const char* text;
    std::chrono::nanoseconds want;
  };
  for (const Row& r : {Row{"250us", 250us}, Row{"10ms", 10ms}, Row{"1s", 1s}, Row{"5m", 5min},
                       Row{"1h", 1h}, Row{"7ns", 7ns}, Row{"0s", 0s}, Row{"0010ms", 10ms},
                       Row{"9223372036854775807ns", std::chrono::nanoseconds::max()},
                       Row{"9223372036s", 9'223'372'036s}, Row{"2562047h", 2'562'047h},
                       Row{"7d", 168h}, Row{"30d", 720h}, Row{"106751d", 106'751 * 24h}}) {
    auto d = parseDuration(r.text);
    ASSERT_TRUE(d.has_value()) << r.text;
    EXPECT_EQ(*d, r.want) << r.text;
  }
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (const char* text : {"",
                           "10",
                           "1.5s",
                           "-1s",
                           "+1s",
                           "s",
                           "ms",
                           " 1s",
                           "1s ",
                           "1 s",
                           "1S",
                           "1sec",
                           "1D",
                           "106752d",  // days past INT64_MAX ns
                           "1m1s",
                           "0x10s",
                           "1e3ms",
                           "9223372036854775808ns",  // INT64_MAX + 1
                           "9223372037s",            // seconds past INT64_MAX ns
                           "2562048h",               // hours past INT64_MAX ns
                           "18446744073709551616s",  // does not fit uint64 at all
                           "99999999999999999999999h"}) {
    EXPECT_FALSE(parseDuration(text).has_value()) << '"' << text << '"';
  }
}

TEST(FormatDuration, ShortestExactSpelling) {
  struct Row {
    std::chrono::nanoseconds d;
    const char* text;
  };
  for (const Row& r : {Row{0ns, "0ns"}, Row{1ns, "1ns"}, Row{1500ns, "1500ns"}, Row{250us, "250us"},
                       Row{1500us, "1500us"}, Row{10ms, "10ms"}, Row{1s, "1s"}, Row{90s, "90s"},
                       Row{120s, "2m"}, Row{1h, "1h"}, Row{25h, "25h"}}) {
    EXPECT_EQ(formatDuration(r.d), r.text) << r.d.count() << " ns";
  }
}

TEST(FormatDuration, ParsesBack) {
  uint64_t x = 0x9E3779B97F4A7C15ULL;  // a fixed xorshift walk over all magnitudes
  for (int i = 0; i < 100'000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    auto d = std::chrono::nanoseconds(int64_t(x >> (1 + x % 63)));
    auto back = parseDuration(formatDuration(d));
    ASSERT_TRUE(back.has_value()) << formatDuration(d);
    ASSERT_EQ(*back, d) << formatDuration(d);
  }
  EXPECT_EQ(parseDuration(formatDuration(std::chrono::nanoseconds::max())),
            std::chrono::nanoseconds::max());
}

}  // namespace
}  // namespace stamp
