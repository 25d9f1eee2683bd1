// stampctl's text, from the JSON stampd answers (ctl/render.hpp). Scripts
// parse this text (tests/e2e/*.sh, tests/system/system_test.sh), so every
// test compares whole lines: a changed column or word fails here first.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "ctl/render.hpp"

namespace stamp::ctl {
namespace {

using nlohmann::json;

// A finished run with everything a summary can hold: one-way figures (one
// negative), DSCP/ECN of the replies, notes, and TLVs of each type.
const json kFullSummary = json::parse(R"({
  "session": "adhoc-1", "target": "192.0.2.2", "port": 862, "state": "finished",
  "sent": 10, "received": 9, "lost": 1, "duplicates": 0, "reordered": 1, "late": 2,
  "rtt_ns": {"min": 120000, "avg": 150500.5, "max": 201000, "p50": 149000, "p90": 190000,
             "p99": 200000,
             "histogram": {"floor_ns": 0, "ceiling_ns": 1000000, "counts": [1, 0, 5, 3]}},
  "forward_ns": {"min": -5000, "avg": 60000, "max": 90000, "p50": 61000, "p90": 80000,
                 "p99": 89000},
  "backward_ns": {"min": 40000, "avg": 70000, "max": 110000, "p50": 71000, "p90": 100000,
                  "p99": 109000},
  "dscp": 46, "ecn": 2, "reply_dscp": {"46": 8, "0": 1}, "reply_ecn": {"2": 7, "3": 2},
  "reply_ecn_ce": 2, "zero_ssid_replies": 1, "stopped_by": "zero_ssid",
  "forward_lost": 1, "backward_lost": 0, "negative_forward": 1, "negative_backward": 0,
  "one_way": {"flagged": {"forward": {"clock_unsynchronized": 3},
                          "backward": {"error_too_large": 2, "clock_unsynchronized": 1}}},
  "tlvs": {
    "replies": 9, "integrity_failed": 1, "stopped_malformed": 1,
    "location": {"received": 9, "last": {"destination_ip": "192.0.2.2", "destination_port": 862,
                 "source_ip": "192.0.2.1", "source_port": 40000,
                 "source_mac": "02:00:00:00:00:01"}},
    "timestamp_info": {"received": 9, "malformed": 1,
                       "last": {"sync_source_in": "ntp", "timestamp_in": "sw_local",
                                "sync_source_out": "ntp", "timestamp_out": "hw_assist"}},
    "class_of_service": {"received": 9, "last": {"dscp1": 10, "rp": 1, "reply_dscp": 0,
                                                 "dscp2": 46, "ecn": 2}},
    "direct_measurement": {"received": 9, "integrity": 2,
                           "last": {"s_txc": 10, "r_rxc": 9, "r_txc": 9, "s_rxc": 9,
                                    "forward_lost": 1, "backward_lost": 0}},
    "access_report": {"received": 1, "sent": 2, "acknowledged": false, "aborted": true,
                      "last": {"access_id": 1, "return_code": 1}},
    "follow_up": {"received": 8, "unrecognized": 1,
                  "last": {"sequence": 7, "timestamp_ns": 1764662400123456789, "mode": "ntp"},
                  "t3_matched": 7, "t3_mismatched": 1}}
})");

const char* const kFullSummaryText =
    "--- adhoc-1 (192.0.2.2 port 862) statistics ---\n"
    "10 sent, 9 received, 1 lost (10.0%), 0 duplicates, 1 reordered, 2 late\n"
    "                                min          avg          max          p50          p90  "
    "        p99\n"
    "round trip                 0.120 ms     0.151 ms     0.201 ms     0.149 ms     0.190 ms  "
    "   0.200 ms\n"
    "near-end (forward)        -0.005 ms     0.060 ms     0.090 ms     0.061 ms     0.080 ms  "
    "   0.089 ms\n"
    "far-end (backward)         0.040 ms     0.070 ms     0.110 ms     0.071 ms     0.100 ms  "
    "   0.109 ms\n"
    "DSCP/ECN sent 46/ECT(0); replies: DSCP 46 (8), 0 (1); ECN ECT(0) (7), CE (2)\n"
    "note: 2 replies arrived marked ECN CE (congestion experienced) by the path back, or by the "
    "path out when the reflector copies ECN\n"
    "note: 1 replies had their SSID zeroed: the reflector does not support it (RFC 8972 3); the "
    "run stopped there\n"
    "loss by direction (stateful reflector): 1 forward (near-end), 0 backward (far-end)\n"
    "note: 1 near-end and 0 far-end values are negative: the two clocks disagree; they are kept "
    "as measured\n"
    "note: one-way figures above are as measured but not trusted: 6 values flagged (clock "
    "unsynchronized 4, error too large 2); the trusted one-way figures (JSON one_way) leave them "
    "out\n";

const char* const kTlvText =
    "TLVs: 9 replies carried TLVs, 1 discarded for integrity (I), 1 stopped at a malformed TLV "
    "(M)\n"
    "  access_report: 1 received; access ID 1, return code 1; sent 2 time(s), aborted "
    "unacknowledged\n"
    "  class_of_service: 9 received; DSCP1 10 refused (RP 1), reply DSCP 0, arrived with DSCP2 "
    "46 ECN 2\n"
    "  direct_measurement: 9 received, I 2; S_TxC 10 R_RxC 9 R_TxC 9 S_RxC 9 (lost 1 forward, 0 "
    "backward)\n"
    "  follow_up: 8 received, U 1; last names reflector seq 7 sent at "
    "2025-12-02T08:00:00.123456Z (ntp); 7 matched the T3 seen, 1 did not\n"
    "  location: 9 received; reflector 192.0.2.2 port 862, sender seen as 192.0.2.1 port 40000, "
    "source MAC 02:00:00:00:00:01\n"
    "  timestamp_info: 9 received, M 1; T2 ntp/sw_local, T3 ntp/hw_assist\n";

TEST(CtlRender, SummaryWithOneWayFiguresAndTlvs) {
  EXPECT_EQ(renderSummary(kFullSummary), std::string(kFullSummaryText) + kTlvText);
  EXPECT_EQ(renderTlvs(kFullSummary["tlvs"]), kTlvText);
}

// A reflector that returns no one-way figures, no TLVs, no DSCP/ECN
// counts: the table keeps its three rows, the missing figures print "-",
// and no note follows.
TEST(CtlRender, SummaryWithoutOneWayFiguresOrTlvs) {
  json s = json::parse(R"({
    "session": "plain", "target": "2001:db8::2", "port": 4000, "state": "running",
    "sent": 4, "received": 4, "lost": 0, "duplicates": 0, "reordered": 0, "late": 0,
    "rtt_ns": {"min": 100000, "avg": 110000, "max": 120000, "p50": 110000, "p90": 119000,
               "p99": 120000},
    "forward_ns": {"min": null, "avg": null}, "backward_ns": {}, "reply_dscp": {}
  })");
  EXPECT_EQ(renderSummary(s),
            "--- plain (2001:db8::2 port 4000) statistics ---\n"
            "4 sent, 4 received, 0 lost (0.0%), 0 duplicates, 0 reordered, 0 late\n"
            "                                min          avg          max          p50          "
            "p90          p99\n"
            "round trip                 0.100 ms     0.110 ms     0.120 ms     0.110 ms     "
            "0.119 ms     0.120 ms\n"
            "near-end (forward)                -            -            -            -            "
            "-            -\n"
            "far-end (backward)                -            -            -            -            "
            "-            -\n");
  EXPECT_EQ(renderHistogram(s), "");
  EXPECT_EQ(renderShow(s), renderSummary(s));
}

