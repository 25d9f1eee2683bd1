// The control commands of libstamp/control_protocol.hpp: one table names
// each command, who may run it and its handler (as chrony's cmdmon does).
// Handlers check their arguments (a wrong type is a bad_argument error,
// never an exception), then act through CommandTarget, which the daemon
// implements and tests fake.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "libstamp/result.hpp"
#include "libstamp/timefmt.hpp"
#include "sender/schedule.hpp"
#include "sender/session.hpp"
#include "service/config.hpp"
#include "service/control_server.hpp"
#include "service/metrics_render.hpp"
#include "service/permissions.hpp"

namespace stamp {

// A run just started, as the "started" event tells a follower.
struct StartedRun {
  std::string name;
  uint16_t ssid = 0;
  std::string target;
  uint16_t port = 0;
  uint16_t sourcePort = 0;
};

// A session that has run since stampd started (running or finished).
struct SessionView {
  std::string name;
  std::string target;
  uint16_t port = 0;
  bool running = false;
  UnixNs startedAt = 0;
  RunCounts counts;
};

struct ResultsQuery {
  std::optional<std::string> name;
  std::optional<int64_t> sinceNs;
  size_t limit = 100;
  bool detail = false;
};

// What the commands need from the daemon.
class CommandTarget {
 public:
  virtual ~CommandTarget() = default;
  virtual const Config& config() const = 0;
  // The "status" result.
  virtual nlohmann::json status() = 0;
  // Starts a run for the request `by` (its uid counts against the
  // per-user limit). With `follow`, that request's client gets the reply
  // events and, at the end, the summary as the final response (the target
  // answers it); `adhoc` runs then stop when that client goes away.
  // Errors: EBUSY already running, EAGAIN clock unsynchronised (and
  // require_sync), EINVAL/EMSGSIZE a spec the daemon refuses, EDQUOT a
  // [limits] cap.
  virtual Result<StartedRun> startRun(SessionSpec spec, const ControlRequest& by, bool follow,
                                      bool adhoc) = 0;
  virtual std::vector<SessionView> sessions() const = 0;
  virtual std::optional<ScheduleEntryInfo> scheduleInfo(const std::string& name) const = 0;
  // The current or last summary of a session, nullopt if it never ran.
  virtual std::optional<nlohmann::json> summary(const std::string& name) const = 0;
  // Stops a run; its summary, nullopt if there is no such session.
  virtual std::optional<nlohmann::json> stopRun(const std::string& name) = 0;
  // The "reload" report; EINVAL: the file was refused.
  virtual Result<nlohmann::json> reload() = 0;
  // The "results" result; an error means the store is unavailable.
  virtual Result<nlohmann::json> results(const ResultsQuery& q) = 0;
};

class Commands {
 public:
  using Handler = void (Commands::*)(const ControlRequest&);
  struct Entry {
    std::string_view name;
    Access access;
    Handler handler;
  };
  // Every command: the permission table.
  static std::span<const Entry> table();

  // `operatorGid` looks up the group that may mutate (at each request, so
  // a group created after start counts).
  Commands(
      CommandTarget& target, Replier& replier,
      std::function<std::optional<gid_t>()> operatorGid = [] { return groupId(kOperatorGroup); })
      : target_(target), replier_(replier), operatorGid_(std::move(operatorGid)) {}

  // Answers `r`: an error for an unknown command or a caller without the
  // permission, else the command's handler.
  void dispatch(const ControlRequest& r);

 private:
  void status(const ControlRequest& r);
  void sessionStart(const ControlRequest& r);
  void sessionList(const ControlRequest& r);
  void sessionShow(const ControlRequest& r);
  void sessionStop(const ControlRequest& r);
  void reload(const ControlRequest& r);
  void results(const ControlRequest& r);

  CommandTarget& target_;
  Replier& replier_;
  std::function<std::optional<gid_t>()> operatorGid_;
  uint64_t adhocCounter_ = 0;
};

}  // namespace stamp
