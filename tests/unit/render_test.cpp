// status and /metrics rendered from snapshots, without BPF or a daemon:
// every reflector drop reason appears in both with the same name, guards
// and DSCP/ECN policy as status shows them, session series summed over
// runs plus the running run, and the exposition's shape.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "reflector/counters.hpp"
#include "service/metrics_render.hpp"
#include "service/status.hpp"

namespace stamp {
namespace {

ReflectorSnapshot snapshot() {
  ReflectorSnapshot s;
  s.maxSessions = 1024;
  s.sessions = 3;
  InterfaceCounters& c = s.interfaces["veth0"];
  c.attach = "tcx";
  c.refl.rx = 100;
  c.refl.reflected = 90;
  c.refl.t3_stamped = 89;
  c.refl.fragments = 1;
  c.refl.drop[STAMP_DROP_SRC_PORT_ZERO] = 2;
  c.refl.drop[STAMP_DROP_MALFORMED] = 3;
  c.state.drop_no_state = 4;
  c.state.sessions_new = 5;
  c.auth.failed = 6;
  c.auth.verified = 7;
  c.tlv.packets = 8;
  c.tlv.unknown = 9;
  c.guard.not_allowed = 10;
  c.guard.rate_global = 11;
  c.abuse.reflected_packet = 12;
  return s;
}

std::set<std::string> dropReasons() {
  std::set<std::string> names;
  forEachDrop(InterfaceCounters{}, [&](const char* r, uint64_t) { names.insert(r); });
  return names;
}

TEST(DropReasons, OneListEveryReasonOnce) {
  std::vector<std::string> list;
  forEachDrop(InterfaceCounters{}, [&](const char* r, uint64_t) { list.emplace_back(r); });
  EXPECT_EQ(list.size(), dropReasons().size());  // no name twice
  EXPECT_EQ(list.size(), size_t(STAMP_DROP_MAX) + 11);
  for (int k = 0; k < STAMP_DROP_MAX; ++k) EXPECT_STRNE(parseDropName(k), "unknown") << k;
  EXPECT_STREQ(parseDropName(STAMP_DROP_MAX), "unknown");
}

TEST(Status, ReflectorCountersGuardsAndPolicy) {
  StatusInput in;
  in.version = "1.2.3";
  in.pid = 42;
  in.uptimeS = 7;
  in.clock.synchronized = true;
  in.clock.taiOffsetSec = 37;
  in.reflectorConfig.enabled = true;
  in.reflectorConfig.ports = {862, 8620};
  in.reflectorConfig.authKey = "k1";
  in.reflectorConfig.dscp = 46;
  in.reflectorConfig.rateLimit = 100;
  in.reflectorConfig.rateLimitPerSource = 0;  // no limit
  in.reflector = snapshot();
  in.sessionsRunning = 2;
  in.resultsStore = {{"healthy", true}};
  nlohmann::json s = renderStatus(in);
  EXPECT_EQ(s["version"], "1.2.3");
  EXPECT_EQ(s["pid"], 42);
  EXPECT_EQ(s["uptime_s"], 7);
  EXPECT_EQ(s["sessions_running"], 2);
  EXPECT_EQ(s["results_store"]["healthy"], true);
  EXPECT_EQ(s["clock"]["synchronized"], true);
  EXPECT_EQ(s["clock"]["tai_offset_s"], 37);
  const auto& r = s["reflector"];
  EXPECT_EQ(r["ports"], nlohmann::json({862, 8620}));
  EXPECT_EQ(r["authenticated"], true);
  EXPECT_EQ(r["auth_key"], "k1");  // the name, never the secret
  EXPECT_EQ(r["dscp"], 46);
  EXPECT_EQ(r["ecn"], "copy");
  EXPECT_EQ(r["guards"]["rate_limit"], 100);
  EXPECT_EQ(r["guards"]["rate_limit_burst"], 100);  // a burst of 0 means the rate
  EXPECT_EQ(r["guards"]["rate_limit_per_source_burst"], 0);
  EXPECT_EQ(r["guards"]["rate_limit_ipv6_prefix"], 64);
  EXPECT_EQ(r["guards"]["answer_short_requests"], false);
  EXPECT_EQ(r["guards"]["answer_reflector_source_ports"], false);
  EXPECT_EQ(r["guards"]["answer_reflected_packets"], false);
  EXPECT_EQ(r["max_sessions"], 1024);
  EXPECT_EQ(r["sessions"], 3);
  const auto& i = r["interfaces"]["veth0"];
  EXPECT_EQ(i["attach"], "tcx");
  EXPECT_EQ(i["rx"], 100);
  EXPECT_EQ(i["reflected"], 90);
  EXPECT_EQ(i["t3_stamped"], 89);
  EXPECT_EQ(i["auth_verified"], 7);
  EXPECT_EQ(i["sessions_started"], 5);
  EXPECT_EQ(i["tlvs"]["requests"], 8);
  EXPECT_EQ(i["tlvs"]["unrecognized"], 9);
  std::set<std::string> shown;
  for (const auto& [k, v] : i["drops"].items()) shown.insert(k);
  EXPECT_EQ(shown, dropReasons());
  EXPECT_EQ(i["drops"]["source_port_zero"], 2);
  EXPECT_EQ(i["drops"]["no_state"], 4);
  EXPECT_EQ(i["drops"]["auth_failed"], 6);
  EXPECT_EQ(i["drops"]["not_allowed"], 10);
  EXPECT_EQ(i["drops"]["rate_global"], 11);
  EXPECT_EQ(i["drops"]["reflected_packet"], 12);
}

TEST(Status, ReflectorNotRunning) {
  StatusInput in;
  in.reflectorConfig.enabled = false;
  nlohmann::json s = renderStatus(in);
  EXPECT_EQ(s["reflector"]["enabled"], false);
  EXPECT_TRUE(s["reflector"]["interfaces"].empty());
  EXPECT_FALSE(s["reflector"].contains("auth_key"));
  EXPECT_FALSE(s["reflector"].contains("max_sessions"));
}

TEST(Status, Line) {
  ReflectorConfig rc;
  rc.ports = {862, 863};
  EXPECT_EQ(statusLine(rc, true, 2, 1, 3),
            "reflecting on 2 interface(s), port(s) 862,863; 1 session(s) running, 3 scheduled");
  EXPECT_EQ(statusLine(rc, false, 2, 0, 0),
            "reflector disabled; 0 session(s) running, 0 scheduled");
}

// The value of the sample `line` (its labels written as in the text).
std::optional<std::string> sampleValue(const std::string& text, const std::string& line) {
  auto at = text.find("\n" + line + " ");
  if (at == std::string::npos) return std::nullopt;
  at += line.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

TEST(Metrics, SessionsSumFinishedRunsAndTheRunningOne) {
  SessionMetrics sm;
  sm.started("edge", "192.0.2.1", 862);
  ReplySample r;
  r.t1 = 0, r.t2 = 1'000'000, r.t3 = 1'500'000, r.t4 = 3'000'000;  // rtt 2.5 ms
  sm.sample("edge", r);
  r.forwardFlag = OneWayFlag::kNegative;
  sm.sample("edge", r);
  sm.finished("edge", {10, 9, 1, 0, 2});
  sm.started("edge", "192.0.2.2", 862);  // a later run, another address

  MetricsInput in;
  in.version = "1.2.3";
  in.series = &sm.series();
  in.live["edge"] = {"192.0.2.2", 862, true, {5, 5, 0, 1, 0}};
  in.live["adhoc-1"] = {"192.0.2.9", 862, false, {3, 3, 0, 0, 0}};
  std::string t = renderMetrics(in);
  EXPECT_EQ(sampleValue(t, "stamp_build_info{version=\"1.2.3\"}"), "1");
  const std::string edge = "{session=\"edge\",target=\"192.0.2.2\"}";
  EXPECT_EQ(sampleValue(t, "stamp_session_sent_packets_total" + edge), "15");
  EXPECT_EQ(sampleValue(t, "stamp_session_received_packets_total" + edge), "14");
  EXPECT_EQ(sampleValue(t, "stamp_session_duplicate_packets_total" + edge), "1");
  EXPECT_EQ(sampleValue(t, "stamp_session_reordered_packets_total" + edge), "2");
  EXPECT_EQ(sampleValue(t, "stamp_session_runs_total" + edge), "1");
  EXPECT_EQ(sampleValue(t, "stamp_session_running" + edge), "1");
  EXPECT_EQ(sampleValue(t, "stamp_session_rtt_seconds_count" + edge), "2");
  EXPECT_EQ(sampleValue(t, "stamp_session_forward_delay_seconds_count" + edge), "1");
  EXPECT_EQ(sampleValue(t,
                        "stamp_session_one_way_flagged_total{session=\"edge\",target=\""
                        "192.0.2.2\",direction=\"forward\",reason=\"negative\"}"),
            "1")
      << t;
  // A finished run is not added twice: adhoc-1's counts are in no series.
  const std::string adhoc = "{session=\"adhoc-1\",target=\"192.0.2.9\"}";
  EXPECT_EQ(sampleValue(t, "stamp_session_sent_packets_total" + adhoc), "0");
  EXPECT_EQ(sampleValue(t, "stamp_session_running" + adhoc), "0");
  // No reflector: none of its families.
  EXPECT_EQ(t.find("stamp_reflector_"), std::string::npos);
  // Each family declared once.
  std::regex type("# TYPE (\\S+) ");
  std::set<std::string> families;
  for (auto it = std::sregex_iterator(t.begin(), t.end(), type); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(families.insert((*it)[1]).second) << (*it)[1];
}

TEST(Metrics, ReflectorFamiliesAndEveryDropReason) {
  MetricsInput in;
  in.reflector = snapshot();
  in.reflectorPorts = {862};
  std::string t = renderMetrics(in);
  EXPECT_EQ(sampleValue(t, "stamp_reflector_received_packets_total{interface=\"veth0\"}"), "100");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_reflected_packets_total{interface=\"veth0\"}"), "90");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_fragments_total{interface=\"veth0\"}"), "1");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_auth_verified_total{interface=\"veth0\"}"), "7");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_sessions_started_total{interface=\"veth0\"}"), "5");
  EXPECT_EQ(
      sampleValue(t, "stamp_reflector_tlvs_total{interface=\"veth0\",result=\"unrecognized\"}"),
      "9");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_sessions"), "3");
  EXPECT_EQ(sampleValue(t, "stamp_reflector_port_info{port=\"862\"}"), "1");
  for (const auto& reason : dropReasons())
    EXPECT_TRUE(sampleValue(
        t, "stamp_reflector_dropped_packets_total{interface=\"veth0\",reason=\"" + reason + "\"}"))
        << reason;
  EXPECT_EQ(sampleValue(t,
                        "stamp_reflector_dropped_packets_total{interface=\"veth0\",reason="
                        "\"rate_global\"}"),
            "11");
}

}  // namespace
}  // namespace stamp
