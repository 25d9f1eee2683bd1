// ResultsStore: runs stored and listed back, retention, WAL durability
// across a killed writer, and the errors an operator must be able to read:
// a corrupt file, no write permission, a full disk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "service/results_store.hpp"
#include "sender/stats.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kDayNs = 86'400 * kNsPerSec;

class ResultsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stampd-results-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/results.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  ResultsStore openOk(Retention r = {}) {
    auto s = ResultsStore::open(path_, r);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return std::move(*s);
  }
  std::string dir_, path_;
};

// A real summary: three replies, 10 ms there and 20 ms back.
json sampleSummary() {
  SessionStats stats;
  UnixNs t = realtimeNow();
  for (uint32_t seq = 0; seq < 3; ++seq) {
    UnixNs t1 = t + seq * 100'000'000;
    stats.onSent(seq, t1);
    stats.onReply({seq, seq, t1, t1 + 10'000'000, t1 + 10'100'000, t1 + 30'100'000 + seq});
  }
  json j = stats.toJson();
  j["session"] = "edge-1";
  j["target"] = "192.0.2.1";
  j["port"] = 862;
  j["started"] = formatRfc3339(t);
  return j;
}

RunRecord makeRun(const std::string& session, UnixNs endNs) {
  RunRecord r;
  r.session = session;
  r.target = "2001:db8::1";
  r.port = 862;
  r.startNs = endNs - 10 * kNsPerSec;
  r.endNs = endNs;
  r.sent = 10;
  r.received = 9;
  r.lost = 1;
  r.summaryJson = "{}";
  r.histogramJson = "{}";
  return r;
}

std::vector<int64_t> ends(const std::vector<RunRecord>& runs) {
  std::vector<int64_t> v;
  for (const auto& r : runs) v.push_back(r.endNs);
  return v;
}

