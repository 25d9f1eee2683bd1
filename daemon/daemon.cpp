#include "daemon.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include <random>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <grp.h>
#include <spdlog/spdlog.h>

#include "control_protocol.hpp"

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

const char* dropName(int reason) {
  switch (reason) {
    case STAMP_DROP_BAD_SOURCE: return "bad_source";
    case STAMP_DROP_SRC_PORT_ZERO: return "source_port_zero";
    case STAMP_DROP_MALFORMED: return "malformed";
    case STAMP_DROP_BAD_CHECKSUM: return "bad_checksum";
    case STAMP_DROP_RESIZE: return "resize_failed";
    case STAMP_DROP_UNSUPPORTED: return "unsupported_mode";
  }
  return "unknown";
}

// Commands that change state need root or the stamp group (control
// protocol: only the local socket mutates, and only for those users).
bool mayMutate(const ControlServer::Request& r);

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(Config cfg) {
  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  std::unique_ptr<Daemon> d(new Daemon(std::move(cfg), std::move(*loop)));
  d->startedMono_ = monoSeconds();

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
    auto r = Reflector::start(d->cfg_, mode, pinDirFor(d->cfg_.daemon.bpffs));
    if (!r) return r.error();
    d->reflector_.emplace(std::move(*r));
  }

  Daemon* raw = d.get();
  auto sender = SenderBpf::load([raw](const stamp_rx_record& rec) {
    auto it = raw->byId_.find(rec.session_id);
    if (it != raw->byId_.end()) it->second->onRecord(rec, raw->clock_);
  });
  if (!sender) return sender.error();
  d->sender_.emplace(std::move(*sender));
  if (auto r = d->sender_->setClock(d->clock_); !r) return r.error();
  d->attachMode_ = mode;

  auto tick = makePeriodicTimer(1'000'000'000);
  if (!tick) return tick.error();
  d->tick_ = std::move(*tick);

  // Scheduled sessions: the first run is the next slot after now, so runs
  // missed while stampd was down are not replayed.
  d->scheduler_ = Scheduler(std::random_device{}());
  UnixNs now = realtimeNow();
  for (const auto& c : d->cfg_.sessions) {
    if (c.schedule.empty() || !c.enabled) continue;
    ScheduleOptions opts{c.localTime ? ScheduleZone::kLocal : ScheduleZone::kUtc, now};
    auto sched = Schedule::parse(c.schedule, opts);
    if (!sched) return makeError(EINVAL, "session '" + c.name + "': " + sched.error().message);
    if (auto r = d->scheduler_.add(c.name, std::move(*sched), c.splay, now); !r) return r.error();
  }
  int stfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
  if (stfd < 0) return errnoError("timerfd_create");
  d->scheduleTimer_.reset(stfd);

  auto control = ControlServer::listen(
      d->cfg_.daemon.socket, d->loop_, [raw](const ControlServer::Request& r) { raw->onRequest(r); },
      [raw](uint64_t client) { raw->onDisconnect(client); });
  if (!control) return control.error();
  d->control_ = std::move(*control);

  int sfd = d->signals_.get(), tfd = d->tick_.get(), rfd = d->sender_->eventFd();
  if (auto r = d->loop_.add(sfd, EPOLLIN, [raw](uint32_t) { raw->onSignal(); }); !r)
    return r.error();
  if (auto r = d->loop_.add(tfd, EPOLLIN, [raw](uint32_t) { raw->onTick(); }); !r)
    return r.error();
  if (auto r = d->loop_.add(rfd, EPOLLIN, [raw](uint32_t) { raw->sender_->consume(); }); !r)
    return r.error();
  if (auto r = d->loop_.add(stfd, EPOLLIN, [raw](uint32_t) { raw->onScheduleTimer(); }); !r)
    return r.error();
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
  auto ran = loop_.run();
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
      spdlog::warn("SIGHUP: live reload is not available in this version; restart stampd to "
                   "apply configuration changes");
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
      if (auto r = sender_->setClock(clock_); !r) spdlog::warn("sender clock: {}", r.error().message);
  }
  if (reflector_)
    if (auto r = reflector_->refresh(); !r) spdlog::warn("reflector refresh: {}", r.error().message);
}

