// The control commands without a daemon: every command through
// Commands::dispatch() with good arguments, missing ones, wrong JSON types,
// numbers out of range and unknown keys, against a fake CommandTarget; the
// last-resort guard against a handler that throws; and the permission
// table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstamp/control_args.hpp"
#include "libstamp/control_protocol.hpp"
#include "service/commands.hpp"
#include "service/permissions.hpp"

namespace stamp {
namespace {

using nlohmann::json;
namespace arg = control::arg;

struct Answer {
  std::string kind;  // "respond", "fail", "event"
  std::string code;  // error code or event name
  json body;         // result, message or event data
};

class RecordingReplier final : public Replier {
 public:
  void respond(const ControlRequest&, const json& result) override {
    answers.push_back({"respond", "", result});
    if (throwAfterRespond) throw std::runtime_error("the answer could not be sent");
  }
  void fail(const ControlRequest&, std::string_view code, const std::string& message) override {
    answers.push_back({"fail", std::string(code), message});
  }
  void event(const ControlRequest&, std::string_view name, const json& data) override {
    answers.push_back({"event", std::string(name), data});
  }
  bool connected(uint64_t) const override { return true; }
  std::vector<Answer> answers;
  bool throwAfterRespond = false;
};

class FakeTarget final : public CommandTarget {
 public:
  FakeTarget() {
    SessionConfig c;
    c.name = "edge-1";
    c.target = "192.0.2.1";
    c.schedule = "*/5 * * * *";
    cfg.sessions.push_back(c);
  }
  const Config& config() const override { return cfg; }
  json status() override {
    if (throwInStatus) throwInStatus();
    return {{"version", "test"}};
  }
  Result<StartedRun> startRun(SessionSpec spec, const ControlRequest& by, bool follow,
                              bool adhoc) override {
    started.push_back(spec);
    followed.push_back(follow);
    users.push_back(by.uid);
    adhocs.push_back(adhoc);
    if (startError) return makeError(*startError, "refused");
    return StartedRun{spec.name, 7, "192.0.2.1", spec.port, 40000};
  }
  std::vector<SessionView> sessions() const override { return views; }
  std::optional<ScheduleEntryInfo> scheduleInfo(const std::string& name) const override {
    if (name != "edge-1") return std::nullopt;
    ScheduleEntryInfo i;
    i.runs = 3;
    return i;
  }
  std::optional<json> summary(const std::string& name) const override {
    if (name != "edge-1") return std::nullopt;
    return json{{"session", name}, {"sent", 5}};
  }
  std::optional<json> stopRun(const std::string& name) override {
    stopped.push_back(name);
    return summary(name);
  }
  Result<json> reload() override {
    if (reloadError) return makeError(*reloadError, "bad file");
    return json{{"changed", false}};
  }
  Result<json> results(const ResultsQuery& q) override {
    queries.push_back(q);
    if (storeDown) return makeError(EIO, "the results store is unavailable");
    return json{{"runs", json::array()}};
  }

  Config cfg;
  std::vector<SessionView> views;
  std::vector<SessionSpec> started;
  std::vector<bool> followed, adhocs;
  std::vector<uid_t> users;
  std::vector<std::string> stopped;
  std::vector<ResultsQuery> queries;
  std::optional<int> startError, reloadError;
  bool storeDown = false;
  std::function<void()> throwInStatus;
};

class CommandsTest : public ::testing::Test {
 protected:
  // Root unless told otherwise; the operator group is gid 4242.
  Answer run(std::string_view command, json args = json::object(), uid_t uid = 0, gid_t gid = 0,
             std::vector<gid_t> groups = {}) {
    replier.answers.clear();
    ControlRequest r;
    r.client = 1;
    r.id = 1;
    r.command = std::string(command);
    r.args = std::move(args);
    r.uid = uid;
    r.gid = gid;
    r.groups = std::move(groups);
    commands.dispatch(r);
    EXPECT_FALSE(replier.answers.empty()) << command << " gave no answer";
    return replier.answers.empty() ? Answer{} : replier.answers.back();
  }

