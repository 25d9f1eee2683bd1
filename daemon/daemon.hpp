// stampd as one object that wires the subsystems together: they are
// members constructed in dependency order (configuration, event loop,
// signals, clock, reflector, sender, results, metrics, control socket), so
// destruction stops them in reverse for free. What the subsystems do lives
// in their own units: service/commands (control commands and permissions),
// service/reload (the reload diff), service/status and
// service/metrics_render (rendering), service/run_recorder (journal and
// results store). The Daemon keeps the sessions and applies changes.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "kernel/clock.hpp"
#include "kernel/pin_root.hpp"
#include "kernel/sender_bpf.hpp"
#include "reflector/reflector.hpp"
#include "sender/schedule.hpp"
#include "sender/session.hpp"
#include "sender/session_table.hpp"
#include "service/commands.hpp"
#include "service/config.hpp"
#include "service/control_server.hpp"
#include "service/keys.hpp"
#include "service/limits.hpp"
#include "service/metrics.hpp"
#include "service/metrics_render.hpp"
#include "service/reload.hpp"
#include "service/run_recorder.hpp"

namespace stamp {

class Daemon final : public CommandTarget {
 public:
  // Loads and attaches everything; a failure is one line naming the cause.
  static Result<std::unique_ptr<Daemon>> create(Config cfg);
  ~Daemon() override;
  // Runs until SIGTERM or SIGINT; then stops sessions and detaches.
  Result<void> run();

  // CommandTarget
  const Config& config() const override { return cfg_; }
  nlohmann::json status() override;
  Result<StartedRun> startRun(SessionSpec spec, const ControlRequest& by, bool follow,
                              bool adhoc) override;
  std::vector<SessionView> sessions() const override;
  std::optional<ScheduleEntryInfo> scheduleInfo(const std::string& name) const override;
  std::optional<nlohmann::json> summary(const std::string& name) const override;
  std::optional<nlohmann::json> stopRun(const std::string& name) override;
  Result<nlohmann::json> reload() override;
  Result<nlohmann::json> results(const ResultsQuery& q) override;

 private:
  Daemon(Config cfg, EventLoop loop);
  Result<void> watch(int fd, void (Daemon::*handler)());
  void onSignal();
  void onTick();
  void onWatchdog();
  void onScheduleTimer();
  void onDisconnect(uint64_t client);
  void onRunFinished(const std::string& name);
  void onWindow(const std::string& name, nlohmann::json window);
  RunContext runContext(const std::string& name) const;
  // Whether the session's run in progress was started by the scheduler.
  bool runByScheduler(const std::string& name) const;
  // `user`: the client's uid for a run a command started (the per-user
  // limit), RunLedger::kNoUser for stampd's own.
  Result<Session*> startSession(SessionSpec spec, const ControlRequest* follower, uid_t user);
  // Keeps at most [limits] adhoc_runs_kept finished ad-hoc runs (and their
  // metrics series); `keep` is the run just finished.
  void retireAdhoc(const std::string& keep);
  // Whether a control client waits for a run (follows one): not idle.
  bool clientBusy(uint64_t client) const;
  Result<void> schedule(const SessionConfig& c, UnixNs now);
  void armScheduleTimer();
  Result<void> applyReflector(const Config& next, nlohmann::json& report);
  void applySessions(const Config& next, const ReloadPlan& plan);
  std::string statusLine() const;
  std::string renderMetrics() const;

  Config cfg_;
  KeyRing keys_;  // the key file's keys (midstates only), read at start and reload
  EventLoop loop_;
  UniqueFd pinLock_;  // flock on the bpffs root: one stampd per bpffs
  UniqueFd signals_, tick_, watchdog_;
  ClockState clock_;
  AttachMode attachMode_ = AttachMode::Auto;
  std::optional<Reflector> reflector_;
  std::optional<SenderBpf> sender_;
  RunRecorder recorder_;
  SessionMetrics metrics_;
  std::unique_ptr<MetricsServer> metricsServer_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<Commands> commands_;
  SessionTable sessions_;
  // Requests waiting for a run's end (session.start with follow), by name.
  std::map<std::string, std::vector<ControlRequest>> waiting_;
  // Ad-hoc sessions stop when the client that started them goes away.
  std::map<uint64_t, std::vector<std::string>> adhocByClient_;
  // Names of ad-hoc runs (started with a target by a command), and the
  // finished ones oldest first: what retireAdhoc() evicts.
  std::set<std::string> adhocNames_;
  std::deque<std::string> finishedAdhoc_;
  RunLedger ledger_;  // runs in progress against [limits]
  Scheduler scheduler_{0};
  UniqueFd scheduleTimer_;  // CLOCK_REALTIME, armed for scheduler_.nextWake()
  int64_t startedMono_ = 0;
  std::string lastStatus_;
  std::string lastRefreshError_;  // the reflector's last refresh failure, logged once
};

}  // namespace stamp
