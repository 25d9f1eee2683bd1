// stampctl: the command-line client of stampd. It speaks the control
// protocol of libstamp/control_protocol.hpp over the daemon's Unix socket.
//
// Exit status: 0 the command (or the run) completed, 1 error, 2 bad usage,
// 3 the daemon cannot be reached.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>
#include <map>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "libstamp/control_protocol.hpp"
#include "libstamp/duration.hpp"
#include "libstamp/timefmt.hpp"

namespace {

using nlohmann::json;
namespace control = stamp::control;

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2, kExitUnreachable = 3;

volatile sig_atomic_t gInterrupted = 0;
void onSigint(int) {
  gInterrupted = 1;
}

class Connection {
 public:
  // Connects; on failure prints the one-line reason.
  static std::optional<Connection> open(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) {
      std::fprintf(stderr, "stampctl: socket path too long: %s\n", path.c_str());
      return std::nullopt;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::fprintf(stderr, "stampctl: stampd is not running (cannot connect to %s: %s)\n",
                   path.c_str(), std::strerror(errno));
      if (fd >= 0) close(fd);
      return std::nullopt;
    }
    return Connection(fd);
  }
  Connection(Connection&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }

  bool send(const json& j) {
    std::string line = j.dump() + "\n";
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += size_t(n);
    }
    return true;
  }

  // Next message; nullopt on EOF or error. With `interruptible`, returns
  // early (json null) when SIGINT arrives.
  std::optional<json> next(bool interruptible = false) {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;
        return j;
      }
      if (interruptible && gInterrupted) return json(nullptr);
      char tmp[8192];
      ssize_t n = read(fd_, tmp, sizeof(tmp));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, size_t(n));
    }
  }

 private:
  explicit Connection(int fd) : fd_(fd) {}
  int fd_;
  std::string buf_;
};

json request(const std::string& command, json args, int id) {
  return {
      {"version", control::kVersion}, {"id", id}, {"command", command}, {"args", std::move(args)}};
}

// Sends one request and waits for its final response (events are ignored).
std::optional<json> call(Connection& c, const std::string& command, json args) {
  if (!c.send(request(command, std::move(args), 1))) return std::nullopt;
  for (;;) {
    auto m = c.next();
    if (!m) return std::nullopt;
    if (m->contains("ok")) return m;
  }
}

std::string ms(const json& v) {
  if (!v.is_number()) return "-";
  char b[32];
  std::snprintf(b, sizeof(b), "%.3f ms", v.get<double>() / 1e6);
  return b;
}

// RFC 3168 codepoints as engineers write them.
const char* ecnName(int ecn) {
  static const char* const kNames[] = {"Not-ECT", "ECT(1)", "ECT(0)", "CE"};
  return ecn >= 0 && ecn <= 3 ? kNames[ecn] : "?";
}

