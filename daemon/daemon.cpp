#include "daemon.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include <random>
#include <unistd.h>

#include <grp.h>
#include <spdlog/spdlog.h>

#include "libstamp/control_protocol.hpp"
#include "service/logging.hpp"
#include "service/service_notify.hpp"

namespace stamp {
namespace {

int64_t monoSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

nlohmann::json clockJson(const ClockState& c) {
  auto ee = c.errorEstimate;
  auto err = ee.errorNs();
  return {{"synchronized", c.synchronized},
          {"tai_offset_s", c.taiOffsetSec},
          {"esterror_ns", c.estErrorNs},
          {"maxerror_ns", c.maxErrorNs},
          {"error_estimate",
           {{"s", ee.synchronized},
            {"z", ee.ptp},
            {"scale", ee.scale},
            {"multiplier", ee.multiplier},
            {"error_ns", err ? nlohmann::json(*err) : nlohmann::json(nullptr)}}}};
}

// Drops by the guards, as status and the metrics name them.
struct GuardDrop {
  const char* name;
  __u64 stamp_guard_counters::*field;
};
constexpr GuardDrop kGuardDrops[] = {
    {"not_allowed", &stamp_guard_counters::not_allowed},
    {"rate_per_source", &stamp_guard_counters::rate_per_source},
    {"rate_global", &stamp_guard_counters::rate_global}};

// [reflector] guards as status shows them: bursts as they apply.
nlohmann::json guardsJson(const ReflectorConfig& rc) {
  auto prefixes = [](const std::vector<IpPrefix>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& p : v) a.push_back(formatPrefix(p));
    return a;
  };
  auto burst = [](uint32_t rate, uint32_t b) { return rate == 0 ? 0 : b ? b : rate; };
  return {{"allow", prefixes(rc.allow)},
          {"deny", prefixes(rc.deny)},
          {"rate_limit_per_source", rc.rateLimitPerSource},
          {"rate_limit_per_source_burst", burst(rc.rateLimitPerSource, rc.rateLimitPerSourceBurst)},
          {"rate_limit", rc.rateLimit},
          {"rate_limit_burst", burst(rc.rateLimit, rc.rateLimitBurst)}};
}

const char* dropName(int reason) {
  switch (reason) {
    case STAMP_DROP_BAD_SOURCE:
      return "bad_source";
    case STAMP_DROP_SRC_PORT_ZERO:
      return "source_port_zero";
    case STAMP_DROP_MALFORMED:
      return "malformed";
    case STAMP_DROP_BAD_CHECKSUM:
      return "bad_checksum";
    case STAMP_DROP_RESIZE:
      return "resize_failed";
    case STAMP_DROP_UNSUPPORTED:
      return "unsupported_mode";
  }
  return "unknown";
}

// Commands that change state need root or the stamp group (control
// protocol: only the local socket mutates, and only for those users).
bool mayMutate(const ControlServer::Request& r);

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(Config cfg) {
  // Sessions this version cannot run are refused before anything is touched.
  for (const auto& c : cfg.sessions)
    if (auto spec = specFromConfig(c); !spec)
      return makeError(spec.error().code, cfg.path + ": " + spec.error().message);
  auto keys = keysFor(cfg);
  if (!keys) return keys.error();
  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  std::unique_ptr<Daemon> d(new Daemon(std::move(cfg), std::move(*loop)));
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

  AttachMode mode = d->cfg_.daemon.attach == "tcx"  ? AttachMode::Tcx
                    : d->cfg_.daemon.attach == "tc" ? AttachMode::Tc
                                                    : AttachMode::Auto;
  if (d->cfg_.reflector.enabled) {
    auto r = Reflector::start(d->cfg_, d->keys_, mode, pinDirFor(d->cfg_.daemon.bpffs));
    if (!r) return r.error();
    d->reflector_.emplace(std::move(*r));
  }

  Daemon* raw = d.get();
  auto sender = SenderBpf::load(
      [raw](const stamp_rx_record& rec) {
        auto it = raw->byId_.find(rec.session_id);
        if (it != raw->byId_.end()) it->second->onRecord(rec, raw->clock_);
      },
      [raw](const stamp_tlv_record& rec) {
        auto it = raw->byId_.find(rec.session_id);
        if (it != raw->byId_.end()) it->second->onTlvRecord(rec, raw->clock_);
      });
  if (!sender) return sender.error();
  d->sender_.emplace(std::move(*sender));
  if (auto r = d->sender_->setClock(d->clock_); !r) return r.error();
  d->attachMode_ = mode;

  d->openStore();

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
    d->metrics_ = std::move(*m);
    spdlog::info("Prometheus metrics on http://{}/metrics", d->cfg_.metrics.listen);
  }

  auto control = ControlServer::listen(
      d->cfg_.daemon.socket, d->loop_,
      [raw](const ControlServer::Request& r) { raw->onRequest(r); },
      [raw](uint64_t client) { raw->onDisconnect(client); });
  if (!control) return control.error();
  d->control_ = std::move(*control);

  int sfd = d->signals_.get(), tfd = d->tick_.get(), rfd = d->sender_->eventFd();
  if (auto r = d->loop_.add(sfd, EPOLLIN, [raw](uint32_t) { raw->onSignal(); }); !r)
    return r.error();
  if (auto r = d->loop_.add(tfd, EPOLLIN, [raw](uint32_t) { raw->onTick(); }); !r) return r.error();
  if (auto r = d->loop_.add(rfd, EPOLLIN, [raw](uint32_t) { raw->sender_->consume(); }); !r)
    return r.error();
  if (auto r = d->loop_.add(stfd, EPOLLIN, [raw](uint32_t) { raw->onScheduleTimer(); }); !r)
    return r.error();
  // The watchdog is fed from the loop itself, twice per WatchdogSec, so a
  // stuck loop is what systemd notices.
  if (auto wd = service::watchdogInterval()) {
    auto t = makePeriodicTimer(uint64_t(wd->count()) * 1000 / 2);
    if (!t) return t.error();
    d->watchdog_ = std::move(*t);
    if (auto r = d->loop_.add(d->watchdog_.get(), EPOLLIN, [raw](uint32_t) { raw->onWatchdog(); });
        !r)
      return r.error();
  }
  d->armScheduleTimer();
  return d;
}

