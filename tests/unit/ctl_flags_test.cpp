// stampctl's flag values (ctl/flags.hpp): numbers out of range, negative
// counts, sizes beyond the codec's maximum and durations beyond 64-bit
// nanoseconds are refused with a message naming the flag, never wrapped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>
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

// stampctl session list --limit/--after/--state: the argument's range,
// the three states, each flag named when refused; none given: no args.
TEST(CtlFlags, SessionListFlags) {
  auto none = parseListFlags("", std::nullopt, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, nlohmann::json::object());
  auto all = parseListFlags("1000", std::string("s00999"), "running");
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (nlohmann::json{{"limit", 1000}, {"after", "s00999"}, {"state", "running"}}));
  EXPECT_EQ((*parseListFlags("", std::string(""), ""))["after"], "");
  EXPECT_EQ((*parseListFlags("100000", std::nullopt, "idle"))["limit"], 100000);
  EXPECT_EQ((*parseListFlags("1", std::nullopt, "finished"))["state"], "finished");
  for (const char* bad : {"0", "100001", "-1", "1e3", "x", " 5"}) {
    auto r = parseListFlags(bad, std::nullopt, "");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message,
              std::string("--limit must be an integer 1..100000, not '") + bad + "'");
  }
  for (const char* bad : {"Running", "stopped", "all"}) {
    auto r = parseListFlags("", std::nullopt, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message,
              std::string("--state must be running, finished or idle, not '") + bad + "'");
  }
}

// A fake stampd with `n` sessions that pages as session.list does.
nlohmann::json fakeList(const nlohmann::json& args, int n, int& calls) {
  ++calls;
  using nlohmann::json;
  const size_t limit = args.value("limit", size_t(n));
  const std::string after = args.value("after", std::string());
  json out = json::array();
  std::string next;
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "s%05d", i);
    if (args.contains("after") && name <= after) continue;
    if (out.size() == limit) {
      next = out.back()["name"];
      break;
    }
    out.push_back({{"name", name}});
  }
  json result = {{"sessions", out}, {"total", n}};
  if (!next.empty()) result["next"] = next;
  return {{"ok", true}, {"result", result}};
}

TEST(CtlFlags, SessionListPagesUntilNoNext) {
  for (int n : {0, 1, 999, 1000, 1001, 10000}) {
    SCOPED_TRACE(n);
    int calls = 0;
    std::vector<nlohmann::json> sent;
    auto r = listAllPages(nlohmann::json::object(), [&](const nlohmann::json& a) {
      sent.push_back(a);
      return Result<nlohmann::json>(fakeList(a, n, calls));
    });
    ASSERT_TRUE(r);
    const auto& list = (*r)["result"]["sessions"];
    ASSERT_EQ(list.size(), size_t(n));
    for (int i = 0; i < n; ++i) {
      char name[16];
      std::snprintf(name, sizeof(name), "s%05d", i);
      ASSERT_EQ(list[size_t(i)]["name"], name);
    }
    EXPECT_FALSE((*r)["result"].contains("next"));
    EXPECT_EQ(calls, std::max(1, (n + 999) / 1000));
    for (const auto& a : sent) EXPECT_EQ(a["limit"], kListPage);
  }
  // --limit: one request, its "next" kept for the caller.
  int calls = 0;
  auto one = listAllPages({{"limit", 10}}, [&](const nlohmann::json& a) {
    return Result<nlohmann::json>(fakeList(a, 50, calls));
  });
  ASSERT_TRUE(one);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ((*one)["result"]["sessions"].size(), 10u);
  EXPECT_EQ((*one)["result"]["next"], "s00009");
}

TEST(CtlFlags, SessionListPagingErrors) {
  using nlohmann::json;
  const json refused = {{"ok", false},
                        {"error", {{"code", "bad_argument"}, {"message", "unknown argument"}}}};
  // An older stampd: asked again without arguments.
  std::vector<json> sent;
  auto r = listAllPages(json::object(), [&](const json& a) {
    sent.push_back(a);
    return Result<json>(a.empty() ? json{{"ok", true}, {"result", {{"sessions", json::array()}}}}
                                  : refused);
  });
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)["ok"].get<bool>());
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1], json::object());
  // With a flag of the user's: the refusal as it is.
  r = listAllPages({{"state", "idle"}}, [&](const json&) { return Result<json>(refused); });
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)["ok"].get<bool>());
  // A "next" that does not advance.
  int calls = 0;
  r = listAllPages(json::object(), [&](const json&) {
    ++calls;
    return Result<json>(
        json{{"ok", true}, {"result", {{"sessions", {{{"name", "a"}}}}, {"next", "a"}}}});
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.error().code, EPROTO);
  // The connection failed.
  r = listAllPages(json::object(),
                   [&](const json&) { return Result<json>(makeError(EPIPE, "closed")); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPIPE);
}

}  // namespace
}  // namespace stamp::ctl
