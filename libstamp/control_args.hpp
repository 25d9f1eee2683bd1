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
  const char* key;
  ArgType type;
  int64_t min = 0, max = 0;  // kInteger: the accepted range, both ends included
  bool required = false;
  std::span<const ArgSpec> fields = {};  // kObject: its own keys
};

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
inline constexpr int64_t kMaxAccessReportRetries = 100;
}  // namespace range

namespace schema {
using enum ArgType;
using namespace range;

// session.start "tlv_access_report".
inline constexpr ArgSpec kAccessReport[] = {
    {arg::kAccessId, kInteger, 1, 2},
    {arg::kReturnCode, kInteger, 0, 255},
    {arg::kTimeoutNs, kInteger, 1, kInt64Max},
    {arg::kRetries, kInteger, 0, kMaxAccessReportRetries},
};

// session.start: a configured session ("name" alone) or an ad-hoc one
// ("target"); which keys fit which is the handler's to say.
inline constexpr ArgSpec kSessionStart[] = {
    {arg::kName, kString},
    {arg::kFollow, kBool},
    {arg::kRequireSync, kBool},
    {arg::kTarget, kString},
    {arg::kPort, kInteger, 1, 65535},
    {arg::kCount, kInteger, 0, kInt64Max},
    {arg::kIntervalNs, kInteger, kMinIntervalNs, kInt64Max},
    {arg::kTimeoutNs, kInteger, 1, kInt64Max},
    {arg::kWindowNs, kInteger, 0, kInt64Max},
    {arg::kSize, kInteger, kMinSize, kMaxSize},
    {arg::kDscp, kInteger, 0, 63},
    {arg::kEcn, kInteger, 0, 3},
    {arg::kSsid, kInteger, 0, 65535},
    {arg::kSourcePort, kInteger, 0, 65535},
    {arg::kTimestampFormat, kString},
    {arg::kReflectorMode, kString},
    {arg::kAuthKey, kString},
    {arg::kStopOnZeroSsid, kBool},
    {arg::kHistogramBins, kInteger, 1, kMaxHistogramBins},
    {arg::kHistogramFloorNs, kInteger, 0, kInt64Max},
    {arg::kHistogramCeilingNs, kInteger, 0, kInt64Max},
    {arg::kTlvPadding, kInteger, 0, kMaxSize},
    {arg::kTlvLocation, kBool},
    {arg::kTlvTimestampInfo, kBool},
    {arg::kTlvCosDscp, kInteger, 0, 63},
    {arg::kTlvDirectMeasurement, kBool},
    {arg::kTlvAccessReport, kObject, 0, 0, false, kAccessReport},
    {arg::kTlvFollowUp, kBool},
};

// The keys a session.start for a configured session may hold besides its
// name; the others are the session's own, from stamp.toml.
inline constexpr const char* kConfiguredStartKeys[] = {arg::kName, arg::kFollow, arg::kRequireSync};

// session.show, session.stop.
inline constexpr ArgSpec kName[] = {{arg::kName, kString, 0, 0, true}};

inline constexpr ArgSpec kResults[] = {
    {arg::kName, kString},
    {arg::kSinceNs, kInteger, kInt64Min, kInt64Max},
    {arg::kLimit, kInteger, 0, kMaxResultsLimit},
    {arg::kDetail, kBool},
};

// status, session.list, reload.
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
