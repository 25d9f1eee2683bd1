#include "daemon.hpp"

#include <csignal>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <ctime>
#include <unistd.h>

#include <random>
#include <string_view>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "libstamp/control_protocol.hpp"
#include "reflector/counters.hpp"
#include "service/logging.hpp"
#include "service/service_notify.hpp"
#include "service/status.hpp"

namespace stamp {
namespace {

int64_t monoSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

AttachMode attachModeOf(const std::string& attach) {
  return attach == "tcx" ? AttachMode::Tcx : attach == "tc" ? AttachMode::Tc : AttachMode::Auto;
}

}  // namespace

Daemon::Daemon(Config cfg, EventLoop loop)
    : cfg_(std::move(cfg)), loop_(std::move(loop)), recorder_(cfg_.daemon.stateDir, cfg_.results) {}

Result<void> Daemon::watch(int fd, void (Daemon::*handler)()) {
  return loop_.add(fd, EPOLLIN, [this, handler](uint32_t) { (this->*handler)(); });
}

Result<std::unique_ptr<Daemon>> Daemon::create(Config cfg) {
  // What cannot work is refused before bpffs is mounted or anything is
  // created (interfaces that do not exist, sessions this version cannot
  // run, missing keys): such a start leaves nothing behind and says why in
  // one line.
  if (cfg.reflector.enabled)
    if (auto ok = Reflector::check(cfg); !ok) return ok.error();
  for (const auto& c : cfg.sessions)
    if (auto spec = specFromConfig(c); !spec)
      return makeError(spec.error().code, cfg.path + ": " + spec.error().message);
  auto keys = keysFor(cfg);
  if (!keys) return keys.error();
  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  std::unique_ptr<Daemon> d(new Daemon(std::move(cfg), std::move(*loop)));
  Daemon* raw = d.get();
  d->startedMono_ = monoSeconds();
  d->keys_ = std::move(*keys);

  auto lock = lockPinRoot(d->cfg_.daemon.bpffs);
  if (!lock) return lock.error();
  d->pinLock_ = std::move(*lock);
  auto signals = makeSignalFd();
  if (!signals) return signals.error();
  d->signals_ = std::move(*signals);
  auto clock = readClock();
  if (!clock) return clock.error();
  d->clock_ = *clock;

  d->attachMode_ = attachModeOf(d->cfg_.daemon.attach);
  if (d->cfg_.reflector.enabled) {
    auto r = Reflector::start(d->cfg_, d->keys_, d->attachMode_, pinDirFor(d->cfg_.daemon.bpffs));
    if (!r) return r.error();
    d->reflector_.emplace(std::move(*r));
  }

  auto sender = SenderBpf::load(
      [raw](const stamp_rx_record& rec) { raw->sessions_.onRecord(rec, raw->clock_); },
      [raw](const stamp_tlv_record& rec) { raw->sessions_.onTlvRecord(rec, raw->clock_); },
      uint32_t(std::min<uint64_t>(d->cfg_.limits.maxSessions, 1u << 20)));
  if (!sender) return sender.error();
  d->sender_.emplace(std::move(*sender));
  if (auto r = d->sender_->setClock(d->clock_); !r) return r.error();

  d->recorder_.open(monoSeconds());

  auto tick = makePeriodicTimer(1'000'000'000);
  if (!tick) return tick.error();
  d->tick_ = std::move(*tick);

  // Scheduled sessions: the first run is the next slot after now, so runs
  // missed while stampd was down are not replayed.
  d->scheduler_ = Scheduler(std::random_device{}());
  UnixNs now = realtimeNow();
  for (const auto& c : d->cfg_.sessions)
    if (auto r = d->schedule(c, now); !r) return r.error();
  int stfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (stfd < 0) return errnoError("timerfd_create");
  d->scheduleTimer_.reset(stfd);

  if (!d->cfg_.metrics.listen.empty()) {
    auto m = MetricsServer::start(d->cfg_.metrics.listen, d->loop_,
                                  [raw] { return raw->renderMetrics(); });
    if (!m) return m.error();
    d->metricsServer_ = std::move(*m);
    d->metricsServer_->setMaxClients(d->cfg_.limits.maxMetricsClients);
    spdlog::info("Prometheus metrics on http://{}/metrics", d->cfg_.metrics.listen);
  }

  auto control = ControlServer::listen(
      d->cfg_.daemon.socket, d->loop_,
      [raw](const ControlRequest& r) { raw->commands_->dispatch(r); },
      [raw](uint64_t client) { raw->onDisconnect(client); });
  if (!control) return control.error();
  d->control_ = std::move(*control);
  d->control_->setLimits({d->cfg_.limits.maxControlClients, d->cfg_.limits.controlIdleTimeout});
  d->commands_ = std::make_unique<Commands>(*raw, *d->control_);

  for (auto [fd, handler] : {std::pair{d->signals_.get(), &Daemon::onSignal},
                             {d->tick_.get(), &Daemon::onTick},
                             {d->scheduleTimer_.get(), &Daemon::onScheduleTimer}})
    if (auto r = d->watch(fd, handler); !r) return r.error();
  if (auto r = d->loop_.add(d->sender_->eventFd(), EPOLLIN,
                            [raw](uint32_t) { raw->sender_->consume(); });
      !r)
    return r.error();
  // Continuous sessions' replies do not wake the loop (STAMP_SEND_F_WAKE):
  // they are drained before any session timer runs, so no timer judges a
  // packet whose reply is already queued.
  d->loop_.beforeTimers([raw] { raw->sender_->consume(); });
  d->loop_.afterTimers([raw] { raw->recorder_.flush(); });
  // The watchdog is fed from the loop itself, twice per WatchdogSec, so a
  // stuck loop is what systemd notices.
  if (auto wd = service::watchdogInterval()) {
    auto t = makePeriodicTimer(uint64_t(wd->count()) * 1000 / 2);
    if (!t) return t.error();
    d->watchdog_ = std::move(*t);
    if (auto r = d->watch(d->watchdog_.get(), &Daemon::onWatchdog); !r) return r.error();
  }
  d->armScheduleTimer();
  return d;
}

Daemon::~Daemon() {
  // Sessions first: they hold entries of the sender's maps and loop fds.
  sessions_.clear();
}

Result<void> Daemon::run() {
  spdlog::info("stampd {} running: reflector {} on UDP port(s) {}; control socket {}",
               STAMPD_VERSION, cfg_.reflector.enabled ? "enabled" : "disabled",
               portList(cfg_.reflector), cfg_.daemon.socket);
  service::ready(statusLine());
  auto ran = loop_.run();
  service::stopping();
  sessions_.stopAll();
  recorder_.flush();  // the windows the stop closed
  Result<void> res = ran;
  if (reflector_)
    if (auto r = reflector_->stop(); !r && res.ok()) res = r;
  if (sender_)
    if (auto r = sender_->detachAll(); !r && res.ok()) res = r;
  if (res.ok())
    spdlog::info("stopped; {}", reflector_ ? "the reflector stays pinned and answering "
                                             "(stampd --teardown removes it)"
                                           : "programs detached");
  return res;
}

void Daemon::onSignal() {
  signalfd_siginfo si{};
  while (read(signals_.get(), &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGHUP) {
      (void)reload();  // logs the outcome either way
      continue;
    }
    spdlog::info("signal {}: stopping", si.ssi_signo);
    loop_.stop();
  }
}

void Daemon::onTick() {
  uint64_t n = 0;
  (void)!read(tick_.get(), &n, sizeof(n));
  recorder_.flush();  // windows closed outside a timer (a stop over the control socket)
  if (auto c = readClock(); c) {
    clock_ = *c;
    if (auto r = sender_->setClock(clock_); !r) spdlog::warn("sender clock: {}", r.error().message);
  }
  if (reflector_) {
    // Once per distinct failure, not once a second while it lasts.
    auto r = reflector_->refresh();
    std::string err = r ? std::string() : r.error().message;
    if (!err.empty() && err != lastRefreshError_)
      spdlog::warn("reflector refresh: {} (answering on the last known addresses)", err);
    else if (err.empty() && !lastRefreshError_.empty())
      spdlog::info("reflector refresh works again");
    lastRefreshError_ = std::move(err);
  }
  recorder_.tick(monoSeconds(), realtimeNow());
  control_->sweep([this](uint64_t client) { return clientBusy(client); });
  if (std::string s = statusLine(); s != lastStatus_) {
    service::status(s);
    lastStatus_ = std::move(s);
  }
}

void Daemon::onWatchdog() {
  uint64_t n = 0;
  (void)!read(watchdog_.get(), &n, sizeof(n));
  service::watchdog();
}

std::string Daemon::statusLine() const {
  return stamp::statusLine(cfg_.reflector, reflector_.has_value(), cfg_.daemon.interfaces.size(),
                           sessions_.running(), scheduler_.size());
}

nlohmann::json Daemon::status() {
  StatusInput in{STAMPD_VERSION, getpid(),     monoSeconds() - startedMono_, clock_,
                 cfg_.reflector, std::nullopt, sessions_.running(),          recorder_.storeJson()};
  if (reflector_) in.reflector = readSnapshot(reflector_->bpf());
  return renderStatus(in);
}

std::string Daemon::renderMetrics() const {
  MetricsInput in;
  in.version = STAMPD_VERSION;
  in.clock = clock_;
  in.series = &metrics_.series();
  for (const auto& [name, s] : sessions_.all())
    in.live[name] = {formatIp(s->spec().target), s->spec().port, !s->finished(),
                     s->finished() ? RunCounts{} : RunCounts::from(s->counters())};
  if (reflector_) in.reflector = readSnapshot(reflector_->bpf());
  in.reflectorPorts = cfg_.reflector.ports;
  return stamp::renderMetrics(in);
}

void Daemon::onDisconnect(uint64_t client) {
  for (auto& [name, waiters] : waiting_)
    std::erase_if(waiters, [client](const auto& w) { return w.client == client; });
  auto it = adhocByClient_.find(client);
  if (it == adhocByClient_.end()) return;
  for (const auto& name : it->second)
    if (Session* s = sessions_.find(name); s && !s->finished()) {
      spdlog::info("session {}: its client went away; stopping", name);
      s->stop();
    }
  adhocByClient_.erase(it);
}

Result<StartedRun> Daemon::startRun(SessionSpec spec, const ControlRequest& by, bool follow,
                                    bool adhoc) {
  auto started = startSession(std::move(spec), follow ? &by : nullptr, by.uid);
  if (!started) return started.error();
  const Session& s = **started;
  const std::string& name = s.spec().name;
  if (adhoc) {
    adhocNames_.insert(name);
    std::erase(finishedAdhoc_, name);  // running again: not a candidate for eviction
  }
  if (follow) {
    if (adhoc) adhocByClient_[by.client].push_back(name);
    waiting_[name].push_back(by);
  }
  return StartedRun{name, s.spec().ssid, formatIp(s.spec().target), s.spec().port, s.localPort()};
}

Result<Session*> Daemon::startSession(SessionSpec spec, const ControlRequest* follower,
                                      uid_t user) {
  if (!spec.authKey.empty()) {
    const stamp_hmac_key* k = keys_.find(spec.authKey);
    if (!k)
      return makeError(EINVAL,
                       "auth_key '" + spec.authKey + "' is not a key of " +
                           (cfg_.daemon.keyFile.empty() ? std::string("[daemon] key_file (unset)")
                                                        : cfg_.daemon.keyFile));
    spec.hmac = *k;
  }
  if (Session* old = sessions_.find(spec.name); old && !old->finished())
    return makeError(EBUSY, "session '" + spec.name + "' is already running");
  const RunDemand demand = demandOf(spec);
  if (auto ok = ledger_.admit(cfg_.limits, spec.name, demand, user); !ok) {
    spdlog::warn("{}", ok.error().message);
    return ok.error();
  }
  // The sender's programs join the tc hooks with the first session, so that
  // a reflector-only host runs only the reflector per packet.
  for (const auto& ifname : cfg_.daemon.interfaces)
    if (auto a = sender_->attach(ifname, attachMode_); !a) return a.error();

  const std::string name = spec.name;
  Session::Observer obs;
  if (follower) {
    Replier* replier = control_.get();
    ControlRequest req = *follower;
    obs.onReply = [replier, req](const nlohmann::json& j) {
      if (replier->connected(req.client)) replier->event(req, control::kEventReply, j);
    };
  }
  obs.onFinished = [this, name] { onRunFinished(name); };
  const bool knownSeries = metrics_.series().contains(name);
  SessionSeries* series = &metrics_.seriesOf(name);
  obs.onSample = [series](const ReplySample& r) { SessionMetrics::sample(*series, r); };
  obs.onWindow = [this, name](nlohmann::json j) { onWindow(name, std::move(j)); };
  auto s = sessions_.start(std::move(spec), loop_, &*sender_, clock_, std::move(obs));
  if (!s) {
    if (!knownSeries) metrics_.forget(name);  // no series for a run that never started
    return s.error();
  }
  ledger_.add(name, demand, user);
  const SessionSpec& sp = (*s)->spec();
  LogFields fields{{"STAMP_SESSION", name}, {"STAMP_TARGET", formatIp(sp.target)}};
  spdlog::info("session {} started: target {} port {} count {} interval {} ns", name,
               formatIp(sp.target), sp.port, sp.count, sp.interval.count());
  metrics_.started(name, formatIp(sp.target), sp.port);
  return *s;
}

void Daemon::retireAdhoc(const std::string& keep) {
  std::erase(finishedAdhoc_, keep);
  finishedAdhoc_.push_back(keep);
  while (finishedAdhoc_.size() > std::max<size_t>(cfg_.limits.adhocRunsKept, 1)) {
    std::string old = std::move(finishedAdhoc_.front());
    finishedAdhoc_.pop_front();
    if (const Session* s = sessions_.find(old); s && !s->finished()) continue;
    sessions_.erase(old);
    metrics_.forget(old);
    adhocNames_.erase(old);
  }
}

bool Daemon::clientBusy(uint64_t client) const {
  for (const auto& [name, waiters] : waiting_)
    for (const auto& w : waiters)
      if (w.client == client) return true;
  return false;
}

std::vector<SessionView> Daemon::sessions() const {
  std::vector<SessionView> v;
  for (const auto& [name, s] : sessions_.all())
    v.push_back({name, formatIp(s->spec().target), s->spec().port, !s->finished(), s->startedAt(),
                 RunCounts::from(s->counters())});
  return v;
}

std::optional<ScheduleEntryInfo> Daemon::scheduleInfo(const std::string& name) const {
  return scheduler_.info(name);
}

std::optional<nlohmann::json> Daemon::summary(const std::string& name) const {
  const Session* s = sessions_.find(name);
  if (!s) return std::nullopt;
  return s->summary();
}

std::optional<nlohmann::json> Daemon::stopRun(const std::string& name) {
  Session* s = sessions_.find(name);
  if (!s) return std::nullopt;
  s->stop();  // answers followers through onRunFinished
  return s->summary();
}

Result<nlohmann::json> Daemon::results(const ResultsQuery& q) {
  return recorder_.query(q);
}

void Daemon::armScheduleTimer() {
  itimerspec its{};
  if (auto wake = scheduler_.nextWake(); wake && *wake != Schedule::kNever) {
    UnixNs t = std::max<UnixNs>(*wake, 1);
    its.it_value.tv_sec = time_t(t / kNsPerSec);
    its.it_value.tv_nsec = long(t % kNsPerSec);
  }
  timerfd_settime(scheduleTimer_.get(), TFD_TIMER_ABSTIME, &its, nullptr);
}

void Daemon::onScheduleTimer() {
  uint64_t n = 0;
  (void)!read(scheduleTimer_.get(), &n, sizeof(n));
  UnixNs now = realtimeNow();
  for (const std::string& name : scheduler_.due(now)) {
    auto it = std::find_if(cfg_.sessions.begin(), cfg_.sessions.end(),
                           [&](const SessionConfig& c) { return c.name == name; });
    if (it == cfg_.sessions.end()) continue;
    auto spec = specFromConfig(*it);
    if (!spec) {
      spdlog::error("scheduled run of {}: {}", name, spec.error().message);
      continue;
    }
    if (auto s = startSession(std::move(*spec), nullptr, RunLedger::kNoUser); !s) {
      spdlog::warn("scheduled run of {} skipped: {}", name, s.error().message);
      continue;
    }
    (void)scheduler_.started(name, now);
  }
  armScheduleTimer();
}

Result<void> Daemon::schedule(const SessionConfig& c, UnixNs now) {
  if (c.schedule.empty() || !c.enabled) return {};
  ScheduleOptions opts{c.localTime ? ScheduleZone::kLocal : ScheduleZone::kUtc, now};
  auto sched = Schedule::parse(c.schedule, opts);
  if (!sched) return makeError(EINVAL, "session '" + c.name + "': " + sched.error().message);
  if (scheduler_.info(c.name)) return scheduler_.update(c.name, std::move(*sched), c.splay, now);
  return scheduler_.add(c.name, std::move(*sched), c.splay, now);
}

bool Daemon::runByScheduler(const std::string& name) const {
  auto info = scheduler_.info(name);
  return info && info->running;
}

RunContext Daemon::runContext(const std::string& name) const {
  RunContext ctx;
  ctx.scheduled = runByScheduler(name);
  ctx.local = clock_.errorEstimate;
  if (const Session* s = sessions_.find(name)) {
    ctx.local = s->localClock();
    ctx.remote = s->remoteClock();
    ctx.start = s->startedAt();
  }
  ctx.end = realtimeNow();
  return ctx;
}

void Daemon::onRunFinished(const std::string& name) {
  Session* s = sessions_.find(name);
  if (!s) return;
  RunContext ctx = runContext(name);
  if (ctx.scheduled) {
    (void)scheduler_.finished(name, realtimeNow());
    armScheduleTimer();
  }
  ledger_.remove(name);
  nlohmann::json sum = s->summary();
  metrics_.finished(name, RunCounts::from(s->counters()));
  // A continuous session's run is stored window by window instead.
  recorder_.runFinished(name, sum, ctx, s->spec().window.count() == 0);
  if (auto it = waiting_.find(name); it != waiting_.end()) {
    for (const auto& req : it->second) control_->respond(req, sum);
    waiting_.erase(it);
  }
  if (adhocNames_.contains(name)) retireAdhoc(name);
}

void Daemon::onWindow(const std::string& name, nlohmann::json w) {
  recorder_.windowClosed(name, std::move(w), runContext(name));
}

Result<nlohmann::json> Daemon::reload() {
  auto fail = [this](const Error& e) -> Result<nlohmann::json> {
    // One log record: a file's several problems joined with " | ".
    std::string oneLine = e.message;
    for (size_t at = 0; (at = oneLine.find('\n')) != std::string::npos;)
      oneLine.replace(at, 1, " | ");
    spdlog::error("reload failed, keeping the running configuration: {}", oneLine);
    service::ready(statusLine());
    return e;
  };
  service::reloading();
  auto loaded = loadConfig(cfg_.path);
  if (!loaded) return fail(makeError(EINVAL, loaded.error().message));
  Config next = std::move(*loaded);
  ReloadPlan plan = planReload(cfg_, next);
  for (const auto& key : plan.restartRequired)
    spdlog::warn("reload: {} changed; it takes effect at the next restart of stampd", key);
  auto keys = validateReload(next);
  if (!keys) return fail(keys.error());

  if (plan.logLevelChanged) spdlog::set_level(spdlog::level::from_str(next.daemon.logLevel));
  if (plan.resultsChanged) recorder_.setRetention(next.results);
  keys_ = std::move(*keys);
  nlohmann::json report = {{"config", cfg_.path},
                           {"changed", plan.anyChange},
                           {"restart_required", plan.restartRequired},
                           {"sessions", sessionsReport(plan)}};
  auto applied = applyReflector(next, report);
  applySessions(next, plan);
  cfg_ = std::move(next);
  control_->setLimits({cfg_.limits.maxControlClients, cfg_.limits.controlIdleTimeout});
  if (metricsServer_) metricsServer_->setMaxClients(cfg_.limits.maxMetricsClients);
  armScheduleTimer();
  if (!applied) {
    // Validated but not fully applied (an attach failed): what did apply
    // stays, and the caller hears why.
    spdlog::error("reload applied only in part: {}", applied.error().message);
    service::ready(statusLine());
    return applied.error();
  }
  auto names = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ",") + n;
    return s.empty() ? std::string("none") : s;
  };
  spdlog::info("reloaded {}: {}; sessions added {}, removed {}, changed {}; {} unchanged",
               cfg_.path, plan.anyChange ? "changes applied" : "nothing changed", names(plan.added),
               names(plan.removed), names(plan.changed), plan.unchanged.size());
  service::ready(statusLine());
  return report;
}

