// The values of stampctl's flags, read strictly: a number is whole, decimal
// and within its range, or the flag is refused with a message naming it.
// CLI11 alone would take "--count -1" as 18446744073709551615 and
// "--port 010" as 8. The ranges of flags that become control arguments are
// those of the arguments (libstamp/control_args.hpp), the same ones stampd
// checks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "libstamp/control_args.hpp"
#include "libstamp/result.hpp"

namespace stamp::ctl {

// "862" -> 862 when min <= value <= max. Only decimal digits with an
// optional leading '-'. Error: "--port must be an integer 1..65535, not
// 70000" (EINVAL).
Result<int64_t> parseIntegerFlag(std::string_view flag, std::string_view text, int64_t min,
                                 int64_t max);

// The same, in the range of the control argument `key` of `table`.
Result<int64_t> parseArgFlag(std::string_view flag, std::string_view text,
                             std::span<const control::ArgSpec> table, const char* key);

// A duration as stamp.toml writes them ("250us", "10ms", "1s", "5m"), in
// nanoseconds, at least minNs. One beyond what 64-bit nanoseconds hold
// (about 292 years) is refused as too long, not wrapped.
Result<int64_t> parseDurationFlag(std::string_view flag, std::string_view text, int64_t minNs);

// A number of seconds (a decimal fraction is fine) within min..max; NaN
// and infinities are refused.
Result<double> parseSecondsFlag(std::string_view flag, std::string_view text, double min,
                                double max);

// `stampctl session list` flags as session.list arguments: --limit N
// (empty: not given; the range of the argument "limit"), --after NAME
// (nullopt: not given), --state S (empty: not given; running, finished or
// idle). Error (EINVAL) names the flag.
Result<nlohmann::json> parseListFlags(std::string_view limit,
                                      const std::optional<std::string>& after,
                                      std::string_view state);

// Sessions per session.list request when --limit is not given: stampctl
// pages through them, so no answer holds all of 10,000 sessions.
inline constexpr int64_t kListPage = 1000;

// Every page of session.list from `args` on (args without "limit": pages
// of `page`). `call` sends one request and returns the response
// ({"ok", "result"} or {"ok": false, "error"}), or an error when the
// connection failed. The result: one response whose "sessions" are all
// the pages' in order and whose "total" is the last page's; the first
// response that is not ok is returned as it is. A stampd that takes no
// arguments for session.list (older than paging) is asked once without
// them. A "next" that does not advance is an error (EPROTO).
Result<nlohmann::json> listAllPages(
    nlohmann::json args,
    const std::function<Result<nlohmann::json>(const nlohmann::json& args)>& call,
    int64_t page = kListPage);

}  // namespace stamp::ctl
