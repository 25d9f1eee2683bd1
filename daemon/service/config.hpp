// stamp.toml: the schema, its defaults and its validation. Parsing never
// throws to the caller; every problem comes back as one line
// "FILE:LINE:COLUMN: reason", all problems of a file at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libstamp/duration.hpp"
#include "kernel/netif.hpp"
#include "libstamp/result.hpp"
#include "libstamp/tlv.hpp"
#include "stamp_abi.h"

namespace stamp {

inline constexpr const char* kDefaultConfigPath = "/etc/stamp/stamp.toml";

enum class ReflectorMode { Stateless, Stateful };
enum class TsFormat { Ntp, Ptp };

struct DaemonConfig {
  std::string socket = "/run/stamp/stampd.sock";
  std::string bpffs = STAMP_PIN_ROOT;
  std::string stateDir = "/var/lib/stamp";
  std::string keyFile;
  std::string logLevel = "info";
  std::string attach = "auto";  // "auto" (tcx, else clsact), "tcx" or "tc"
  std::vector<std::string> interfaces;
  // "FILE:LINE:COLUMN" of the interfaces key, for errors found later (an
  // interface that does not exist); the file's name alone when unset.
  std::string interfacesAt;
  bool operator==(const DaemonConfig&) const = default;
};

struct ReflectorConfig {
  bool enabled = true;
  std::vector<uint16_t> ports{862};
  ReflectorMode mode = ReflectorMode::Stateless;
  TsFormat tsFormat = TsFormat::Ntp;
  // Stateful mode: the session table's size (fixed when the BPF maps are
  // created) and how long a session may be idle before it restarts at 0.
  uint32_t maxSessions = 65536;
  std::chrono::nanoseconds idleTimeout = std::chrono::seconds(900);
  std::string authKey;
  // Extra local addresses to answer on, besides those of the interfaces.
  std::vector<Ip16> addresses;
  // DSCP (0..63) and ECN (0..3) of the replies; unset ("copy"): those the
  // request arrived with.
  std::optional<uint8_t> dscp, ecn;
  // RFC 8972 TLVs: processed (false: the octets after the base are copied
  // as RFC 8762 says); the Location TLV answered with addresses and ports
  // (false: zeros, RFC 8972 4.2.2); the DSCP values a Class of Service TLV
  // may ask for its reply (bit n: DSCP n; others get RP = 1); the sync
  // source the Timestamp Information TLV names ("auto": ntp when the clock
  // is synchronised, local otherwise).
  bool tlvs = true;
  bool tlvLocationReport = true;
  uint64_t tlvCosAllowedDscp = ~uint64_t{0};
  std::string tlvSyncSource = "auto";
  // Guards. Sources answered: the longest matching prefix of `allow` and
  // `deny` decides; none matches: answered when `allow` is empty. Rate
  // limits in requests per second, per source address (IPv6: per prefix of
  // rateLimitIpv6Prefix bits) and for all sources together (0: none), with
  // bursts (0: one second's worth, the rate).
  std::vector<IpPrefix> allow, deny;
  uint32_t rateLimitPerSource = 5'000, rateLimitPerSourceBurst = 0;
  uint32_t rateLimit = 50'000, rateLimitBurst = 0;
  uint32_t rateLimitIpv6Prefix = 64;
  // Abuse defences, all refused unless the operator says so: requests
  // shorter than the base (their reply would be larger), requests from a UDP
  // source port that is one of `ports`, requests that carry a reflector's
  // timestamps (a reflected packet: a loop).
  bool answerShortRequests = false;
  bool answerReflectorSourcePorts = false;
  bool answerReflectedPackets = false;
  bool operator==(const ReflectorConfig&) const = default;
};

// The results store (SQLite in [daemon] state_dir): retention.
struct ResultsConfig {
  std::chrono::nanoseconds maxAge = std::chrono::hours(24 * 30);  // 0: no limit
  uint64_t maxRuns = 100'000;                                     // 0: no limit
  bool operator==(const ResultsConfig&) const = default;
};

// [limits]: caps that bound what clients and the configuration can make
// stampd do (service/limits.hpp). 0 switches a cap off.
struct LimitsConfig {
  uint32_t maxSessions = 20000;          // runs in progress, all together
  uint32_t maxSessionsPerUser = 1000;    // runs in progress started by one non-root client user
  uint64_t maxSessionPps = 10000;        // packets per second of one run
  uint64_t maxSessionBps = 100'000'000;  // bits per second of one run, on the wire
  uint64_t maxTotalBps = 1'000'000'000;  // bits per second of all runs together
  // Finished ad-hoc runs (stampctl session start --target) kept for
  // `session show`, `session list` and the metrics; the oldest go first.
  uint32_t adhocRunsKept = 100;
  uint32_t maxControlClients = 64;  // connections from users other than root
  std::chrono::nanoseconds controlIdleTimeout = std::chrono::minutes(10);
  uint32_t maxMetricsClients = 64;
  bool operator==(const LimitsConfig&) const = default;
};

struct MetricsConfig {
  std::string listen;  // empty: off
};

struct SessionConfig {
  std::string name;
  std::string target;
  uint16_t port = 862;
  uint64_t count = 100;  // 0: until stopped
  std::chrono::nanoseconds interval = std::chrono::milliseconds(100);
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);
  std::string schedule;               // cron; empty: on demand only
  bool localTime = false;             // schedule in the local time zone, not UTC
  std::chrono::nanoseconds splay{0};  // random delay per run, up to this
  uint32_t size = 44;
  uint8_t dscp = 0;
  uint8_t ecn = 0;  // ECN codepoint of the test packets: 0 Not-ECT .. 3 CE
  uint16_t ssid = 0;
  TsFormat tsFormat = TsFormat::Ntp;
  std::string authKey;
  bool enabled = true;
  uint16_t sourcePort = 0;      // 0: automatic
  bool requireSync = false;     // refuse to run on an unsynchronised clock
  uint32_t histogramBins = 50;  // exported histogram, like the prototype's
  std::chrono::nanoseconds histogramFloor{0};
  std::chrono::nanoseconds histogramCeiling = std::chrono::milliseconds(100);
  // A continuous session (count = 0) closes a window this often and
  // records each as a run (like a router's SR-PM computation interval).
  std::chrono::nanoseconds window = std::chrono::seconds(30);
  // The target reflector numbers requests itself (RFC 8762 4.3 stateful):
  // loss is then split into forward and backward.
  bool statefulReflector = false;
  // RFC 8972 3: a reflector that zeroes the SSID does not support it; stop
  // the run then (otherwise the replies are used and counted).
  bool stopOnZeroSsid = false;
  // RFC 8972 TLVs every test packet carries (tlv_* keys), and the Access
  // Report's retransmission timer and count (RFC 8972 4.6).
  tlv::RequestOptions tlvs;
  std::chrono::nanoseconds tlvAccessReportTimeout = std::chrono::seconds(3);
  uint32_t tlvAccessReportRetries = 4;
  bool operator==(const SessionConfig&) const = default;
};

