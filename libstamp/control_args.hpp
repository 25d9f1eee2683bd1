// The arguments of every control command: their keys (control_protocol.hpp),
// JSON types and ranges, in one table per command. stampd checks each
// request against its command's table before any handler runs
// (checkArgs), so handlers read values already known to be of the right
// type and in range; stampctl checks its flags against the same ranges.
//
// Integers are read as signed 64-bit: 18446744073709551615 is out of range,
// never -1, and 2^32 + 44 never 44. A float (1.0, 1e3) is not an integer.
// A key the table does not name is refused, not ignored: a misspelt
// "intervall_ns" would otherwise run with the default interval.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "libstamp/control_protocol.hpp"
#include "libstamp/result.hpp"

namespace stamp::control {

enum class ArgType { kString, kBool, kInteger, kObject };

struct ArgSpec {
  const char* key = "";
  int64_t min = 0, max = 0;              // kInteger: the accepted range, both ends included
  std::span<const ArgSpec> fields = {};  // kObject: its own keys (no deeper objects)
  ArgType type = ArgType::kString;
  bool required = false;
};

// The entries of a table, as they read: anInteger(arg::kPort, 1, 65535).
constexpr ArgSpec aString(const char* key) {
  return {key, 0, 0, {}, ArgType::kString, false};
}
constexpr ArgSpec aBool(const char* key) {
  return {key, 0, 0, {}, ArgType::kBool, false};
}
constexpr ArgSpec anInteger(const char* key, int64_t min, int64_t max) {
  return {key, min, max, {}, ArgType::kInteger, false};
}
constexpr ArgSpec anObject(const char* key, std::span<const ArgSpec> fields) {
  return {key, 0, 0, fields, ArgType::kObject, false};
}
constexpr ArgSpec required(ArgSpec a) {
  a.required = true;
  return a;
}

// The ranges both sides use.
namespace range {
inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
// STAMP payload octets: the unauthenticated base (RFC 8762 4.2.1) up to a
// 9000-octet jumbo frame less the IPv6 and UDP headers.
inline constexpr int64_t kMinSize = 44;
inline constexpr int64_t kMaxSize = 9000 - 48;
inline constexpr int64_t kMinIntervalNs = 1'000;  // 1us
inline constexpr int64_t kMaxHistogramBins = 10'000;
inline constexpr int64_t kMaxResultsLimit = 10'000;
inline constexpr int64_t kMaxListLimit = 100'000;
inline constexpr int64_t kMaxAccessReportRetries = 100;
}  // namespace range

namespace schema {
using namespace range;

// session.start "tlv_access_report".
inline constexpr ArgSpec kAccessReport[] = {
    anInteger(arg::kAccessId, 1, 2),
    anInteger(arg::kReturnCode, 0, 255),
    anInteger(arg::kTimeoutNs, 1, kInt64Max),
    anInteger(arg::kRetries, 0, kMaxAccessReportRetries),
};

// session.start: a configured session ("name" alone) or an ad-hoc one
// ("target"); which keys fit which is the handler's to say.
inline constexpr ArgSpec kSessionStart[] = {
    aString(arg::kName),
    aBool(arg::kFollow),
    aBool(arg::kRequireSync),
    aString(arg::kTarget),
    anInteger(arg::kPort, 1, 65535),
    anInteger(arg::kCount, 0, kInt64Max),
    anInteger(arg::kIntervalNs, kMinIntervalNs, kInt64Max),
    anInteger(arg::kTimeoutNs, 1, kInt64Max),
    anInteger(arg::kWindowNs, 0, kInt64Max),
    anInteger(arg::kSize, kMinSize, kMaxSize),
    anInteger(arg::kDscp, 0, 63),
    anInteger(arg::kEcn, 0, 3),
    anInteger(arg::kSsid, 0, 65535),
    anInteger(arg::kSourcePort, 0, 65535),
    aString(arg::kTimestampFormat),
    aString(arg::kReflectorMode),
    aString(arg::kAuthKey),
    aBool(arg::kStopOnZeroSsid),
    anInteger(arg::kHistogramBins, 1, kMaxHistogramBins),
    anInteger(arg::kHistogramFloorNs, 0, kInt64Max),
    anInteger(arg::kHistogramCeilingNs, 0, kInt64Max),
    anInteger(arg::kTlvPadding, 0, kMaxSize),
    aBool(arg::kTlvLocation),
    aBool(arg::kTlvTimestampInfo),
    anInteger(arg::kTlvCosDscp, 0, 63),
    aBool(arg::kTlvDirectMeasurement),
    anObject(arg::kTlvAccessReport, kAccessReport),
    aBool(arg::kTlvFollowUp),
};

// The keys a session.start for a configured session may hold besides its
// name; the others are the session's own, from stamp.toml.
inline constexpr const char* kConfiguredStartKeys[] = {arg::kName, arg::kFollow, arg::kRequireSync};

// session.show, session.stop.
inline constexpr ArgSpec kName[] = {required(aString(arg::kName))};

inline constexpr ArgSpec kResults[] = {
    aString(arg::kName),
    anInteger(arg::kSinceNs, kInt64Min, kInt64Max),
    anInteger(arg::kLimit, 0, kMaxResultsLimit),
    aBool(arg::kDetail),
};

// session.list: a page of sessions by name ("state" is "running",
// "finished" or "idle", which the handler checks).
inline constexpr ArgSpec kSessionList[] = {
    anInteger(arg::kLimit, 1, kMaxListLimit),
    aString(arg::kAfter),
    aString(arg::kState),
};

// status, reload.
inline constexpr std::span<const ArgSpec> kNone{};
}  // namespace schema

// The entry for `key`, nullptr if the table has none.
constexpr const ArgSpec* findArg(std::span<const ArgSpec> table, std::string_view key) {
  for (const ArgSpec& a : table)
    if (key == a.key) return &a;
  return nullptr;
}

// Checks `args` (a JSON object) against `table`: every key is one of the
// table's, of its type, an integer within its range, an object by its own
// table; every required key is there. The error (EINVAL) names the first
// offending key ("port", "tlv_access_report.retries") and what it must be,
// e.g. "\"port\" must be an integer 1..65535, not 70000".
Result<void> checkArgs(const nlohmann::json& args, std::span<const ArgSpec> table);

// Readers of checked arguments: the value, or `fallback` when the key is
// absent (or, unchecked, of another type or out of int64_t). Never throw.
int64_t intArg(const nlohmann::json& args, const char* key, int64_t fallback);
bool boolArg(const nlohmann::json& args, const char* key, bool fallback);
std::string stringArg(const nlohmann::json& args, const char* key, std::string fallback = {});

}  // namespace stamp::control
