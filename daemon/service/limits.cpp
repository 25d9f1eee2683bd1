#include "service/limits.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "sender/session.hpp"

namespace stamp {
namespace {

std::string rate(double v, const char* unit) {
  char buf[64];
  if (v >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.3g G%s", v / 1e9, unit);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.3g M%s", v / 1e6, unit);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.3g k%s", v / 1e3, unit);
  else
    std::snprintf(buf, sizeof(buf), "%.3g %s", v, unit);
  return buf;
}

}  // namespace

RunDemand demandOf(const SessionSpec& spec) {
  RunDemand d;
  const double intervalNs = double(std::max<int64_t>(spec.interval.count(), 1));
  d.packetsPerSecond = 1e9 / intervalNs;
  const double headers = isV4Mapped(spec.target) ? 20 + 8 : 40 + 8;
  d.bitsPerSecond = d.packetsPerSecond * (double(spec.size) + headers) * 8;
  return d;
}

Result<void> RunLedger::admit(const LimitsConfig& l, const std::string& name, const RunDemand& d,
                              uid_t user) const {
  auto refuse = [&name](const std::string& why) {
    return makeError(EDQUOT,
                     "session '" + name + "' refused: " + why + " ([limits] in the configuration)");
  };
  if (l.maxSessionPps && d.packetsPerSecond > double(l.maxSessionPps))
    return refuse("its " + rate(d.packetsPerSecond, "packets/s") +
                  " exceed max_session_pps = " + std::to_string(l.maxSessionPps));
  if (l.maxSessionBps && d.bitsPerSecond > double(l.maxSessionBps))
    return refuse("its " + rate(d.bitsPerSecond, "bit/s") +
                  " exceed max_session_bps = " + std::to_string(l.maxSessionBps));
  if (l.maxSessions && runs_.size() >= l.maxSessions)
    return refuse(std::to_string(runs_.size()) +
                  " runs are in progress, max_sessions = " + std::to_string(l.maxSessions));
  if (user != kNoUser && user != 0 && l.maxSessionsPerUser &&
      runningOf(user) >= l.maxSessionsPerUser)
    return refuse(
        "uid " + std::to_string(user) + " has " + std::to_string(runningOf(user)) +
        " runs in progress, max_sessions_per_user = " + std::to_string(l.maxSessionsPerUser));
  if (l.maxTotalBps && totalBps_ + d.bitsPerSecond > double(l.maxTotalBps))
    return refuse("all runs together would send " + rate(totalBps_ + d.bitsPerSecond, "bit/s") +
                  ", max_total_bps = " + std::to_string(l.maxTotalBps));
  return {};
}

void RunLedger::add(const std::string& name, const RunDemand& d, uid_t user) {
  remove(name);
  runs_[name] = {d, user};
  ++perUser_[user];
  totalBps_ += d.bitsPerSecond;
}

void RunLedger::remove(const std::string& name) {
  auto it = runs_.find(name);
  if (it == runs_.end()) return;
  totalBps_ -= it->second.demand.bitsPerSecond;
  if (auto u = perUser_.find(it->second.user); u != perUser_.end() && --u->second == 0)
    perUser_.erase(u);
  runs_.erase(it);
  if (runs_.empty()) totalBps_ = 0;  // no drift from floating-point sums
}

size_t RunLedger::runningOf(uid_t user) const {
  auto it = perUser_.find(user);
  return it == perUser_.end() ? 0 : it->second;
}

}  // namespace stamp