// Nothing sent yet: no division by zero, 0.0% lost.
TEST(CtlRender, SummaryOfARunThatSentNothing) {
  std::string text = renderSummary(json::parse(R"({"session": "s", "target": "192.0.2.9",
                                                    "port": 862})"));
  EXPECT_EQ(text.substr(0, text.find('\n', text.find('\n') + 1) + 1),
            "--- s (192.0.2.9 port 862) statistics ---\n"
            "0 sent, 0 received, 0 lost (0.0%), 0 duplicates, 0 reordered, 0 late\n");
}

// session show: the summary, then the histogram; empty bins are left out,
// the end bins are open, the fullest bin has 40 '#'.
TEST(CtlRender, ShowAddsTheHistogram) {
  const char* const histogram =
      "round-trip histogram: 4 bins, floor 0.000 ms, ceiling 1.000 ms (end bins hold outliers)\n"
      "            -inf .. 0.250 ms              1 ########\n"
      "        0.500 ms .. 0.750 ms              5 ########################################\n"
      "        0.750 ms .. +inf                  3 ########################\n";
  EXPECT_EQ(renderHistogram(kFullSummary), histogram);
  EXPECT_EQ(renderShow(kFullSummary), std::string(kFullSummaryText) + kTlvText + histogram);
}

TEST(CtlRender, List) {
  json list = json::parse(R"({"sessions": [
    {"name": "edge", "target": "192.0.2.2", "port": 862, "state": "idle", "sent": 100,
     "received": 99, "schedule": "*/5 * * * *", "timezone": "local",
     "last_run": "2026-11-27T07:50:00.534890Z", "next_run": "2026-11-27T07:55:00.000000Z"},
    {"name": "adhoc-3", "target": "2001:db8::1234:5678:9abc", "port": 4000, "state": "running"},
    {"name": "core", "target": "198.51.100.7", "port": 862, "state": "finished", "sent": 10,
     "received": 10, "schedule": "every 1m", "timezone": "utc"}]})");
  EXPECT_EQ(renderList(list),
            "NAME             TARGET                      PORT STATE       SENT RECEIVED   LAST "
            "RUN   NEXT RUN  SCHEDULE\n"
            "edge             192.0.2.2                    862 idle         100       99  "
            "07:50:00Z  07:55:00Z  */5 * * * * (local time)\n"
            "adhoc-3          2001:db8::1234:5678:9abc    4000 running        -        -         "
            " -          -  on demand\n"
            "core             198.51.100.7                 862 finished      10       10         "
            " -          -  every 1m\n");
  EXPECT_EQ(renderList(json::parse(R"({"sessions": []})")),
            "NAME             TARGET                      PORT STATE       SENT RECEIVED   LAST "
            "RUN   NEXT RUN  SCHEDULE\n");
}

