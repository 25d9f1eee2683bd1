// stampd's Prometheus metrics: the per-session series kept across runs
// (SessionMetrics) and the rendering of every family from a snapshot of
// the daemon (renderMetrics), testable without root or BPF. The text
// format and the HTTP endpoint are service/metrics.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel/clock.hpp"
#include "reflector/counters.hpp"
#include "sender/stats.hpp"
#include "service/metrics.hpp"

namespace stamp {

// The packet counts of a run (the typed part of its summary that the
// metrics and the journal use).
struct RunCounts {
  uint64_t sent = 0, received = 0, lost = 0, duplicates = 0, reordered = 0;
  static RunCounts from(const Summary& s) {
    return {s.sent, s.received, s.lost, s.duplicates, s.reordered};
  }
};

// A session name's series across its runs.
struct SessionSeries {
  std::string target;
  uint16_t port = 0;
  uint64_t runs = 0;
  RunCounts finished;  // totals of finished runs; a running run is added at scrape
  PromHistogram rtt{sharedDelayBuckets()}, forward{sharedDelayBuckets()},
      backward{sharedDelayBuckets()};
  std::array<uint64_t, kOneWayFlags> flaggedForward{}, flaggedBackward{};
};

class SessionMetrics {
 public:
  // A run of `name` starts: its labels.
  void started(const std::string& name, const std::string& target, uint16_t port);
  // One reply of a run of `name`.
  void sample(const std::string& name, const ReplySample& r);
  // The same without the lookup by name, for the reply path: the series of
  // `name`, created if new, which stays where it is until forget(name)
  // (only ever called once the run has finished).
  SessionSeries& seriesOf(const std::string& name);
  static void sample(SessionSeries& series, const ReplySample& r);
  // A run of `name` ended with these counts.
  void finished(const std::string& name, const RunCounts& c);
  // Drops the series of `name` (an evicted ad-hoc run, a removed session):
  // it leaves the next scrape.
  void forget(const std::string& name) { series_.erase(name); }
  const std::map<std::string, SessionSeries>& series() const { return series_; }

 private:
  std::map<std::string, SessionSeries> series_;
};

// A session that exists now (running or finished), as the scrape sees it.
struct LiveSession {
  std::string target;
  uint16_t port = 0;
  bool running = false;
  RunCounts current;  // the run in progress (only added while running)
};

struct MetricsInput {
  std::string version;
  ClockState clock;
  const std::map<std::string, SessionSeries>* series = nullptr;
  std::map<std::string, LiveSession> live;
  std::optional<ReflectorSnapshot> reflector;  // set while the reflector runs
  std::vector<uint16_t> reflectorPorts;
};

// The body of GET /metrics.
std::string renderMetrics(const MetricsInput& in);

}  // namespace stamp