Daemon::~Daemon() {
  // Sessions first: they hold entries of the sender's maps and loop fds.
  sessions_.clear();
  byId_.clear();
}

Result<void> Daemon::run() {
  std::string ports;
  for (auto p : cfg_.reflector.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("stampd {} running: reflector {} on UDP port(s) {}; control socket {}",
               STAMPD_VERSION, cfg_.reflector.enabled ? "enabled" : "disabled", ports,
               cfg_.daemon.socket);
  service::ready(statusLine());
  auto ran = loop_.run();
  service::stopping();
  for (auto& [name, s] : sessions_) s->stop();
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
  uint64_t n;
  (void)!read(tick_.get(), &n, sizeof(n));
  if (auto c = readClock(); c) {
    clock_ = *c;
    if (sender_)
      if (auto r = sender_->setClock(clock_); !r)
        spdlog::warn("sender clock: {}", r.error().message);
  }
  if (reflector_)
    if (auto r = reflector_->refresh(); !r)
      spdlog::warn("reflector refresh: {}", r.error().message);
  if (!store_ && monoSeconds() >= storeRetryMono_) openStore();
  // Retention by age also when no run ends for a while (record() prunes
  // as it writes).
  if (store_ && monoSeconds() >= nextPruneMono_) {
    nextPruneMono_ = monoSeconds() + 3600;
    if (auto n = store_->prune(realtimeNow()); !n)
      spdlog::error("results store: retention failed: {}", n.error().message);
    else if (*n)
      spdlog::info("results store: {} runs past retention deleted", *n);
  }
  if (std::string s = statusLine(); s != lastStatus_) {
    service::status(s);
    lastStatus_ = std::move(s);
  }
}

void Daemon::onWatchdog() {
  uint64_t n;
  (void)!read(watchdog_.get(), &n, sizeof(n));
  service::watchdog();
}

std::string Daemon::statusLine() const {
  size_t running = 0;
  for (const auto& [n, s] : sessions_) running += !s->finished();
  std::string ports;
  for (auto p : cfg_.reflector.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  std::string refl = reflector_ ? "reflecting on " + std::to_string(cfg_.daemon.interfaces.size()) +
                                      " interface(s), port(s) " + ports
                                : "reflector disabled";
  return refl + "; " + std::to_string(running) + " session(s) running, " +
         std::to_string(scheduler_.size()) + " scheduled";
}

void Daemon::onRequest(const ControlServer::Request& r) {
  if (r.command == control::kStatus) return cmdStatus(r);
  if (r.command == control::kResults) return cmdResults(r);
  if (r.command == control::kSessionList) return cmdList(r);
  if (r.command == control::kSessionShow) return cmdShow(r);
  if (r.command == control::kSessionStart || r.command == control::kSessionStop ||
      r.command == control::kReload) {
    if (!mayMutate(r))
      return control_->fail(r, control::kErrPermission,
                            "'" + r.command + "' needs root or membership of the stamp group");
    if (r.command == control::kReload) return cmdReload(r);
    return r.command == control::kSessionStart ? cmdStart(r) : cmdStop(r);
  }
  control_->fail(r, control::kErrUnknownCommand, "unknown command '" + r.command + "'");
}

void Daemon::onDisconnect(uint64_t client) {
  for (auto& [name, waiters] : waiting_)
    std::erase_if(waiters, [client](const auto& w) { return w.client == client; });
  auto it = adhocByClient_.find(client);
  if (it == adhocByClient_.end()) return;
  for (const auto& name : it->second)
    if (Session* s = find(name); s && !s->finished()) {
      spdlog::info("session {}: its client went away; stopping", name);
      s->stop();
    }
  adhocByClient_.erase(it);
}

Session* Daemon::find(const std::string& name) {
  auto it = sessions_.find(name);
  return it == sessions_.end() ? nullptr : it->second.get();
}

namespace {

// Per-ifindex counters as the BPF maps keep them, by attached interface
// name (zeros for an interface not seen yet).
template <typename C>
std::map<std::string, C> byInterface(const ReflectorBpf& bpf,
                                     Result<std::map<unsigned, C>> counters) {
  std::map<std::string, C> out;
  for (const auto& [ifname, kind] : bpf.attachments()) {
    C c{};
    if (auto idx = interfaceIndex(ifname); idx && counters)
      if (auto it = counters->find(*idx); it != counters->end()) c = it->second;
    out[ifname] = c;
  }
  return out;
}

}  // namespace

std::map<std::string, stamp_state_counters> Daemon::stateCounters() const {
  if (!reflector_) return {};
  return byInterface(reflector_->bpf(), reflector_->bpf().stateCounters());
}

std::map<std::string, stamp_auth_counters> Daemon::authCounters() const {
  if (!reflector_) return {};
  return byInterface(reflector_->bpf(), reflector_->bpf().authCounters());
}

std::map<std::string, stamp_tlv_counters> Daemon::tlvCounters() const {
  if (!reflector_) return {};
  return byInterface(reflector_->bpf(), reflector_->bpf().tlvCounters());
}

std::map<std::string, stamp_guard_counters> Daemon::guardCounters() const {
  if (!reflector_) return {};
  return byInterface(reflector_->bpf(), reflector_->bpf().guardCounters());
}

std::map<std::string, stamp_refl_counters> Daemon::reflectorCounters() const {
  if (!reflector_) return {};
  return byInterface(reflector_->bpf(), reflector_->bpf().counters());
}

void Daemon::cmdStatus(const ControlServer::Request& r) {
  nlohmann::json refl = {
      {"enabled", cfg_.reflector.enabled},
      {"ports", cfg_.reflector.ports},
      {"mode", cfg_.reflector.mode == ReflectorMode::Stateful ? "stateful" : "stateless"},
      {"timestamp_format", cfg_.reflector.tsFormat == TsFormat::Ptp ? "ptp" : "ntp"},
      {"authenticated", !cfg_.reflector.authKey.empty()},
      {"tlvs", cfg_.reflector.tlvs},
      {"guards", guardsJson(cfg_.reflector)},
      {"interfaces", nlohmann::json::object()}};
  // The key's name only; its value never leaves stampd.
  if (!cfg_.reflector.authKey.empty()) refl["auth_key"] = cfg_.reflector.authKey;
  // The replies' DSCP and ECN: "copy" (the request's) or the configured value.
  auto copyOr = [](const std::optional<uint8_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json("copy");
  };
  refl["dscp"] = copyOr(cfg_.reflector.dscp);
  refl["ecn"] = copyOr(cfg_.reflector.ecn);
  if (reflector_) {
    refl["max_sessions"] = reflector_->bpf().maxSessions();
    if (auto n = reflector_->bpf().sessionCount()) refl["sessions"] = *n;
    auto kinds = reflector_->bpf().attachments();
    auto state = stateCounters();
    auto auth = authCounters();
    auto tlvs = tlvCounters();
    auto guard = guardCounters();
    for (const auto& [ifname, c] : reflectorCounters()) {
      nlohmann::json i = {{"attach", kinds[ifname]}};
      i["rx"] = c.rx;
      i["reflected"] = c.reflected;
      i["t3_stamped"] = c.t3_stamped;
      i["fragments"] = c.fragments;
      nlohmann::json drops = nlohmann::json::object();
      for (int k = 0; k < STAMP_DROP_MAX; ++k) drops[dropName(k)] = c.drop[k];
      drops["no_state"] = state[ifname].drop_no_state;
      drops["auth_failed"] = auth[ifname].failed;
      drops["auth_short"] = auth[ifname].short_;
      drops["auth_no_key"] = auth[ifname].no_key;
      for (const auto& g : kGuardDrops) drops[g.name] = guard[ifname].*g.field;
      i["drops"] = drops;
      i["auth_verified"] = auth[ifname].verified;
      i["sessions_started"] = state[ifname].sessions_new;
      i["sessions_expired"] = state[ifname].sessions_expired;
      const stamp_tlv_counters& t = tlvs[ifname];
      i["tlvs"] = {{"requests", t.packets},        {"answered", t.tlvs},
                   {"unrecognized", t.unknown},    {"malformed", t.malformed},
                   {"integrity", t.integrity},     {"over_limit", t.over_limit},
                   {"cos_refused", t.cos_refused}, {"no_state", t.no_state}};
      refl["interfaces"][ifname] = i;
    }
  }
  size_t running = 0;
  for (const auto& [n, s] : sessions_) running += !s->finished();
  control_->respond(r, {{"version", STAMPD_VERSION},
                        {"pid", getpid()},
                        {"uptime_s", monoSeconds() - startedMono_},
                        {"clock", clockJson(clock_)},
                        {"reflector", refl},
                        {"sessions_running", running},
                        {"results_store", storeJson()}});
}

void Daemon::cmdStart(const ControlServer::Request& r) {
  Result<SessionSpec> spec = makeError(EINVAL, "");
  bool adhoc = false;
  if (r.args.contains("name") && !r.args.contains("target")) {
    if (!r.args["name"].is_string())
      return control_->fail(r, control::kErrBadArgument, "\"name\" must be a string");
    std::string name = r.args["name"];
    auto it = std::find_if(cfg_.sessions.begin(), cfg_.sessions.end(),
                           [&](const SessionConfig& c) { return c.name == name; });
    if (it == cfg_.sessions.end())
      return control_->fail(r, control::kErrNotFound, "no configured session '" + name + "'");
    spec = specFromConfig(*it);
  } else {
    spec = specFromJson(r.args);
    adhoc = true;
    if (spec && spec->name.empty()) spec->name = "adhoc-" + std::to_string(++adhocCounter_);
  }
  if (!spec) return control_->fail(r, control::kErrBadArgument, spec.error().message);
  if (r.args.contains("require_sync")) spec->requireSync = r.args.value("require_sync", false);

  const std::string name = spec->name;
  const bool follow = r.args.value("follow", false);
  auto started = startSession(std::move(*spec), follow ? &r : nullptr);
  if (!started) {
    std::string_view code = started.error().code == EAGAIN     ? control::kErrClockUnsync
                            : started.error().code == EBUSY    ? control::kErrBusy
                            : started.error().code == EMSGSIZE ? control::kErrBadArgument
                                                               : control::kErrInternal;
    return control_->fail(r, code, started.error().message);
  }
  Session* s = *started;
  if (adhoc && follow) adhocByClient_[r.client].push_back(name);
  if (follow) {
    control_->event(r, "started",
                    {{"session", name},
                     {"ssid", s->spec().ssid},
                     {"target", formatIp(s->spec().target)},
                     {"port", s->spec().port},
                     {"source_port", s->localPort()}});
    waiting_[name].push_back(r);
  } else {
    control_->respond(r, {{"session", name}});
  }
}

Result<Session*> Daemon::startSession(SessionSpec spec, const ControlServer::Request* follower) {
  if (!spec.authKey.empty()) {
    const stamp_hmac_key* k = keys_.find(spec.authKey);
    if (!k)
      return makeError(EINVAL, "auth_key '" + spec.authKey + "' is not a key of " +
                                   (cfg_.daemon.keyFile.empty() ? std::string("[daemon] key_file (unset)")
                                                                : cfg_.daemon.keyFile));
    spec.hmac = *k;
  }
  // The sender's programs join the tc hooks with the first session, so that
  // a reflector-only host runs only the reflector per packet.
  for (const auto& ifname : cfg_.daemon.interfaces)
    if (auto a = sender_->attach(ifname, attachMode_); !a) return a.error();

  const std::string name = spec.name;
  if (Session* old = find(name)) {
    if (!old->finished()) return makeError(EBUSY, "session '" + name + "' is already running");
    byId_.erase(old->id());
    sessions_.erase(name);
  }
  Session::Observer obs;
  if (follower) {
    ControlServer* ctl = control_.get();
    ControlServer::Request req = *follower;
    obs.onReply = [ctl, req](const nlohmann::json& j) {
      if (ctl->connected(req.client)) ctl->event(req, control::kEventReply, j);
    };
  }
  obs.onFinished = [this, name] { onSessionFinished(name); };
  obs.onSample = [this, name](const ReplySample& r) { onSample(name, r); };
  obs.onWindow = [this, name](const nlohmann::json& j) { onWindow(name, j); };
  uint32_t id = nextId_++;
  auto s = Session::start(std::move(spec), id, loop_, sender_ ? &*sender_ : nullptr, clock_, obs);
  if (!s) return s.error();
  byId_[id] = s->get();
  LogFields fields{{"STAMP_SESSION", name}, {"STAMP_TARGET", formatIp((*s)->spec().target)}};
  spdlog::info("session {} started: target {} port {} count {} interval {} ns", name,
               formatIp((*s)->spec().target), (*s)->spec().port, (*s)->spec().count,
               (*s)->spec().interval.count());
  SessionSeries& ser = series_[name];  // the metrics' labels, once per run
  ser.target = formatIp((*s)->spec().target);
  ser.port = (*s)->spec().port;
  Session* raw = s->get();
  sessions_[name] = std::move(*s);
  return raw;
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
  uint64_t n;
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
    auto s = startSession(std::move(*spec), nullptr);
    if (!s) {
      spdlog::warn("scheduled run of {} skipped: {}", name, s.error().message);
      continue;
    }
    (void)scheduler_.started(name, now);
  }
  armScheduleTimer();
}

void Daemon::onSessionFinished(const std::string& name) {
  Session* s = find(name);
  if (!s) return;
  const bool byScheduler = runByScheduler(name);
  if (byScheduler) {
    (void)scheduler_.finished(name, realtimeNow());
    armScheduleTimer();
  }
  nlohmann::json sum = s->summary();
  SessionSeries& ser = series_[name];
  ser.runs++;
  ser.sent += sum.value("sent", uint64_t(0));
  ser.received += sum.value("received", uint64_t(0));
  ser.lost += sum.value("lost", uint64_t(0));
  ser.duplicates += sum.value("duplicates", uint64_t(0));
  ser.reordered += sum.value("reordered", uint64_t(0));
  auto num = [&](const char* k) { return sum.value(k, nlohmann::json(0)).dump(); };
  auto rtt = sum.value("rtt_ns", nlohmann::json::object());
  auto fig = [&](const nlohmann::json& o, const char* k) {
    return o.is_object() ? o.value(k, nlohmann::json(nullptr)).dump() : std::string("null");
  };
  // The summary figures as journal fields, so `journalctl -u stampd
  // STAMP_SESSION=NAME -o json` gives them without parsing the text.
  LogFields fields{
      {"STAMP_SESSION", name},
      {"STAMP_TARGET", sum.value("target", "")},
      {"STAMP_PORT", num("port")},
      {"STAMP_SCHEDULED", byScheduler ? "1" : "0"},
      {"STAMP_SENT", num("sent")},
      {"STAMP_RECEIVED", num("received")},
      {"STAMP_LOST", num("lost")},
      {"STAMP_DUPLICATES", num("duplicates")},
      {"STAMP_RTT_MIN_NS", fig(rtt, "min")},
      {"STAMP_RTT_AVG_NS", fig(rtt, "avg")},
      {"STAMP_RTT_MAX_NS", fig(rtt, "max")},
      {"STAMP_RTT_P99_NS", fig(rtt, "p99")},
      {"STAMP_FORWARD_AVG_NS", fig(sum.value("forward_ns", nlohmann::json()), "avg")},
      {"STAMP_BACKWARD_AVG_NS", fig(sum.value("backward_ns", nlohmann::json()), "avg")}};
  spdlog::info("session {} finished: target {} sent {} received {} lost {} rtt avg {} ns p99 {} ns",
               name, sum.value("target", ""), num("sent"), num("received"), num("lost"),
               fig(rtt, "avg"), fig(rtt, "p99"));
  // A continuous session's run is stored window by window instead.
  if (s->spec().window.count() == 0)
    recordRun(name, sum, false, s->startedAt(), realtimeNow(), byScheduler);
  auto it = waiting_.find(name);
  if (it == waiting_.end()) return;
  for (const auto& req : it->second) control_->respond(req, sum);
  waiting_.erase(it);
}

void Daemon::cmdList(const ControlServer::Request& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : cfg_.sessions) {
    Session* s = find(c.name);
    nlohmann::json e = {{"name", c.name},     {"target", c.target},
                        {"port", c.port},     {"schedule", c.schedule},
                        {"configured", true}, {"state", s ? s->state() : "idle"}};
    if (s) {
      auto sum = s->summary();
      e["sent"] = sum.value("sent", 0);
      e["received"] = sum.value("received", 0);
      // A run started by a command counts as the last run too.
      e["last_run"] = formatRfc3339(s->startedAt());
    }
    if (auto info = scheduler_.info(c.name)) {
      auto when = [](std::optional<UnixNs> t) {
        return t && *t != Schedule::kNever ? nlohmann::json(formatRfc3339(*t))
                                           : nlohmann::json(nullptr);
      };
      e["next_run"] = when(info->nextRun);
      if (!s || (info->lastStart && *info->lastStart > s->startedAt()))
        e["last_run"] = when(info->lastStart);
      e["runs"] = info->runs;
      e["skipped_overlaps"] = info->skippedOverlaps;
      e["timezone"] = info->zone == ScheduleZone::kLocal ? "local" : "utc";
    }
    list.push_back(e);
  }
  for (const auto& [name, s] : sessions_) {
    if (std::any_of(cfg_.sessions.begin(), cfg_.sessions.end(),
                    [&](const SessionConfig& c) { return c.name == name; }))
      continue;
    auto sum = s->summary();
    list.push_back({{"name", name},
                    {"target", sum["target"]},
                    {"port", sum["port"]},
                    {"schedule", ""},
                    {"configured", false},
                    {"state", s->state()},
                    {"sent", sum.value("sent", 0)},
                    {"received", sum.value("received", 0)},
                    {"last_run", formatRfc3339(s->startedAt())}});
  }
  control_->respond(r, {{"sessions", list}});
}

