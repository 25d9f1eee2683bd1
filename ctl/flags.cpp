#include "ctl/flags.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "libstamp/duration.hpp"

namespace stamp::ctl {
namespace {

std::string quoted(std::string_view text) {
  // Keep the message one short line whatever was typed.
  std::string s(text.substr(0, 40));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return "'" + s + (text.size() > 40 ? "...'" : "'");
}

}  // namespace

Result<int64_t> parseIntegerFlag(std::string_view flag, std::string_view text, int64_t min,
                                 int64_t max) {
  auto refuse = [&] {
    return makeError(EINVAL, std::string(flag) + " must be an integer " + std::to_string(min) +
                                 ".." + std::to_string(max) + ", not " + quoted(text));
  };
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v, 10);
  // from_chars takes no '+', no spaces, no "0x"; it reports a value beyond
  // int64_t as out of range instead of wrapping it.
  if (ec != std::errc() || p != end || v < min || v > max) return refuse();
  return v;
}

Result<int64_t> parseArgFlag(std::string_view flag, std::string_view text,
                             std::span<const control::ArgSpec> table, const char* key) {
  const control::ArgSpec* a = control::findArg(table, key);
  if (!a || a->type != control::ArgType::kInteger)
    return makeError(EINVAL, std::string(flag) + ": no integer argument '" + key + "'");
  return parseIntegerFlag(flag, text, a->min, a->max);
}

Result<int64_t> parseDurationFlag(std::string_view flag, std::string_view text, int64_t minNs) {
  if (auto d = parseDuration(text)) {
    if (d->count() >= minNs) return d->count();
    return makeError(EINVAL, std::string(flag) + " must be at least " +
                                 formatDuration(std::chrono::nanoseconds(minNs)) + ", not " +
                                 quoted(text));
  }
  // Digits and a unit, yet refused: more nanoseconds than 64 bits hold.
  const size_t digits = text.find_first_not_of("0123456789");
  if (digits != 0 && digits != std::string_view::npos) {
    const std::string_view unit = text.substr(digits);
    for (const char* u : {"ns", "us", "ms", "s", "m", "h", "d"})
      if (unit == u)
        return makeError(EINVAL, std::string(flag) + " " + quoted(text) +
                                     " is too long: at most 9223372036854775807ns (about 292 "
                                     "years)");
  }
  return makeError(
      EINVAL,
      std::string(flag) + " takes a duration like 250us, 10ms, 1s, 5m, 12h, not " + quoted(text));
}

Result<double> parseSecondsFlag(std::string_view flag, std::string_view text, double min,
                                double max) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v, std::chars_format::fixed);
  if (ec != std::errc() || p != end || !std::isfinite(v) || v < min || v > max) {
    char range[64];
    std::snprintf(range, sizeof(range), "%g..%g", min, max);
    return makeError(EINVAL,
                     std::string(flag) + " must be seconds " + range + ", not " + quoted(text));
  }
  return v;
}

}  // namespace stamp::ctl
