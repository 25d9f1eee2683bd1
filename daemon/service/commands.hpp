// The control commands of libstamp/control_protocol.hpp: one table names
// each command, who may run it, the arguments it takes (their types and
// ranges, libstamp/control_args.hpp) and its handler, as chrony's cmdmon
// does. dispatch() checks a request's arguments against the table before
// its handler runs (a wrong type, a number out of range or an unknown key
// is a bad_argument error naming the key), so handlers read checked
// values; they act through CommandTarget, which the daemon implements and
// tests fake. No exception leaves dispatch(): a handler that throws gets
// its request answered "internal" and is logged with the command.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "libstamp/control_args.hpp"
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
    std::span<const control::ArgSpec> args;
    Handler handler;
  };
  // Every command: the permission and argument table.
  static std::span<const Entry> table();

  // `operatorGid` looks up the group that may mutate (at each request, so
  // a group created after start counts).
  Commands(
      CommandTarget& target, Replier& replier,
      std::function<std::optional<gid_t>()> operatorGid = [] { return groupId(kOperatorGroup); })
      : target_(target), replier_(replier), operatorGid_(std::move(operatorGid)) {}

  // Answers `r`: an error for an unknown command, a caller without the
  // permission or arguments the command's table refuses, else the
  // command's handler. Never throws: an exception from the handler (or the
  // target under it) answers `internal` unless the request was answered
  // already, and is logged.
  void dispatch(const ControlRequest& r);

 private:
  void status(const ControlRequest& r);
  void sessionStart(const ControlRequest& r);
  void sessionList(const ControlRequest& r);
  void sessionShow(const ControlRequest& r);
  void sessionStop(const ControlRequest& r);
  void reload(const ControlRequest& r);
  void results(const ControlRequest& r);

  // The Replier the handlers answer through: it forwards to the real one
  // and notes whether the request being dispatched had its final answer.
  class Tracker final : public Replier {
   public:
    explicit Tracker(Replier& out) : out_(out) {}
    void respond(const ControlRequest& r, const nlohmann::json& result) override;
    void fail(const ControlRequest& r, std::string_view code, const std::string& message) override;
    void event(const ControlRequest& r, std::string_view name,
               const nlohmann::json& data) override {
      out_.event(r, name, data);
    }
    bool connected(uint64_t client) const override { return out_.connected(client); }
    void begin(const ControlRequest& r) { current_ = &r, answered_ = false; }
    bool answered() const { return answered_; }

   private:
    Replier& out_;
    const ControlRequest* current_ = nullptr;
    bool answered_ = false;
  };
  void guarded(const Entry& e, const ControlRequest& r);

  CommandTarget& target_;
  Tracker replier_;
  std::function<std::optional<gid_t>()> operatorGid_;
  uint64_t adhocCounter_ = 0;
};

}  // namespace stamp