void Daemon::cmdShow(const ControlServer::Request& r) {
  std::string name = r.args.value("name", std::string());
  Session* s = find(name);
  if (!s) return control_->fail(r, control::kErrNotFound, "no session '" + name + "' has run");
  control_->respond(r, s->summary());
}

void Daemon::cmdStop(const ControlServer::Request& r) {
  std::string name = r.args.value("name", std::string());
  Session* s = find(name);
  if (!s) return control_->fail(r, control::kErrNotFound, "no session '" + name + "'");
  s->stop();  // answers followers through onSessionFinished
  control_->respond(r, s->summary());
}

Result<void> Daemon::schedule(const SessionConfig& c, UnixNs now) {
  if (c.schedule.empty() || !c.enabled) return {};
  ScheduleOptions opts{c.localTime ? ScheduleZone::kLocal : ScheduleZone::kUtc, now};
  auto sched = Schedule::parse(c.schedule, opts);
  if (!sched) return makeError(EINVAL, "session '" + c.name + "': " + sched.error().message);
  if (scheduler_.info(c.name)) return scheduler_.update(c.name, std::move(*sched), c.splay, now);
  return scheduler_.add(c.name, std::move(*sched), c.splay, now);
}

void Daemon::cmdReload(const ControlServer::Request& r) {
  auto res = reload();
  if (!res) {
    std::string_view code =
        res.error().code == EINVAL ? control::kErrBadConfig : control::kErrInternal;
    return control_->fail(r, code, res.error().message);
  }
  control_->respond(r, *res);
}