TEST(CtlRender, ReloadWithChanges) {
  json r = json::parse(R"({"config": "/etc/stamp/stamp.toml", "changed": true,
    "sessions": {"added": ["new1", "new2"], "removed": [], "changed": ["edge"],
                 "unchanged": ["core"]},
    "reflector": {"enabled": true, "ports": [862, 4000], "attached": ["veth1"],
                  "detached": ["veth2", "veth3"]},
    "restart_required": ["daemon.socket", "daemon.bpffs"]})");
  EXPECT_EQ(renderReload(r),
            "reloaded /etc/stamp/stamp.toml: changes applied\n"
            "sessions: added new1, new2; removed none; changed edge; unchanged core\n"
            "reflector: enabled, UDP port(s) 862,4000; attached to veth1; detached from veth2 "
            "veth3\n"
            "note: daemon.socket changed; it takes effect when stampd restarts\n"
            "note: daemon.bpffs changed; it takes effect when stampd restarts\n");
}

TEST(CtlRender, ReloadThatChangedNothing) {
  json r = json::parse(R"({"config": "/etc/stamp/stamp.toml", "changed": false,
    "sessions": {"added": [], "removed": [], "changed": [], "unchanged": ["a"]},
    "reflector": {"enabled": false, "ports": []}, "restart_required": []})");
  EXPECT_EQ(renderReload(r),
            "reloaded /etc/stamp/stamp.toml: nothing changed\n"
            "sessions: added none; removed none; changed none; unchanged a\n"
            "reflector: disabled, UDP port(s) \n");
}

TEST(CtlRender, ReloadRefusedListsEveryProblem) {
  json e = {{"code", "bad_config"},
            {"message", "/etc/stamp.toml:3:1: bad key\n/etc/stamp.toml:4:2: bad value"}};
  EXPECT_EQ(renderReloadRefused(e),
            "/etc/stamp.toml:3:1: bad key\n/etc/stamp.toml:4:2: bad value\n"
            "stampctl: reload refused; stampd keeps its running configuration\n");
}

json run(const char* session, bool window, json local, json remote, json forwardAvg) {
  return {{"id", 1},
          {"session", session},
          {"target", "192.0.2.2"},
          {"port", 862},
          {"window", window},
          {"end", "2026-11-27T07:50:10.534890Z"},
          {"sent", 10},
          {"received", 9},
          {"lost", 1},
          {"rtt_ns", {{"avg", 150000}, {"p99", 199000}}},
          {"forward_ns", {{"avg", forwardAvg}}},
          {"backward_ns", {{"avg", 70000}}},
          {"clock", {{"local", local}, {"remote", remote}}}};
}