void Daemon::onRequest(const ControlServer::Request& r) {
  if (r.command == control::kStatus) return cmdStatus(r);
  if (r.command == control::kSessionList) return cmdList(r);
  if (r.command == control::kSessionShow) return cmdShow(r);
  if (r.command == control::kSessionStart || r.command == control::kSessionStop) {
    if (!mayMutate(r))
      return control_->fail(r, control::kErrPermission,
                            "'" + r.command + "' needs root or membership of the stamp group");
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

void Daemon::cmdStatus(const ControlServer::Request& r) {
  nlohmann::json refl = {{"enabled", cfg_.reflector.enabled},
                         {"ports", cfg_.reflector.ports},
                         {"mode", "stateless"},
                         {"interfaces", nlohmann::json::object()}};
  if (reflector_) {
    auto kinds = reflector_->bpf().attachments();
    auto counters = reflector_->bpf().counters();
    for (const auto& [ifname, kind] : kinds) {
      nlohmann::json i = {{"attach", kind}};
      auto idx = interfaceIndex(ifname);
      stamp_refl_counters c{};
      if (idx && counters) {
        auto it = counters->find(*idx);
        if (it != counters->end()) c = it->second;
      }
      i["rx"] = c.rx;
      i["reflected"] = c.reflected;
      i["t3_stamped"] = c.t3_stamped;
      i["fragments"] = c.fragments;
      nlohmann::json drops = nlohmann::json::object();
      for (int k = 0; k < STAMP_DROP_MAX; ++k) drops[dropName(k)] = c.drop[k];
      i["drops"] = drops;
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
                        {"sessions_running", running}});
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
    std::string_view code = started.error().code == EAGAIN  ? control::kErrClockUnsync
                            : started.error().code == EBUSY ? control::kErrBusy
                                                            : control::kErrInternal;
    return control_->fail(r, code, started.error().message);
  }
  Session* s = *started;
  if (adhoc && follow) adhocByClient_[r.client].push_back(name);
  if (follow) {
    control_->event(r, "started", {{"session", name}, {"ssid", s->spec().ssid},
                                   {"source_port", s->localPort()}});
    waiting_[name].push_back(r);
  } else {
    control_->respond(r, {{"session", name}});
  }
}

Result<Session*> Daemon::startSession(SessionSpec spec, const ControlServer::Request* follower) {
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
  uint32_t id = nextId_++;
  auto s = Session::start(std::move(spec), id, loop_, sender_ ? &*sender_ : nullptr, clock_, obs);
  if (!s) return s.error();
  byId_[id] = s->get();
  spdlog::info("session {} started: target {} port {} count {} interval {} ns", name,
               formatIp((*s)->spec().target), (*s)->spec().port, (*s)->spec().count,
               (*s)->spec().interval.count());
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
  if (auto info = scheduler_.info(name); info && info->running) {
    (void)scheduler_.finished(name, realtimeNow());
    armScheduleTimer();
  }
  nlohmann::json sum = s->summary();
  auto num = [&](const char* k) { return sum.value(k, nlohmann::json(0)).dump(); };
  auto rtt = sum.value("rtt_ns", nlohmann::json::object());
  spdlog::info("session {} finished: target {} sent {} received {} lost {} rtt avg {} ns p99 {} ns",
               name, sum.value("target", ""), num("sent"), num("received"), num("lost"),
               rtt.value("avg", nlohmann::json(nullptr)).dump(),
               rtt.value("p99", nlohmann::json(nullptr)).dump());
  auto it = waiting_.find(name);
  if (it == waiting_.end()) return;
  for (const auto& req : it->second) control_->respond(req, sum);
  waiting_.erase(it);
}

void Daemon::cmdList(const ControlServer::Request& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : cfg_.sessions) {
    Session* s = find(c.name);
    nlohmann::json e = {{"name", c.name}, {"target", c.target}, {"port", c.port},
                        {"schedule", c.schedule}, {"configured", true},
                        {"state", s ? s->state() : "idle"}};
    if (s) {
      auto sum = s->summary();
      e["sent"] = sum.value("sent", 0);
      e["received"] = sum.value("received", 0);
    }
    if (auto info = scheduler_.info(c.name)) {
      auto when = [](std::optional<UnixNs> t) {
        return t && *t != Schedule::kNever ? nlohmann::json(formatRfc3339(*t)) : nlohmann::json(nullptr);
      };
      e["next_run"] = when(info->nextRun);
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
    list.push_back({{"name", name}, {"target", sum["target"]}, {"port", sum["port"]},
                    {"schedule", ""}, {"configured", false}, {"state", s->state()},
                    {"sent", sum.value("sent", 0)}, {"received", sum.value("received", 0)}});
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

namespace {

bool groupId(const char* name, gid_t& out) {
  group grp{}, *res = nullptr;
  char buf[4096];
  if (getgrnam_r(name, &grp, buf, sizeof(buf), &res) != 0 || !res) return false;
  out = grp.gr_gid;
  return true;
}

// Whether the process has `gid` among its supplementary groups.
bool processInGroup(pid_t pid, gid_t gid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ss(line.substr(7));
    gid_t g;
    while (ss >> g)
      if (g == gid) return true;
  }
  return false;
}

bool mayMutate(const ControlServer::Request& r) {
  if (r.uid == 0) return true;
  gid_t stamp = 0;
  if (!groupId("stamp", stamp)) return false;
  return r.gid == stamp || processInGroup(r.pid, stamp);
}

}  // namespace

}  // namespace stamp