Result<nlohmann::json> Daemon::reload() {
  auto fail = [this](const Error& e) -> Result<nlohmann::json> {
    // One log record: a file's several problems joined with " | ".
    std::string oneLine = e.message;
    for (size_t at; (at = oneLine.find('\n')) != std::string::npos;) oneLine.replace(at, 1, " | ");
    spdlog::error("reload failed, keeping the running configuration: {}", oneLine);
    service::ready(statusLine());
    return e;
  };
  service::reloading();
  auto loaded = loadConfig(cfg_.path);
  if (!loaded) {
    Error e = loaded.error();
    e.code = EINVAL;
    return fail(e);
  }
  Config next = std::move(*loaded);
  nlohmann::json report = {{"config", cfg_.path}, {"changed", false}};

  // What a running stampd cannot take over: kept as they are, with a note.
  nlohmann::json restart = nlohmann::json::array();
  auto keep = [&](const char* key, auto& now, const auto& was) {
    if (now == was) return;
    restart.push_back(key);
    spdlog::warn("reload: {} changed; it takes effect at the next restart of stampd", key);
    now = was;
  };
  keep("daemon.socket", next.daemon.socket, cfg_.daemon.socket);
  keep("daemon.bpffs", next.daemon.bpffs, cfg_.daemon.bpffs);
  keep("daemon.state_dir", next.daemon.stateDir, cfg_.daemon.stateDir);
  keep("daemon.key_file", next.daemon.keyFile, cfg_.daemon.keyFile);
  keep("daemon.attach", next.daemon.attach, cfg_.daemon.attach);
  keep("metrics.listen", next.metrics.listen, cfg_.metrics.listen);
  report["restart_required"] = restart;

  // Validate everything before touching anything.
  for (const auto& ifname : next.daemon.interfaces)
    if (auto idx = interfaceIndex(ifname); !idx) {
      Error e = idx.error();
      e.message = (next.daemon.interfacesAt.empty() ? cfg_.path : next.daemon.interfacesAt) +
                  ": [daemon] interfaces: " + e.message;
      e.code = EINVAL;
      return fail(e);
    }
  if (next.reflector.enabled)
    if (auto ok = Reflector::check(next); !ok) {
      Error e = ok.error();
      e.code = EINVAL;
      return fail(e);
    }
  // The key file is read again: a rotated key applies at reload.
  auto keys = keysFor(next);
  if (!keys) return fail(makeError(EINVAL, keys.error().message));
  UnixNs now = realtimeNow();
  for (const auto& c : next.sessions) {
    if (auto spec = specFromConfig(c); !spec)
      return fail(makeError(EINVAL, cfg_.path + ": " + spec.error().message));
    if (c.schedule.empty() || !c.enabled) continue;
    ScheduleOptions opts{c.localTime ? ScheduleZone::kLocal : ScheduleZone::kUtc, now};
    if (auto s = Schedule::parse(c.schedule, opts); !s)
      return fail(
          makeError(EINVAL, cfg_.path + ": session '" + c.name + "': " + s.error().message));
  }

  if (next.daemon.logLevel != cfg_.daemon.logLevel)
    spdlog::set_level(spdlog::level::from_str(next.daemon.logLevel));
  if (store_ && !(next.results == cfg_.results))
    store_->setRetention({std::chrono::duration_cast<std::chrono::seconds>(next.results.maxAge),
                          next.results.maxRuns});
  keys_ = std::move(*keys);
  auto applied = applyReflector(next, report);
  applySessions(next, report);
  bool changed = !restart.empty() || next.daemon.logLevel != cfg_.daemon.logLevel ||
                 next.daemon.interfaces != cfg_.daemon.interfaces ||
                 !(next.results == cfg_.results) || !(next.reflector == cfg_.reflector) ||
                 !report["sessions"]["added"].empty() || !report["sessions"]["removed"].empty() ||
                 !report["sessions"]["changed"].empty();
  report["changed"] = changed;
  cfg_ = std::move(next);
  armScheduleTimer();
  if (!applied) {
    // Validated but not fully applied (an attach failed): what did apply
    // stays, and the caller hears why.
    spdlog::error("reload applied only in part: {}", applied.error().message);
    service::ready(statusLine());
    return applied.error();
  }
  auto names = [&](const char* k) {
    std::string s;
    for (const auto& n : report["sessions"][k]) s += (s.empty() ? "" : ",") + n.get<std::string>();
    return s.empty() ? std::string("none") : s;
  };
  spdlog::info("reloaded {}: {}; sessions added {}, removed {}, changed {}; {} unchanged",
               cfg_.path, changed ? "changes applied" : "nothing changed", names("added"),
               names("removed"), names("changed"), report["sessions"]["unchanged"].size());
  service::ready(statusLine());
  return report;
}

