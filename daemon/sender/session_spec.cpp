// The spec of a run from its two sources, stamp.toml and a session.start
// request, and the checks every spec passes. No I/O: the fuzz target
// tests/fuzz/fuzz_control.cpp links this unit alone, without the rest of
// the sender.
#include <span>
#include <string>
#include <utility>

#include "libstamp/codec.hpp"
#include "libstamp/control_args.hpp"
#include "sender/session.hpp"

namespace stamp {
namespace {

using control::range::kMaxSize;
using std::chrono::nanoseconds;

Result<SessionSpec> checked(SessionSpec s) {
  if (s.size < kUnauthBase)
    return makeError(EINVAL,
                     "size " + std::to_string(s.size) + " is below the 44-octet STAMP base");
  const size_t base = s.authKey.empty() ? kUnauthBase : kAuthBase;
  if (!s.authKey.empty() && s.size < kAuthBase)
    return makeError(EINVAL, "size " + std::to_string(s.size) +
                                 " is below the 112-octet base of authenticated mode");
  if (s.tlvs.any()) {
    // The TLVs set the smallest size; a larger one is filled with Extra
    // Padding, which needs at least its 4-octet header.
    const uint32_t need = uint32_t(base + tlv::requestSize(s.tlvs));
    if (s.size < need) s.size = need;
    const uint32_t left = s.size - need;
    if (!s.tlvs.padding && left > 0 && left < tlv::kHeader)
      return makeError(
          EINVAL, "size " + std::to_string(s.size) + " leaves " + std::to_string(left) +
                      " octets after the TLVs, too few for an Extra Padding TLV: "
                      "use " +
                      std::to_string(need) + " or at least " + std::to_string(need + tlv::kHeader));
    if (s.tlvs.cosDscp && *s.tlvs.cosDscp > 63)
      return makeError(EINVAL, "tlv_cos dscp must be 0..63");
    if (s.tlvs.accessReport &&
        (s.tlvs.accessReport->accessId < 1 || s.tlvs.accessReport->accessId > 2))
      return makeError(EINVAL, "tlv_access_report access_id must be 1 (3GPP) or 2 (non-3GPP)");
    if (s.accessReportTimeout <= nanoseconds(0))
      return makeError(EINVAL, "tlv_access_report timeout must be positive");
  }
  if (s.size > uint32_t(kMaxSize))
    return makeError(EINVAL,
                     "size " + std::to_string(s.size) + " exceeds " + std::to_string(kMaxSize));
  if (s.interval < std::chrono::microseconds(1))
    return makeError(EINVAL, "interval must be at least 1us");
  if (s.timeout <= nanoseconds(0)) return makeError(EINVAL, "timeout must be positive");
  if (s.dscp > 63) return makeError(EINVAL, "dscp must be 0..63");
  if (s.ecn > 3) return makeError(EINVAL, "ecn must be 0..3");
  if (s.port == 0) return makeError(EINVAL, "port must be 1..65535");
  if (auto r = checkHistogramSpec(s.histogram); !r) return r.error();
  if (s.window < nanoseconds(0)) return makeError(EINVAL, "window must not be negative");
  if (s.window > nanoseconds(0) && s.window < std::chrono::seconds(1))
    return makeError(EINVAL, "window must be at least 1s");
  return s;
}

// A narrowing read of a checked integer argument: the static_asserts
// below prove that each key's range fits its field.
template <typename T>
constexpr bool fits(std::span<const control::ArgSpec> table, const char* key) {
  const control::ArgSpec* a = control::findArg(table, key);
  return a && a->type == control::ArgType::kInteger && std::in_range<T>(a->min) &&
         std::in_range<T>(a->max);
}

// GCC's AddressSanitizer build cannot compare the table's pointers in a
// constant expression; the normal build proves the same assertions.
#ifdef __SANITIZE_ADDRESS__
#define STAMP_FITS(T, table, key) static_cast<void>(0)
#else
#define STAMP_FITS(T, table, key) static_assert(fits<T>(table, key))
#endif

template <typename T>
T narrow(const nlohmann::json& a, const char* key, T fallback) {
  return T(control::intArg(a, key, int64_t(fallback)));
}

}  // namespace

// RFC 8972 4.8: an authenticated session's TLVs carry an HMAC TLV, unless
// the only one is Extra Padding.
bool needsHmacTlv(const SessionSpec& s) {
  const tlv::RequestOptions& o = s.tlvs;
  return !s.authKey.empty() && (o.location || o.timestampInfo || o.cosDscp || o.directMeasurement ||
                                o.accessReport || o.followUp);
}

Result<SessionSpec> specFromConfig(const SessionConfig& c) {
  SessionSpec s;
  s.name = c.name;
  auto ip = parseIp(c.target);
  if (!ip) return ip.error();
  s.target = *ip;
  s.port = c.port;
  s.count = c.count;
  s.interval = c.interval;
  s.timeout = c.timeout;
  s.size = c.size;
  s.dscp = c.dscp;
  s.ecn = c.ecn;
  s.ssid = c.ssid;
  s.tsFormat = c.tsFormat;
  s.sourcePort = c.sourcePort;
  s.requireSync = c.requireSync;
  s.histogram = {c.histogramBins, c.histogramFloor.count(), c.histogramCeiling.count()};
  if (c.count == 0) s.window = c.window;
  s.statefulReflector = c.statefulReflector;
  s.stopOnZeroSsid = c.stopOnZeroSsid;
  s.authKey = c.authKey;
  // The default size is the unauthenticated base; authenticated, the base
  // is 112.
  if (!s.authKey.empty() && s.size == kUnauthBase) s.size = kAuthBase;
  s.tlvs = c.tlvs;
  s.accessReportTimeout = c.tlvAccessReportTimeout;
  s.accessReportRetries = c.tlvAccessReportRetries;
  s.tlvs.hmac = needsHmacTlv(s);
  return checked(s);
}

Result<SessionSpec> specFromJson(const nlohmann::json& a) {
  namespace arg = control::arg;
  using control::boolArg;
  using control::stringArg;
  using control::schema::kAccessReport;
  using control::schema::kSessionStart;
  STAMP_FITS(uint16_t, kSessionStart, arg::kPort);
  STAMP_FITS(uint64_t, kSessionStart, arg::kCount);
  STAMP_FITS(int64_t, kSessionStart, arg::kIntervalNs);
  STAMP_FITS(uint32_t, kSessionStart, arg::kSize);
  STAMP_FITS(uint8_t, kSessionStart, arg::kDscp);
  STAMP_FITS(uint8_t, kSessionStart, arg::kEcn);
  STAMP_FITS(uint16_t, kSessionStart, arg::kSsid);
  STAMP_FITS(uint16_t, kSessionStart, arg::kSourcePort);
  STAMP_FITS(uint32_t, kSessionStart, arg::kHistogramBins);
  STAMP_FITS(uint32_t, kSessionStart, arg::kTlvPadding);
  STAMP_FITS(uint8_t, kSessionStart, arg::kTlvCosDscp);
  STAMP_FITS(uint8_t, kAccessReport, arg::kAccessId);
  STAMP_FITS(uint8_t, kAccessReport, arg::kReturnCode);
  STAMP_FITS(uint32_t, kAccessReport, arg::kRetries);

  if (auto r = control::checkArgs(a, kSessionStart); !r) return r.error();
  if (!a.contains(arg::kTarget))
    return makeError(EINVAL, "an ad-hoc session needs \"target\" (an IPv4 or IPv6 address)");
  SessionSpec s;
  auto ip = parseIp(stringArg(a, arg::kTarget));
  if (!ip) return ip.error();
  s.target = *ip;
  s.name = stringArg(a, arg::kName);
  s.port = narrow(a, arg::kPort, s.port);
  s.count = narrow(a, arg::kCount, s.count);
  s.interval = nanoseconds(narrow(a, arg::kIntervalNs, s.interval.count()));
  s.timeout = nanoseconds(narrow(a, arg::kTimeoutNs, s.timeout.count()));
  s.size = narrow(a, arg::kSize, s.size);
  s.dscp = narrow(a, arg::kDscp, s.dscp);
  s.ecn = narrow(a, arg::kEcn, s.ecn);
  s.ssid = narrow(a, arg::kSsid, s.ssid);
  s.sourcePort = narrow(a, arg::kSourcePort, s.sourcePort);
  s.requireSync = boolArg(a, arg::kRequireSync, false);
  s.histogram.bins = narrow(a, arg::kHistogramBins, s.histogram.bins);
  s.histogram.floorNs = narrow(a, arg::kHistogramFloorNs, s.histogram.floorNs);
  s.histogram.ceilingNs = narrow(a, arg::kHistogramCeilingNs, s.histogram.ceilingNs);
  if (s.count == 0) s.window = nanoseconds(narrow(a, arg::kWindowNs, int64_t{30'000'000'000}));
  std::string mode = stringArg(a, arg::kReflectorMode, "stateless");
  if (mode != "stateless" && mode != "stateful")
    return makeError(EINVAL, "\"reflector_mode\" must be \"stateless\" or \"stateful\"");
  s.statefulReflector = mode == "stateful";
  s.stopOnZeroSsid = boolArg(a, arg::kStopOnZeroSsid, false);
  s.authKey = stringArg(a, arg::kAuthKey);
  if (!s.authKey.empty() && !a.contains(arg::kSize)) s.size = kAuthBase;
  std::string fmt = stringArg(a, arg::kTimestampFormat, "ntp");
  if (fmt != "ntp" && fmt != "ptp")
    return makeError(EINVAL, "\"timestamp_format\" must be \"ntp\" or \"ptp\"");
  s.tsFormat = fmt == "ptp" ? TsFormat::Ptp : TsFormat::Ntp;
  // RFC 8972 TLVs (stampctl --tlv-*).
  if (a.contains(arg::kTlvPadding)) s.tlvs.padding = narrow(a, arg::kTlvPadding, uint32_t{0});
  s.tlvs.location = boolArg(a, arg::kTlvLocation, false);
  s.tlvs.timestampInfo = boolArg(a, arg::kTlvTimestampInfo, false);
  if (a.contains(arg::kTlvCosDscp)) s.tlvs.cosDscp = narrow(a, arg::kTlvCosDscp, uint8_t{0});
  s.tlvs.directMeasurement = boolArg(a, arg::kTlvDirectMeasurement, false);
  s.tlvs.followUp = boolArg(a, arg::kTlvFollowUp, false);
  if (a.contains(arg::kTlvAccessReport)) {
    const nlohmann::json& ar = a[arg::kTlvAccessReport];
    tlv::AccessReportRequest req;
    req.accessId = narrow(ar, arg::kAccessId, req.accessId);
    req.returnCode = narrow(ar, arg::kReturnCode, req.returnCode);
    s.tlvs.accessReport = req;
    s.accessReportTimeout = nanoseconds(narrow(ar, arg::kTimeoutNs, s.accessReportTimeout.count()));
    s.accessReportRetries = narrow(ar, arg::kRetries, s.accessReportRetries);
  }
  s.tlvs.hmac = needsHmacTlv(s);
  return checked(s);
}

}  // namespace stamp