TEST_F(ResultsStoreTest, RoundTripFromSummary) {
  json summary = sampleSummary();
  RunRecord::Context ctx;
  ctx.scheduled = true;
  ctx.startNs = realtimeNow() - 3 * kNsPerSec;  // recent: retention keeps it
  ctx.endNs = ctx.startNs + 3 * kNsPerSec;
  ctx.local = ClockAtRun::from(ErrorEstimate::fromErrorNs(1'000'000, true));
  ctx.remote = {false, std::nullopt};
  RunRecord in = RunRecord::fromSummary(summary, ctx);
  EXPECT_EQ(in.session, "edge-1");
  EXPECT_EQ(in.port, 862);
  EXPECT_EQ(in.sent, 3u);
  EXPECT_EQ(in.received, 3u);
  EXPECT_EQ(in.rttMinNs, 30'000'000);  // the reflector's 0.1 ms dwell left out
  EXPECT_EQ(in.forwardAvgNs, 10'000'000);
  EXPECT_TRUE(in.local.synchronized);
  ASSERT_TRUE(in.local.errorNs);
  EXPECT_GE(*in.local.errorNs, 1'000'000);
  EXPECT_EQ(in.summaryJson.find("\"histogram\""), std::string::npos) << "stored once, not twice";

  ResultsStore store = openOk();
  auto id = store.record(in);
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto runs = store.query(std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  ASSERT_EQ(runs->size(), 1u);
  RunRecord expected = in;
  expected.id = *id;
  EXPECT_EQ(runs->front(), expected);

  json out = toJson(runs->front());
  EXPECT_EQ(out["summary"], summary) << "histograms are put back";
  EXPECT_EQ(out["clock"]["remote"]["error_ns"], nullptr);
  EXPECT_EQ(out["rtt_ns"]["min"], 30'000'000);
  EXPECT_FALSE(toJson(runs->front(), false).contains("summary"));
}

TEST_F(ResultsStoreTest, FromSummaryNeverThrowsOnOddInput) {
  for (json odd : {json("text"), json(nullptr), json::array({1, 2}),
                   json{{"sent", "many"}, {"rtt_ns", 5}, {"port", 70000}, {"session", 7}},
                   json{{"rtt_ns", {{"min", -3.6}, {"avg", 1e300}, {"histogram", 1}}}}}) {
    RunRecord r = RunRecord::fromSummary(odd, {});
    EXPECT_EQ(r.sent, 0u) << odd;
    EXPECT_EQ(r.port, 0) << odd;
    EXPECT_FALSE(r.rttAvgNs) << odd;
  }
  EXPECT_EQ(RunRecord::fromSummary(json{{"rtt_ns", {{"min", -3.6}}}}, {}).rttMinNs, -4);
}

TEST_F(ResultsStoreTest, QueryNewestFirstBySessionSinceAndLimit) {
  ResultsStore store = openOk();
  UnixNs now = realtimeNow();
  // Stored out of order: the listing follows end time, not insertion.
  for (auto [name, age] : {std::pair{"a", 3}, {"b", 1}, {"a", 5}, {"a", 2}, {"b", 4}})
    ASSERT_TRUE(store.record(makeRun(name, now - age * kNsPerSec)).ok()) << store.lastError();
  auto at = [&](int age) { return now - age * kNsPerSec; };

  auto all = store.query(std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(ends(*all), (std::vector<int64_t>{at(1), at(2), at(3), at(4), at(5)}));
  auto a = store.query("a", std::nullopt, 100);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ends(*a), (std::vector<int64_t>{at(2), at(3), at(5)}));
  auto since = store.query(std::nullopt, at(3), 100);
  ASSERT_TRUE(since.ok());
  EXPECT_EQ(ends(*since), (std::vector<int64_t>{at(1), at(2), at(3)})) << "since is inclusive";
  auto aSince = store.query("a", at(3), 1);
  ASSERT_TRUE(aSince.ok());
  EXPECT_EQ(ends(*aSince), (std::vector<int64_t>{at(2)}));
  auto none = store.query("nobody", std::nullopt, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto zero = store.query(std::nullopt, std::nullopt, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
}

TEST_F(ResultsStoreTest, RetentionByAge) {
  ResultsStore store = openOk(Retention{std::chrono::hours(24 * 30), 0});
  UnixNs now = realtimeNow();
  ASSERT_TRUE(store.record(makeRun("old", now - 31 * kDayNs)).ok());  // pruned at once
  ASSERT_TRUE(store.record(makeRun("aging", now - 29 * kDayNs)).ok());
  ASSERT_TRUE(store.record(makeRun("new", now - kNsPerSec)).ok());
  auto runs = store.query(std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(ends(*runs), (std::vector<int64_t>{now - kNsPerSec, now - 29 * kDayNs}));

  auto pruned = store.prune(now + 2 * kDayNs);  // two days on, "aging" has gone
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 1u);
  runs = store.query(std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(ends(*runs), (std::vector<int64_t>{now - kNsPerSec}));
}

TEST_F(ResultsStoreTest, RetentionByCountDropsOldestEndTimes) {
  UnixNs now = realtimeNow();
  {
    ResultsStore store = openOk(Retention{0s, 3});
    for (int age : {2, 6, 1, 5, 3, 4})
      ASSERT_TRUE(store.record(makeRun("s", now - age * kNsPerSec)).ok()) << store.lastError();
    auto runs = store.query(std::nullopt, std::nullopt, 100);
    ASSERT_TRUE(runs.ok());
    EXPECT_EQ(ends(*runs), (std::vector<int64_t>{now - 1 * kNsPerSec, now - 2 * kNsPerSec,
                                                 now - 3 * kNsPerSec}));
  }
  // A smaller limit on reopening applies at the next record.
  ResultsStore store = openOk(Retention{0s, 2});
  ASSERT_TRUE(store.record(makeRun("s", now)).ok());
  auto runs = store.query(std::nullopt, std::nullopt, 100);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(ends(*runs), (std::vector<int64_t>{now, now - 1 * kNsPerSec}));
}

TEST_F(ResultsStoreTest, WalModeIsOnAndDirectoryIsCreated) {
  path_ = dir_ + "/state/stamp/results.db";
  ResultsStore store = openOk();
  ASSERT_TRUE(store.record(makeRun("s", realtimeNow())).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/state/stamp").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0007, 0u) << "mode 0750: nothing for others";

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), ResultsStore::kSchemaVersion);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(ResultsStoreTest, CommittedRunSurvivesKillOfTheWriter) {
  UnixNs end = realtimeNow();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // No gtest in the child, and no clean shutdown: the store is never
    // closed and no checkpoint runs, as with kill -9 of stampd.
    auto s = ResultsStore::open(path_, {});
    if (!s) _exit(2);
    if (!s->record(makeRun("survivor", end))) _exit(3);
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  EXPECT_TRUE(fs::exists(path_ + "-wal")) << "the run is in the WAL, not yet checkpointed";

  ResultsStore store = openOk();
  auto runs = store.query("survivor", std::nullopt, 10);
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().endNs, end);
}

TEST_F(ResultsStoreTest, GarbageFileIsAClearErrorAtOpen) {
  {
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(char(i * 37 + 11));
  }
  auto s = ResultsStore::open(path_, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EBADMSG);
  EXPECT_NE(s.error().message.find(path_), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("not an SQLite database"), std::string::npos)
      << s.error().message;
}

TEST_F(ResultsStoreTest, DamagedDatabaseFailsQuickCheckAtOpen) {
  {
    ResultsStore store = openOk();
    RunRecord big = makeRun("s", realtimeNow());
    big.summaryJson = std::string(20'000, 'x');  // several pages per row
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(store.record(big).ok()) << store.lastError();
  }  // the last close checkpoints: everything is in the main file now
  ASSERT_FALSE(fs::exists(path_ + "-wal"));
  {
    // Overwrite the middle of the file, leaving the header (page 1) intact.
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3);
    for (int i = 0; i < 4096 * 8; ++i) f.put(char(0xA5));
  }
  auto s = ResultsStore::open(path_, {});
  ASSERT_FALSE(s.ok()) << "quick_check should have found the damage";
  EXPECT_EQ(s.error().code, EBADMSG) << s.error().message;
  EXPECT_NE(s.error().message.find(path_), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("corrupt"), std::string::npos) << s.error().message;
}

TEST_F(ResultsStoreTest, NewerSchemaIsRefused) {
  { ResultsStore store = openOk(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = ResultsStore::open(path_, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("schema version 99 is newer"), std::string::npos)
      << s.error().message;
}

// Opens an existing store and a new one under `dir` (not writable), and
// returns both error messages ("OK" for an open that succeeded).
std::pair<std::string, std::string> openBoth(const std::string& dir) {
  auto msg = [](const Result<ResultsStore>& r) { return r.ok() ? "OK" : r.error().message; };
  return {msg(ResultsStore::open(dir + "/results.db", {})),
          msg(ResultsStore::open(dir + "/new.db", {}))};
}

TEST_F(ResultsStoreTest, UnwritableFileOrDirectoryIsAClearError) {
  { ResultsStore store = openOk(); }  // exists, closed (no -wal/-shm left)
  std::pair<std::string, std::string> msgs;
  if (geteuid() != 0) {
    ASSERT_EQ(chmod(path_.c_str(), 0444), 0);
    ASSERT_EQ(chmod(dir_.c_str(), 0555), 0);
    msgs = openBoth(dir_);
  } else {
    // Root writes through permission bits; a read-only bind mount in a
    // private mount namespace (in a child, so this process is untouched)
    // stops it.
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      std::string out;
      if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
          mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr) ||
          mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr)) {
        out = std::string("SKIP") + strerror(errno);
      } else {
        auto [a, b] = openBoth(dir_);
        out = a + '\n' + b;
      }
      (void)!write(fds[1], out.data(), out.size());
      _exit(0);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    close(fds[0]);
    waitpid(pid, nullptr, 0);
    if (out.rfind("SKIP", 0) == 0)
      GTEST_SKIP() << "running as root and no read-only bind mount possible: " << out.substr(4);
    auto nl = out.find('\n');
    ASSERT_NE(nl, std::string::npos) << out;
    msgs = {out.substr(0, nl), out.substr(nl + 1)};
  }
  EXPECT_NE(msgs.first.find(path_), std::string::npos) << msgs.first;
  EXPECT_NE(msgs.first.find("not writable"), std::string::npos) << msgs.first;
  EXPECT_NE(msgs.second.find(dir_ + "/new.db"), std::string::npos) << msgs.second;
  EXPECT_NE(msgs.second.find("directory " + dir_ + " not writable"), std::string::npos)
      << msgs.second;
}

TEST_F(ResultsStoreTest, DirectoryThatCannotBeCreatedIsAClearError) {
  auto s = ResultsStore::open("/proc/stampd-no-such-dir/results.db", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("cannot create directory /proc/stampd-no-such-dir"),
            std::string::npos)
      << s.error().message;
}

TEST_F(ResultsStoreTest, DiskFullIsAClearErrorAndTheStoreRecovers) {
  ResultsStore store = openOk();
  ASSERT_TRUE(store.record(makeRun("before", realtimeNow())).ok());
  ASSERT_TRUE(store.capPagesForTest(1).ok());  // clamped to the current size: no growth
  RunRecord big = makeRun("big", realtimeNow());
  big.histogramJson = std::string(64 * 1024, '0');

  auto full = store.record(big);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ENOSPC);
  EXPECT_NE(full.error().message.find(path_), std::string::npos) << full.error().message;
  EXPECT_NE(full.error().message.find("disk full"), std::string::npos) << full.error().message;
  EXPECT_FALSE(store.healthy());
  EXPECT_EQ(store.lastError(), full.error().message);

  // Reads still work while writes fail, and a later write succeeds once
  // there is room again.
  auto runs = store.query(std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u) << "the failed insert left nothing behind";
  ASSERT_TRUE(store.capPagesForTest(1'000'000).ok());
  auto again = store.record(big);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(store.healthy());
  EXPECT_FALSE(store.lastError().empty()) << "kept for status";
  runs = store.query(std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 2u);
}

}  // namespace
}  // namespace stamp
