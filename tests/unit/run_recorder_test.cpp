// Finished runs and windows into the results store through RunRecorder,
// with a real SQLite file in a temporary directory; an unusable state
// directory leaves the recorder answering "unavailable" with the reason.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "service/commands.hpp"
#include "service/run_recorder.hpp"

namespace stamp {
namespace {

class RunRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stamp-recorder-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

nlohmann::json summary(uint64_t sent) {
  return {{"session", "edge"},
          {"target", "192.0.2.1"},
          {"port", 862},
          {"sent", sent},
          {"received", sent},
          {"lost", 0},
          {"rtt_ns", {{"avg", 1000}, {"p99", 2000}}}};
}

TEST_F(RunRecorderTest, StoresRunsAndWindowsNewestFirst) {
  RunRecorder rec(dir_, ResultsConfig{});
  rec.open(0);
  EXPECT_EQ(rec.storeJson()["healthy"], true);
  RunContext ctx;
  ctx.start = realtimeNow() - 60'000'000'000;  // inside the default retention
  ctx.end = ctx.start + 1'000'000'000;
  rec.runFinished("edge", summary(10), ctx, true);
  rec.runFinished("edge", summary(99), ctx, false);  // not stored (a continuous run)
  nlohmann::json w = summary(20);
  w["started_ns"] = ctx.end;
  w["ended_ns"] = ctx.end + 30'000'000'000;
  rec.windowClosed("edge", w, ctx);
  auto res = rec.query(ResultsQuery{});
  ASSERT_TRUE(res.ok()) << res.error().message;
  const auto& runs = (*res)["runs"];
  ASSERT_EQ(runs.size(), 2u) << res->dump();
  EXPECT_EQ(runs[0]["sent"], 20);
  EXPECT_EQ(runs[0]["window"], true);
  EXPECT_EQ(runs[1]["sent"], 10);
  EXPECT_EQ(runs[1]["window"], false);
  ResultsQuery one;
  one.limit = 1;
  EXPECT_EQ((*rec.query(one))["runs"].size(), 1u);
}

TEST_F(RunRecorderTest, UnusableStateDirIsReportedAndRetried) {
  // A regular file where the directory should be.
  std::string file = dir_ + "/not-a-dir";
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  RunRecorder rec(file, ResultsConfig{});
  rec.open(100);
  auto js = rec.storeJson();
  EXPECT_EQ(js["healthy"], false);
  EXPECT_FALSE(js["error"].get<std::string>().empty());
  auto res = rec.query(ResultsQuery{});
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find("unavailable"), std::string::npos);
  rec.runFinished("edge", summary(1), RunContext{}, true);  // logged, not stored, no crash
  // Fixed behind its back: the retry a minute later opens it.
  ASSERT_EQ(unlink(file.c_str()), 0);
  rec.tick(130, 0);
  EXPECT_EQ(rec.storeJson()["healthy"], false);  // not yet a minute
  rec.tick(161, 0);
  EXPECT_EQ(rec.storeJson()["healthy"], true);
}

}  // namespace
}  // namespace stamp
