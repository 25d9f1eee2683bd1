#include "service/reload.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "kernel/netif.hpp"
#include "reflector/reflector.hpp"
#include "sender/schedule.hpp"
#include "sender/session.hpp"

namespace stamp {
namespace {

// The sessions of a file by name, for lookups in O(1): a reload of 10,000
// sessions compares each once instead of scanning the other file for it.
// A name given twice (refused by parseConfig) keeps its first entry, as a
// scan from the front would find.
using ByName = std::unordered_map<std::string_view, const SessionConfig*>;

ByName byName(const std::vector<SessionConfig>& v) {
  ByName m;
  m.reserve(v.size());
  for (const auto& c : v) m.emplace(c.name, &c);
  return m;
}

const SessionConfig* findSession(const ByName& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}

bool scheduled(const SessionConfig& c) {
  return !c.schedule.empty() && c.enabled;
}

}  // namespace

ReloadPlan planReload(const Config& running, Config& next) {
  ReloadPlan p;
  auto keep = [&](const char* key, auto& now, const auto& was) {
    if (now == was) return;
    p.restartRequired.emplace_back(key);
    now = was;
  };
  keep("daemon.socket", next.daemon.socket, running.daemon.socket);
  keep("daemon.bpffs", next.daemon.bpffs, running.daemon.bpffs);
  keep("daemon.state_dir", next.daemon.stateDir, running.daemon.stateDir);
  keep("daemon.key_file", next.daemon.keyFile, running.daemon.keyFile);
  keep("daemon.attach", next.daemon.attach, running.daemon.attach);
  keep("metrics.listen", next.metrics.listen, running.metrics.listen);

  for (const auto& ifname : running.daemon.interfaces)
    if (std::find(next.daemon.interfaces.begin(), next.daemon.interfaces.end(), ifname) ==
        next.daemon.interfaces.end())
      p.interfacesRemoved.push_back(ifname);

  const ByName nextByName = byName(next.sessions), runningByName = byName(running.sessions);
  p.unchanged.reserve(running.sessions.size());
  for (const auto& old : running.sessions) {
    const SessionConfig* c = findSession(nextByName, old.name);
    if (c && *c == old) {
      p.unchanged.push_back(old.name);
      continue;
    }
    if (!c) {
      p.removed.push_back(old.name);
      p.stopRuns.emplace_back(old.name, "removed");
      p.unschedule.push_back(old.name);
      continue;
    }
    p.changed.push_back(old.name);
    p.stopRuns.emplace_back(old.name, "changed");
    bool scheduleSame =
        old.schedule == c->schedule && old.localTime == c->localTime && old.splay == c->splay;
    if (scheduled(old) && !scheduled(*c))
      p.unschedule.push_back(old.name);
    else if (scheduled(*c) && !(scheduled(old) && scheduleSame))
      p.reschedule.push_back(old.name);
  }
  for (const auto& c : next.sessions) {
    if (findSession(runningByName, c.name)) continue;
    p.added.push_back(c.name);
    if (scheduled(c)) p.reschedule.push_back(c.name);
  }

  p.logLevelChanged = next.daemon.logLevel != running.daemon.logLevel;
  p.resultsChanged = !(next.results == running.results);
  p.anyChange = !p.restartRequired.empty() || p.logLevelChanged || p.resultsChanged ||
                !(next.limits == running.limits) ||
                next.daemon.interfaces != running.daemon.interfaces ||
                !(next.reflector == running.reflector) || !p.added.empty() || !p.removed.empty() ||
                !p.changed.empty();
  return p;
}

nlohmann::json sessionsReport(const ReloadPlan& p) {
  return {{"added", p.added},
          {"removed", p.removed},
          {"changed", p.changed},
          {"unchanged", p.unchanged}};
}

Result<KeyRing> validateReload(const Config& next) {
  auto invalid = [](std::string message) { return makeError(EINVAL, std::move(message)); };
  for (const auto& ifname : next.daemon.interfaces)
    if (auto idx = interfaceIndex(ifname); !idx)
      return invalid((next.daemon.interfacesAt.empty() ? next.path : next.daemon.interfacesAt) +
                     ": [daemon] interfaces: " + idx.error().message);
  if (next.reflector.enabled)
    if (auto ok = Reflector::check(next); !ok) return invalid(ok.error().message);
  auto keys = keysFor(next);
  if (!keys) return invalid(keys.error().message);
  UnixNs now = realtimeNow();
  for (const auto& c : next.sessions) {
    if (auto spec = specFromConfig(c); !spec)
      return invalid(next.path + ": " + spec.error().message);
    if (!scheduled(c)) continue;
    ScheduleOptions opts{c.localTime ? ScheduleZone::kLocal : ScheduleZone::kUtc, now};
    if (auto s = Schedule::parse(c.schedule, opts); !s)
      return invalid(next.path + ": session '" + c.name + "': " + s.error().message);
  }
  return keys;
}

}  // namespace stamp