Result<void> Daemon::applyReflector(const Config& next, nlohmann::json& report) {
  nlohmann::json refl = {{"enabled", next.reflector.enabled},
                         {"ports", next.reflector.ports},
                         {"attached", nlohmann::json::array()},
                         {"detached", nlohmann::json::array()}};
  report["reflector"] = refl;
  // The sender's programs follow the interface list too (if attached).
  for (const auto& ifname : cfg_.daemon.interfaces)
    if (std::find(next.daemon.interfaces.begin(), next.daemon.interfaces.end(), ifname) ==
        next.daemon.interfaces.end())
      if (auto r = sender_->detach(ifname); !r)
        spdlog::warn("sender on {}: {}", ifname, r.error().message);
  bool senderActive = std::any_of(sessions_.begin(), sessions_.end(),
                                  [](const auto& kv) { return !kv.second->finished(); });
  if (senderActive)
    for (const auto& ifname : next.daemon.interfaces)
      if (auto r = sender_->attach(ifname, attachMode_); !r) return r.error();

  if (!next.reflector.enabled) {
    if (!reflector_) return {};
    auto r = reflector_->shutdown();
    for (const auto& ifname : cfg_.daemon.interfaces)
      report["reflector"]["detached"].push_back(ifname);
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
    for (const auto& ifname : next.daemon.interfaces)
      report["reflector"]["attached"].push_back(ifname);
    spdlog::info("reload: reflector enabled");
    return {};
  }
  auto change = reflector_->update(next, keys_, attachMode_);
  if (!change) return change.error();
  report["reflector"]["attached"] = change->attached;
  report["reflector"]["detached"] = change->detached;
  return {};
}

