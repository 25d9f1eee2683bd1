#include "service/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <toml++/toml.h>

#include "libstamp/control_args.hpp"
#include "libstamp/duration.hpp"
#include "sender/schedule.hpp"
#include "stamp_abi.h"

namespace stamp {
namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Control characters from the input (or from toml++'s descriptions, which
// quote it) are escaped so that every problem stays on one line.
std::string oneLine(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else
      out += char(c);
  }
  return out;
}

// Collects errors with their position; one line each.
class Errors {
 public:
  explicit Errors(std::string path) : path_(std::move(path)) {}
  void add(const toml::source_region& at, const std::string& why) {
    std::ostringstream os;
    os << path_ << ":" << at.begin.line << ":" << at.begin.column << ": " << oneLine(why);
    lines_.push_back({at.begin.line, at.begin.column, os.str()});
  }
  bool empty() const { return lines_.empty(); }
  // In file order, one per line.
  std::string joined() const {
    auto sorted = lines_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Line& a, const Line& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::string s;
    for (const auto& l : sorted) s += (s.empty() ? "" : "\n") + l.text;
    return s;
  }

 private:
  struct Line {
    uint32_t line, column;
    std::string text;
  };
  std::string path_;
  std::vector<Line> lines_;
};

using Handler = std::function<void(const toml::node&, const std::string& key, Errors&)>;

// Walks a table, dispatching known keys and reporting unknown ones with the
// nearest known key.
void walk(const toml::table& t, const std::string& where,
          const std::map<std::string, Handler>& keys, Errors& err) {
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    auto it = keys.find(key);
    if (it != keys.end()) {
      it->second(node, where + key, err);
      continue;
    }
    std::string best;
    size_t bestD = 4;
    for (const auto& [known, _] : keys) {
      size_t d = editDistance(key, known);
      if (d < bestD) bestD = d, best = known;
    }
    err.add(k.source(), "unknown key '" + where + key + "'" +
                            (best.empty() ? "" : " (did you mean '" + best + "'?)"));
  }
}

Handler str(std::string& out) {
  return [&out](const toml::node& n, const std::string& key, Errors& err) {
    if (auto v = n.value<std::string>())
      out = *v;
    else
      err.add(n.source(), "'" + key + "' must be a string");
  };
}

Handler boolean(bool& out) {
  return [&out](const toml::node& n, const std::string& key, Errors& err) {
    if (n.is_boolean())
      out = *n.value<bool>();
    else
      err.add(n.source(), "'" + key + "' must be true or false");
  };
}

// An integer key within lo..hi (toml++ reads every integer as int64_t; a
// literal beyond it is a parse error). Narrowed to T only after the check,
// and never beyond what T holds, whatever lo and hi say.
template <typename T>
Handler integer(T& out, int64_t lo, int64_t hi) {
  return [&out, lo, hi](const toml::node& n, const std::string& key, Errors& err) {
    if (!n.is_integer()) return err.add(n.source(), "'" + key + "' must be an integer");
    int64_t v = *n.value<int64_t>();
    if (v < lo || v > hi || !std::in_range<T>(v))
      return err.add(n.source(), "'" + key + "' = " + std::to_string(v) + " is out of range " +
                                     std::to_string(lo) + ".." + std::to_string(hi));
    out = T(v);
  };
}

Handler duration(std::chrono::nanoseconds& out) {
  return [&out](const toml::node& n, const std::string& key, Errors& err) {
    auto s = n.value<std::string>();
    auto d = s ? parseDuration(*s) : std::nullopt;
    if (!d)
      return err.add(n.source(), "'" + key +
                                     "' must be a duration such as \"250us\", \"10ms\", \"1s\", "
                                     "\"5m\"");
    out = *d;
  };
}

Handler tsFormat(TsFormat& out) {
  return [&out](const toml::node& n, const std::string& key, Errors& err) {
    auto s = n.value<std::string>();
    if (s && *s == "ntp")
      out = TsFormat::Ntp;
    else if (s && *s == "ptp")
      out = TsFormat::Ptp;
    else
      err.add(n.source(), "'" + key + "' must be \"ntp\" or \"ptp\"");
  };
}