// {"46": 98, "0": 2} -> "46 (98), 0 (2)", most frequent first; `name`
// spells a value.
std::string valueCounts(const json& counts, std::string (*name)(int)) {
  std::vector<std::pair<uint64_t, int>> seen;
  for (const auto& [v, n] : counts.items())
    if (n.is_number_integer()) seen.emplace_back(n.get<uint64_t>(), std::atoi(v.c_str()));
  std::sort(seen.begin(), seen.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string s;
  for (const auto& [n, v] : seen)
    s += (s.empty() ? "" : ", ") + name(v) + " (" + std::to_string(n) + ")";
  return s;
}

int printError(const json& resp) {
  auto e = resp.value("error", json::object());
  std::fprintf(stderr, "stampctl: %s (%s)\n", e.value("message", std::string("error")).c_str(),
               e.value("code", std::string("?")).c_str());
  return kExitError;
}

void printTlvs(const json& t);

void printSummary(const json& s) {
  uint64_t sent = s.value("sent", 0), received = s.value("received", 0), lost = s.value("lost", 0);
  std::printf("--- %s (%s port %d) statistics ---\n", s.value("session", std::string()).c_str(),
              s.value("target", std::string()).c_str(), s.value("port", 0));
  std::printf(
      "%llu sent, %llu received, %llu lost (%.1f%%), %llu duplicates, %llu reordered, "
      "%llu late\n",
      (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost,
      sent ? 100.0 * double(lost) / double(sent) : 0.0,
      (unsigned long long)s.value("duplicates", 0), (unsigned long long)s.value("reordered", 0),
      (unsigned long long)s.value("late", 0));
  std::printf("%-22s %12s %12s %12s %12s %12s %12s\n", "", "min", "avg", "max", "p50", "p90",
              "p99");
  for (auto [key, label] : {std::pair{"rtt_ns", "round trip"},
                            {"forward_ns", "near-end (forward)"},
                            {"backward_ns", "far-end (backward)"}}) {
    json d = s.value(key, json::object());
    std::printf("%-22s %12s %12s %12s %12s %12s %12s\n", label, ms(d.value("min", json())).c_str(),
                ms(d.value("avg", json())).c_str(), ms(d.value("max", json())).c_str(),
                ms(d.value("p50", json())).c_str(), ms(d.value("p90", json())).c_str(),
                ms(d.value("p99", json())).c_str());
  }
  // DSCP/ECN: what was sent, what came back (the reflector's policy and
  // the paths' re-marking).
  if (s.contains("reply_dscp") && s["reply_dscp"].is_object() && !s["reply_dscp"].empty()) {
    auto number = [](int v) { return std::to_string(v); };
    auto ecn = [](int v) { return std::string(ecnName(v)); };
    std::printf("DSCP/ECN sent %d/%s; replies: DSCP %s; ECN %s\n", s.value("dscp", 0),
                ecnName(s.value("ecn", 0)), valueCounts(s["reply_dscp"], number).c_str(),
                valueCounts(s.value("reply_ecn", json::object()), ecn).c_str());
  }
  if (s.value("reply_ecn_ce", 0) > 0)
    std::printf(
        "note: %llu replies arrived marked ECN CE (congestion experienced) by the path back, or "
        "by the path out when the reflector copies ECN\n",
        (unsigned long long)s.value("reply_ecn_ce", 0));
  if (s.value("zero_ssid_replies", 0) > 0)
    std::printf(
        "note: %llu replies had their SSID zeroed: the reflector does not support it "
        "(RFC 8972 3)%s\n",
        (unsigned long long)s.value("zero_ssid_replies", 0),
        s.value("stopped_by", json()) == "zero_ssid" ? "; the run stopped there" : "");
  if (s.value("forward_lost", json()).is_number())
    std::printf(
        "loss by direction (stateful reflector): %llu forward (near-end), %llu backward "
        "(far-end)\n",
        (unsigned long long)s["forward_lost"].get<uint64_t>(),
        (unsigned long long)s["backward_lost"].get<uint64_t>());
  uint64_t negF = s.value("negative_forward", 0), negB = s.value("negative_backward", 0);
  if (negF || negB)
    std::printf(
        "note: %llu near-end and %llu far-end values are negative: the two clocks "
        "disagree; they are kept as measured\n",
        (unsigned long long)negF, (unsigned long long)negB);
  // Why one-way figures are doubtful, from the flags of classifyOneWay.
  json flagged = s.value("one_way", json::object()).value("flagged", json::object());
  std::map<std::string, uint64_t> reasons;
  uint64_t nFlagged = 0;
  for (const char* dir : {"forward", "backward"}) {
    const json counts = flagged.value(dir, json::object());  // items() must not outlive it
    for (const auto& [reason, n] : counts.items()) {
      reasons[reason] += n.get<uint64_t>();
      nFlagged += n.get<uint64_t>();
    }
  }
  if (nFlagged) {
    std::string why;
    for (const auto& [reason, n] : reasons) {
      std::string text = reason;
      std::replace(text.begin(), text.end(), '_', ' ');
      why += (why.empty() ? "" : ", ") + text + " " + std::to_string(n);
    }
    std::printf(
        "note: one-way figures above are as measured but not trusted: %llu values flagged "
        "(%s); the trusted one-way figures (JSON one_way) leave them out\n",
        (unsigned long long)nFlagged, why.c_str());
  }
  if (s.contains("tlvs") && s["tlvs"].is_object()) printTlvs(s["tlvs"]);
}

// What came back in RFC 8972 TLVs ("tlvs" of the summary), one line a type.
void printTlvs(const json& t) {
  std::printf(
      "TLVs: %llu replies carried TLVs, %llu discarded for integrity (I), %llu stopped "
      "at a malformed TLV (M)\n",
      (unsigned long long)t.value("replies", 0), (unsigned long long)t.value("integrity_failed", 0),
      (unsigned long long)t.value("stopped_malformed", 0));
  for (const auto& [name, e] : t.items()) {
    if (!e.is_object()) continue;
    std::string line = "  " + name + ": " + std::to_string(e.value("received", 0)) + " received";
    for (auto [key, flag] :
         {std::pair{"unrecognized", "U"}, {"malformed", "M"}, {"integrity", "I"}})
      if (e.value(key, 0) > 0) line += std::string(", ") + flag + " " + e[key].dump();
    const json last = e.value("last", json());
    auto str = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    if (last.is_object()) {
      if (name == "location")
        line += "; reflector " + str(last.value("destination_ip", json())) + " port " +
                str(last.value("destination_port", json())) + ", sender seen as " +
                str(last.value("source_ip", json())) + " port " +
                str(last.value("source_port", json())) + ", source MAC " +
                str(last.value("source_mac", json()));
      else if (name == "timestamp_info")
        line += "; T2 " + str(last.value("sync_source_in", json())) + "/" +
                str(last.value("timestamp_in", json())) + ", T3 " +
                str(last.value("sync_source_out", json())) + "/" +
                str(last.value("timestamp_out", json()));
      else if (name == "class_of_service")
        line += "; DSCP1 " + str(last.value("dscp1", json())) +
                (last.value("rp", 0) ? " refused (RP 1)" : " applied") + ", reply DSCP " +
                str(last.value("reply_dscp", json())) + ", arrived with DSCP2 " +
                str(last.value("dscp2", json())) + " ECN " + str(last.value("ecn", json()));
      else if (name == "direct_measurement")
        line += "; S_TxC " + str(last.value("s_txc", json())) + " R_RxC " +
                str(last.value("r_rxc", json())) + " R_TxC " + str(last.value("r_txc", json())) +
                " S_RxC " + str(last.value("s_rxc", json())) + " (lost " +
                str(last.value("forward_lost", json())) + " forward, " +
                str(last.value("backward_lost", json())) + " backward)";
      else if (name == "access_report")
        line += "; access ID " + str(last.value("access_id", json())) + ", return code " +
                str(last.value("return_code", json()));
      else if (name == "follow_up")
        line += "; last names reflector seq " + str(last.value("sequence", json())) + " sent at " +
                (last.value("timestamp_ns", json()).is_number()
                     ? stamp::formatRfc3339(last["timestamp_ns"].get<int64_t>())
                     : std::string("-")) +
                " (" + str(last.value("mode", json())) + ")";
    }
    if (name == "access_report")
      line += "; sent " + std::to_string(e.value("sent", 0)) + " time(s), " +
              (e.value("acknowledged", false) ? "acknowledged"
               : e.value("aborted", false)    ? "aborted unacknowledged"
                                              : "not acknowledged");
    if (name == "follow_up" && e.contains("t3_matched"))
      line += "; " + e["t3_matched"].dump() + " matched the T3 seen, " + e["t3_mismatched"].dump() +
              " did not";
    std::printf("%s\n", line.c_str());
  }
}

int cmdStatus(Connection& c, bool asJson) {
  auto r = call(c, std::string(control::kStatus), json::object());
  if (!r) return std::fprintf(stderr, "stampctl: stampd closed the connection\n"), kExitError;
  if (!r->value("ok", false)) return printError(*r);
  json s = (*r)["result"];
  if (asJson) return std::printf("%s\n", s.dump(2).c_str()), kExitOk;
  std::printf("stampd %s, pid %d, up %lld s\n", s.value("version", std::string()).c_str(),
              s.value("pid", 0), (long long)s.value("uptime_s", 0));
  json clk = s.value("clock", json::object());
  json ee = clk.value("error_estimate", json::object());
  std::printf("clock: %s, TAI offset %d s, error estimate %s (S=%d scale=%d multiplier=%d)\n",
              clk.value("synchronized", false) ? "synchronised" : "NOT synchronised",
              clk.value("tai_offset_s", 0), ms(ee.value("error_ns", json())).c_str(),
              ee.value("s", false) ? 1 : 0, ee.value("scale", 0), ee.value("multiplier", 0));
  json refl = s.value("reflector", json::object());
  std::string ports;
  for (const auto& p : refl.value("ports", json::array()))
    ports += (ports.empty() ? "" : ",") + p.dump();
  // DSCP/ECN of the replies: "copy" or the configured value.
  auto policy = [&](const char* key, bool isEcn) -> std::string {
    json v = refl.value(key, json("copy"));
    if (!v.is_number()) return "copy";
    return isEcn ? std::to_string(v.get<int>()) + " (" + ecnName(v.get<int>()) + ")" : v.dump();
  };
  std::printf("reflector: %s, %s, UDP port(s) %s, reply DSCP %s, ECN %s\n",
              refl.value("enabled", false) ? "enabled" : "disabled",
              refl.value("mode", std::string()).c_str(), ports.c_str(),
              policy("dscp", false).c_str(), policy("ecn", true).c_str());
  if (refl.value("enabled", false) && refl.contains("guards")) {
    const json g = refl["guards"];
    auto list = [&](const char* key) {
      std::string out;
      for (const auto& p : g.value(key, json::array()))
        out += (out.empty() ? "" : ", ") + p.get<std::string>();
      return out;
    };
    auto rate = [&](const char* key, const char* burstKey) {
      uint64_t n = g.value(key, uint64_t(0));
      return n == 0 ? std::string("no limit")
                    : std::to_string(n) + "/s (burst " +
                          std::to_string(g.value(burstKey, uint64_t(0))) + ")";
    };
    std::string allow = list("allow"), deny = list("deny");
    std::printf("  guards: sources %s%s; per source %s; all sources %s\n",
                allow.empty() ? "any" : ("in " + allow).c_str(),
                deny.empty() ? "" : (" except " + deny).c_str(),
                rate("rate_limit_per_source", "rate_limit_per_source_burst").c_str(),
                rate("rate_limit", "rate_limit_burst").c_str());
  }
  const json interfaces = refl.value("interfaces", json::object());
  for (const auto& [ifname, i] : interfaces.items()) {
    std::string drops;
    const json dropCounts = i.value("drops", json::object());
    for (const auto& [reason, n] : dropCounts.items())
      if (n.get<uint64_t>() > 0) drops += " " + reason + "=" + n.dump();
    std::printf("  %s (%s): %s received, %s reflected, %s fragments passed, drops:%s\n",
                ifname.c_str(), i.value("attach", std::string()).c_str(), i["rx"].dump().c_str(),
                i["reflected"].dump().c_str(), i["fragments"].dump().c_str(),
                drops.empty() ? " none" : drops.c_str());
    const json t = i.value("tlvs", json::object());
    if (t.value("requests", 0) > 0)
      std::printf(
          "    TLVs: %s requests, %s answered, %s unrecognized (U), %s malformed (M), %s "
          "integrity (I), %s over the 16-TLV walk, %s CoS refused\n",
          t["requests"].dump().c_str(), t.value("answered", json(0)).dump().c_str(),
          t.value("unrecognized", json(0)).dump().c_str(),
          t.value("malformed", json(0)).dump().c_str(),
          t.value("integrity", json(0)).dump().c_str(),
          t.value("over_limit", json(0)).dump().c_str(),
          t.value("cos_refused", json(0)).dump().c_str());
  }
  std::printf("sessions running: %d\n", s.value("sessions_running", 0));
  json store = s.value("results_store", json::object());
  if (!store.empty())
    std::printf(
        "results store: %s, %s\n", store.value("path", std::string()).c_str(),
        store.value("healthy", false)
            ? "ok"
            : ("NOT AVAILABLE: " + store.value("error", json("")).get<std::string>()).c_str());
  return kExitOk;
}

int cmdStart(Connection& c, json args, bool asJson) {
  args["follow"] = true;
  if (!c.send(request(std::string(control::kSessionStart), args, 1))) return kExitError;
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: read() returns on Ctrl-C
  std::string name;
  bool stopSent = false;
  for (;;) {
    auto m = c.next(!stopSent);
    if (!m) return std::fprintf(stderr, "stampctl: stampd closed the connection\n"), kExitError;
    if (m->is_null()) {  // Ctrl-C: stop the run, then print its summary
      stopSent = true;
      if (!name.empty()) c.send(request(std::string(control::kSessionStop), {{"name", name}}, 2));
      continue;
    }
    if (m->value("id", 0) != 1) continue;  // the stop request's own answer
    if (m->contains("event")) {
      json d = m->value("data", json::object());
      std::string ev = (*m)["event"];
      if (ev == "started") {
        name = d.value("session", std::string());
        if (!asJson)
          std::printf("STAMP session %s to %s port %d (SSID %d, source port %d)\n", name.c_str(),
                      d.value("target", args.value("target", name)).c_str(),
                      d.value("port", args.value("port", 862)), d.value("ssid", 0),
                      d.value("source_port", 0));
        if (gInterrupted && !stopSent) {
          stopSent = true;
          c.send(request(std::string(control::kSessionStop), {{"name", name}}, 2));
        }
      } else if (ev == control::kEventReply && !asJson) {
        std::string tos;
        if (d.value("dscp", json()).is_number())
          tos = " dscp=" + d["dscp"].dump() + " ecn=" + ecnName(d.value("ecn", 0));
        std::printf("%d bytes: seq=%d rtt=%s near-end=%s far-end=%s ttl=%d%s%s%s\n",
                    d.value("size", 0), d.value("seq", 0), ms(d["rtt_ns"]).c_str(),
                    ms(d["forward_ns"]).c_str(), ms(d["backward_ns"]).c_str(), d.value("ttl", 0),
                    tos.c_str(), d.value("late", false) ? " (late)" : "",
                    d.value("kernel_timestamps", true) ? "" : " (socket timestamps)");
        std::fflush(stdout);
      }
      continue;
    }
    if (!m->value("ok", false)) return printError(*m);
    json result = (*m)["result"];
    if (asJson)
      std::printf("%s\n", result.dump().c_str());
    else
      printSummary(result);
    return kExitOk;
  }
}

int simple(Connection& c, std::string_view command, json args, bool asJson,
           void (*print)(const json&)) {
  auto r = call(c, std::string(command), std::move(args));
  if (!r) return std::fprintf(stderr, "stampctl: stampd closed the connection\n"), kExitError;
  if (!r->value("ok", false)) return printError(*r);
  if (asJson)
    std::printf("%s\n", (*r)["result"].dump().c_str());
  else
    print((*r)["result"]);
  return kExitOk;
}

// The prototype's histogram export: fixed bins from floor to ceiling, the
// end bins holding the outliers.
void printHistogram(const json& s) {
  json h = s.value("rtt_ns", json::object()).value("histogram", json::object());
  const json counts = h.value("counts", json::array());
  if (counts.empty()) return;
  double floorNs = h.value("floor_ns", 0.0), ceilNs = h.value("ceiling_ns", 0.0);
  double width = (ceilNs - floorNs) / double(counts.size());
  uint64_t peak = 1;
  for (const auto& c : counts) peak = std::max<uint64_t>(peak, c.get<uint64_t>());
  std::printf("round-trip histogram: %zu bins, floor %s, ceiling %s (end bins hold outliers)\n",
              counts.size(), ms(h["floor_ns"]).c_str(), ms(h["ceiling_ns"]).c_str());
  for (size_t i = 0; i < counts.size(); ++i) {
    uint64_t c = counts[i].get<uint64_t>();
    if (c == 0) continue;
    std::string lo = i == 0 ? "-inf" : ms(json(floorNs + width * double(i)));
    std::string hi = i + 1 == counts.size() ? "+inf" : ms(json(floorNs + width * double(i + 1)));
    std::printf("  %14s .. %-14s %8llu %s\n", lo.c_str(), hi.c_str(), (unsigned long long)c,
                std::string(size_t(40 * c / peak), '#').c_str());
  }
}

void printShow(const json& s) {
  printSummary(s);
  printHistogram(s);
}

// "2026-11-27T07:50:00.534890Z" -> "07:50:00Z" (the date when not today's
// is in the JSON); "-" for none.
std::string shortTime(const json& t) {
  if (!t.is_string()) return "-";
  std::string s = t.get<std::string>();
  return s.size() >= 20 ? s.substr(11, 8) + "Z" : s;
}

void printList(const json& r) {
  std::printf("%-16s %-26s %5s %-9s %6s %8s %10s %10s  %s\n", "NAME", "TARGET", "PORT", "STATE",
              "SENT", "RECEIVED", "LAST RUN", "NEXT RUN", "SCHEDULE");
  for (const auto& s : r.value("sessions", json::array())) {
    std::string sched = s.value("schedule", std::string());
    if (sched.empty())
      sched = "on demand";
    else if (s.value("timezone", std::string()) == "local")
      sched += " (local time)";
    std::printf("%-16s %-26s %5d %-9s %6s %8s %10s %10s  %s\n",
                s.value("name", std::string()).c_str(), s.value("target", std::string()).c_str(),
                s.value("port", 0), s.value("state", std::string()).c_str(),
                s.contains("sent") ? s["sent"].dump().c_str() : "-",
                s.contains("received") ? s["received"].dump().c_str() : "-",
                shortTime(s.value("last_run", json())).c_str(),
                shortTime(s.value("next_run", json())).c_str(), sched.c_str());
  }
}

void printReload(const json& r) {
  auto names = [&](const char* k) {
    std::string s;
    for (const auto& n : r.value("sessions", json::object()).value(k, json::array()))
      s += (s.empty() ? "" : ", ") + n.get<std::string>();
    return s.empty() ? std::string("none") : s;
  };
  std::printf("reloaded %s: %s\n", r.value("config", std::string()).c_str(),
              r.value("changed", false) ? "changes applied" : "nothing changed");
  std::printf("sessions: added %s; removed %s; changed %s; unchanged %s\n", names("added").c_str(),
              names("removed").c_str(), names("changed").c_str(), names("unchanged").c_str());
  json refl = r.value("reflector", json::object());
  std::string ports, att, det;
  for (const auto& p : refl.value("ports", json::array()))
    ports += (ports.empty() ? "" : ",") + p.dump();
  for (const auto& i : refl.value("attached", json::array())) att += " " + i.get<std::string>();
  for (const auto& i : refl.value("detached", json::array())) det += " " + i.get<std::string>();
  std::printf("reflector: %s, UDP port(s) %s%s%s\n",
              refl.value("enabled", false) ? "enabled" : "disabled", ports.c_str(),
              att.empty() ? "" : ("; attached to" + att).c_str(),
              det.empty() ? "" : ("; detached from" + det).c_str());
  for (const auto& k : r.value("restart_required", json::array()))
    std::printf("note: %s changed; it takes effect when stampd restarts\n",
                k.get<std::string>().c_str());
}

// "2026-11-27T07:50:00.534890Z" -> "2026-11-27 07:50:00Z".
std::string wallTime(const json& t) {
  if (!t.is_string()) return "-";
  std::string s = t.get<std::string>();
  if (s.size() < 19) return s;
  return s.substr(0, 10) + " " + s.substr(11, 8) + "Z";
}

// Why a one-way figure is missing or doubtful (RFC 8762 4.1.2: the Error
// Estimate's S bit says whether a clock is synchronised to UTC).
std::string oneWayNote(const json& run) {
  json clk = run.value("clock", json::object());
  json l = clk.value("local", json()), r = clk.value("remote", json());
  bool ls = l.is_object() && l.value("synchronized", false);
  bool rs = r.is_object() && r.value("synchronized", false);
  if (!r.is_object() || r.is_null()) return "remote clock unknown";
  if (!ls && !rs) return "neither clock synchronised";
  if (!ls) return "local clock not synchronised";
  if (!rs) return "remote clock not synchronised";
  return "";
}

void printResults(const json& r) {
  const json runs = r.value("runs", json::array());
  if (runs.empty()) {
    std::printf("no runs recorded\n");
    return;
  }
  std::printf("%-20s %-16s %-24s %6s %6s %6s %11s %11s %11s %11s  %s\n", "END", "SESSION", "TARGET",
              "SENT", "RECV", "LOST", "RTT AVG", "RTT P99", "FWD AVG", "BWD AVG", "NOTE");
  for (const auto& run : runs) {
    json rtt = run.value("rtt_ns", json::object());
    std::string note = oneWayNote(run);
    if (run.value("window", false)) note = "window" + std::string(note.empty() ? "" : "; ") + note;
    std::string target =
        run.value("target", std::string()) + " " + std::to_string(run.value("port", 0));
    std::printf(
        "%-20s %-16s %-24s %6s %6s %6s %11s %11s %11s %11s  %s\n",
        wallTime(run.value("end", json())).c_str(), run.value("session", std::string()).c_str(),
        target.c_str(), run["sent"].dump().c_str(), run["received"].dump().c_str(),
        run["lost"].dump().c_str(), ms(rtt.value("avg", json())).c_str(),
        ms(rtt.value("p99", json())).c_str(),
        ms(run.value("forward_ns", json::object()).value("avg", json())).c_str(),
        ms(run.value("backward_ns", json::object()).value("avg", json())).c_str(), note.c_str());
  }
  json store = r.value("store", json::object());
  if (!store.value("healthy", true))
    std::printf("note: the results store reports: %s\n",
                store.value("error", json("")).dump().c_str());
}

// A live view like watch(1): the session's figures, redrawn every `every`
// seconds while it runs; the last frame stays when it ends or on Ctrl-C.
int cmdWatch(Connection& c, const std::string& name, double every, bool terminal) {
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigaction(SIGINT, &sa, nullptr);
  for (;;) {
    auto r = call(c, std::string(control::kSessionShow), {{"name", name}});
    if (!r) return std::fprintf(stderr, "stampctl: stampd closed the connection\n"), kExitError;
    if (!r->value("ok", false)) return printError(*r);
    json s = (*r)["result"];
    bool running = s.value("state", std::string()) == "running";
    if (terminal) std::printf("\033[H\033[2J");  // home, clear
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%H:%M:%S", std::localtime(&now.tv_sec));
    std::printf("session %s, %s at %s%s\n", name.c_str(), running ? "running" : "finished", stamp,
                running ? " (Ctrl-C to leave; the session goes on)" : "");
    printShow(s);
    std::fflush(stdout);
    if (!running || gInterrupted) return kExitOk;
    timespec pause{time_t(every), long((every - double(time_t(every))) * 1e9)};
    nanosleep(&pause, nullptr);  // Ctrl-C cuts it short
    if (gInterrupted) return kExitOk;
  }
}

int cmdReload(Connection& c, bool asJson) {
  auto r = call(c, std::string(control::kReload), json::object());
  if (!r) return std::fprintf(stderr, "stampctl: stampd closed the connection\n"), kExitError;
  if (!r->value("ok", false)) {
    json e = r->value("error", json::object());
    if (e.value("code", std::string()) != control::kErrBadConfig) return printError(*r);
    // Every problem of the file, one "FILE:LINE:COLUMN: reason" per line.
    std::fprintf(stderr, "%s\nstampctl: reload refused; stampd keeps its running configuration\n",
                 e.value("message", std::string()).c_str());
    return kExitError;
  }
  if (asJson)
    std::printf("%s\n", (*r)["result"].dump().c_str());
  else
    printReload((*r)["result"]);
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
  std::string name, target, interval = "100ms", timeout = "2s";
  int port = 862, dscp = 0, ecn = 0, size = 44;
  uint64_t count = 10;
  bool requireSync = false;
  start->add_option("name", name, "a session of stamp.toml");
  start->add_option("--target", target, "IPv4 or IPv6 address of the reflector");
  start->add_option("--port", port, "UDP port")->check(CLI::Range(1, 65535));
  start->add_option("--count", count, "packets to send (0: until stopped)");
  start->add_option("--interval", interval, "time between packets (e.g. 10ms)");
  start->add_option("--timeout", timeout, "a reply later than this counts as lost");
  auto* sizeOpt =
      start->add_option("--size", size, "octets of STAMP payload")->check(CLI::Range(44, 8952));
  std::string authKey;
  start->add_option("--auth-key", authKey,
                    "authenticated mode with this key of stampd's key file (its name; the "
                    "default size becomes 112)");
  start->add_option("--dscp", dscp, "DSCP of the test packets")->check(CLI::Range(0, 63));
  start->add_option("--ecn", ecn, "ECN of the test packets: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE")
      ->check(CLI::Range(0, 3));
  start->add_flag("--require-sync", requireSync, "refuse to run on an unsynchronised clock");
  // RFC 8972 TLVs in every test packet.
  int tlvPadding = -1, tlvCos = -1;
  bool tlvLocation = false, tlvTimestampInfo = false, tlvDirect = false, tlvFollowUp = false;
  std::string tlvAccessReport;
  start->add_option("--tlv-padding", tlvPadding, "an Extra Padding TLV of N octets")
      ->check(CLI::Range(0, 8952));
  start->add_flag("--tlv-location", tlvLocation,
                  "Location TLV: the reflector reports the addresses, ports and MAC it saw");
  start->add_flag("--tlv-timestamp-info", tlvTimestampInfo,
                  "Timestamp Information TLV: the reflector's sync source and method");
  start->add_option("--tlv-cos", tlvCos, "Class of Service TLV asking this DSCP for the reply")
      ->check(CLI::Range(0, 63));
  start->add_flag("--tlv-direct-measurement", tlvDirect,
                  "Direct Measurement TLV: the reflector's packet counters");
  start->add_flag("--tlv-follow-up", tlvFollowUp,
                  "Follow-Up Telemetry TLV: the previous reply's sequence and T3");
  start->add_option("--tlv-access-report", tlvAccessReport,
                    "Access Report TLV: ACCESS_ID[,RETURN_CODE] (1 3GPP, 2 non-3GPP)");
  std::string reflectorMode = "stateless";
  start
      ->add_option("--reflector-mode", reflectorMode,
                   "stateful: the reflector numbers requests itself; loss is split by direction")
      ->check(CLI::IsMember({"stateless", "stateful"}));
  auto* list = session->add_subcommand("list", "sessions, configured and ad hoc");
  auto* show = session->add_subcommand(
      "show", "figures of a session; a running one refreshes every second on a terminal");
  show->add_option("name", name)->required();
  bool watch = false, once = false;
  double every = 1.0;
  show->add_flag("--watch", watch, "refresh even when the output is not a terminal");
  show->add_flag("--once", once, "print once and exit, also for a running session");
  show->add_option("--every", every, "seconds between refreshes")->check(CLI::Range(0.1, 3600.0));
  auto* stop = session->add_subcommand("stop", "stop a running session");
  stop->add_option("name", name)->required();
  auto* results =
      app.add_subcommand("results", "finished runs from the results store, newest first");
  std::string since;
  size_t limit = 50;
  results->add_option("name", name, "only this session");
  results->add_option("--since", since, "only runs that ended within this long (e.g. 12h)");
  results->add_option("--limit", limit, "at most this many runs")->check(CLI::Range(1, 10000));
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
      args["name"] = name;
    } else {
      auto iv = stamp::parseDuration(interval), to = stamp::parseDuration(timeout);
      if (!iv || !to) {
        std::fprintf(stderr, "stampctl: durations are written like 250us, 10ms, 1s, 5m\n");
        return kExitUsage;
      }
      args = {{"target", target},
              {"port", port},
              {"count", count},
              {"interval_ns", iv->count()},
              {"timeout_ns", to->count()},
              {"size", size},
              {"dscp", dscp},
              {"ecn", ecn},
              {"reflector_mode", reflectorMode}};
      if (!authKey.empty()) {
        args["auth_key"] = authKey;
        if (sizeOpt->count() == 0) args["size"] = 112;
      }
    }
    if (requireSync) args["require_sync"] = true;
    if (!target.empty()) {
      if (tlvPadding >= 0) args["tlv_padding"] = tlvPadding;
      if (tlvLocation) args["tlv_location"] = true;
      if (tlvTimestampInfo) args["tlv_timestamp_info"] = true;
      if (tlvCos >= 0) args["tlv_cos_dscp"] = tlvCos;
      if (tlvDirect) args["tlv_direct_measurement"] = true;
      if (tlvFollowUp) args["tlv_follow_up"] = true;
      if (!tlvAccessReport.empty()) {
        unsigned id = 0, code = 1;
        char extra;
        int n = std::sscanf(tlvAccessReport.c_str(), "%u,%u%c", &id, &code, &extra);
        if ((n != 1 && n != 2) || id < 1 || id > 2 || code > 255) {
          std::fprintf(stderr,
                       "stampctl: --tlv-access-report takes ACCESS_ID[,RETURN_CODE]: 1 or 2, "
                       "then 0..255\n");
          return kExitUsage;
        }
        args["tlv_access_report"] = {{"access_id", id}, {"return_code", code}};
      }
    } else if (tlvPadding >= 0 || tlvLocation || tlvTimestampInfo || tlvCos >= 0 || tlvDirect ||
               tlvFollowUp || !tlvAccessReport.empty()) {
      std::fprintf(stderr,
                   "stampctl: --tlv-* options are for ad-hoc sessions (--target); a configured "
                   "session takes its tlv_* keys from stamp.toml\n");
      return kExitUsage;
    }
  }

  auto conn = Connection::open(socketPath);
  if (!conn) return kExitUnreachable;
  if (*status) return cmdStatus(*conn, asJson);
  if (*start) return cmdStart(*conn, args, asJson);
  if (*list) return simple(*conn, control::kSessionList, json::object(), asJson, printList);
  if (*show) {
    if (once || asJson || !(watch || isatty(STDOUT_FILENO)))
      return simple(*conn, control::kSessionShow, {{"name", name}}, asJson, printShow);
    return cmdWatch(*conn, name, every, isatty(STDOUT_FILENO));
  }
  if (*reload) return cmdReload(*conn, asJson);
  if (*results) {
    json a = {{"limit", limit}};
    if (!name.empty()) a["name"] = name;
    if (!since.empty()) {
      auto d = stamp::parseDuration(since);
      if (!d) {
        std::fprintf(stderr, "stampctl: --since takes a duration like 30m, 12h\n");
        return kExitUsage;
      }
      timespec ts{};
      clock_gettime(CLOCK_REALTIME, &ts);
      a["since_ns"] = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec - d->count();
    }
    return simple(*conn, control::kResults, a, asJson, printResults);
  }
  if (*stop) return simple(*conn, control::kSessionStop, {{"name", name}}, asJson, printSummary);
  return kExitUsage;
}
