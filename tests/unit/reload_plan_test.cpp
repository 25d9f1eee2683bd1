// The reload diff without a daemon: sessions added, removed, changed and
// unchanged; schedules dropped or (re)made; keys that need a restart kept
// at their running values; reflector and interface changes noticed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "service/reload.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using Names = std::vector<std::string>;

SessionConfig session(const std::string& name, const std::string& schedule = "") {
  SessionConfig c;
  c.name = name;
  c.target = "192.0.2.1";
  c.schedule = schedule;
  return c;
}

Config base() {
  Config c;
  c.path = "/etc/stamp/stamp.toml";
  c.daemon.interfaces = {"eth0", "eth1"};
  c.sessions = {session("keep", "@every 2s"), session("gone", "@every 2s"),
                session("change", "*/5 * * * *"), session("adhoc-ish")};
  return c;
}

Names sorted(Names v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ReloadPlan, SameFileChangesNothing) {
  Config running = base(), next = base();
  ReloadPlan p = planReload(running, next);
  EXPECT_FALSE(p.anyChange);
  EXPECT_EQ(sorted(p.unchanged), sorted({"keep", "gone", "change", "adhoc-ish"}));
  EXPECT_TRUE(p.added.empty() && p.removed.empty() && p.changed.empty());
  EXPECT_TRUE(p.stopRuns.empty() && p.unschedule.empty() && p.reschedule.empty());
  EXPECT_TRUE(p.restartRequired.empty());
  EXPECT_TRUE(p.interfacesRemoved.empty());
}

TEST(ReloadPlan, AddedRemovedChangedUnchanged) {
  Config running = base(), next = base();
  next.sessions.erase(next.sessions.begin() + 1);  // gone
  next.sessions[1].count = 7;                      // change: not its schedule
  next.sessions.push_back(session("fresh", "@every 5s"));
  next.sessions.push_back(session("fresh-ondemand"));
  ReloadPlan p = planReload(running, next);
  EXPECT_TRUE(p.anyChange);
  EXPECT_EQ(p.added, (Names{"fresh", "fresh-ondemand"}));
  EXPECT_EQ(p.removed, Names{"gone"});
  EXPECT_EQ(p.changed, Names{"change"});
  EXPECT_EQ(sorted(p.unchanged), sorted({"keep", "adhoc-ish"}));
  // Runs of removed and changed sessions stop; unchanged ones go on.
  ASSERT_EQ(p.stopRuns.size(), 2u);
  EXPECT_EQ(p.stopRuns[0], (std::pair<std::string, std::string>{"gone", "removed"}));
  EXPECT_EQ(p.stopRuns[1], (std::pair<std::string, std::string>{"change", "changed"}));
  EXPECT_EQ(p.unschedule, Names{"gone"});
  // change's schedule is the same, so its timing is kept; only fresh is new.
  EXPECT_EQ(p.reschedule, Names{"fresh"});
  auto report = sessionsReport(p);
  EXPECT_EQ(report["added"], nlohmann::json({"fresh", "fresh-ondemand"}));
  EXPECT_EQ(report["removed"], nlohmann::json({"gone"}));
}

TEST(ReloadPlan, ScheduleChanges) {
  Config running = base(), next = base();
  next.sessions[0].schedule = "@every 3s";  // keep: new schedule
  next.sessions[1].enabled = false;         // gone: disabled
  next.sessions[2].splay = 5s;              // change: new splay
  next.sessions[3].schedule = "@every 1m";  // adhoc-ish: now scheduled
  ReloadPlan p = planReload(running, next);
  EXPECT_EQ(sorted(p.changed), sorted({"keep", "gone", "change", "adhoc-ish"}));
  EXPECT_EQ(p.unschedule, Names{"gone"});
  EXPECT_EQ(sorted(p.reschedule), sorted({"keep", "change", "adhoc-ish"}));
}

TEST(ReloadPlan, RestartKeysKeepTheirRunningValues) {
  Config running = base(), next = base();
  next.daemon.socket = "/tmp/other.sock";
  next.daemon.bpffs = "/sys/fs/bpf/other";
  next.daemon.stateDir = "/tmp/state";
  next.daemon.keyFile = "/tmp/keys.toml";
  next.daemon.attach = "tc";
  next.metrics.listen = "127.0.0.1:1";
  ReloadPlan p = planReload(running, next);
  EXPECT_EQ(p.restartRequired, (Names{"daemon.socket", "daemon.bpffs", "daemon.state_dir",
                                      "daemon.key_file", "daemon.attach", "metrics.listen"}));
  EXPECT_EQ(next.daemon.socket, running.daemon.socket);
  EXPECT_EQ(next.daemon.bpffs, running.daemon.bpffs);
  EXPECT_EQ(next.daemon.stateDir, running.daemon.stateDir);
  EXPECT_EQ(next.daemon.keyFile, running.daemon.keyFile);
  EXPECT_EQ(next.daemon.attach, running.daemon.attach);
  EXPECT_EQ(next.metrics.listen, running.metrics.listen);
  EXPECT_TRUE(p.anyChange);
}