// "copy" (unset) or an integer lo..hi.
Handler copyOrInteger(std::optional<uint8_t>& out, int64_t hi) {
  return [&out, hi](const toml::node& n, const std::string& key, Errors& err) {
    auto s = n.value<std::string>();
    if (n.is_string() && s && *s == "copy") return out.reset();
    if (n.is_integer()) {
      int64_t v = *n.value<int64_t>();
      if (v >= 0 && v <= hi) return void(out = uint8_t(v));
    }
    err.add(n.source(), "'" + key + "' must be \"copy\" or an integer 0.." + std::to_string(hi));
  };
}

// [reflector] allow or deny: prefixes, none twice, none in `other` (the
// list of the opposite meaning), both together at most STAMP_ALLOW_MAX.
Handler prefixList(std::vector<IpPrefix>& out, const std::vector<IpPrefix>& other,
                   const char* otherKey) {
  return [&out, &other, otherKey](const toml::node& n, const std::string& key, Errors& err) {
    const toml::array* a = n.as_array();
    if (!a) return err.add(n.source(), "'" + key + "' must be an array of prefixes");
    out.clear();
    for (const auto& x : *a) {
      auto s = x.value<std::string>();
      auto p = s ? parsePrefix(*s) : Result<IpPrefix>(makeError(EINVAL, "not a string"));
      if (!p) {
        err.add(x.source(), "'" + key + "': " + p.error().message);
      } else if (std::find(out.begin(), out.end(), *p) != out.end()) {
        err.add(x.source(), "'" + key + "': " + formatPrefix(*p) + " is listed twice");
      } else if (std::find(other.begin(), other.end(), *p) != other.end()) {
        err.add(x.source(),
                "'" + key + "': " + formatPrefix(*p) + " is also in '" + otherKey + "'");
      } else if (out.size() + other.size() >= STAMP_ALLOW_MAX) {
        return err.add(x.source(), "'" + key + "': more than " + std::to_string(STAMP_ALLOW_MAX) +
                                       " prefixes in allow and deny together");
      } else {
        out.push_back(*p);
      }
    }
  };
}

// Why `a` cannot be a unicast address of this host ([reflector]
// addresses), or nullptr when it can.
const char* notUnicast(const Ip16& a) {
  if (isV4Mapped(a)) {
    if (a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 0) return "unspecified";
    if (a[12] == 255 && a[13] == 255 && a[14] == 255 && a[15] == 255)
      return "the broadcast address";
    if ((a[12] & 0xf0) == 0xe0) return "multicast";
    return nullptr;
  }
  if (a[0] == 0xff) return "multicast";
  if (std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; })) return "unspecified";
  return nullptr;
}

Handler stringList(std::vector<std::string>& out) {
  return [&out](const toml::node& n, const std::string& key, Errors& err) {
    const toml::array* a = n.as_array();
    if (!a) return err.add(n.source(), "'" + key + "' must be an array of strings");
    out.clear();
    for (const auto& e : *a) {
      if (auto v = e.value<std::string>())
        out.push_back(*v);
      else
        err.add(e.source(), "'" + key + "' must contain only strings");
    }
  };
}

// "FILE:LINE:COLUMN: why" for byte `at` of `text`; the column counts code
// points from 1, as toml++ does.
Error shapeError(std::string_view text, size_t at, const std::string& path,
                 const std::string& why) {
  at = std::min(at, text.size());
  const size_t lineStart = text.rfind('\n', at == 0 ? 0 : at - 1);
  const size_t from = lineStart == std::string_view::npos || at == 0 ? 0 : lineStart + 1;
  const size_t line = 1 + size_t(std::count(text.begin(), text.begin() + ptrdiff_t(from), '\n'));
  size_t column = 1;
  for (size_t k = from; k < at; ++k)
    if ((static_cast<unsigned char>(text[k]) & 0xc0) != 0x80) ++column;
  return makeError(EINVAL,
                   path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + why);
}

}  // namespace