void Daemon::applySessions(const Config& next, nlohmann::json& report) {
  nlohmann::json added = nlohmann::json::array(), removed = nlohmann::json::array(),
                 changed = nlohmann::json::array(), unchanged = nlohmann::json::array();
  auto findIn = [](const std::vector<SessionConfig>& v, const std::string& name) {
    auto it =
        std::find_if(v.begin(), v.end(), [&](const SessionConfig& c) { return c.name == name; });
    return it == v.end() ? nullptr : &*it;
  };
  // A run of a session that is removed or changed stops now (its summary is
  // logged and its followers answered); the new definition applies from its
  // next run.
  auto stopRun = [this](const std::string& name, const char* why) {
    if (Session* s = find(name); s && !s->finished()) {
      spdlog::info("session {}: {} at reload; stopping its run", name, why);
      s->stop();
    }
  };
  UnixNs now = realtimeNow();
  for (const auto& old : cfg_.sessions) {
    const SessionConfig* c = findIn(next.sessions, old.name);
    if (c && *c == old) {
      unchanged.push_back(old.name);
      continue;
    }
    if (!c) {
      removed.push_back(old.name);
      stopRun(old.name, "removed");
      (void)scheduler_.remove(old.name);
      if (Session* s = find(old.name)) {
        byId_.erase(s->id());
        sessions_.erase(old.name);
      }
      continue;
    }
    changed.push_back(old.name);
    stopRun(old.name, "changed");
    bool wasScheduled = !old.schedule.empty() && old.enabled;
    bool isScheduled = !c->schedule.empty() && c->enabled;
    bool scheduleSame =
        old.schedule == c->schedule && old.localTime == c->localTime && old.splay == c->splay;
    if (wasScheduled && !isScheduled)
      (void)scheduler_.remove(old.name);
    else if (isScheduled && !(wasScheduled && scheduleSame))
      if (auto r = schedule(*c, now); !r) spdlog::error("reload: {}", r.error().message);
  }
  for (const auto& c : next.sessions) {
    if (findIn(cfg_.sessions, c.name)) continue;
    added.push_back(c.name);
    if (auto r = schedule(c, now); !r) spdlog::error("reload: {}", r.error().message);
  }
  report["sessions"] = {
      {"added", added}, {"removed", removed}, {"changed", changed}, {"unchanged", unchanged}};
}

void Daemon::onSample(const std::string& name, const ReplySample& r) {
  SessionSeries& ser = series_[name];  // labelled at startSession
  constexpr double kSec = 1e-9;
  int64_t rtt = r.t4 - r.t1 - (r.hasT2 && r.hasT3 ? r.t3 - r.t2 : 0);
  ser.rtt.observe(double(rtt) * kSec);
  // One-way values go into the histograms only when both clocks vouch for
  // them (classifyOneWay); the others are counted by reason.
  if (r.hasT2) {
    if (r.forwardFlag == OneWayFlag::kOk)
      ser.forward.observe(double(r.t2 - r.t1) * kSec);
    else
      ++ser.flaggedForward[size_t(r.forwardFlag)];
  }
  if (r.hasT3) {
    if (r.backwardFlag == OneWayFlag::kOk)
      ser.backward.observe(double(r.t4 - r.t3) * kSec);
    else
      ++ser.flaggedBackward[size_t(r.backwardFlag)];
  }
}