  FakeTarget target;
  RecordingReplier replier;
  Commands commands{target, replier, [] { return std::optional<gid_t>(4242); }};
};

TEST_F(CommandsTest, UnknownCommandIsAnError) {
  auto a = run("session.explode");
  EXPECT_EQ(a.kind, "fail");
  EXPECT_EQ(a.code, control::kErrUnknownCommand);
}

TEST_F(CommandsTest, StatusAnswersTheTargetsStatus) {
  auto a = run(control::kStatus);
  EXPECT_EQ(a.kind, "respond");
  EXPECT_EQ(a.body["version"], "test");
}

// Every way an argument can be wrong, per command: a bad_argument whose
// message names the key and what it must be, and the target never asked.
TEST_F(CommandsTest, ArgumentsOfTheWrongTypeOrOutOfRangeAreRefusedByName) {
  struct Case {
    std::string_view command;
    json args;
    std::string message;  // a part of the error message
  };
  const json t = "192.0.2.9";
  const uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
  const Case cases[] = {
      // The audit's lines: a wrong type used to throw out of the loop.
      {control::kSessionShow, {{arg::kName, 1}}, "\"name\" must be a string, not an integer"},
      {control::kSessionStop, {{arg::kName, nullptr}}, "\"name\" must be a string, not null"},
      {control::kSessionShow, json::object(), "\"name\" is required (a string)"},
      {control::kSessionStop, json::object(), "\"name\" is required"},
      {control::kResults,
       {{arg::kDetail, "yes"}},
       "\"detail\" must be true or false, not a string"},
      {control::kResults, {{arg::kName, json::array()}}, "\"name\" must be a string, not an array"},
      {control::kResults, {{arg::kSinceNs, "1h"}}, "\"since_ns\" must be an integer"},
      {control::kResults, {{arg::kSinceNs, kU64Max}}, "not 18446744073709551615"},
      {control::kResults, {{arg::kLimit, -1}}, "\"limit\" must be an integer 0..10000, not -1"},
      {control::kResults, {{arg::kLimit, 10001}}, "\"limit\" must be an integer 0..10000"},
      {control::kResults,
       {{arg::kLimit, 1.5}},
       "\"limit\" must be an integer 0..10000, not a float"},
      // The audit's wrapping numbers.
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kPort, 70000}},
       "\"port\" must be an integer 1..65535, not 70000"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kCount, -1}},
       "\"count\" must be an integer 0..9223372036854775807, not -1"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kCount, kU64Max}},
       "not 18446744073709551615"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kSize, (int64_t{1} << 32) + 44}},
       "\"size\" must be an integer 44..8952, not 4294967340"},
      // Each integer key at both ends of its range.
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kPort, 0}}, "\"port\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kPort, -1}}, "\"port\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kSize, 43}}, "\"size\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kSize, 8953}}, "\"size\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kIntervalNs, 999}},
       "\"interval_ns\" must be an integer 1000..9223372036854775807, not 999"},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kIntervalNs, kU64Max}}, "\"interval_ns\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kTimeoutNs, 0}}, "\"timeout_ns\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kWindowNs, -1}}, "\"window_ns\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kDscp, 64}},
       "\"dscp\" must be an integer 0..63"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kEcn, 4}},
       "\"ecn\" must be an integer 0..3"},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kSsid, 65536}}, "\"ssid\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kSourcePort, 65536}}, "\"source_port\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kHistogramBins, 0}}, "\"histogram_bins\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kHistogramBins, 10001}},
       "\"histogram_bins\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kHistogramFloorNs, -1}},
       "\"histogram_floor_ns\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kTlvPadding, 8953}}, "\"tlv_padding\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kTlvCosDscp, 64}}, "\"tlv_cos_dscp\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTlvAccessReport, {{arg::kAccessId, 3}}}},
       "\"tlv_access_report.access_id\" must be an integer 1..2, not 3"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTlvAccessReport, {{arg::kRetries, (int64_t{1} << 32) + 4}}}},
       "\"tlv_access_report.retries\" must be an integer 0..100"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTlvAccessReport, {{arg::kTimeoutNs, 0}}}},
       "\"tlv_access_report.timeout_ns\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTlvAccessReport, 5}},
       "\"tlv_access_report\" must be an object, not an integer"},
      // Types.
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kPort, "862"}},
       "\"port\" must be an integer 1..65535, not a string"},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kPort, 862.0}}, "not a float"},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kPort, true}}, "not a boolean"},
      {control::kSessionStart, {{arg::kTarget, 5}}, "\"target\" must be a string, not an integer"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kFollow, "yes"}},
       "\"follow\" must be true or false"},
      {control::kSessionStart,
       {{arg::kName, "edge-1"}, {arg::kRequireSync, 1}},
       "\"require_sync\" must be true or false, not an integer"},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kTlvLocation, "on"}}, "\"tlv_location\""},
      {control::kSessionStart, {{arg::kTarget, t}, {arg::kAuthKey, 1}}, "\"auth_key\""},
      // Unknown keys, also inside an object, and keys of the other kind of start.
      {control::kStatus, {{"verbose", true}}, "unknown argument \"verbose\" (none are taken)"},
      {control::kReload, {{"path", "/tmp/x"}}, "unknown argument \"path\""},
      {control::kSessionList, {{"all", true}}, "unknown argument \"all\""},
      {control::kSessionShow,
       {{arg::kName, "edge-1"}, {"x", 1}},
       "unknown argument \"x\" (taken: name)"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {"intervall_ns", 5}},
       "unknown argument \"intervall_ns\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTlvAccessReport, {{"bogus", 1}}}},
       "unknown argument \"tlv_access_report.bogus\""},
      {control::kSessionStart,
       {{arg::kName, "edge-1"}, {arg::kCount, 5}},
       "\"count\" is for ad-hoc sessions"},
      // Values the schema cannot judge, judged by the session's own checks.
      {control::kSessionStart, {{arg::kTarget, "not-an-address"}}, "not-an-address"},
      {control::kSessionStart, json::object(), "\"target\""},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kReflectorMode, "smart"}},
       "\"reflector_mode\" must be"},
      {control::kSessionStart,
       {{arg::kTarget, t}, {arg::kTimestampFormat, "gps"}},
       "\"timestamp_format\" must be"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.command) + " " + c.args.dump());
    auto a = run(c.command, c.args);
    EXPECT_EQ(a.kind, "fail");
    EXPECT_EQ(a.code, control::kErrBadArgument);
    EXPECT_NE(a.body.get<std::string>().find(c.message), std::string::npos)
        << "message: " << a.body.get<std::string>();
  }
  EXPECT_TRUE(target.started.empty());
  EXPECT_TRUE(target.queries.empty());
  EXPECT_TRUE(target.stopped.empty());
}

