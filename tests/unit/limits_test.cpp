// [limits]: what a run demands of the network, and the ledger that admits
// runs against the caps.
#include <gtest/gtest.h>

#include <cerrno>

#include "sender/session.hpp"
#include "service/config.hpp"
#include "service/limits.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;

SessionSpec spec(std::chrono::nanoseconds interval, uint32_t size, const char* target) {
  SessionSpec s;
  s.interval = interval;
  s.size = size;
  s.target = *parseIp(target);
  return s;
}

TEST(RunDemand, CountsIpAndUdpHeaders) {
  RunDemand v4 = demandOf(spec(1ms, 44, "192.0.2.1"));
  EXPECT_DOUBLE_EQ(v4.packetsPerSecond, 1000);
  EXPECT_DOUBLE_EQ(v4.bitsPerSecond, 1000 * (44 + 28) * 8);
  RunDemand v6 = demandOf(spec(1ms, 44, "2001:db8::1"));
  EXPECT_DOUBLE_EQ(v6.bitsPerSecond, 1000 * (44 + 48) * 8);
}

// What the audit could do as a stamp-group user: 1 us intervals with
// 8952-octet packets.
TEST(RunLedger, RefusesAFloodBySessionRateAndBandwidth) {
  LimitsConfig l;
  RunLedger ledger;
  auto flood = ledger.admit(l, "x", demandOf(spec(1us, 8952, "192.0.2.1")), 1000);
  ASSERT_FALSE(flood.ok());
  EXPECT_EQ(flood.error().code, EDQUOT);
  EXPECT_NE(flood.error().message.find("max_session_pps"), std::string::npos)
      << flood.error().message;
  // 1,000 packets/s of jumbo frames: under the packet rate, over 100 Mbit/s.
  auto jumbo = ledger.admit(l, "x", demandOf(spec(100us, 8952, "192.0.2.1")), 1000);
  ASSERT_FALSE(jumbo.ok());
  EXPECT_NE(jumbo.error().message.find("max_session_bps"), std::string::npos)
      << jumbo.error().message;
  // What operators run is admitted: 10 packets/s of 1,500 octets.
  EXPECT_TRUE(ledger.admit(l, "x", demandOf(spec(100ms, 1472, "192.0.2.1")), 1000).ok());
}

TEST(RunLedger, CapsRunsPerUserAndInTotalButNotRootPerUser) {
  LimitsConfig l;
  l.maxSessions = 5;
  l.maxSessionsPerUser = 2;
  RunLedger ledger;
  const RunDemand d = demandOf(spec(1s, 44, "192.0.2.1"));
  ledger.add("a", d, 1000);
  ledger.add("b", d, 1000);
  auto third = ledger.admit(l, "c", d, 1000);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().message.find("max_sessions_per_user"), std::string::npos);
  EXPECT_TRUE(ledger.admit(l, "c", d, 1001).ok());  // another user
  EXPECT_TRUE(ledger.admit(l, "c", d, 0).ok());     // root: totals only
  EXPECT_TRUE(ledger.admit(l, "c", d, RunLedger::kNoUser).ok());
  ledger.add("c", d, 0);
  ledger.add("d", d, 0);
  ledger.add("e", d, RunLedger::kNoUser);
  auto sixth = ledger.admit(l, "f", d, 0);
  ASSERT_FALSE(sixth.ok());
  EXPECT_NE(sixth.error().message.find("max_sessions ="), std::string::npos);
  // A run that ends gives its slot back.
  ledger.remove("a");
  EXPECT_EQ(ledger.runningOf(1000), 1u);
  EXPECT_TRUE(ledger.admit(l, "f", d, 1000).ok());
  ledger.remove("nonexistent");
  EXPECT_EQ(ledger.running(), 4u);
}

TEST(RunLedger, CapsTotalBandwidthAndForgetsIt) {
  LimitsConfig l;
  l.maxTotalBps = 10'000'000;
  RunLedger ledger;
  const RunDemand d = demandOf(spec(1ms, 1000, "192.0.2.1"));  // 8.2 Mbit/s
  ASSERT_TRUE(ledger.admit(l, "a", d, 0).ok());
  ledger.add("a", d, 0);
  auto second = ledger.admit(l, "b", d, 0);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("max_total_bps"), std::string::npos);
  ledger.remove("a");
  EXPECT_DOUBLE_EQ(ledger.totalBitsPerSecond(), 0);
  EXPECT_TRUE(ledger.admit(l, "b", d, 0).ok());
}

TEST(RunLedger, ZeroSwitchesACapOff) {
  LimitsConfig l{};
  l.maxSessions = l.maxSessionsPerUser = 0;
  l.maxSessionPps = l.maxSessionBps = l.maxTotalBps = 0;
  RunLedger ledger;
  EXPECT_TRUE(ledger.admit(l, "x", demandOf(spec(1us, 8952, "192.0.2.1")), 1000).ok());
}

TEST(LimitsConfig, ParsesAndRangeChecks) {
  auto c = parseConfig(R"(
[limits]
max_sessions = 10
max_sessions_per_user = 3
max_session_pps = 100
max_session_bps = 1000000
max_total_bps = 5000000
adhoc_runs_kept = 7
max_control_clients = 4
control_idle_timeout = "30s"
max_metrics_clients = 2
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->limits.maxSessions, 10u);
  EXPECT_EQ(c->limits.maxSessionsPerUser, 3u);
  EXPECT_EQ(c->limits.maxSessionPps, 100u);
  EXPECT_EQ(c->limits.adhocRunsKept, 7u);
  EXPECT_EQ(c->limits.controlIdleTimeout, 30s);
  EXPECT_EQ(c->limits.maxMetricsClients, 2u);
  auto bad = parseConfig("[limits]\nmax_sessions = -1\nadhoc_runs_kept = 0\n", "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("t.toml:2:16"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("t.toml:3:19"), std::string::npos) << bad.error().message;
  // The defaults admit ten thousand probing sessions.
  LimitsConfig d;
  EXPECT_GE(d.maxSessions, 10000u);
}

}  // namespace
}  // namespace stamp
