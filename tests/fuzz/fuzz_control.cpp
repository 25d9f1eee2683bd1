// libFuzzer target: control lines through the real request parser
// (parseRequestLine, what the control socket uses) and the real command
// dispatcher (Commands::dispatch with its argument tables, and
// specFromJson under session.start), against a fake daemon. Up to 16
// lines per input, so sequences (start, then show, then stop) are
// explored; each line is dispatched as root and as a stranger.
//
// Properties: nothing throws out of the parser or the dispatcher; every
// request gets exactly one final answer (or, followed, the "started"
// event), as a line that parses back as JSON with the protocol's fields
// and a known error code; the last-resort guard never has to answer (an
// "internal" answer from it is a bug); a spec handed to the daemon
// honours every range; a stranger never reaches a mutating command.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "libstamp/control_args.hpp"
#include "libstamp/control_protocol.hpp"
#include "service/commands.hpp"
#include "service/control_server.hpp"

namespace {

using nlohmann::json;
using namespace stamp;

[[noreturn]] void violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_control: property violated: %s\n  %s\n", what, detail.c_str());
  std::abort();
}

void require(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) violated(what, detail);
}

const std::set<std::string> kErrorCodes = {
    std::string(control::kErrBadRequest),     std::string(control::kErrBadVersion),
    std::string(control::kErrUnknownCommand), std::string(control::kErrBadArgument),
    std::string(control::kErrNotFound),       std::string(control::kErrBusy),
    std::string(control::kErrClockUnsync),    std::string(control::kErrPermission),
    std::string(control::kErrInternal),       std::string(control::kErrBadConfig),
    std::string(control::kErrUnavailable),    std::string(control::kErrLimit)};

// One line as the client reads it: JSON, an object, the envelope's fields.
json checkLine(const std::string& line, const json& id) {
  require(!line.empty() && line.back() == '\n', "a line ends in a newline", line);
  require(line.find('\n') == line.size() - 1, "one line per message", line);
  json j = json::parse(line, nullptr, false);
  require(!j.is_discarded() && j.is_object(), "a message is a JSON object", line);
  require(j.value("version", json()) == control::kVersion, "version 1", line);
  require(j.contains("id") && j["id"] == id, "the request's id is echoed", line);
  return j;
}

// Answers are checked as the exact lines stampd would send.
class CheckingReplier final : public Replier {
 public:
  void respond(const ControlRequest& r, const json& result) override {
    json j = checkLine(responseLine(r.id, result), r.id);
    require(j.size() == 4 && j["ok"] == true && j.contains("result"), "a response's fields",
            j.dump());
    ++finals;
  }
  void fail(const ControlRequest& r, std::string_view code, const std::string& message) override {
    json j = checkLine(errorLine(r.id, code, message), r.id);
    require(j.size() == 4 && j["ok"] == false && j["error"].is_object() && j["error"].size() == 2,
            "an error's fields", j.dump());
    require(kErrorCodes.contains(j["error"].value("code", std::string())), "a known error code",
            j.dump());
    require(!j["error"].value("message", std::string()).empty(), "an error has a message",
            j.dump());
    // The guard's words: "'COMMAND' failed: ...". The fake target never
    // fails that way, so this is an exception a handler let out.
    if (code == control::kErrInternal && message.rfind("'" + r.command + "' failed: ", 0) == 0)
      violated("a handler threw (the last-resort guard answered)", message);
    ++finals;
    lastCode = std::string(code);
  }
  void event(const ControlRequest& r, std::string_view name, const json& data) override {
    json j = checkLine(eventLine(r.id, name, data), r.id);
    require(j.size() == 4 && j["event"].is_string() && j.contains("data"), "an event's fields",
            j.dump());
    if (name == control::kEventStarted) ++started;
  }
  bool connected(uint64_t) const override { return true; }

  int finals = 0, started = 0;
  std::string lastCode;
};

// A daemon that behaves plausibly: configured sessions, runs that start,
// are busy, refuse, finish; a store that answers or is down.
class FakeTarget final : public CommandTarget {
 public:
  FakeTarget() {
    for (const char* name : {"edge-1", "edge-2", "auth"}) {
      SessionConfig c;
      c.name = name;
      c.target = name == std::string("edge-2") ? "2001:db8::1" : "192.0.2.1";
      c.schedule = name == std::string("edge-1") ? "*/5 * * * *" : "";
      if (name == std::string("auth")) c.authKey = "k1", c.size = 44;
      cfg_.sessions.push_back(c);
    }
    cfg_.path = "/etc/stamp/stamp.toml";
  }
  void reset() {
    runs_.clear();
    calls_ = 0;
  }

  const Config& config() const override { return cfg_; }
  json status() override { return {{"version", "fuzz"}, {"sessions_running", runs_.size()}}; }