// The ends of each range are accepted and arrive unchanged.
TEST_F(CommandsTest, ArgumentsAtTheEndsOfTheirRangesArriveExactly) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  auto a = run(control::kSessionStart, {{arg::kTarget, "192.0.2.9"},
                                        {arg::kPort, 65535},
                                        {arg::kCount, kMax},
                                        {arg::kIntervalNs, 1000},
                                        {arg::kTimeoutNs, kMax},
                                        {arg::kSize, 8952},
                                        {arg::kDscp, 63},
                                        {arg::kEcn, 3},
                                        {arg::kSsid, 65535},
                                        {arg::kSourcePort, 65535},
                                        {arg::kHistogramBins, 10000}});
  ASSERT_EQ(a.kind, "respond") << a.body.dump();
  ASSERT_EQ(target.started.size(), 1u);
  const SessionSpec& s = target.started[0];
  EXPECT_EQ(s.port, 65535);
  EXPECT_EQ(s.count, uint64_t(kMax));
  EXPECT_EQ(s.interval.count(), 1000);
  EXPECT_EQ(s.timeout.count(), kMax);
  EXPECT_EQ(s.size, 8952u);
  EXPECT_EQ(s.dscp, 63);
  EXPECT_EQ(s.ecn, 3);
  EXPECT_EQ(s.ssid, 65535);
  EXPECT_EQ(s.sourcePort, 65535);
  EXPECT_EQ(s.histogram.bins, 10000u);

  a = run(control::kSessionStart, {{arg::kTarget, "2001:db8::9"},
                                   {arg::kPort, 1},
                                   {arg::kCount, 0},
                                   {arg::kWindowNs, 1'000'000'000},
                                   {arg::kSize, 44},
                                   {arg::kTlvPadding, 0},
                                   {arg::kTlvAccessReport,
                                    {{arg::kAccessId, 2},
                                     {arg::kReturnCode, 255},
                                     {arg::kTimeoutNs, 1},
                                     {arg::kRetries, 100}}}});
  ASSERT_EQ(a.kind, "respond") << a.body.dump();
  ASSERT_EQ(target.started.size(), 2u);
  const SessionSpec& z = target.started[1];
  EXPECT_EQ(z.port, 1);
  EXPECT_EQ(z.count, 0u);
  EXPECT_EQ(z.window.count(), 1'000'000'000);
  ASSERT_TRUE(z.tlvs.accessReport);
  EXPECT_EQ(z.tlvs.accessReport->accessId, 2);
  EXPECT_EQ(z.tlvs.accessReport->returnCode, 255);
  EXPECT_EQ(z.accessReportTimeout.count(), 1);
  EXPECT_EQ(z.accessReportRetries, 100u);

  EXPECT_EQ(run(control::kResults,
                {{arg::kSinceNs, std::numeric_limits<int64_t>::min()}, {arg::kLimit, 10000}})
                .kind,
            "respond");
  EXPECT_EQ(run(control::kResults, {{arg::kLimit, 0}}).kind, "respond");
  ASSERT_EQ(target.queries.size(), 2u);
  EXPECT_EQ(target.queries[0].sinceNs, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(target.queries[0].limit, 10000u);
  EXPECT_EQ(target.queries[1].limit, 0u);
}

// A configured session may be started with follow and require_sync.
TEST_F(CommandsTest, AConfiguredStartTakesFollowAndRequireSync) {
  auto a = run(control::kSessionStart,
               {{arg::kName, "edge-1"}, {arg::kFollow, true}, {arg::kRequireSync, true}});
  EXPECT_EQ(a.kind, "event") << a.body.dump();
  ASSERT_EQ(target.started.size(), 1u);
  EXPECT_TRUE(target.started[0].requireSync);
  EXPECT_TRUE(target.followed[0]);
}

// The lines of the audit, from text to answer as stampd handles them.
TEST_F(CommandsTest, TheAuditsLinesGetAnAnswerNotACrash) {
  for (
      const char* line :
      {R"({"version":1,"id":1,"command":"session.show","args":{"name":1}})",
       R"({"version":1,"id":2,"command":"results","args":{"detail":"yes"}})",
       R"({"version":1,"id":3,"command":"session.start","args":{"target":"192.0.2.1","port":70000}})",
       R"({"version":1,"id":4,"command":"session.start","args":{"target":"192.0.2.1","count":-1}})",
       R"({"version":1,"id":5,"command":"session.start","args":{"target":"192.0.2.1","size":4294967340}})",
       R"({"version":1,"id":6,"command":"results","args":{"limit":18446744073709551615}})"}) {
    SCOPED_TRACE(line);
    ParsedLine p = parseRequestLine(line);
    ASSERT_TRUE(p.request);
    replier.answers.clear();
    EXPECT_NO_THROW(commands.dispatch(*p.request));
    ASSERT_EQ(replier.answers.size(), 1u);
    EXPECT_EQ(replier.answers[0].code, control::kErrBadArgument);
  }
  EXPECT_TRUE(target.started.empty());
}

// The last resort: a target that throws costs its request an "internal"
// answer, not the daemon; the next request is served as usual.
TEST_F(CommandsTest, AHandlerThatThrowsIsAnsweredInternalAndTheNextRequestServed) {
  target.throwInStatus = [] { throw std::runtime_error("boom"); };
  Answer a;
  EXPECT_NO_THROW(a = run(control::kStatus));
  EXPECT_EQ(a.kind, "fail");
  EXPECT_EQ(a.code, control::kErrInternal);
  EXPECT_EQ(a.body, "'status' failed: boom");
  EXPECT_EQ(replier.answers.size(), 1u);

  target.throwInStatus = [] { throw 42; };
  EXPECT_NO_THROW(a = run(control::kStatus));
  EXPECT_EQ(a.code, control::kErrInternal);
  EXPECT_NE(a.body.get<std::string>().find("not a std::exception"), std::string::npos);

  target.throwInStatus = nullptr;
  EXPECT_EQ(run(control::kStatus).kind, "respond");
  EXPECT_EQ(run(control::kSessionShow, {{arg::kName, "edge-1"}}).body["sent"], 5);
}

// An answer that throws on its way out was the request's one final
// answer: the guard logs it and adds none.
TEST_F(CommandsTest, AnAnswerThatThrowsIsNotAnsweredTwice) {
  replier.throwAfterRespond = true;
  EXPECT_NO_THROW(run(control::kStatus));
  ASSERT_EQ(replier.answers.size(), 1u);
  EXPECT_EQ(replier.answers[0].kind, "respond");
  replier.throwAfterRespond = false;
  EXPECT_EQ(run(control::kStatus).kind, "respond");
}

// Every command's table is well formed: integer ranges are not empty,
// objects have their own keys, no key twice.
TEST(CommandTable, ArgumentTablesAreWellFormed) {
  std::function<void(std::span<const control::ArgSpec>)> check =
      [&](std::span<const control::ArgSpec> table) {
        std::set<std::string_view> keys;
        for (const auto& a : table) {
          EXPECT_TRUE(keys.insert(a.key).second) << a.key;
          if (a.type == control::ArgType::kInteger) {
            EXPECT_LE(a.min, a.max) << a.key;
          }
          if (a.type == control::ArgType::kObject) {
            EXPECT_FALSE(a.fields.empty()) << a.key;
            check(a.fields);
          }
        }
      };
  for (const auto& e : Commands::table()) check(e.args);
  for (const char* k : control::schema::kConfiguredStartKeys)
    EXPECT_NE(control::findArg(control::schema::kSessionStart, k), nullptr) << k;
}

TEST_F(CommandsTest, StartsAConfiguredSessionByName) {
  auto a = run(control::kSessionStart, {{arg::kName, "edge-1"}});
  EXPECT_EQ(a.kind, "respond");
  EXPECT_EQ(a.body, json({{"session", "edge-1"}}));
  ASSERT_EQ(target.started.size(), 1u);
  EXPECT_FALSE(target.adhocs[0]);
  EXPECT_FALSE(target.followed[0]);
}

TEST_F(CommandsTest, UnknownConfiguredSessionIsNotFound) {
  auto a = run(control::kSessionStart, {{arg::kName, "nope"}});
  EXPECT_EQ(a.code, control::kErrNotFound);
  EXPECT_TRUE(target.started.empty());
}

TEST_F(CommandsTest, AdhocSessionsGetNumberedNames) {
  run(control::kSessionStart, {{arg::kTarget, "192.0.2.9"}, {arg::kCount, 3}});
  run(control::kSessionStart, {{arg::kTarget, "192.0.2.9"}});
  ASSERT_EQ(target.started.size(), 2u);
  EXPECT_EQ(target.started[0].name, "adhoc-1");
  EXPECT_EQ(target.started[0].count, 3u);
  EXPECT_EQ(target.started[1].name, "adhoc-2");
  EXPECT_TRUE(target.adhocs[0]);
}

TEST_F(CommandsTest, FollowSendsStartedEventAndLeavesTheAnswerToTheRun) {
  auto a = run(control::kSessionStart, {{arg::kTarget, "192.0.2.9"}, {arg::kFollow, true}});
  EXPECT_EQ(a.kind, "event");
  EXPECT_EQ(a.code, "started");
  EXPECT_EQ(a.body["source_port"], 40000);
  EXPECT_EQ(replier.answers.size(), 1u);  // no final response yet
  EXPECT_TRUE(target.followed[0]);
}

TEST_F(CommandsTest, StartWithWrongTypesIsABadArgumentNotACrash) {
  for (json args : {json{{arg::kName, 1}}, json{{arg::kName, "edge-1"}, {arg::kFollow, "yes"}},
                    json{{arg::kName, "edge-1"}, {arg::kRequireSync, 1}}, json{{arg::kTarget, 5}},
                    json{{arg::kTarget, "192.0.2.9"}, {arg::kCount, "many"}},
                    json{{arg::kTarget, "192.0.2.9"}, {arg::kDscp, 64}},
                    json{{arg::kTarget, "not-an-address"}}, json::object()}) {
    auto a = run(control::kSessionStart, args);
    EXPECT_EQ(a.kind, "fail") << args.dump();
    EXPECT_EQ(a.code, control::kErrBadArgument) << args.dump();
  }
  EXPECT_TRUE(target.started.empty());
}

TEST_F(CommandsTest, StartErrorsMapToProtocolCodes) {
  for (auto [err, code] : {std::pair{EBUSY, control::kErrBusy},
                           {EAGAIN, control::kErrClockUnsync},
                           {EINVAL, control::kErrBadArgument},
                           {EMSGSIZE, control::kErrBadArgument},
                           {EDQUOT, control::kErrLimit},
                           {EIO, control::kErrInternal}}) {
    target.startError = err;
    auto a = run(control::kSessionStart, {{arg::kName, "edge-1"}});
    EXPECT_EQ(a.code, code) << err;
  }
}

TEST_F(CommandsTest, ListShowsConfiguredAndAdhocSessions) {
  target.views.push_back({"edge-1", "192.0.2.1", 862, true, 1'700'000'000'000'000'000, {4, 3}});
  target.views.push_back({"adhoc-1", "192.0.2.9", 862, false, 1'700'000'000'000'000'000, {2, 2}});
  auto a = run(control::kSessionList);
  ASSERT_EQ(a.kind, "respond");
  const json& list = a.body["sessions"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(a.body["total"], 2);
  EXPECT_FALSE(a.body.contains("next"));
  // By name.
  EXPECT_EQ(list[1]["name"], "edge-1");
  EXPECT_EQ(list[1]["configured"], true);
  EXPECT_EQ(list[1]["state"], "running");
  EXPECT_EQ(list[1]["sent"], 4);
  EXPECT_EQ(list[1]["runs"], 3);
  EXPECT_EQ(list[1]["timezone"], "utc");
  EXPECT_EQ(list[0]["name"], "adhoc-1");
  EXPECT_EQ(list[0]["configured"], false);
  EXPECT_EQ(list[0]["state"], "finished");
  EXPECT_EQ(list[0]["received"], 2);
}

// session.list's arguments: wrong types, ranges and states are refused
// by name; the ends of the range are taken.
TEST_F(CommandsTest, ListArgumentsAreCheckedByName) {
  struct Case {
    json args;
    std::string message;
  };
  const Case cases[] = {
      {{{arg::kLimit, 0}}, "\"limit\" must be an integer 1..100000, not 0"},
      {{{arg::kLimit, 100001}}, "\"limit\" must be an integer 1..100000, not 100001"},
      {{{arg::kLimit, -1}}, "\"limit\" must be an integer 1..100000, not -1"},
      {{{arg::kLimit, "10"}}, "\"limit\" must be an integer 1..100000, not a string"},
      {{{arg::kLimit, 10.0}}, "\"limit\" must be an integer 1..100000, not a float"},
      {{{arg::kAfter, 5}}, "\"after\" must be a string, not an integer"},
      {{{arg::kAfter, nullptr}}, "\"after\" must be a string, not null"},
      {{{arg::kState, true}}, "\"state\" must be a string, not a boolean"},
      {{{arg::kState, "stopped"}},
       "\"state\" must be \"running\", \"finished\" or \"idle\", not \"stopped\""},
      {{{"page", 1}}, "unknown argument \"page\" (taken: limit, after, state)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args.dump());
    auto a = run(control::kSessionList, c.args);
    EXPECT_EQ(a.kind, "fail");
    EXPECT_EQ(a.code, control::kErrBadArgument);
    EXPECT_EQ(a.body.get<std::string>(), c.message);
  }
  for (int64_t limit : {int64_t{1}, int64_t{100000}})
    EXPECT_EQ(run(control::kSessionList, {{arg::kLimit, limit}}).kind, "respond") << limit;
}

// 2,500 configured sessions (some ran) and 20 ad-hoc ones, in no order:
// pages of any size, following "next", list every session once, by
// name; "next" is absent on the last page; a state filter pages and
// counts only its sessions.
TEST_F(CommandsTest, ListPagesReturnEverySessionOnce) {
  target.cfg.sessions.clear();
  std::vector<std::string> all;
  for (int i = 0; i < 2500; ++i) {
    SessionConfig c;
    c.name = "s" + std::to_string((i * 7919) % 2500);  // not in name order
    c.target = "192.0.2.1";
    target.cfg.sessions.push_back(c);
    all.push_back(c.name);
    if (i % 3 == 0) target.views.push_back({c.name, "192.0.2.1", 862, i % 2 == 0, 0, {1, 1}});
  }
  for (int i = 0; i < 20; ++i) {
    std::string name = "adhoc-" + std::to_string(i);
    target.views.push_back({name, "192.0.2.9", 862, false, 0, {1, 1}});
    all.push_back(name);
  }
  std::sort(all.begin(), all.end());

  auto page = [&](json args, std::vector<std::string>& out) -> json {
    auto a = run(control::kSessionList, std::move(args));
    EXPECT_EQ(a.kind, "respond") << a.body.dump();
    for (const auto& e : a.body["sessions"]) out.push_back(e["name"].get<std::string>());
    return a.body;
  };
  for (int64_t size : {1, 7, 1000, 2520, 5000}) {
    SCOPED_TRACE(size);
    std::vector<std::string> seen;
    json args = {{arg::kLimit, size}};
    int pages = 0;
    for (;;) {
      json r = page(args, seen);
      ++pages;
      EXPECT_EQ(r["total"], all.size());
      EXPECT_LE(r["sessions"].size(), size_t(size));
      if (!r.contains("next")) break;
      EXPECT_EQ(r["next"], r["sessions"].back()["name"]);
      args[arg::kAfter] = r["next"];
      ASSERT_LT(pages, 3000);
    }
    EXPECT_EQ(seen, all);
    EXPECT_EQ(pages, int((all.size() + size_t(size) - 1) / size_t(size)));
  }

  // Without "limit": everything after "after".
  std::vector<std::string> tail;
  json r = page({{arg::kAfter, "s2"}}, tail);
  EXPECT_FALSE(r.contains("next"));
  EXPECT_EQ(tail,
            std::vector<std::string>(std::upper_bound(all.begin(), all.end(), "s2"), all.end()));
  // A name that is no session pages from where it would sort.
  std::vector<std::string> none;
  r = page({{arg::kAfter, "zzz"}}, none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(r["total"], all.size());

  // By state: "idle" are the configured sessions that never ran.
  for (const char* state : {"running", "finished", "idle"}) {
    SCOPED_TRACE(state);
    std::vector<std::string> seen;
    json args = {{arg::kLimit, 100}, {arg::kState, state}};
    size_t total = 0;
    for (;;) {
      json r2 = page(args, seen);
      total = r2["total"].get<size_t>();
      for (const auto& e : r2["sessions"]) EXPECT_EQ(e["state"], state);
      if (!r2.contains("next")) break;
      args[arg::kAfter] = r2["next"];
    }
    EXPECT_EQ(seen.size(), total);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    const size_t ran = 834, runningN = 417;  // i % 3 == 0 of 2500; of those i even
    EXPECT_EQ(total, std::string(state) == "running"    ? runningN
                     : std::string(state) == "finished" ? ran - runningN + 20
                                                        : 2500 - ran);
  }
}

TEST_F(CommandsTest, ListOfANeverRunSessionSaysIdle) {
  auto a = run(control::kSessionList);
  EXPECT_EQ(a.body["sessions"][0]["state"], "idle");
  EXPECT_FALSE(a.body["sessions"][0].contains("sent"));
}

TEST_F(CommandsTest, ShowAndStop) {
  EXPECT_EQ(run(control::kSessionShow, {{arg::kName, "edge-1"}}).body["sent"], 5);
  EXPECT_EQ(run(control::kSessionShow, {{arg::kName, "x"}}).code, control::kErrNotFound);
  EXPECT_EQ(run(control::kSessionStop, {{arg::kName, "edge-1"}}).body["session"], "edge-1");
  EXPECT_EQ(target.stopped, std::vector<std::string>{"edge-1"});
  for (auto cmd : {control::kSessionShow, control::kSessionStop}) {
    EXPECT_EQ(run(cmd).code, control::kErrBadArgument) << cmd;
    EXPECT_EQ(run(cmd, {{arg::kName, 1}}).code, control::kErrBadArgument) << cmd;
    EXPECT_EQ(run(cmd, {{arg::kName, json::array()}}).code, control::kErrBadArgument) << cmd;
  }
}

TEST_F(CommandsTest, ReloadReportsOrRefuses) {
  EXPECT_EQ(run(control::kReload).kind, "respond");
  target.reloadError = EINVAL;
  EXPECT_EQ(run(control::kReload).code, control::kErrBadConfig);
  target.reloadError = EIO;
  EXPECT_EQ(run(control::kReload).code, control::kErrInternal);
}

TEST_F(CommandsTest, ResultsArguments) {
  auto a =
      run(control::kResults,
          {{arg::kName, "edge-1"}, {arg::kSinceNs, 5}, {arg::kLimit, 7}, {arg::kDetail, true}});
  EXPECT_EQ(a.kind, "respond");
  ASSERT_EQ(target.queries.size(), 1u);
  EXPECT_EQ(target.queries[0].name, "edge-1");
  EXPECT_EQ(target.queries[0].sinceNs, 5);
  EXPECT_EQ(target.queries[0].limit, 7u);
  EXPECT_TRUE(target.queries[0].detail);
  run(control::kResults);
  EXPECT_EQ(target.queries[1].limit, 100u);
  EXPECT_FALSE(target.queries[1].name);
  EXPECT_EQ(target.queries.size(), 2u);
  target.storeDown = true;
  EXPECT_EQ(run(control::kResults).code, control::kErrUnavailable);
}

TEST_F(CommandsTest, MutatingCommandsNeedRootOrTheOperatorGroup) {
  const uid_t user = 1000;
  for (const auto& e : Commands::table()) {
    json args = e.name == control::kSessionStart ? json{{arg::kName, "edge-1"}}
                : e.name == control::kSessionShow || e.name == control::kSessionStop
                    ? json{{arg::kName, "edge-1"}}
                    : json::object();
    auto stranger = run(e.name, args, user, 100);
    if (e.access == Access::kRead) {
      EXPECT_EQ(stranger.kind, "respond") << e.name;
    } else {
      EXPECT_EQ(stranger.code, control::kErrPermission) << e.name;
      EXPECT_NE(run(e.name, args, user, 4242).code, control::kErrPermission) << e.name;
      EXPECT_NE(run(e.name, args, user, 100, {17, 4242}).code, control::kErrPermission) << e.name;
    }
  }
  EXPECT_TRUE(target.stopped.size() >= 2u);
}

TEST(CommandTable, NamesEveryCommandOnceWithItsAccess) {
  std::map<std::string_view, Access> seen;
  for (const auto& e : Commands::table()) EXPECT_TRUE(seen.emplace(e.name, e.access).second);
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen.at(control::kStatus), Access::kRead);
  EXPECT_EQ(seen.at(control::kSessionList), Access::kRead);
  EXPECT_EQ(seen.at(control::kSessionShow), Access::kRead);
  EXPECT_EQ(seen.at(control::kResults), Access::kRead);
  EXPECT_EQ(seen.at(control::kSessionStart), Access::kMutate);
  EXPECT_EQ(seen.at(control::kSessionStop), Access::kMutate);
  EXPECT_EQ(seen.at(control::kReload), Access::kMutate);
}

TEST(Permissions, Decisions) {
  const std::optional<gid_t> op = 4242;
  EXPECT_TRUE(permitted(Access::kRead, {1000, 100, {}}, std::nullopt));
  EXPECT_TRUE(permitted(Access::kMutate, {0, 0, {}}, std::nullopt));
  EXPECT_FALSE(permitted(Access::kMutate, {1000, 100, {}}, std::nullopt));
  EXPECT_FALSE(permitted(Access::kMutate, {1000, 100, {}}, op));
  EXPECT_TRUE(permitted(Access::kMutate, {1000, 4242, {}}, op));
  EXPECT_TRUE(permitted(Access::kMutate, {1000, 100, {5, 4242}}, op));
  EXPECT_FALSE(permitted(Access::kMutate, {1000, 100, {5, 6}}, op));
}

TEST(Permissions, GroupLookup) {
  EXPECT_EQ(groupId("root"), std::optional<gid_t>(0));
  EXPECT_FALSE(groupId("no-such-group-stampd-test"));
}

}  // namespace
}  // namespace stamp