Result<void> Daemon::applyReflector(const Config& next, nlohmann::json& report) {
  nlohmann::json& refl = report["reflector"];
  refl = {{"enabled", next.reflector.enabled},
          {"ports", next.reflector.ports},
          {"attached", nlohmann::json::array()},
          {"detached", nlohmann::json::array()}};
  // The sender's programs follow the interface list too (if attached).
  for (const auto& ifname : cfg_.daemon.interfaces)
    if (std::find(next.daemon.interfaces.begin(), next.daemon.interfaces.end(), ifname) ==
        next.daemon.interfaces.end())
      if (auto r = sender_->detach(ifname); !r)
        spdlog::warn("sender on {}: {}", ifname, r.error().message);
  if (sessions_.running() > 0)
    for (const auto& ifname : next.daemon.interfaces)
      if (auto r = sender_->attach(ifname, attachMode_); !r) return r.error();

  if (!next.reflector.enabled) {
    if (!reflector_) return {};
    auto r = reflector_->shutdown();
    refl["detached"] = cfg_.daemon.interfaces;
    reflector_.reset();
    auto removed = ReflectorBpf::teardown(pinDirFor(cfg_.daemon.bpffs));
    spdlog::info("reload: reflector disabled; detached and unpinned");
    if (!r) return r;
    if (!removed) return removed.error();
    return {};
  }
  if (!reflector_) {
    auto r = Reflector::start(next, keys_, attachMode_, pinDirFor(cfg_.daemon.bpffs));
    if (!r) return r.error();
    reflector_.emplace(std::move(*r));
    refl["attached"] = next.daemon.interfaces;
    spdlog::info("reload: reflector enabled");
    return {};
  }
  auto change = reflector_->update(next, keys_, attachMode_);
  if (!change) return change.error();
  refl["attached"] = change->attached;
  refl["detached"] = change->detached;
  return {};
}

void Daemon::applySessions(const Config& next, const ReloadPlan& plan) {
  // A run of a session that is removed or changed stops now (its summary is
  // logged and its followers answered); the new definition applies from its
  // next run.
  for (const auto& [name, why] : plan.stopRuns)
    if (Session* s = sessions_.find(name); s && !s->finished()) {
      spdlog::info("session {}: {} at reload; stopping its run", name, why);
      s->stop();
    }
  for (const auto& name : plan.unschedule) (void)scheduler_.remove(name);
  for (const auto& name : plan.removed) {
    sessions_.erase(name);
    metrics_.forget(name);
  }
  // Only what the plan names is touched: an unchanged session keeps its
  // schedule entry, its run and its metrics series as they are.
  if (plan.reschedule.empty()) return;
  const std::unordered_set<std::string_view> reschedule(plan.reschedule.begin(),
                                                        plan.reschedule.end());
  UnixNs now = realtimeNow();
  for (const auto& c : next.sessions)
    if (reschedule.contains(c.name))
      if (auto r = schedule(c, now); !r) spdlog::error("reload: {}", r.error().message);
}

}  // namespace stamp