std::string Daemon::renderMetrics() {
  MetricsText m;
  m.family("stamp_build_info", "gauge", "stampd's version; always 1.");
  m.sample("stamp_build_info", {{"version", STAMPD_VERSION}}, 1);
  m.family("stamp_clock_synchronized", "gauge",
           "1 when the kernel clock is synchronised (adjtimex), else 0.");
  m.sample("stamp_clock_synchronized", {}, clock_.synchronized ? 1 : 0);
  m.family("stamp_clock_tai_offset_seconds", "gauge", "TAI - UTC as the kernel knows it.");
  m.sample("stamp_clock_tai_offset_seconds", {}, clock_.taiOffsetSec);
  m.family("stamp_clock_error_estimate_seconds", "gauge",
           "The Error Estimate this host puts in its packets, in seconds (RFC 4656 4.1.2).");
  if (auto err = clock_.errorEstimate.errorNs())
    m.sample("stamp_clock_error_estimate_seconds", {}, double(*err) * 1e-9);

  // Totals of finished runs plus the running run.
  std::map<std::string, SessionSeries*> all;
  for (auto& [name, ser] : series_) all[name] = &ser;
  for (const auto& [name, s] : sessions_)
    if (!all.count(name)) all[name] = &series_[name];
  struct Counter {
    const char* name;
    const char* help;
    const char* key;
    uint64_t SessionSeries::*field;
  };
  const Counter counters[] = {
      {"stamp_session_sent_packets_total", "Test packets sent.", "sent", &SessionSeries::sent},
      {"stamp_session_received_packets_total", "Replies received.", "received",
       &SessionSeries::received},
      {"stamp_session_lost_packets_total", "Packets with no reply within the timeout.", "lost",
       &SessionSeries::lost},
      {"stamp_session_duplicate_packets_total", "Duplicate replies.", "duplicates",
       &SessionSeries::duplicates},
      {"stamp_session_reordered_packets_total", "Replies that arrived out of order.", "reordered",
       &SessionSeries::reordered}};
  for (const auto& c : counters) {
    m.family(c.name, "counter", c.help);
    for (auto& [name, ser] : all) {
      uint64_t v = ser->*c.field;
      Session* s = find(name);
      if (s && !s->finished()) v += s->summary().value(c.key, uint64_t(0));
      if (s) ser->target = formatIp(s->spec().target), ser->port = s->spec().port;
      m.sample(c.name, {{"session", name}, {"target", ser->target}}, double(v));
    }
  }
  m.family("stamp_session_runs_total", "counter",
           "Finished runs (a continuous session's windows count).");
  for (auto& [name, ser] : all)
    m.sample("stamp_session_runs_total", {{"session", name}, {"target", ser->target}},
             double(ser->runs));
  m.family("stamp_session_running", "gauge", "1 while a run of the session is in progress.");
  for (auto& [name, ser] : all) {
    Session* s = find(name);
    m.sample("stamp_session_running", {{"session", name}, {"target", ser->target}},
             s && !s->finished() ? 1 : 0);
  }
  m.family("stamp_session_one_way_flagged_total", "counter",
           "One-way delays left out of the histograms: a clock not synchronised, an unknown "
           "error, a negative value or one below the combined Error Estimates.");
  for (auto& [name, ser] : all)
    for (int i = 1; i < kOneWayFlags; ++i) {
      const char* reason = oneWayFlagName(OneWayFlag(i));
      m.sample("stamp_session_one_way_flagged_total",
               {{"session", name},
                {"target", ser->target},
                {"direction", "forward"},
                {"reason", reason}},
               double(ser->flaggedForward[size_t(i)]));
      m.sample("stamp_session_one_way_flagged_total",
               {{"session", name},
                {"target", ser->target},
                {"direction", "backward"},
                {"reason", reason}},
               double(ser->flaggedBackward[size_t(i)]));
    }
  struct Hist {
    const char* name;
    const char* help;
    PromHistogram SessionSeries::*h;
  };
  const Hist hists[] = {
      {"stamp_session_rtt_seconds",
       "Round-trip time without the reflector's dwell: (T4-T1)-(T3-T2).", &SessionSeries::rtt},
      {"stamp_session_forward_delay_seconds", "Near-end (forward) one-way delay T2-T1.",
       &SessionSeries::forward},
      {"stamp_session_backward_delay_seconds", "Far-end (backward) one-way delay T4-T3.",
       &SessionSeries::backward}};
  for (const auto& h : hists) {
    m.family(h.name, "histogram", h.help);
    for (auto& [name, ser] : all)
      m.histogram(h.name, {{"session", name}, {"target", ser->target}}, ser->*h.h);
  }

  if (reflector_) {
    auto byIf = reflectorCounters();
    struct RC {
      const char* name;
      const char* help;
      __u64 stamp_refl_counters::*f;
    };
    const RC rcs[] = {
        {"stamp_reflector_received_packets_total",
         "STAMP test packets seen on the reflector's ports.", &stamp_refl_counters::rx},
        {"stamp_reflector_reflected_packets_total", "Test packets answered in the kernel.",
         &stamp_refl_counters::reflected},
        {"stamp_reflector_fragments_total", "IP fragments passed to the stack.",
         &stamp_refl_counters::fragments}};
    for (const auto& rc : rcs) {
      m.family(rc.name, "counter", rc.help);
      for (const auto& [ifname, c] : byIf)
        m.sample(rc.name, {{"interface", ifname}}, double(c.*rc.f));
    }
    m.family("stamp_reflector_dropped_packets_total", "counter",
             "Test packets dropped, by reason.");
    auto state = stateCounters();
    auto auth = authCounters();
    auto guard = guardCounters();
    for (const auto& [ifname, c] : byIf) {
      const stamp_auth_counters& a = auth[ifname];
      for (auto [reason, n] : {std::pair{"auth_failed", a.failed}, {"auth_short", a.short_},
                               {"auth_no_key", a.no_key}})
        m.sample("stamp_reflector_dropped_packets_total",
                 {{"interface", ifname}, {"reason", reason}}, double(n));
      for (int k = 0; k < STAMP_DROP_MAX; ++k)
        m.sample("stamp_reflector_dropped_packets_total",
                 {{"interface", ifname}, {"reason", dropName(k)}}, double(c.drop[k]));
      m.sample("stamp_reflector_dropped_packets_total",
               {{"interface", ifname}, {"reason", "no_state"}},
               double(state[ifname].drop_no_state));
      for (const auto& g : kGuardDrops)
        m.sample("stamp_reflector_dropped_packets_total",
                 {{"interface", ifname}, {"reason", g.name}}, double(guard[ifname].*g.field));
    }
    m.family("stamp_reflector_auth_verified_total", "counter",
             "Authenticated requests whose HMAC matched.");
    for (auto& [ifname, a] : auth)
      m.sample("stamp_reflector_auth_verified_total", {{"interface", ifname}},
               double(a.verified));
    m.family("stamp_reflector_sessions_started_total", "counter",
             "Stateful sessions started: a first request, or one after the idle timeout.");
    for (auto& [ifname, c] : state)
      m.sample("stamp_reflector_sessions_started_total", {{"interface", ifname}},
               double(c.sessions_new));
    m.family("stamp_reflector_sessions_expired_total", "counter",
             "Stateful sessions restarted at 0 after the idle timeout.");
    for (auto& [ifname, c] : state)
      m.sample("stamp_reflector_sessions_expired_total", {{"interface", ifname}},
               double(c.sessions_expired));
    auto tlvs = tlvCounters();
    m.family("stamp_reflector_tlv_requests_total", "counter",
             "Requests whose octets after the base were walked as RFC 8972 TLVs.");
    for (auto& [ifname, c] : tlvs)
      m.sample("stamp_reflector_tlv_requests_total", {{"interface", ifname}}, double(c.packets));
    m.family("stamp_reflector_tlvs_total", "counter",
             "TLVs answered: understood (U = 0) or not (U = 1).");
    for (auto& [ifname, c] : tlvs) {
      m.sample("stamp_reflector_tlvs_total", {{"interface", ifname}, {"result", "answered"}},
               double(c.tlvs));
      m.sample("stamp_reflector_tlvs_total", {{"interface", ifname}, {"result", "unrecognized"}},
               double(c.unknown));
    }
    m.family("stamp_reflector_tlv_problems_total", "counter",
             "Requests with a malformed TLV, failed TLV integrity, more TLVs than the walk "
             "takes; CoS TLVs refused by policy; DM/Follow-Up TLVs without session state.");
    for (auto& [ifname, c] : tlvs)
      for (auto [problem, v] : {std::pair{"malformed", c.malformed},
                                {"integrity", c.integrity},
                                {"over_limit", c.over_limit},
                                {"cos_refused", c.cos_refused},
                                {"no_state", c.no_state}})
        m.sample("stamp_reflector_tlv_problems_total",
                 {{"interface", ifname}, {"problem", problem}}, double(v));
    m.family("stamp_reflector_sessions", "gauge",
             "Entries in the stateful session table (idle ones included until evicted).");
    if (auto n = reflector_->bpf().sessionCount())
      m.sample("stamp_reflector_sessions", {}, double(*n));
    m.family("stamp_reflector_port_info", "gauge",
             "The UDP ports the reflector answers on; always 1.");
    for (auto p : cfg_.reflector.ports)
      m.sample("stamp_reflector_port_info", {{"port", std::to_string(p)}}, 1);
  }
  return m.text();
}