// The note column says why one-way figures are missing or doubtful, and
// marks the windows of a continuous session.
TEST(CtlRender, Results) {
  const json sync = {{"synchronized", true}}, unsync = {{"synchronized", false}};
  json r = {{"runs",
             {run("edge", false, sync, sync, 60000), run("cont", true, sync, unsync, nullptr),
              run("edge", false, unsync, nullptr, nullptr),
              run("x", false, unsync, unsync, nullptr), run("y", false, unsync, sync, nullptr)}},
            {"store", {{"healthy", false}, {"error", "database is locked"}}}};
  EXPECT_EQ(renderResults(r),
            "END                  SESSION          TARGET                     SENT   RECV   LOST "
            "    RTT AVG     RTT P99     FWD AVG     BWD AVG  NOTE\n"
            "2026-11-27 07:50:10Z edge             192.0.2.2 862                10      9      1 "
            "   0.150 ms    0.199 ms    0.060 ms    0.070 ms  \n"
            "2026-11-27 07:50:10Z cont             192.0.2.2 862                10      9      1 "
            "   0.150 ms    0.199 ms           -    0.070 ms  window; remote clock not "
            "synchronised\n"
            "2026-11-27 07:50:10Z edge             192.0.2.2 862                10      9      1 "
            "   0.150 ms    0.199 ms           -    0.070 ms  remote clock unknown\n"
            "2026-11-27 07:50:10Z x                192.0.2.2 862                10      9      1 "
            "   0.150 ms    0.199 ms           -    0.070 ms  neither clock synchronised\n"
            "2026-11-27 07:50:10Z y                192.0.2.2 862                10      9      1 "
            "   0.150 ms    0.199 ms           -    0.070 ms  local clock not synchronised\n"
            "note: the results store reports: \"database is locked\"\n");
}

TEST(CtlRender, ResultsWithoutRuns) {
  EXPECT_EQ(renderResults(json::parse(R"({"runs": [], "store": {"healthy": true}})")),
            "no runs recorded\n");
}

// A reflector with guards, one interface that dropped packets and answered
// TLVs, one that saw nothing; the results store is down.
TEST(CtlRender, StatusOfAReflectorWithDrops) {
  json s = json::parse(R"({
    "version": "0.9.0", "pid": 4242, "uptime_s": 3600,
    "clock": {"synchronized": true, "tai_offset_s": 37,
              "error_estimate": {"s": true, "scale": 0, "multiplier": 1, "error_ns": 15258}},
    "reflector": {"enabled": true, "ports": [862, 4000], "mode": "stateless", "dscp": "copy",
      "ecn": 1,
      "guards": {"allow": ["192.0.2.0/24", "2001:db8::/32"], "deny": ["192.0.2.66/32"],
                 "rate_limit": 1000, "rate_limit_burst": 2000, "rate_limit_per_source": 0,
                 "rate_limit_per_source_burst": 0},
      "interfaces": {
        "veth0": {"attach": "tc", "rx": 120, "reflected": 100, "fragments": 1,
                  "drops": {"guard_deny": 5, "bad_length": 0, "rate_limit": 15},
                  "tlvs": {"requests": 50, "answered": 48, "unrecognized": 1, "malformed": 1,
                           "integrity": 0, "over_limit": 0, "cos_refused": 2}},
        "lo": {"attach": "tc", "rx": 0, "reflected": 0, "fragments": 0,
               "drops": {"guard_deny": 0}}}},
    "sessions_running": 1,
    "results_store": {"path": "/var/lib/stamp/results.db", "healthy": false,
                      "error": "disk I/O error"}
  })");
  EXPECT_EQ(renderStatus(s),
            "stampd 0.9.0, pid 4242, up 3600 s\n"
            "clock: synchronised, TAI offset 37 s, error estimate 0.015 ms (S=1 scale=0 "
            "multiplier=1)\n"
            "reflector: enabled, stateless, UDP port(s) 862,4000, reply DSCP copy, ECN 1 "
            "(ECT(1))\n"
            "  guards: sources in 192.0.2.0/24, 2001:db8::/32 except 192.0.2.66/32; per source no "
            "limit; all sources 1000/s (burst 2000)\n"
            "  lo (tc): 0 received, 0 reflected, 0 fragments passed, drops: none\n"
            "  veth0 (tc): 120 received, 100 reflected, 1 fragments passed, drops: guard_deny=5 "
            "rate_limit=15\n"
            "    TLVs: 50 requests, 48 answered, 1 unrecognized (U), 1 malformed (M), 0 integrity "
            "(I), 0 over the 16-TLV walk, 2 CoS refused\n"
            "sessions running: 1\n"
            "results store: /var/lib/stamp/results.db, NOT AVAILABLE: disk I/O error\n");
}