Result<void> checkTomlShape(std::string_view text, const std::string& path) {
  if (text.size() > kMaxConfigBytes)
    return shapeError(text, kMaxConfigBytes, path,
                      "the file is larger than " + std::to_string(kMaxConfigBytes) +
                          " bytes; it is refused before parsing");
  const std::string tooDeep = "nested deeper than " + std::to_string(kMaxConfigDepth) +
                              " levels (table header and dotted key parts, arrays and inline "
                              "tables); refused before parsing";
  // Not a TOML parser: just enough of the syntax (strings, comments,
  // brackets, where keys stand) to count the levels. Malformed text is
  // passed on for toml++ to report.
  enum class Mode { kLineStart, kKeyStart, kKey, kValue, kRestOfLine };
  Mode mode = Mode::kLineStart;
  const size_t n = text.size();
  size_t i = 0;
  size_t headerDepth = 0, depth = 0;
  std::vector<std::pair<char, size_t>> open;  // '[' or '{', the depth inside it
  auto deeper = [&](size_t& d) { return ++d > kMaxConfigDepth; };
  // Past the string starting at i; a single-line one ends at a newline
  // at the latest.
  auto skipString = [&] {
    const char q = text[i];
    const bool triple = text.substr(i, 3) == std::string(3, q);
    i += triple ? 3 : 1;
    while (i < n) {
      const char c = text[i];
      if (q == '"' && c == '\\') {
        i += 2;
      } else if (triple ? text.substr(i, 3) == std::string(3, q) : c == q) {
        i += triple ? 3 : 1;
        return;
      } else if (!triple && c == '\n') {
        return;
      } else {
        ++i;
      }
    }
  };
  auto skipLine = [&] {
    while (i < n && text[i] != '\n') ++i;
  };
  while (i < n) {
    const char c = text[i];
    switch (mode) {
      case Mode::kLineStart:
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
          ++i;
        } else if (c == '#') {
          skipLine();
        } else if (c == '[') {
          // [table] or [[array of tables]]: the header's parts set the
          // depth of the keys below it.
          headerDepth = 0;
          if (i + 1 < n && text[i + 1] == '[' && deeper(headerDepth))
            return shapeError(text, i, path, tooDeep);
          i += i + 1 < n && text[i + 1] == '[' ? 2 : 1;
          if (deeper(headerDepth)) return shapeError(text, i, path, tooDeep);
          while (i < n && text[i] != ']' && text[i] != '\n') {
            if (text[i] == '"' || text[i] == '\'') {
              skipString();
              continue;
            }
            if (text[i] == '.' && deeper(headerDepth)) return shapeError(text, i, path, tooDeep);
            ++i;
          }
          mode = Mode::kRestOfLine;
        } else {
          depth = headerDepth;
          mode = Mode::kKeyStart;
        }
        break;
      case Mode::kKeyStart:  // a key's first part, at line start or in an inline table
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
          ++i;
        } else if (c == '}' || c == ',') {
          mode = Mode::kValue;
        } else {
          if (deeper(depth)) return shapeError(text, i, path, tooDeep);
          mode = Mode::kKey;
        }
        break;
      case Mode::kKey:
        if (c == '"' || c == '\'') {
          skipString();
        } else if (c == '.') {
          if (deeper(depth)) return shapeError(text, i, path, tooDeep);
          ++i;
        } else if (c == '=') {
          mode = Mode::kValue;
          ++i;
        } else if (c == '\n' && open.empty()) {
          mode = Mode::kLineStart;
        } else if (c == '}' || c == ',' || c == ']') {
          mode = Mode::kValue;
        } else {
          ++i;
        }
        break;
      case Mode::kValue:
        if (c == '"' || c == '\'') {
          skipString();
        } else if (c == '#') {
          skipLine();
        } else if (c == '[' || c == '{') {
          if (deeper(depth)) return shapeError(text, i, path, tooDeep);
          open.emplace_back(c, depth);
          ++i;
          if (c == '{') mode = Mode::kKeyStart;
        } else if (c == ',') {
          if (!open.empty()) {
            depth = open.back().second;
            if (open.back().first == '{') mode = Mode::kKeyStart;
          }
          ++i;
        } else if (c == ']' || c == '}') {
          if (!open.empty()) open.pop_back();
          if (!open.empty()) depth = open.back().second;
          ++i;
        } else if (c == '\n' && open.empty()) {
          mode = Mode::kLineStart;
        } else {
          ++i;
        }
        break;
      case Mode::kRestOfLine:
        if (c == '\n') mode = Mode::kLineStart;
        ++i;
        break;
    }
  }
  return {};
}