void Daemon::openStore() {
  std::string path = cfg_.daemon.stateDir + "/results.db";
  Retention keep{std::chrono::duration_cast<std::chrono::seconds>(cfg_.results.maxAge),
                 cfg_.results.maxRuns};
  auto s = ResultsStore::open(path, keep);
  if (!s) {
    if (s.error().message != storeError_)
      spdlog::error("{}; measuring goes on, run summaries stay in the log (retrying every minute)",
                    s.error().message);
    storeError_ = s.error().message;
    storeRetryMono_ = monoSeconds() + 60;
    return;
  }
  store_.emplace(std::move(*s));
  if (!storeError_.empty()) spdlog::info("results store {} is available again", path);
  storeError_.clear();
  spdlog::debug("results store {}", path);
}

nlohmann::json Daemon::storeJson() const {
  std::string path = cfg_.daemon.stateDir + "/results.db";
  if (!store_) return {{"path", path}, {"healthy", false}, {"error", storeError_}};
  return {
      {"path", store_->path()},
      {"healthy", store_->healthy()},
      {"error", store_->healthy() ? nlohmann::json(nullptr) : nlohmann::json(store_->lastError())}};
}

bool Daemon::runByScheduler(const std::string& name) const {
  auto info = scheduler_.info(name);
  return info && info->running;
}

void Daemon::recordRun(const std::string& name, const nlohmann::json& summary, bool window,
                       UnixNs start, UnixNs end, bool scheduled) {
  if (!store_) return;
  RunRecord::Context ctx;
  ctx.scheduled = scheduled;
  ctx.window = window;
  ctx.startNs = start;
  ctx.endNs = end;
  ctx.local = ClockAtRun::from(clock_.errorEstimate);
  if (Session* s = find(name)) {
    ctx.local = ClockAtRun::from(s->localClock());
    if (auto remote = s->remoteClock()) ctx.remote = ClockAtRun::from(*remote);
  }
  auto id = store_->record(RunRecord::fromSummary(summary, ctx));
  if (!id) {
    LogFields fields{{"STAMP_SESSION", name}};
    spdlog::error("session {}: run not stored: {} (the summary above is in the log)", name,
                  id.error().message);
  }
}

void Daemon::onWindow(const std::string& name, const nlohmann::json& w) {
  auto num = [&](const char* k) { return w.value(k, nlohmann::json(0)).dump(); };
  auto rtt = w.value("rtt_ns", nlohmann::json::object());
  auto fig = [&](const char* k) {
    return rtt.is_object() ? rtt.value(k, nlohmann::json(nullptr)).dump() : std::string("null");
  };
  LogFields fields{{"STAMP_SESSION", name},
                   {"STAMP_TARGET", w.value("target", "")},
                   {"STAMP_WINDOW", "1"},
                   {"STAMP_SENT", num("sent")},
                   {"STAMP_RECEIVED", num("received")},
                   {"STAMP_LOST", num("lost")},
                   {"STAMP_RTT_AVG_NS", fig("avg")},
                   {"STAMP_RTT_P99_NS", fig("p99")}};
  spdlog::info("session {} window {} .. {}: sent {} received {} lost {} rtt avg {} ns p99 {} ns",
               name, w.value("started", ""), w.value("ended", ""), num("sent"), num("received"),
               num("lost"), fig("avg"), fig("p99"));
  recordRun(name, w, true, w.value("started_ns", UnixNs(0)), w.value("ended_ns", UnixNs(0)),
            runByScheduler(name));
}

void Daemon::cmdResults(const ControlServer::Request& r) {
  if (!store_)
    return control_->fail(r, control::kErrUnavailable,
                          "the results store is unavailable: " + storeError_);
  std::optional<std::string> name;
  std::optional<int64_t> since;
  size_t limit = 100;
  if (r.args.contains("name")) {
    if (!r.args["name"].is_string())
      return control_->fail(r, control::kErrBadArgument, "\"name\" must be a string");
    name = r.args["name"].get<std::string>();
  }
  if (r.args.contains("since_ns")) {
    if (!r.args["since_ns"].is_number_integer())
      return control_->fail(r, control::kErrBadArgument, "\"since_ns\" must be an integer");
    since = r.args["since_ns"].get<int64_t>();
  }
  if (r.args.contains("limit")) {
    if (!r.args["limit"].is_number_unsigned() || r.args["limit"].get<uint64_t>() > 10000)
      return control_->fail(r, control::kErrBadArgument, "\"limit\" must be 0..10000");
    limit = r.args["limit"].get<size_t>();
  }
  auto runs = store_->query(name, since, limit);
  if (!runs) return control_->fail(r, control::kErrUnavailable, runs.error().message);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& run : *runs) list.push_back(toJson(run, r.args.value("detail", false)));
  control_->respond(r, {{"runs", list}, {"store", storeJson()}});
}

namespace {

bool groupId(const char* name, gid_t& out) {
  group grp{}, *res = nullptr;
  char buf[4096];
  if (getgrnam_r(name, &grp, buf, sizeof(buf), &res) != 0 || !res) return false;
  out = grp.gr_gid;
  return true;
}

bool mayMutate(const ControlServer::Request& r) {
  if (r.uid == 0) return true;
  gid_t stamp = 0;
  if (!groupId("stamp", stamp)) return false;
  return r.gid == stamp || std::find(r.groups.begin(), r.groups.end(), stamp) != r.groups.end();
}

}  // namespace

}  // namespace stamp
