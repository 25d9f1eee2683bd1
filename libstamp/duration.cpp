#include "libstamp/duration.hpp"

#include <charconv>
#include <cstdint>
#include <utility>

namespace stamp {
namespace {
constexpr std::pair<std::string_view, uint64_t> kUnits[] = {{"d", 86'400'000'000'000},
                                                            {"h", 3'600'000'000'000},
                                                            {"m", 60'000'000'000},
                                                            {"s", 1'000'000'000},
                                                            {"ms", 1'000'000},
                                                            {"us", 1'000},
                                                            {"ns", 1}};
}

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data()) return std::nullopt;
  std::string_view unit(p, size_t(text.data() + text.size() - p));
  for (const auto& [u, mult] : kUnits) {
    if (unit != u) continue;
    if (n > uint64_t(INT64_MAX) / mult) return std::nullopt;
    return std::chrono::nanoseconds(int64_t(n * mult));
  }
  return std::nullopt;
}

std::string formatDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  for (const auto& [u, mult] : kUnits)
    if (ns != 0 && ns % int64_t(mult) == 0)
      return std::to_string(ns / int64_t(mult)) + std::string(u);
  return std::to_string(ns) + "ns";
}

}  // namespace stamp
