// stampd as one object: subsystems are members constructed in dependency
// order (configuration, event loop, signals, clock, reflector, sender,
// control socket), so destruction stops them in reverse for free.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel/clock.hpp"
#include "service/config.hpp"
#include "service/keys.hpp"
#include "service/metrics.hpp"
#include "service/control_server.hpp"
#include "event_loop.hpp"
#include "kernel/pin_root.hpp"
#include "reflector/reflector.hpp"
#include "service/results_store.hpp"
#include "sender/schedule.hpp"
#include "kernel/sender_bpf.hpp"
#include "sender/session.hpp"

namespace stamp {

class Daemon {
 public:
  // Loads and attaches everything; a failure is one line naming the cause.
  static Result<std::unique_ptr<Daemon>> create(Config cfg);
  ~Daemon();
  // Runs until SIGTERM or SIGINT; then stops sessions and detaches.
  Result<void> run();

 private:
  explicit Daemon(Config cfg, EventLoop loop) : cfg_(std::move(cfg)), loop_(std::move(loop)) {}
  void onSignal();
  void onTick();
  void onRequest(const ControlServer::Request& r);
  void onDisconnect(uint64_t client);
  void cmdStatus(const ControlServer::Request& r);
  void cmdStart(const ControlServer::Request& r);
  void cmdList(const ControlServer::Request& r);
  void cmdShow(const ControlServer::Request& r);
  void cmdStop(const ControlServer::Request& r);
  void cmdReload(const ControlServer::Request& r);
  void cmdResults(const ControlServer::Request& r);
  // The results store: opened at start, retried every minute while it
  // fails; measuring never waits for it.
  void openStore();
  void recordRun(const std::string& name, const nlohmann::json& summary, bool window, UnixNs start,
                 UnixNs end, bool scheduled);
  // Whether the session's run in progress was started by the scheduler
  // (not by a command).
  bool runByScheduler(const std::string& name) const;
  void onWindow(const std::string& name, const nlohmann::json& summary);
  nlohmann::json storeJson() const;
  // Re-reads cfg_.path, validates it all, then applies the difference (see
  // control_protocol.hpp "reload" for the result). A refused file changes
  // nothing.
  Result<nlohmann::json> reload();
  Result<void> applyReflector(const Config& next, nlohmann::json& report);
  void applySessions(const Config& next, nlohmann::json& report);
  Result<void> schedule(const SessionConfig& c, UnixNs now);
  std::string statusLine() const;
  // The reflector's counters by attached interface name (zeros if none yet).
  std::map<std::string, stamp_refl_counters> reflectorCounters() const;
  std::map<std::string, stamp_state_counters> stateCounters() const;
  std::map<std::string, stamp_auth_counters> authCounters() const;
  std::map<std::string, stamp_tlv_counters> tlvCounters() const;
  std::map<std::string, stamp_guard_counters> guardCounters() const;
  void onWatchdog();
  void onSessionFinished(const std::string& name);
  // Starts a session; `client` (0: none) is told its replies when `follow`.
  Result<Session*> startSession(SessionSpec spec, const ControlServer::Request* follower);
  void onScheduleTimer();
  void armScheduleTimer();
  Session* find(const std::string& name);

  Config cfg_;
  KeyRing keys_;  // the key file's keys (midstates only), read at start and reload
  EventLoop loop_;
  UniqueFd pinLock_;  // flock on the bpffs root: one stampd per bpffs
  UniqueFd signals_, tick_, watchdog_;
  ClockState clock_;
  std::optional<Reflector> reflector_;
  std::optional<SenderBpf> sender_;
  std::unique_ptr<ControlServer> control_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<uint32_t, Session*> byId_;
  // Requests waiting for a run's end (session.start with follow), by name.
  std::map<std::string, std::vector<ControlServer::Request>> waiting_;
  // Ad-hoc sessions stop when the client that started them goes away.
  std::map<uint64_t, std::vector<std::string>> adhocByClient_;
  AttachMode attachMode_ = AttachMode::Auto;
  Scheduler scheduler_{0};
  UniqueFd scheduleTimer_;  // CLOCK_REALTIME, armed for scheduler_.nextWake()
  uint32_t nextId_ = 1;
  uint64_t adhocCounter_ = 0;
  int64_t startedMono_ = 0;
  std::string lastStatus_;

  // Prometheus series of a session name, across its runs.
  struct SessionSeries {
    std::string target;
    uint16_t port = 0;
    uint64_t runs = 0;
    // Totals of finished runs; a running run's figures are added at scrape.
    uint64_t sent = 0, received = 0, lost = 0, duplicates = 0, reordered = 0;
    PromHistogram rtt{delayBucketsSeconds()}, forward{delayBucketsSeconds()},
        backward{delayBucketsSeconds()};
    std::array<uint64_t, kOneWayFlags> flaggedForward{}, flaggedBackward{};
  };
  void onSample(const std::string& name, const ReplySample& s);
  std::string renderMetrics();
  std::map<std::string, SessionSeries> series_;
  std::unique_ptr<MetricsServer> metrics_;
  std::optional<ResultsStore> store_;
  std::string storeError_;  // why the store is unavailable or failed last
  int64_t storeRetryMono_ = 0;
  int64_t nextPruneMono_ = 0;
};

}  // namespace stamp
