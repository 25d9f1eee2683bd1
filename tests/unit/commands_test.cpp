// The control commands without a daemon: every command through
// Commands::dispatch() with good arguments, missing ones and wrong JSON
// types, against a fake CommandTarget; and the permission table.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

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
  }
  void fail(const ControlRequest&, std::string_view code, const std::string& message) override {
    answers.push_back({"fail", std::string(code), message});
  }
  void event(const ControlRequest&, std::string_view name, const json& data) override {
    answers.push_back({"event", std::string(name), data});
  }
  bool connected(uint64_t) const override { return true; }
  std::vector<Answer> answers;
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
  json status() override { return {{"version", "test"}}; }
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
  EXPECT_EQ(list[0]["name"], "edge-1");
  EXPECT_EQ(list[0]["configured"], true);
  EXPECT_EQ(list[0]["state"], "running");
  EXPECT_EQ(list[0]["sent"], 4);
  EXPECT_EQ(list[0]["runs"], 3);
  EXPECT_EQ(list[0]["timezone"], "utc");
  EXPECT_EQ(list[1]["name"], "adhoc-1");
  EXPECT_EQ(list[1]["configured"], false);
  EXPECT_EQ(list[1]["state"], "finished");
  EXPECT_EQ(list[1]["received"], 2);
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
  for (json args : {json{{arg::kName, 1}}, json{{arg::kSinceNs, "1h"}}, json{{arg::kLimit, -1}},
                    json{{arg::kLimit, 10001}}, json{{arg::kDetail, "yes"}}})
    EXPECT_EQ(run(control::kResults, args).code, control::kErrBadArgument) << args.dump();
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
