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

Result<nlohmann::json> parseListFlags(std::string_view limit,
                                      const std::optional<std::string>& after,
                                      std::string_view state) {
  namespace arg = control::arg;
  nlohmann::json args = nlohmann::json::object();
  if (!limit.empty()) {
    auto v = parseArgFlag("--limit", limit, control::schema::kSessionList, arg::kLimit);
    if (!v) return v.error();
    args[arg::kLimit] = *v;
  }
  if (after) args[arg::kAfter] = *after;
  if (!state.empty()) {
    if (state != "running" && state != "finished" && state != "idle")
      return makeError(EINVAL, "--state must be running, finished or idle, not " + quoted(state));
    args[arg::kState] = std::string(state);
  }
  return args;
}

Result<nlohmann::json> listAllPages(
    nlohmann::json args,
    const std::function<Result<nlohmann::json>(const nlohmann::json& args)>& call, int64_t page) {
  namespace arg = control::arg;
  using nlohmann::json;
  const bool ownLimit = !args.contains(arg::kLimit);
  if (ownLimit) args[arg::kLimit] = page;
  json all = json::array();
  for (bool first = true;; first = false) {
    auto r = call(args);
    if (!r) return r.error();
    if (!r->value("ok", false)) {
      // An older stampd refuses every argument of session.list: the whole
      // list in one answer then, when no flag asked for anything else.
      const bool older = r->value("error", json::object()).value("code", std::string()) ==
                         control::kErrBadArgument;
      if (first && ownLimit && older && args.size() == 1) return call(json::object());
      return *r;
    }
    json& result = (*r)["result"];
    for (auto& s : result.value("sessions", json::array())) all.push_back(std::move(s));
    auto next = result.find("next");
    if (next == result.end() || !next->is_string() || !ownLimit) {
      result["sessions"] = std::move(all);
      return *r;
    }
    if (args.contains(arg::kAfter) && args[arg::kAfter].is_string() &&
        next->get<std::string>() <= args[arg::kAfter].get<std::string>())
      return makeError(EPROTO, "session.list: \"next\" does not advance past \"" +
                                   args[arg::kAfter].get<std::string>() + "\"");
    args[arg::kAfter] = *next;
  }
}

}  // namespace stamp::ctl
