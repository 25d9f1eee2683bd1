// Durations as users write them: "250us", "10ms", "1s", "5m", "1h" (whole
// numbers with a unit; also "ns").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace stamp {

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text);
// The shortest exact spelling: 1500000 ns -> "1500us", 2 s -> "2s".
std::string formatDuration(std::chrono::nanoseconds d);

}  // namespace stamp
