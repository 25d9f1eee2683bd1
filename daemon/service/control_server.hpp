// The control socket: a Unix stream socket speaking the newline-delimited
// JSON of libstamp/control_protocol.hpp. Every client is non-blocking; a
// client that stalls only fills its own bounded output buffer and is
// dropped when that overflows, so it cannot delay measurements.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "event_loop.hpp"
#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

// One request of a client, parsed and checked for the envelope (version,
// id, command, args an object); the command's arguments are not checked.
struct ControlRequest {
  uint64_t client = 0;  // opaque client handle
  nlohmann::json id;    // echoed back
  std::string command;
  nlohmann::json args;  // always an object
  uid_t uid = 0;        // SO_PEERCRED of the client
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // SO_PEERGROUPS, at connect time
};

// One line from a client read as a request: the request (client and
// credentials left for the caller to fill in), or the error to answer it
// with, its id echoed when the line had one; a blank line is neither.
// Never throws.
struct ParsedLine {
  std::optional<ControlRequest> request;
  std::string_view errorCode;  // empty: no error
  std::string errorMessage;
  nlohmann::json id;
};
ParsedLine parseRequestLine(std::string_view line);

// The lines stampd sends, newline included: a final response (a result or
// an error) and an event, each carrying the request's id.
std::string responseLine(const nlohmann::json& id, const nlohmann::json& result);
std::string errorLine(const nlohmann::json& id, std::string_view code, const std::string& message);
std::string eventLine(const nlohmann::json& id, std::string_view name, const nlohmann::json& data);

// How a request is answered: a final response (respond or fail, once) and,
// before it, events. ControlServer in stampd; a recorder in tests.
class Replier {
 public:
  virtual ~Replier() = default;
  virtual void respond(const ControlRequest& r, const nlohmann::json& result) = 0;
  virtual void fail(const ControlRequest& r, std::string_view code, const std::string& message) = 0;
  virtual void event(const ControlRequest& r, std::string_view name,
                     const nlohmann::json& data) = 0;
  // Whether the request's client is still connected.
  virtual bool connected(uint64_t client) const = 0;
};

class ControlServer final : public Replier {
 public:
  using Request = ControlRequest;
  using Handler = std::function<void(const Request&)>;
  using DisconnectHandler = std::function<void(uint64_t client)>;
  // Caps on clients ([limits] max_control_clients, control_idle_timeout):
  // connections beyond maxClients are answered with one limit_exceeded
  // error and closed, except root's; a client that has sent nothing for
  // idleTimeout and waits for nothing (busy() false) is disconnected.
  struct Limits {
    size_t maxClients = 64;
    std::chrono::nanoseconds idleTimeout = std::chrono::minutes(10);
    bool rootExempt = true;  // false in tests, which run as root
  };

  // Listens on `path`, a socket node of mode 0660 given to `group` (when
  // it exists; nullptr: the process's group). A stale socket or a symbolic
  // link at the path is replaced, never followed; anything else there is
  // refused.
  static Result<std::unique_ptr<ControlServer>> listen(const std::string& path, EventLoop& loop,
                                                       Handler onRequest,
                                                       DisconnectHandler onDisconnect,
                                                       const char* group = "stamp");
  ~ControlServer() override;

  void respond(const Request& r, const nlohmann::json& result) override;
  void fail(const Request& r, std::string_view code, const std::string& message) override;
  void event(const Request& r, std::string_view name, const nlohmann::json& data) override;
  bool connected(uint64_t client) const override { return clients_.contains(client); }

  void setLimits(const Limits& l) { limits_ = l; }
  size_t clients() const { return clients_.size(); }
  // Once a second from the daemon's tick: drops idle clients (those for
  // which busy(id) is false) and accepts again after a pause for lack of
  // file descriptors.
  void sweep(const std::function<bool(uint64_t client)>& busy);

  // Output a client may have queued before it is dropped as stalled.
  static constexpr size_t kMaxPendingOutput = 4 << 20;

 private:
  struct Client {
    UniqueFd fd;
    std::string in, out;
    ucred cred{};
    std::vector<gid_t> groups;  // SO_PEERGROUPS: supplementary groups
    bool wantWrite = false;
    int64_t lastActiveNs = 0;  // CLOCK_MONOTONIC of the last request line
  };
  ControlServer(EventLoop& loop, UniqueFd fd, std::string path, Handler h, DisconnectHandler d)
      : loop_(loop),
        fd_(std::move(fd)),
        path_(std::move(path)),
        onRequest_(std::move(h)),
        onDisconnect_(std::move(d)) {}
  void onAccept();
  void onClient(uint64_t id, uint32_t events);
  void handleLine(uint64_t id, const std::string& line);
  void internalError(const Request& r, const std::string& what);
  void send(uint64_t id, const std::string& line);
  void flush(uint64_t id);
  void drop(uint64_t id);

  EventLoop& loop_;
  UniqueFd fd_;
  std::string path_;
  Handler onRequest_;
  DisconnectHandler onDisconnect_;
  std::map<uint64_t, Client> clients_;
  uint64_t nextId_ = 1;
  Limits limits_;
  AcceptPause acceptPause_;  // resumed by sweep()
};

}  // namespace stamp