TEST(ReloadPlan, ReflectorInterfacesLogLevelAndResults) {
  {
    Config running = base(), next = base();
    next.reflector.ports = {862, 8620};
    EXPECT_TRUE(planReload(running, next).anyChange);
  }
  {
    Config running = base(), next = base();
    next.reflector.enabled = !running.reflector.enabled;
    EXPECT_TRUE(planReload(running, next).anyChange);
  }
  {
    Config running = base(), next = base();
    next.daemon.interfaces = {"eth1", "eth2"};
    ReloadPlan p = planReload(running, next);
    EXPECT_TRUE(p.anyChange);
    EXPECT_EQ(p.interfacesRemoved, Names{"eth0"});
  }
  {
    Config running = base(), next = base();
    next.daemon.logLevel = running.daemon.logLevel == "debug" ? "info" : "debug";
    ReloadPlan p = planReload(running, next);
    EXPECT_TRUE(p.logLevelChanged);
    EXPECT_TRUE(p.anyChange);
  }
  {
    Config running = base(), next = base();
    next.results.maxRuns = running.results.maxRuns + 1;
    ReloadPlan p = planReload(running, next);
    EXPECT_TRUE(p.resultsChanged);
    EXPECT_TRUE(p.anyChange);
  }
}

// 10,000 sessions, half of them scheduled, one changed: the plan names
// that one alone (stopped and rescheduled) and 9,999 unchanged, in file
// order. planReload's time is printed, not asserted (shared machines).
TEST(ReloadPlan, OneChangeAmongTenThousandTouchesOnlyIt) {
  constexpr int kSessions = 10'000;
  Config running;
  running.path = "/etc/stamp/stamp.toml";
  for (int i = 0; i < kSessions; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "s%05d", i);
    SessionConfig c = session(name, i % 2 ? "0 0 1 1 *" : "");
    c.count = 0;
    c.window = 30s;
    running.sessions.push_back(std::move(c));
  }
  Config next = running;
  next.sessions[4321].window = 45s;  // scheduled (odd)
  const auto t0 = std::chrono::steady_clock::now();
  ReloadPlan p = planReload(running, next);
  const auto took = std::chrono::steady_clock::now() - t0;
  std::printf("planReload of %d sessions, one changed: %.3f ms\n", kSessions,
              std::chrono::duration<double, std::milli>(took).count());
  EXPECT_TRUE(p.anyChange);
  EXPECT_EQ(p.changed, Names{"s04321"});
  ASSERT_EQ(p.unchanged.size(), size_t(kSessions - 1));
  EXPECT_EQ(p.unchanged.front(), "s00000");
  EXPECT_EQ(p.unchanged.back(), "s09999");
  EXPECT_EQ(std::count(p.unchanged.begin(), p.unchanged.end(), "s04321"), 0);
  EXPECT_TRUE(p.added.empty() && p.removed.empty());
  ASSERT_EQ(p.stopRuns.size(), 1u);
  EXPECT_EQ(p.stopRuns[0].first, "s04321");
  // The window changed, not the schedule: the entry keeps its schedule.
  EXPECT_TRUE(p.reschedule.empty());
  EXPECT_TRUE(p.unschedule.empty());

  // Its schedule changed too: that one entry is rescheduled.
  next.sessions[4321].schedule = "0 0 2 1 *";
  p = planReload(running, next);
  EXPECT_EQ(p.changed, Names{"s04321"});
  EXPECT_EQ(p.reschedule, Names{"s04321"});
  EXPECT_EQ(p.unchanged.size(), size_t(kSessions - 1));

  // Renamed: one removed, one added, the rest unchanged.
  next = running;
  next.sessions[10].name = "renamed";
  p = planReload(running, next);
  EXPECT_EQ(p.removed, Names{"s00010"});
  EXPECT_EQ(p.added, Names{"renamed"});
  EXPECT_TRUE(p.changed.empty());
  EXPECT_EQ(p.unchanged.size(), size_t(kSessions - 1));
}

TEST(ReloadValidate, RefusesWhatCannotApplyWithTheFileNamed) {
  Config next = base();
  next.daemon.interfaces = {"lo"};
  next.reflector.enabled = false;
  ASSERT_TRUE(validateReload(next).ok());

  Config badIf = next;
  badIf.daemon.interfaces = {"no-such-if0"};
  auto r = validateReload(badIf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("/etc/stamp/stamp.toml: [daemon] interfaces"), std::string::npos)
      << r.error().message;

  Config badSchedule = next;
  badSchedule.sessions[0].schedule = "61 * * * *";
  r = validateReload(badSchedule);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().message.find("session 'keep'"), std::string::npos) << r.error().message;

  Config badKey = next;
  badKey.sessions[0].authKey = "k9";
  r = validateReload(badKey);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
}

}  // namespace
}  // namespace stamp