// Sender only: no guards or interface lines, no store line.
TEST(CtlRender, StatusWithTheReflectorDisabled) {
  json s = json::parse(R"({"version": "0.9.0", "pid": 1, "uptime_s": 5,
    "clock": {"synchronized": false, "tai_offset_s": 0,
              "error_estimate": {"s": false, "scale": 0, "multiplier": 0, "error_ns": null}},
    "reflector": {"enabled": false, "ports": [], "mode": "stateful", "dscp": 10, "ecn": "copy",
                  "guards": {"allow": ["10.0.0.0/8"]}, "interfaces": {}},
    "sessions_running": 0})");
  EXPECT_EQ(renderStatus(s),
            "stampd 0.9.0, pid 1, up 5 s\n"
            "clock: NOT synchronised, TAI offset 0 s, error estimate - (S=0 scale=0 "
            "multiplier=0)\n"
            "reflector: disabled, stateful, UDP port(s) , reply DSCP 10, ECN copy\n"
            "sessions running: 0\n");
}

TEST(CtlRender, FollowedStartAndReplies) {
  EXPECT_EQ(renderStarted(json::parse(R"({"session": "adhoc-1", "ssid": 5,
                                          "target": "192.0.2.2", "port": 862,
                                          "source_port": 40001})"),
                          json::object()),
            "STAMP session adhoc-1 to 192.0.2.2 port 862 (SSID 5, source port 40001)\n");
  // An event without target and port: the request's stand in.
  EXPECT_EQ(renderStarted(json{{"session", "s"}}, json{{"target", "2001:db8::1"}, {"port", 4000}}),
            "STAMP session s to 2001:db8::1 port 4000 (SSID 0, source port 0)\n");
  EXPECT_EQ(renderReply(json::parse(R"({"seq": 0, "rtt_ns": 150000, "forward_ns": 60000,
    "backward_ns": 90000, "ttl": 255, "size": 44, "late": false, "kernel_timestamps": true,
    "dscp": 46, "ecn": 2})")),
            "44 bytes: seq=0 rtt=0.150 ms near-end=0.060 ms far-end=0.090 ms ttl=255 dscp=46 "
            "ecn=ECT(0)\n");
  EXPECT_EQ(renderReply(json::parse(R"({"seq": 1, "rtt_ns": 170000, "forward_ns": null,
    "backward_ns": null, "ttl": 64, "size": 112, "late": true, "kernel_timestamps": false,
    "dscp": null, "ecn": null})")),
            "112 bytes: seq=1 rtt=0.170 ms near-end=- far-end=- ttl=64 (late) (socket "
            "timestamps)\n");
}

TEST(CtlRender, WatchHeader) {
  EXPECT_EQ(renderWatchHeader("edge", true, "07:50:00"),
            "session edge, running at 07:50:00 (Ctrl-C to leave; the session goes on)\n");
  EXPECT_EQ(renderWatchHeader("edge", false, "07:50:01"), "session edge, finished at 07:50:01\n");
}

TEST(CtlRender, ErrorLine) {
  EXPECT_EQ(renderError(json::parse(R"({"version": 1, "id": 1, "ok": false,
    "error": {"code": "not_found", "message": "no session 'x'"}})")),
            "stampctl: no session 'x' (not_found)\n");
  EXPECT_EQ(renderError(json{{"ok", false}}), "stampctl: error (?)\n");
}

TEST(CtlRender, Milliseconds) {
  EXPECT_EQ(formatMs(json(1234567)), "1.235 ms");
  EXPECT_EQ(formatMs(json(-5000)), "-0.005 ms");
  EXPECT_EQ(formatMs(json(0.5)), "0.000 ms");
  EXPECT_EQ(formatMs(json()), "-");
  EXPECT_EQ(formatMs(json("12")), "-");
}

}  // namespace
}  // namespace stamp::ctl
