// stampctl: the command-line client of stampd. It speaks the control
// protocol of libstamp/control_protocol.hpp over the daemon's Unix socket
// (libstamp/control_client.hpp); what it prints comes from ctl/render.hpp.
//
// Exit status: 0 the command (or the run) completed, 1 error, 2 bad usage,
// 3 the daemon cannot be reached.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ctl/flags.hpp"
#include "ctl/render.hpp"
#include "libstamp/control_client.hpp"
#include "libstamp/control_protocol.hpp"
#include "libstamp/duration.hpp"

namespace {

using nlohmann::json;
namespace control = stamp::control;
namespace arg = stamp::control::arg;
namespace schema = stamp::control::schema;
using control::Client;

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2, kExitUnreachable = 3;

volatile sig_atomic_t gInterrupted = 0;
void onSigint(int) {
  gInterrupted = 1;
}
// No SA_RESTART: a blocked read() or nanosleep() returns on Ctrl-C.
void catchSigint() {
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigaction(SIGINT, &sa, nullptr);
}
bool interrupted() {
  return gInterrupted != 0;
}

void writeOut(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

// A response with "ok": false.
int failed(const json& response) {
  const std::string text = stamp::ctl::renderError(response);
  std::fwrite(text.data(), 1, text.size(), stderr);
  return kExitError;
}

// The connection failed under a command.
int lost(const stamp::Error& e) {
  if (e.code == EMSGSIZE)
    std::fprintf(stderr, "stampctl: %s\n", e.message.c_str());
  else
    std::fprintf(stderr, "stampctl: stampd closed the connection\n");
  return kExitError;
}

int cmdStatus(Client& c, bool asJson) {
  auto r = c.call(control::kStatus, json::object());
  if (!r) return lost(r.error());
  if (!r->value("ok", false)) return failed(*r);
  const json& s = (*r)["result"];
  if (asJson) return std::printf("%s\n", s.dump(2).c_str()), kExitOk;
  writeOut(stamp::ctl::renderStatus(s));
  return kExitOk;
}

int cmdStart(Client& c, json args, bool asJson) {
  args[arg::kFollow] = true;
  if (!c.sendRequest(control::kSessionStart, args, 1)) return kExitError;
  catchSigint();
  const control::Interrupted untilCtrlC = interrupted, uninterrupted;
  auto stopRun = [&](const std::string& name) {
    (void)c.sendRequest(control::kSessionStop, {{arg::kName, name}}, 2);
  };
  std::string name;
  bool stopSent = false;
  for (;;) {
    auto m = c.next(stopSent ? uninterrupted : untilCtrlC);
    if (!m && m.error().code == EINTR) {  // Ctrl-C: stop the run, then print its summary
      stopSent = true;
      if (!name.empty()) stopRun(name);
      continue;
    }
    if (!m) return lost(m.error());
    if (m->value("id", 0) != 1) continue;  // the stop request's own answer
    if (m->contains("event")) {
      json d = m->value("data", json::object());
      std::string ev = (*m)["event"];
      if (ev == control::kEventStarted) {
        name = d.value("session", std::string());
        if (!asJson) writeOut(stamp::ctl::renderStarted(d, args));
        if (gInterrupted && !stopSent) {
          stopSent = true;
          stopRun(name);
        }
      } else if (ev == control::kEventReply && !asJson) {
        writeOut(stamp::ctl::renderReply(d));
        std::fflush(stdout);
      }
      continue;
    }
    if (!m->value("ok", false)) return failed(*m);
    const json& result = (*m)["result"];
    if (asJson)
      std::printf("%s\n", result.dump().c_str());
    else
      writeOut(stamp::ctl::renderSummary(result));
    return kExitOk;
  }
}

// One request, one answer: its JSON or its text.
int simple(Client& c, std::string_view command, json args, bool asJson,
           std::string (*render)(const json&)) {
  auto r = c.call(command, std::move(args));
  if (!r) return lost(r.error());
  if (!r->value("ok", false)) return failed(*r);
  if (asJson)
    std::printf("%s\n", (*r)["result"].dump().c_str());
  else
    writeOut(render((*r)["result"]));
  return kExitOk;
}

// session list: one page with --limit, else every page, kListPage
// sessions per request; printed as one list either way.
int cmdList(Client& c, json args, bool asJson) {
  auto r = stamp::ctl::listAllPages(
      std::move(args), [&c](const json& a) { return c.call(control::kSessionList, a); });
  if (!r) {
    if (r.error().code != EPROTO) return lost(r.error());
    std::fprintf(stderr, "stampctl: %s\n", r.error().message.c_str());
    return kExitError;
  }
  if (!r->value("ok", false)) return failed(*r);
  const json& result = (*r)["result"];
  if (asJson)
    std::printf("%s\n", result.dump().c_str());
  else
    writeOut(stamp::ctl::renderList(result));
  if (auto next = result.find("next"); next != result.end() && next->is_string() && !asJson)
    std::fprintf(stderr, "stampctl: more sessions follow: --after %s\n",
                 next->get<std::string>().c_str());
  return kExitOk;
}

// A live view like watch(1): the session's figures, redrawn every `every`
// seconds while it runs; the last frame stays when it ends or on Ctrl-C.
int cmdWatch(Client& c, const std::string& name, double every, bool terminal) {
  catchSigint();
  for (;;) {
    auto r = c.call(control::kSessionShow, {{arg::kName, name}});
    if (!r) return lost(r.error());
    if (!r->value("ok", false)) return failed(*r);
    const json& s = (*r)["result"];
    bool running = s.value("state", std::string()) == "running";
    if (terminal) std::printf("\033[H\033[2J");  // home, clear
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    char clock[32];
    std::strftime(clock, sizeof(clock), "%H:%M:%S", std::localtime(&now.tv_sec));
    writeOut(stamp::ctl::renderWatchHeader(name, running, clock));
    writeOut(stamp::ctl::renderShow(s));
    std::fflush(stdout);
    if (!running || gInterrupted) return kExitOk;
    timespec pause{time_t(every), long((every - double(time_t(every))) * 1e9)};
    nanosleep(&pause, nullptr);  // Ctrl-C cuts it short
    if (gInterrupted) return kExitOk;
  }
}

// A flag's value refused: one line, bad usage.
int badFlag(const stamp::Error& e) {
  std::fprintf(stderr, "stampctl: %s\n", e.message.c_str());
  return kExitUsage;
}

int cmdReload(Client& c, bool asJson) {
  auto r = c.call(control::kReload, json::object());
  if (!r) return lost(r.error());
  if (!r->value("ok", false)) {
    const json e = r->value("error", json::object());
    if (e.value("code", std::string()) != control::kErrBadConfig) return failed(*r);
    const std::string text = stamp::ctl::renderReloadRefused(e);
    std::fwrite(text.data(), 1, text.size(), stderr);
    return kExitError;
  }
  if (asJson)
    std::printf("%s\n", (*r)["result"].dump().c_str());
  else
    writeOut(stamp::ctl::renderReload((*r)["result"]));
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stampctl: control stampd, the STAMP daemon"};
  app.require_subcommand(1);
  // --json and --socket also after the subcommand: `stampctl results --json`.
  app.fallthrough();
  std::string socketPath = control::kDefaultSocket;
  bool asJson = false;
  app.add_option("--socket", socketPath, "stampd's control socket")->capture_default_str();
  app.add_flag("--json", asJson, "print JSON instead of text");
  app.set_version_flag("--version", std::string("stampctl ") + STAMPD_VERSION);

  auto* status = app.add_subcommand("status", "daemon, clock, reflector counters");
  auto* session = app.add_subcommand("session", "measurement sessions");
  session->require_subcommand(1);
  session->fallthrough();
  auto* start = session->add_subcommand("start", "run a configured session, or an ad-hoc one");
  // Numbers are taken as text and read by ctl/flags.hpp after parsing.
  std::string name, target, interval = "100ms", timeout = "2s";
  std::string port = "862", count = "10", size = "44", dscp = "0", ecn = "0";
  bool requireSync = false;
  start->add_option("name", name, "a session of stamp.toml");
  start->add_option("--target", target, "IPv4 or IPv6 address of the reflector");
  // The options of an ad-hoc session, refused with a configured one.
  std::vector<CLI::Option*> adhocOnly;
  adhocOnly.push_back(start->add_option("--port", port, "UDP port (1..65535)"));
  adhocOnly.push_back(start->add_option("--count", count, "packets to send (0: until stopped)"));
  adhocOnly.push_back(
      start->add_option("--interval", interval, "time between packets (e.g. 10ms, at least 1us)"));
  adhocOnly.push_back(
      start->add_option("--timeout", timeout, "a reply later than this counts as lost"));
  auto* sizeOpt = start->add_option("--size", size, "octets of STAMP payload (44..8952)");
  adhocOnly.push_back(sizeOpt);
  std::string authKey;
  adhocOnly.push_back(
      start->add_option("--auth-key", authKey,
                        "authenticated mode with this key of stampd's key file (its name; the "
                        "default size becomes 112)"));
  adhocOnly.push_back(start->add_option("--dscp", dscp, "DSCP of the test packets (0..63)"));
  adhocOnly.push_back(start->add_option(
      "--ecn", ecn, "ECN of the test packets: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE"));
  start->add_flag("--require-sync", requireSync, "refuse to run on an unsynchronised clock");
  // RFC 8972 TLVs in every test packet.
  std::string tlvPadding, tlvCos;
  bool tlvLocation = false, tlvTimestampInfo = false, tlvDirect = false, tlvFollowUp = false;
  std::string tlvAccessReport;
  start->add_option("--tlv-padding", tlvPadding, "an Extra Padding TLV of N octets (0..8952)");
  start->add_flag("--tlv-location", tlvLocation,
                  "Location TLV: the reflector reports the addresses, ports and MAC it saw");
  start->add_flag("--tlv-timestamp-info", tlvTimestampInfo,
                  "Timestamp Information TLV: the reflector's sync source and method");
  start->add_option("--tlv-cos", tlvCos,
                    "Class of Service TLV asking this DSCP for the reply (0..63)");
  start->add_flag("--tlv-direct-measurement", tlvDirect,
                  "Direct Measurement TLV: the reflector's packet counters");
  start->add_flag("--tlv-follow-up", tlvFollowUp,
                  "Follow-Up Telemetry TLV: the previous reply's sequence and T3");
  start->add_option("--tlv-access-report", tlvAccessReport,
                    "Access Report TLV: ACCESS_ID[,RETURN_CODE] (1 3GPP, 2 non-3GPP)");
  std::string reflectorMode = "stateless";
  adhocOnly.push_back(
      start
          ->add_option(
              "--reflector-mode", reflectorMode,
              "stateful: the reflector numbers requests itself; loss is split by direction")
          ->check(CLI::IsMember({"stateless", "stateful"})));
  auto* list = session->add_subcommand("list", "sessions, configured and ad hoc, by name");
  std::string listLimit, listState;
  std::optional<std::string> listAfter;
  list->add_option("--limit", listLimit,
                   "at most this many sessions (1..100000); without it all of them, fetched "
                   "1000 per request");
  list->add_option("--after", listAfter, "only sessions whose names sort after NAME");
  list->add_option("--state", listState, "only sessions in this state: running, finished, idle");
  auto* show = session->add_subcommand(
      "show", "figures of a session; a running one refreshes every second on a terminal");
  show->add_option("name", name)->required();
  bool watch = false, once = false;
  std::string everyText = "1";
  show->add_flag("--watch", watch, "refresh even when the output is not a terminal");
  show->add_flag("--once", once, "print once and exit, also for a running session");
  show->add_option("--every", everyText, "seconds between refreshes (0.1..3600)");
  auto* stop = session->add_subcommand("stop", "stop a running session");
  stop->add_option("name", name)->required();
  auto* results =
      app.add_subcommand("results", "finished runs from the results store, newest first");
  std::string since, limit = "50";
  results->add_option("name", name, "only this session");
  results->add_option("--since", since, "only runs that ended within this long (e.g. 12h)");
  results->add_option("--limit", limit, "at most this many runs (1..10000)");
  auto* reload = app.add_subcommand(
      "reload", "re-read stampd's configuration file; a bad file is refused and nothing changes");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  json args = json::object();
  if (*start) {
    if (name.empty() == target.empty()) {
      std::fprintf(stderr, "stampctl: session start takes a configured NAME or --target ADDR\n");
      return kExitUsage;
    }
    if (!name.empty()) {
      for (const CLI::Option* o : adhocOnly)
        if (o->count() > 0) {
          std::fprintf(stderr,
                       "stampctl: %s is for ad-hoc sessions (--target); a configured session "
                       "takes its settings from stamp.toml\n",
                       o->get_name().c_str());
          return kExitUsage;
        }
      args[arg::kName] = name;
    } else {
      using stamp::ctl::parseArgFlag;
      const auto& table = schema::kSessionStart;
      auto portV = parseArgFlag("--port", port, table, arg::kPort);
      if (!portV) return badFlag(portV.error());
      auto countV = parseArgFlag("--count", count, table, arg::kCount);
      if (!countV) return badFlag(countV.error());
      auto iv = stamp::ctl::parseDurationFlag("--interval", interval,
                                              stamp::control::range::kMinIntervalNs);
      if (!iv) return badFlag(iv.error());
      auto to = stamp::ctl::parseDurationFlag("--timeout", timeout, 1);
      if (!to) return badFlag(to.error());
      // Authenticated, the default size is the 112-octet base.
      auto sizeV = parseArgFlag("--size", !authKey.empty() && sizeOpt->count() == 0 ? "112" : size,
                                table, arg::kSize);
      if (!sizeV) return badFlag(sizeV.error());
      auto dscpV = parseArgFlag("--dscp", dscp, table, arg::kDscp);
      if (!dscpV) return badFlag(dscpV.error());
      auto ecnV = parseArgFlag("--ecn", ecn, table, arg::kEcn);
      if (!ecnV) return badFlag(ecnV.error());
      args = {
          {arg::kTarget, target},  {arg::kPort, *portV},   {arg::kCount, *countV},
          {arg::kIntervalNs, *iv}, {arg::kTimeoutNs, *to}, {arg::kSize, *sizeV},
          {arg::kDscp, *dscpV},    {arg::kEcn, *ecnV},     {arg::kReflectorMode, reflectorMode}};
      if (!authKey.empty()) args[arg::kAuthKey] = authKey;
    }
    if (requireSync) args[arg::kRequireSync] = true;
    if (!target.empty()) {
      using stamp::ctl::parseArgFlag;
      if (!tlvPadding.empty()) {
        auto v = parseArgFlag("--tlv-padding", tlvPadding, schema::kSessionStart, arg::kTlvPadding);
        if (!v) return badFlag(v.error());
        args[arg::kTlvPadding] = *v;
      }
      if (tlvLocation) args[arg::kTlvLocation] = true;
      if (tlvTimestampInfo) args[arg::kTlvTimestampInfo] = true;
      if (!tlvCos.empty()) {
        auto v = parseArgFlag("--tlv-cos", tlvCos, schema::kSessionStart, arg::kTlvCosDscp);
        if (!v) return badFlag(v.error());
        args[arg::kTlvCosDscp] = *v;
      }
      if (tlvDirect) args[arg::kTlvDirectMeasurement] = true;
      if (tlvFollowUp) args[arg::kTlvFollowUp] = true;
      if (!tlvAccessReport.empty()) {
        const size_t comma = tlvAccessReport.find(',');
        auto id = parseArgFlag("--tlv-access-report ACCESS_ID", tlvAccessReport.substr(0, comma),
                               schema::kAccessReport, arg::kAccessId);
        if (!id) return badFlag(id.error());
        json ar = {{arg::kAccessId, *id}};
        if (comma != std::string::npos) {
          auto code =
              parseArgFlag("--tlv-access-report RETURN_CODE", tlvAccessReport.substr(comma + 1),
                           schema::kAccessReport, arg::kReturnCode);
          if (!code) return badFlag(code.error());
          ar[arg::kReturnCode] = *code;
        }
        args[arg::kTlvAccessReport] = ar;
      }
    } else if (!tlvPadding.empty() || tlvLocation || tlvTimestampInfo || !tlvCos.empty() ||
               tlvDirect || tlvFollowUp || !tlvAccessReport.empty()) {
      std::fprintf(stderr,
                   "stampctl: --tlv-* options are for ad-hoc sessions (--target); a configured "
                   "session takes its tlv_* keys from stamp.toml\n");
      return kExitUsage;
    }
  }
  double every = 1.0;
  if (*show) {
    auto e = stamp::ctl::parseSecondsFlag("--every", everyText, 0.1, 3600.0);
    if (!e) return badFlag(e.error());
    every = *e;
  }
  json listArgs = json::object();
  if (*list) {
    auto a = stamp::ctl::parseListFlags(listLimit, listAfter, listState);
    if (!a) return badFlag(a.error());
    listArgs = std::move(*a);
  }
  json resultsArgs = json::object();
  if (*results) {
    auto l =
        stamp::ctl::parseIntegerFlag("--limit", limit, 1, stamp::control::range::kMaxResultsLimit);
    if (!l) return badFlag(l.error());
    resultsArgs[arg::kLimit] = *l;
    if (!name.empty()) resultsArgs[arg::kName] = name;
    if (!since.empty()) {
      auto d = stamp::ctl::parseDurationFlag("--since", since, 0);
      if (!d) return badFlag(d.error());
      timespec ts{};
      clock_gettime(CLOCK_REALTIME, &ts);
      // At most 2^63 - 1 ns back from now (about 1.7e18): no overflow.
      resultsArgs[arg::kSinceNs] = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec - *d;
    }
  }

  auto conn = Client::connect(socketPath);
  if (!conn) {
    if (conn.error().code == ENAMETOOLONG)
      std::fprintf(stderr, "stampctl: %s\n", conn.error().message.c_str());
    else
      std::fprintf(stderr, "stampctl: stampd is not running (%s)\n", conn.error().message.c_str());
    return kExitUnreachable;
  }
  if (*status) return cmdStatus(*conn, asJson);
  if (*start) return cmdStart(*conn, args, asJson);
  if (*list) return cmdList(*conn, listArgs, asJson);
  if (*show) {
    if (once || asJson || !(watch || isatty(STDOUT_FILENO)))
      return simple(*conn, control::kSessionShow, {{arg::kName, name}}, asJson,
                    stamp::ctl::renderShow);
    return cmdWatch(*conn, name, every, isatty(STDOUT_FILENO));
  }
  if (*reload) return cmdReload(*conn, asJson);
  if (*results)
    return simple(*conn, control::kResults, resultsArgs, asJson, stamp::ctl::renderResults);
  if (*stop)
    return simple(*conn, control::kSessionStop, {{arg::kName, name}}, asJson,
                  stamp::ctl::renderSummary);
  return kExitUsage;
}
