#include "ctl/render.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "libstamp/control_protocol.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp::ctl {
namespace {

using nlohmann::json;

// printf into `out`: the formats are stampctl's, kept as they were written.
[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  if (n > 0) {
    size_t at = out.size();
    out.resize(at + size_t(n) + 1);
    std::vsnprintf(out.data() + at, size_t(n) + 1, fmt, again);
    out.resize(at + size_t(n));
  }
  va_end(again);
}

std::string ms(const json& v) {
  return formatMs(v);
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

// "2026-11-27T07:50:00.534890Z" -> "07:50:00Z" (the date when not today's
// is in the JSON); "-" for none.
std::string shortTime(const json& t) {
  if (!t.is_string()) return "-";
  std::string s = t.get<std::string>();
  return s.size() >= 20 ? s.substr(11, 8) + "Z" : s;
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

}  // namespace

std::string formatMs(const json& v) {
  if (!v.is_number()) return "-";
  char b[32];
  std::snprintf(b, sizeof(b), "%.3f ms", v.get<double>() / 1e6);
  return b;
}

std::string renderError(const json& resp) {
  std::string out;
  auto e = resp.value("error", json::object());
  appendf(out, "stampctl: %s (%s)\n", e.value("message", std::string("error")).c_str(),
          e.value("code", std::string("?")).c_str());
  return out;
}

std::string renderSummary(const json& s) {
  std::string out;
  uint64_t sent = s.value("sent", 0), received = s.value("received", 0), lost = s.value("lost", 0);
  appendf(out, "--- %s (%s port %d) statistics ---\n", s.value("session", std::string()).c_str(),
          s.value("target", std::string()).c_str(), s.value("port", 0));
  appendf(out,
          "%llu sent, %llu received, %llu lost (%.1f%%), %llu duplicates, %llu reordered, "
          "%llu late\n",
          (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost,
          sent ? 100.0 * double(lost) / double(sent) : 0.0,
          (unsigned long long)s.value("duplicates", 0), (unsigned long long)s.value("reordered", 0),
          (unsigned long long)s.value("late", 0));
  appendf(out, "%-22s %12s %12s %12s %12s %12s %12s\n", "", "min", "avg", "max", "p50", "p90",
          "p99");
  for (auto [key, label] : {std::pair{"rtt_ns", "round trip"},
                            {"forward_ns", "near-end (forward)"},
                            {"backward_ns", "far-end (backward)"}}) {
    json d = s.value(key, json::object());
    appendf(out, "%-22s %12s %12s %12s %12s %12s %12s\n", label, ms(d.value("min", json())).c_str(),
            ms(d.value("avg", json())).c_str(), ms(d.value("max", json())).c_str(),
            ms(d.value("p50", json())).c_str(), ms(d.value("p90", json())).c_str(),
            ms(d.value("p99", json())).c_str());
  }
  // DSCP/ECN: what was sent, what came back (the reflector's policy and
  // the paths' re-marking).
  if (s.contains("reply_dscp") && s["reply_dscp"].is_object() && !s["reply_dscp"].empty()) {
    auto number = [](int v) { return std::to_string(v); };
    auto ecn = [](int v) { return std::string(ecnName(v)); };
    appendf(out, "DSCP/ECN sent %d/%s; replies: DSCP %s; ECN %s\n", s.value("dscp", 0),
            ecnName(s.value("ecn", 0)), valueCounts(s["reply_dscp"], number).c_str(),
            valueCounts(s.value("reply_ecn", json::object()), ecn).c_str());
  }
  if (s.value("reply_ecn_ce", 0) > 0)
    appendf(
        out,
        "note: %llu replies arrived marked ECN CE (congestion experienced) by the path back, or "
        "by the path out when the reflector copies ECN\n",
        (unsigned long long)s.value("reply_ecn_ce", 0));
  if (s.value("zero_ssid_replies", 0) > 0)
    appendf(out,
            "note: %llu replies had their SSID zeroed: the reflector does not support it "
            "(RFC 8972 3)%s\n",
            (unsigned long long)s.value("zero_ssid_replies", 0),
            s.value("stopped_by", json()) == "zero_ssid" ? "; the run stopped there" : "");
  if (s.value("forward_lost", json()).is_number())
    appendf(out,
            "loss by direction (stateful reflector): %llu forward (near-end), %llu backward "
            "(far-end)\n",
            (unsigned long long)s["forward_lost"].get<uint64_t>(),
            (unsigned long long)s.value("backward_lost", uint64_t(0)));
  uint64_t negF = s.value("negative_forward", 0), negB = s.value("negative_backward", 0);
  if (negF || negB)
    appendf(out,
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
    appendf(out,
            "note: one-way figures above are as measured but not trusted: %llu values flagged "
            "(%s); the trusted one-way figures (JSON one_way) leave them out\n",
            (unsigned long long)nFlagged, why.c_str());
  }
  if (s.contains("tlvs") && s["tlvs"].is_object()) out += renderTlvs(s["tlvs"]);
  return out;
}

std::string renderTlvs(const json& t) {
  std::string out;
  appendf(out,
          "TLVs: %llu replies carried TLVs, %llu discarded for integrity (I), %llu stopped "
          "at a malformed TLV (M)\n",
          (unsigned long long)t.value("replies", 0),
          (unsigned long long)t.value("integrity_failed", 0),
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
      line += "; " + e["t3_matched"].dump() + " matched the T3 seen, " +
              e.value("t3_mismatched", json()).dump() + " did not";
    appendf(out, "%s\n", line.c_str());
  }
  return out;
}

std::string renderStatus(const json& s) {
  std::string out;
  appendf(out, "stampd %s, pid %d, up %lld s\n", s.value("version", std::string()).c_str(),
          s.value("pid", 0), (long long)s.value("uptime_s", 0));
  json clk = s.value("clock", json::object());
  json ee = clk.value("error_estimate", json::object());
  appendf(out, "clock: %s, TAI offset %d s, error estimate %s (S=%d scale=%d multiplier=%d)\n",
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
  appendf(out, "reflector: %s, %s, UDP port(s) %s, reply DSCP %s, ECN %s\n",
          refl.value("enabled", false) ? "enabled" : "disabled",
          refl.value("mode", std::string()).c_str(), ports.c_str(), policy("dscp", false).c_str(),
          policy("ecn", true).c_str());
  if (refl.value("enabled", false) && refl.contains("guards")) {
    const json g = refl["guards"];
    auto list = [&](const char* key) {
      std::string joined;
      for (const auto& p : g.value(key, json::array()))
        joined += (joined.empty() ? "" : ", ") + p.get<std::string>();
      return joined;
    };
    auto rate = [&](const char* key, const char* burstKey) {
      uint64_t n = g.value(key, uint64_t(0));
      return n == 0 ? std::string("no limit")
                    : std::to_string(n) + "/s (burst " +
                          std::to_string(g.value(burstKey, uint64_t(0))) + ")";
    };
    std::string allow = list("allow"), deny = list("deny");
    appendf(out, "  guards: sources %s%s; per source %s; all sources %s\n",
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
    appendf(out, "  %s (%s): %s received, %s reflected, %s fragments passed, drops:%s\n",
            ifname.c_str(), i.value("attach", std::string()).c_str(),
            i.value("rx", json()).dump().c_str(), i.value("reflected", json()).dump().c_str(),
            i.value("fragments", json()).dump().c_str(), drops.empty() ? " none" : drops.c_str());
    const json t = i.value("tlvs", json::object());
    if (t.value("requests", 0) > 0)
      appendf(out,
              "    TLVs: %s requests, %s answered, %s unrecognized (U), %s malformed (M), %s "
              "integrity (I), %s over the 16-TLV walk, %s CoS refused\n",
              t["requests"].dump().c_str(), t.value("answered", json(0)).dump().c_str(),
              t.value("unrecognized", json(0)).dump().c_str(),
              t.value("malformed", json(0)).dump().c_str(),
              t.value("integrity", json(0)).dump().c_str(),
              t.value("over_limit", json(0)).dump().c_str(),
              t.value("cos_refused", json(0)).dump().c_str());
  }
  appendf(out, "sessions running: %d\n", s.value("sessions_running", 0));
  json store = s.value("results_store", json::object());
  if (!store.empty())
    appendf(out, "results store: %s, %s\n", store.value("path", std::string()).c_str(),
            store.value("healthy", false)
                ? "ok"
                : ("NOT AVAILABLE: " + store.value("error", json("")).get<std::string>()).c_str());
  return out;
}

std::string renderStarted(const json& d, const json& args) {
  std::string out;
  const std::string name = d.value("session", std::string());
  appendf(out, "STAMP session %s to %s port %d (SSID %d, source port %d)\n", name.c_str(),
          d.value("target", args.value(control::arg::kTarget, name)).c_str(),
          d.value("port", args.value(control::arg::kPort, 862)), d.value("ssid", 0),
          d.value("source_port", 0));
  return out;
}

std::string renderReply(const json& d) {
  std::string out;
  std::string tos;
  if (d.value("dscp", json()).is_number())
    tos = " dscp=" + d["dscp"].dump() + " ecn=" + ecnName(d.value("ecn", 0));
  appendf(out, "%d bytes: seq=%d rtt=%s near-end=%s far-end=%s ttl=%d%s%s%s\n", d.value("size", 0),
          d.value("seq", 0), ms(d.value("rtt_ns", json())).c_str(),
          ms(d.value("forward_ns", json())).c_str(), ms(d.value("backward_ns", json())).c_str(),
          d.value("ttl", 0), tos.c_str(), d.value("late", false) ? " (late)" : "",
          d.value("kernel_timestamps", true) ? "" : " (socket timestamps)");
  return out;
}

std::string renderWatchHeader(const std::string& name, bool running, const std::string& clock) {
  std::string out;
  appendf(out, "session %s, %s at %s%s\n", name.c_str(), running ? "running" : "finished",
          clock.c_str(), running ? " (Ctrl-C to leave; the session goes on)" : "");
  return out;
}

// The prototype's histogram export: fixed bins from floor to ceiling, the
// end bins holding the outliers.
std::string renderHistogram(const json& s) {
  std::string out;
  json h = s.value("rtt_ns", json::object()).value("histogram", json::object());
  const json counts = h.value("counts", json::array());
  if (counts.empty()) return out;
  double floorNs = h.value("floor_ns", 0.0), ceilNs = h.value("ceiling_ns", 0.0);
  double width = (ceilNs - floorNs) / double(counts.size());
  uint64_t peak = 1;
  for (const auto& c : counts) peak = std::max<uint64_t>(peak, c.get<uint64_t>());
  appendf(out, "round-trip histogram: %zu bins, floor %s, ceiling %s (end bins hold outliers)\n",
          counts.size(), ms(h["floor_ns"]).c_str(), ms(h["ceiling_ns"]).c_str());
  for (size_t i = 0; i < counts.size(); ++i) {
    uint64_t c = counts[i].get<uint64_t>();
    if (c == 0) continue;
    std::string lo = i == 0 ? "-inf" : ms(json(floorNs + width * double(i)));
    std::string hi = i + 1 == counts.size() ? "+inf" : ms(json(floorNs + width * double(i + 1)));
    appendf(out, "  %14s .. %-14s %8llu %s\n", lo.c_str(), hi.c_str(), (unsigned long long)c,
            std::string(size_t(40 * c / peak), '#').c_str());
  }
  return out;
}

std::string renderShow(const json& s) {
  return renderSummary(s) + renderHistogram(s);
}

std::string renderList(const json& r) {
  std::string out;
  appendf(out, "%-16s %-26s %5s %-9s %6s %8s %10s %10s  %s\n", "NAME", "TARGET", "PORT", "STATE",
          "SENT", "RECEIVED", "LAST RUN", "NEXT RUN", "SCHEDULE");
  for (const auto& s : r.value("sessions", json::array())) {
    std::string sched = s.value("schedule", std::string());
    if (sched.empty())
      sched = "on demand";
    else if (s.value("timezone", std::string()) == "local")
      sched += " (local time)";
    appendf(out, "%-16s %-26s %5d %-9s %6s %8s %10s %10s  %s\n",
            s.value("name", std::string()).c_str(), s.value("target", std::string()).c_str(),
            s.value("port", 0), s.value("state", std::string()).c_str(),
            s.contains("sent") ? s["sent"].dump().c_str() : "-",
            s.contains("received") ? s["received"].dump().c_str() : "-",
            shortTime(s.value("last_run", json())).c_str(),
            shortTime(s.value("next_run", json())).c_str(), sched.c_str());
  }
  return out;
}

std::string renderReload(const json& r) {
  std::string out;
  auto names = [&](const char* k) {
    std::string s;
    for (const auto& n : r.value("sessions", json::object()).value(k, json::array()))
      s += (s.empty() ? "" : ", ") + n.get<std::string>();
    return s.empty() ? std::string("none") : s;
  };
  appendf(out, "reloaded %s: %s\n", r.value("config", std::string()).c_str(),
          r.value("changed", false) ? "changes applied" : "nothing changed");
  appendf(out, "sessions: added %s; removed %s; changed %s; unchanged %s\n", names("added").c_str(),
          names("removed").c_str(), names("changed").c_str(), names("unchanged").c_str());
  json refl = r.value("reflector", json::object());
  std::string ports, att, det;
  for (const auto& p : refl.value("ports", json::array()))
    ports += (ports.empty() ? "" : ",") + p.dump();
  for (const auto& i : refl.value("attached", json::array())) att += " " + i.get<std::string>();
  for (const auto& i : refl.value("detached", json::array())) det += " " + i.get<std::string>();
  appendf(out, "reflector: %s, UDP port(s) %s%s%s\n",
          refl.value("enabled", false) ? "enabled" : "disabled", ports.c_str(),
          att.empty() ? "" : ("; attached to" + att).c_str(),
          det.empty() ? "" : ("; detached from" + det).c_str());
  for (const auto& k : r.value("restart_required", json::array()))
    appendf(out, "note: %s changed; it takes effect when stampd restarts\n",
            k.get<std::string>().c_str());
  return out;
}

std::string renderResults(const json& r) {
  std::string out;
  const json runs = r.value("runs", json::array());
  if (runs.empty()) {
    appendf(out, "no runs recorded\n");
    return out;
  }
  appendf(out, "%-20s %-16s %-24s %6s %6s %6s %11s %11s %11s %11s  %s\n", "END", "SESSION",
          "TARGET", "SENT", "RECV", "LOST", "RTT AVG", "RTT P99", "FWD AVG", "BWD AVG", "NOTE");
  for (const auto& run : runs) {
    json rtt = run.value("rtt_ns", json::object());
    std::string note = oneWayNote(run);
    if (run.value("window", false)) note = "window" + std::string(note.empty() ? "" : "; ") + note;
    std::string target =
        run.value("target", std::string()) + " " + std::to_string(run.value("port", 0));
    appendf(out, "%-20s %-16s %-24s %6s %6s %6s %11s %11s %11s %11s  %s\n",
            wallTime(run.value("end", json())).c_str(), run.value("session", std::string()).c_str(),
            target.c_str(), run.value("sent", json()).dump().c_str(),
            run.value("received", json()).dump().c_str(), run.value("lost", json()).dump().c_str(),
            ms(rtt.value("avg", json())).c_str(), ms(rtt.value("p99", json())).c_str(),
            ms(run.value("forward_ns", json::object()).value("avg", json())).c_str(),
            ms(run.value("backward_ns", json::object()).value("avg", json())).c_str(),
            note.c_str());
  }
  json store = r.value("store", json::object());
  if (!store.value("healthy", true))
    appendf(out, "note: the results store reports: %s\n",
            store.value("error", json("")).dump().c_str());
  return out;
}

std::string renderReloadRefused(const json& e) {
  std::string out;
  appendf(out, "%s\nstampctl: reload refused; stampd keeps its running configuration\n",
          e.value("message", std::string()).c_str());
  return out;
}

}  // namespace stamp::ctl
