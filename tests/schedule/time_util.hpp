// Test helpers: UTC instants written as text, and readable failure output.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "sender/schedule.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp::test {

// "2026-03-29T01:00Z", "2026-03-29T01:00:30Z" or "2026-03-29T01:00:30.25Z"
// (up to nine fraction digits) as UnixNs. A malformed literal fails the test.
inline UnixNs utc(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  std::string str(text);
  int n = std::sscanf(str.c_str(), "%d-%d-%dT%d:%d%n", &y, &mo, &d, &h, &mi, &used);
  EXPECT_EQ(n, 5) << "bad time literal " << text;
  size_t p = size_t(used);
  if (p < str.size() && str[p] == ':') {
    int more = 0;
    EXPECT_EQ(std::sscanf(str.c_str() + p, ":%d%n", &s, &more), 1) << "bad time literal " << text;
    p += size_t(more);
  }
  int64_t frac = 0;
  if (p < str.size() && str[p] == '.') {
    int digits = 0;
    for (++p; p < str.size() && str[p] >= '0' && str[p] <= '9'; ++p, ++digits)
      frac = frac * 10 + (str[p] - '0');
    for (; digits < 9; ++digits) frac *= 10;
  }
  EXPECT_EQ(str.substr(p), "Z") << "bad time literal " << text;
  using namespace std::chrono;
  auto day = sys_days{year{y} / month{unsigned(mo)} / std::chrono::day{unsigned(d)}};
  int64_t sec = day.time_since_epoch().count() * 86'400 + h * 3600 + mi * 60 + s;
  return sec * kNsPerSec + frac;
}

inline std::string show(UnixNs t) {
  return t == Schedule::kNever ? std::string("never") : formatRfc3339(t);
}

inline constexpr int64_t kSec = kNsPerSec;
inline constexpr int64_t kMin = 60 * kSec;
inline constexpr int64_t kHour = 60 * kMin;
inline constexpr int64_t kDay = 24 * kHour;

}  // namespace stamp::test