  Result<StartedRun> startRun(SessionSpec spec, const ControlRequest&, bool, bool) override {
    checkSpec(spec);
    ++calls_;
    auto it = runs_.find(spec.name);
    if (it != runs_.end() && it->second) return makeError(EBUSY, "already running");
    // Some refusals as the daemon gives them, chosen by the spec.
    switch (spec.count % 7) {
      case 3:
        return makeError(EAGAIN, "the kernel clock is not synchronised");
      case 4:
        return makeError(EMSGSIZE, "size does not fit the path MTU");
      case 5:
        return makeError(EIO, "socket: Too many open files");
      case 6:
        return makeError(EDQUOT, "session refused: max_sessions_per_user");
      default:
        break;
    }
    runs_[spec.name] = spec.count != 1;  // a 1-packet run is over at once
    return StartedRun{spec.name, uint16_t(spec.ssid ? spec.ssid : 7), formatIp(spec.target),
                      spec.port, 40000};
  }
  std::vector<SessionView> sessions() const override {
    std::vector<SessionView> v;
    for (const auto& [name, running] : runs_)
      v.push_back({name, "192.0.2.1", 862, running, 1'700'000'000'000'000'000, {3, 2}});
    return v;
  }
  std::optional<ScheduleEntryInfo> scheduleInfo(const std::string& name) const override {
    if (name != "edge-1") return std::nullopt;
    ScheduleEntryInfo i;
    i.runs = 3;
    return i;
  }
  std::optional<json> summary(const std::string& name) const override {
    auto it = runs_.find(name);
    if (it == runs_.end()) return std::nullopt;
    return json{{"session", name}, {"state", it->second ? "running" : "finished"}, {"sent", 3}};
  }
  std::optional<json> stopRun(const std::string& name) override {
    auto it = runs_.find(name);
    if (it == runs_.end()) return std::nullopt;
    it->second = false;
    return summary(name);
  }
  Result<json> reload() override {
    if (++calls_ % 3 == 0) return makeError(EINVAL, "/etc/stamp/stamp.toml:3:8: bad");
    if (calls_ % 5 == 0) return makeError(EIO, "cannot read the configuration file");
    return json{{"config", cfg_.path}, {"changed", false}};
  }
  Result<json> results(const ResultsQuery& q) override {
    require(q.limit <= size_t(control::range::kMaxResultsLimit), "results limit in range",
            std::to_string(q.limit));
    if (q.name && q.name->empty()) return makeError(EIO, "the results store is unavailable");
    json runs = json::array();
    for (size_t k = 0; k < std::min<size_t>(q.limit, 3); ++k)
      runs.push_back({{"session", q.name.value_or("edge-1")}, {"detail", q.detail}});
    return json{{"runs", runs}, {"store", {{"healthy", true}}}};
  }

 private:
  // What the daemon relies on when it opens a socket and sizes a packet.
  static void checkSpec(const SessionSpec& s) {
    const std::string d = s.name;
    require(s.port >= 1, "spec port 1..65535", d);
    require(s.count <= uint64_t(INT64_MAX), "spec count fits int64", d);
    require(s.size >= 44 && s.size <= uint32_t(control::range::kMaxSize), "spec size 44..8952", d);
    require(s.authKey.empty() || s.size >= 112, "authenticated spec size >= 112", d);
    require(s.dscp <= 63 && s.ecn <= 3, "spec dscp and ecn", d);
    require(s.interval.count() >= 1000, "spec interval >= 1us", d);
    require(s.timeout.count() > 0, "spec timeout > 0", d);
    require(s.window.count() == 0 || s.window.count() >= 1'000'000'000, "spec window", d);
    require(s.histogram.bins >= 1 && s.histogram.bins <= 10000, "spec histogram bins", d);
    require(s.histogram.floorNs < s.histogram.ceilingNs, "spec histogram floor < ceiling", d);
    require(!s.tlvs.cosDscp || *s.tlvs.cosDscp <= 63, "spec tlv cos dscp", d);
    require(!s.tlvs.accessReport ||
                (s.tlvs.accessReport->accessId >= 1 && s.tlvs.accessReport->accessId <= 2),
            "spec access id", d);
    require(s.accessReportRetries <= 100, "spec access report retries", d);
    require(s.accessReportTimeout.count() > 0, "spec access report timeout", d);
  }

  Config cfg_;
  std::map<std::string, bool> runs_;  // name -> running
  uint64_t calls_ = 0;
};

bool isMutating(const std::string& command) {
  for (const auto& e : Commands::table())
    if (e.name == command) return e.access == Access::kMutate;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FakeTarget target;
  target.reset();
  CheckingReplier replier;
  // The operator group is gid 4242; the stranger is not in it.
  Commands commands(target, replier, [] { return std::optional<gid_t>(4242); });

  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (int n = 0; n < 16 && !input.empty(); ++n) {
    const size_t nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

    ParsedLine p = parseRequestLine(line);
    if (!p.request) {
      if (p.errorCode.empty()) continue;  // a blank line
      ControlRequest r;
      r.id = p.id;
      replier.fail(r, p.errorCode, p.errorMessage);
      continue;
    }
    ControlRequest& r = *p.request;
    r.client = 1;
    for (const bool root : {false, true}) {
      r.uid = root ? 0 : 1000;
      r.gid = root ? 0 : 100;
      replier.finals = replier.started = 0;
      replier.lastCode.clear();
      commands.dispatch(r);
      require(replier.finals + replier.started == 1, "one final answer (or a started event)",
              std::string(line.substr(0, 200)));
      if (!root && isMutating(r.command))
        require(replier.lastCode == control::kErrPermission, "a stranger may not mutate",
                r.command);
    }
  }
  return 0;
}