struct Config {
  std::string path;
  DaemonConfig daemon;
  ReflectorConfig reflector;
  MetricsConfig metrics;
  ResultsConfig results;
  LimitsConfig limits;
  std::vector<SessionConfig> sessions;
};

// Limits on the text itself, checked by a cheap scan before the TOML
// parser sees it: toml++ follows dotted keys and table headers by
// recursion without a limit, so "a.a.a...= 1" 100000 parts deep exhausts
// its stack. stamp.toml needs 4 levels at most; these are generous.
// 10,000 [[session]] tables of a few keys each take about 1 MiB.
inline constexpr size_t kMaxConfigBytes = size_t{4} << 20;  // 4 MiB
// Levels of nesting at any point: each part of a table header or dotted
// key, each [[array of tables]], each array and inline table opened.
inline constexpr size_t kMaxConfigDepth = 32;

// Checks TOML text against kMaxConfigBytes and kMaxConfigDepth without
// parsing it. Error (EINVAL): "FILE:LINE:COLUMN: reason" at the byte
// beyond the size limit or the part that nests too deep. For every TOML
// file stampd reads.
Result<void> checkTomlShape(std::string_view text, const std::string& path);

// Parses TOML text (after checkTomlShape); `path` names the source in
// error messages.
Result<Config> parseConfig(std::string_view text, const std::string& path);
// Reads (at most kMaxConfigBytes, else an error) and parses a file.
Result<Config> loadConfig(const std::string& path);

}  // namespace stamp
