// libFuzzer target: arbitrary text into parseConfig() and parseDuration().
// stamp.toml is read at start-up from a file an operator edits; whatever it
// holds must come back as a Config that honours every documented limit, or
// as errors of the form "FILE:LINE:COLUMN: reason".
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "service/config.hpp"
#include "libstamp/duration.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("fuzz_config: property violated: %s\n", what);
    std::abort();
  }
}

bool oneOf(const std::string& s, std::initializer_list<const char*> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return s == a; });
}

// "fuzz.toml:<digits>:<digits>: <something>"
bool isErrorLine(std::string_view l) {
  constexpr std::string_view kPrefix = "fuzz.toml:";
  if (l.substr(0, kPrefix.size()) != kPrefix) return false;
  size_t i = kPrefix.size();
  for (int field = 0; field < 2; ++field) {
    size_t start = i;
    while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) ++i;
    if (i == start || i >= l.size() || l[i] != ':') return false;
    ++i;
  }
  return i + 1 < l.size() && l[i] == ' ';
}

void checkConfig(const stamp::Config& c) {
  require(c.path == "fuzz.toml", "path is kept");
  require(oneOf(c.daemon.logLevel, {"trace", "debug", "info", "warn", "error"}), "log level");
  require(oneOf(c.daemon.attach, {"auto", "tcx", "tc"}), "attach mode");
  const auto& ports = c.reflector.ports;
  require(!ports.empty(), "reflector ports not empty");
  for (size_t i = 0; i < ports.size(); ++i) {
    require(ports[i] != 0, "reflector port is not 0");
    for (size_t j = i + 1; j < ports.size(); ++j) require(ports[i] != ports[j], "ports unique");
  }
  for (size_t i = 0; i < c.sessions.size(); ++i) {
    const stamp::SessionConfig& s = c.sessions[i];
    require(!s.name.empty(), "session has a name");
    require(stamp::parseIp(s.target).ok(), "session target is an address");
    require(s.port != 0, "session port is not 0");
    require(s.dscp <= 63, "dscp fits 6 bits");
    require(s.size >= 44 && s.size <= 8952, "size within 44..8952");
    require(s.count <= uint64_t(INT64_MAX), "count within int64");
    require(s.interval.count() >= 0 && s.timeout.count() >= 0, "durations are not negative");
    for (size_t j = i + 1; j < c.sessions.size(); ++j)
      require(s.name != c.sessions[j].name, "session names unique");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  // Deeper than kMaxConfigDepth or larger than kMaxConfigBytes is refused
  // before toml++ (whose recursion has no limit on dotted keys).
  auto r = stamp::parseConfig(text, "fuzz.toml");
  if (r.ok()) {
    checkConfig(r.value());
  } else {
    const std::string& msg = r.error().message;
    require(r.error().code == EINVAL, "config errors are EINVAL");
    require(!msg.empty(), "an error has a message");
    // Only the first line is checked: a message can still span lines when
    // it echoes a key, a value or a toml++ description holding a newline
    // (known bug, see Config.EveryErrorIsOneLine).
    require(isErrorLine(std::string_view(msg).substr(0, msg.find('\n'))),
            "an error starts FILE:LINE:COLUMN: reason");
  }

  // Short inputs double as duration strings.
  if (size <= 32) {
    auto d = stamp::parseDuration(text);
    if (d) {
      require(d->count() >= 0, "a duration is not negative");
      require(!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])),
              "a duration starts with a digit");
      require(stamp::parseDuration(stamp::formatDuration(*d)) == d,
              "formatDuration spells a duration parseDuration reads back");
    }
  }
  return 0;
}