// Requests per second: the BPF buckets count in whole nanoseconds.
constexpr int64_t kMaxRate = 100'000'000;
constexpr int64_t kMaxBurst = 100'000'000;

Result<Config> parseConfig(std::string_view text, const std::string& path) {
  if (auto shape = checkTomlShape(text, path); !shape) return shape.error();
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << oneLine(e.description());
    return makeError(EINVAL, os.str());
  }

  Config cfg;
  cfg.path = path;
  Errors err(path);
  auto section = [&](const char* name, const std::map<std::string, Handler>& keys) {
    return [&, name, keys](const toml::node& n, const std::string& key, Errors& e) {
      if (const toml::table* t = n.as_table())
        walk(*t, std::string(name) + ".", keys, e);
      else
        e.add(n.source(), "'" + key + "' must be a table [" + name + "]");
    };
  };

  DaemonConfig& d = cfg.daemon;
  ReflectorConfig& r = cfg.reflector;
  std::map<std::string, Handler> daemonKeys = {
      {"socket", str(d.socket)},
      {"bpffs", str(d.bpffs)},
      {"state_dir", str(d.stateDir)},
      {"key_file", str(d.keyFile)},
      {"log_level",
       [&d](const toml::node& n, const std::string& key, Errors& e) {
         auto s = n.value<std::string>();
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
         if (s && std::find(std::begin(kLevels), std::end(kLevels), *s) != std::end(kLevels))
           d.logLevel = *s;
         else
           e.add(n.source(), "'" + key + "' must be one of trace, debug, info, warn, error");
       }},
      {"interfaces",
       [&d, &path, list = stringList(d.interfaces)](const toml::node& n, const std::string& key,
                                                    Errors& e) {
         d.interfacesAt = path + ":" + std::to_string(n.source().begin.line) + ":" +
                          std::to_string(n.source().begin.column);
         list(n, key, e);
       }},
      {"attach",
       [&d](const toml::node& n, const std::string& key, Errors& e) {
         auto s = n.value<std::string>();
         if (s && (*s == "auto" || *s == "tcx" || *s == "tc"))
           d.attach = *s;
         else
           e.add(n.source(), "'" + key + "' must be \"auto\", \"tcx\" or \"tc\"");
       }},
  };
  std::map<std::string, Handler> reflectorKeys = {
      {"enabled", boolean(r.enabled)},
      {"timestamp_format", tsFormat(r.tsFormat)},
      {"auth_key", str(r.authKey)},
      {"max_sessions", integer(r.maxSessions, 1, 1 << 24)},
      {"dscp", copyOrInteger(r.dscp, 63)},
      {"ecn", copyOrInteger(r.ecn, 3)},
      {"idle_timeout",
       [&r, d = duration(r.idleTimeout)](const toml::node& n, const std::string& key, Errors& e) {
         d(n, key, e);
         // Whole seconds in the BPF map; "0s" turns expiry off.
         if (r.idleTimeout.count() % 1'000'000'000 != 0 ||
             r.idleTimeout > std::chrono::seconds(UINT32_MAX))
           e.add(n.source(), "'" + key + "' must be whole seconds, at most 4294967295s");
       }},
      {"mode",
       [&r](const toml::node& n, const std::string& key, Errors& e) {
         auto s = n.value<std::string>();
         if (s && *s == "stateless")
           r.mode = ReflectorMode::Stateless;
         else if (s && *s == "stateful")
           r.mode = ReflectorMode::Stateful;
         else
           e.add(n.source(), "'" + key + "' must be \"stateless\" or \"stateful\"");
       }},
      {"ports",
       [&r](const toml::node& n, const std::string& key, Errors& e) {
         const toml::array* a = n.as_array();
         if (!a || a->empty())
           return e.add(n.source(), "'" + key + "' must be a non-empty array of ports");
         r.ports.clear();
         for (const auto& p : *a) {
           // value<int64_t>() would convert a float (UB when out of range).
           auto v = p.is_integer() ? p.value<int64_t>() : std::nullopt;
           if (!v || *v < 1 || *v > 65535)
             e.add(p.source(), "'" + key + "': port must be an integer 1..65535");
           else if (std::find(r.ports.begin(), r.ports.end(), uint16_t(*v)) != r.ports.end())
             e.add(p.source(), "'" + key + "': port " + std::to_string(*v) + " is listed twice");
           else
             r.ports.push_back(uint16_t(*v));
         }
       }},
      {"tlvs", boolean(r.tlvs)},
      {"tlv_location_report", boolean(r.tlvLocationReport)},
      {"tlv_cos_allowed_dscp",
       [&r](const toml::node& n, const std::string& key, Errors& e) {
         const toml::array* a = n.as_array();
         if (!a) return e.add(n.source(), "'" + key + "' must be an array of DSCP values 0..63");
         r.tlvCosAllowedDscp = 0;
         for (const auto& x : *a) {
           auto v = x.is_integer() ? x.value<int64_t>() : std::nullopt;
           if (!v || *v < 0 || *v > 63)
             e.add(x.source(), "'" + key + "': a DSCP value is an integer 0..63");
           else
             r.tlvCosAllowedDscp |= uint64_t{1} << *v;
         }
       }},
      {"tlv_sync_source",
       [&r](const toml::node& n, const std::string& key, Errors& e) {
         auto v = n.value<std::string>();
         static const char* kSources[] = {"auto", "ntp", "ptp", "ssu_bits", "gnss", "local"};
         if (v && std::find(std::begin(kSources), std::end(kSources), *v) != std::end(kSources))
           r.tlvSyncSource = *v;
         else
           e.add(n.source(), "'" + key + "' must be one of auto, ntp, ptp, ssu_bits, gnss, local");
       }},
      {"allow", prefixList(r.allow, r.deny, "reflector.deny")},
      {"deny", prefixList(r.deny, r.allow, "reflector.allow")},
      {"rate_limit_per_source", integer(r.rateLimitPerSource, 0, kMaxRate)},
      {"rate_limit_per_source_burst", integer(r.rateLimitPerSourceBurst, 0, kMaxBurst)},
      {"rate_limit", integer(r.rateLimit, 0, kMaxRate)},
      {"rate_limit_burst", integer(r.rateLimitBurst, 0, kMaxBurst)},
      {"rate_limit_ipv6_prefix", integer(r.rateLimitIpv6Prefix, 1, 128)},
      {"answer_short_requests", boolean(r.answerShortRequests)},
      {"answer_reflector_source_ports", boolean(r.answerReflectorSourcePorts)},
      {"answer_reflected_packets", boolean(r.answerReflectedPackets)},
      {"addresses",
       [&r](const toml::node& n, const std::string& key, Errors& e) {
         const toml::array* a = n.as_array();
         if (!a) return e.add(n.source(), "'" + key + "' must be an array of addresses");
         for (const auto& x : *a) {
           auto s = x.value<std::string>();
           auto ip = s ? parseIp(*s) : Result<Ip16>(makeError(EINVAL, "not a string"));
           if (!ip)
             e.add(x.source(), "'" + key + "': " + ip.error().message);
           else if (const char* why = notUnicast(*ip))
             e.add(x.source(), "'" + key + "': " + *s + " is " + why +
                                   ", not an address of this host to answer on");
           else
             r.addresses.push_back(*ip);
         }
       }},
  };
  std::map<std::string, Handler> metricsKeys = {{"listen", str(cfg.metrics.listen)}};
  std::map<std::string, Handler> resultsKeys = {
      {"max_age", duration(cfg.results.maxAge)},
      {"max_runs", integer(cfg.results.maxRuns, 0, INT64_MAX)}};

  LimitsConfig& lim = cfg.limits;
  std::map<std::string, Handler> limitsKeys = {
      {"max_sessions", integer(lim.maxSessions, 0, 1'000'000)},
      {"max_sessions_per_user", integer(lim.maxSessionsPerUser, 0, 1'000'000)},
      {"max_session_pps", integer(lim.maxSessionPps, 0, 10'000'000)},
      {"max_session_bps", integer(lim.maxSessionBps, 0, INT64_MAX)},
      {"max_total_bps", integer(lim.maxTotalBps, 0, INT64_MAX)},
      {"adhoc_runs_kept", integer(lim.adhocRunsKept, 1, 1'000'000)},
      {"max_control_clients", integer(lim.maxControlClients, 1, 100'000)},
      {"control_idle_timeout", duration(lim.controlIdleTimeout)},
      {"max_metrics_clients", integer(lim.maxMetricsClients, 1, 100'000)}};

  auto sessions = [&](const toml::node& node, const std::string& sectionKey, Errors& errors) {
    const toml::array* a = node.as_array();
    if (!a) return errors.add(node.source(), "'session' must be an array of tables [[session]]");
    cfg.sessions.reserve(a->size());
    std::unordered_map<std::string, size_t> seen;  // sessions so far by name
    // The key table is made once: its handlers write to `s` (and
    // `tlvPadding`), which start afresh for every [[session]].
    SessionConfig s;
    uint32_t tlvPadding = 0;
    const std::map<std::string, Handler> keys = {
        {"name", str(s.name)},
        {"target", str(s.target)},
        {"port", integer(s.port, 1, 65535)},
        {"count", integer(s.count, 0, INT64_MAX)},
        {"interval", duration(s.interval)},
        {"timeout", duration(s.timeout)},
        {"schedule",
         [&s](const toml::node& n, const std::string& key, Errors& e) {
           auto v = n.value<std::string>();
           if (!v) return e.add(n.source(), "'" + key + "' must be a string");
           auto sched = Schedule::parse(*v);
           if (!sched) return e.add(n.source(), "'" + key + "': " + sched.error().message);
           s.schedule = *v;
         }},
        {"timezone",
         [&s](const toml::node& n, const std::string& key, Errors& e) {
           auto v = n.value<std::string>();
           if (v && (*v == "utc" || *v == "local"))
             s.localTime = *v == "local";
           else
             e.add(n.source(), "'" + key + "' must be \"utc\" or \"local\"");
         }},
        {"splay", duration(s.splay)},
        {"size", integer(s.size, control::range::kMinSize, control::range::kMaxSize)},
        {"dscp", integer(s.dscp, 0, 63)},
        {"ecn", integer(s.ecn, 0, 3)},
        {"ssid", integer(s.ssid, 0, 65535)},
        {"timestamp_format", tsFormat(s.tsFormat)},
        {"auth_key", str(s.authKey)},
        {"enabled", boolean(s.enabled)},
        {"source_port", integer(s.sourcePort, 0, 65535)},
        {"require_sync", boolean(s.requireSync)},
        {"stop_on_zero_ssid", boolean(s.stopOnZeroSsid)},
        {"histogram_bins", integer(s.histogramBins, 1, 10000)},
        {"histogram_floor", duration(s.histogramFloor)},
        {"histogram_ceiling", duration(s.histogramCeiling)},
        {"window", duration(s.window)},
        {"reflector_mode",
         [&s](const toml::node& n, const std::string& key, Errors& e) {
           auto v = n.value<std::string>();
           if (v && (*v == "stateless" || *v == "stateful"))
             s.statefulReflector = *v == "stateful";
           else
             e.add(n.source(), "'" + key + "' must be \"stateless\" or \"stateful\"");
         }},
        {"tlv_padding",
         [&s, &tlvPadding, h = integer(tlvPadding, 0, 8952)](const toml::node& n,
                                                             const std::string& key, Errors& e) {
           h(n, key, e);
           if (n.is_integer()) s.tlvs.padding = tlvPadding;
         }},
        {"tlv_location", boolean(s.tlvs.location)},
        {"tlv_timestamp_info", boolean(s.tlvs.timestampInfo)},
        {"tlv_direct_measurement", boolean(s.tlvs.directMeasurement)},
        {"tlv_follow_up", boolean(s.tlvs.followUp)},
        {"tlv_cos",
         [&s](const toml::node& n, const std::string& key, Errors& e) {
           const toml::table* t = n.as_table();
           if (!t) return e.add(n.source(), "'" + key + "' must be a table such as { dscp = 46 }");
           uint8_t dscp = 0;
           bool has = false;
           walk(*t, key + ".",
                {{"dscp",
                  [&](const toml::node& v, const std::string& k, Errors& er) {
                    integer(dscp, 0, 63)(v, k, er);
                    has = true;
                  }}},
                e);
           if (!has) return e.add(n.source(), "'" + key + "' needs 'dscp' (0..63)");
           s.tlvs.cosDscp = dscp;
         }},
        {"tlv_access_report",
         [&s](const toml::node& n, const std::string& key, Errors& e) {
           const toml::table* t = n.as_table();
           if (!t)
             return e.add(n.source(), "'" + key +
                                          "' must be a table such as { access_id = 1, "
                                          "return_code = 1 }");
           tlv::AccessReportRequest ar;
           walk(*t, key + ".",
                {{"access_id", integer(ar.accessId, 1, 2)},
                 {"return_code", integer(ar.returnCode, 0, 255)},
                 {"timeout", duration(s.tlvAccessReportTimeout)},
                 {"retries", integer(s.tlvAccessReportRetries, 0, 100)}},
                e);
           if (s.tlvAccessReportTimeout <= std::chrono::nanoseconds(0))
             e.add(n.source(), "'" + key + ".timeout' must be positive");
           s.tlvs.accessReport = ar;
         }},
    };
    for (const auto& elem : *a) {
      const toml::table* table = elem.as_table();
      if (!table) {
        errors.add(elem.source(), "'session' entries must be tables");
        continue;
      }
      s = SessionConfig{};
      tlvPadding = 0;
      walk(*table, sectionKey + ".", keys, errors);
      if (s.name.empty()) errors.add(table->source(), "a [[session]] needs a 'name'");
      if (s.histogramCeiling <= s.histogramFloor)
        errors.add(table->source(),
                   "session '" + s.name + "': histogram_ceiling must be above histogram_floor");
      if (s.target.empty())
        errors.add(table->source(), "session '" + s.name + "' needs a 'target'");
      else if (auto ip = parseIp(s.target); !ip)
        errors.add((*table)["target"].node()->source(),
                   "session '" + s.name + "': " + ip.error().message);
      // One error per earlier session of the same name, as a scan of them
      // would find; counted by name, so 10,000 sessions cost no 50M
      // comparisons.
      if (!s.name.empty())
        for (size_t k = seen[s.name]++; k > 0; --k)
          errors.add(table->source(), "duplicate session name '" + s.name + "'");
      cfg.sessions.push_back(std::move(s));
    }
  };

  std::map<std::string, Handler> top = {
      {"daemon", section("daemon", daemonKeys)},
      {"reflector", section("reflector", reflectorKeys)},
      {"metrics", section("metrics", metricsKeys)},
      {"results", section("results", resultsKeys)},
      {"limits", section("limits", limitsKeys)},
      {"session", sessions},
  };
  walk(root, "", top, err);

  if (!err.empty()) return makeError(EINVAL, err.joined());
  return cfg;
}

Result<Config> loadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ENOENT, path + ": cannot read the configuration file");
  // One byte beyond the limit is enough for checkTomlShape to refuse it;
  // a huge file (or /dev/zero) is never read whole.
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  if (in.bad()) return makeError(EIO, path + ": cannot read the configuration file");
  text.resize(size_t(in.gcount()));
  return parseConfig(text, path);
}

}  // namespace stamp
