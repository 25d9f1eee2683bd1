// clockStateFrom(): the adjtimex() result turned into the S bit, the error
// and the TAI offset (docs/stamp-wire.md, Error Estimate, "From the kernel
// clock").
#include <gtest/gtest.h>
#include <sys/timex.h>

#include <climits>
#include <cstdint>
#include <initializer_list>

#include "kernel/clock.hpp"

namespace stamp {
namespace {

// What adjtimex() reports on a host that chrony keeps in sync: estimated
// error 1 ms, maximum error 16 ms, TAI - UTC = 37 s.
struct timex syncedTimex() {
  struct timex tx {};
  tx.status = STA_PLL;
  tx.esterror = 1'000;  // microseconds
  tx.maxerror = 16'000;
  tx.tai = 37;
  return tx;
}

TEST(ClockState, SynchronizedReportsEstimatedError) {
  ClockState s = clockStateFrom(syncedTimex(), TIME_OK);
  EXPECT_TRUE(s.synchronized);
  EXPECT_EQ(s.taiOffsetSec, 37);
  EXPECT_EQ(s.estErrorNs, 1'000'000u);
  EXPECT_EQ(s.maxErrorNs, 16'000'000u);
  EXPECT_TRUE(s.errorEstimate.synchronized);
  EXPECT_FALSE(s.errorEstimate.ptp);
  EXPECT_EQ(s.errorEstimate.encode(), 0x8F84);  // 1 ms in the spec's table
  auto err = s.errorEstimate.errorNs();
  ASSERT_TRUE(err.has_value());
  EXPECT_GE(*err, 1'000'000.0);
  EXPECT_LT(*err, 1'010'000.0);
}

TEST(ClockState, UnsyncFlagClearsSAndUsesMaximumError) {
  struct timex tx = syncedTimex();
  tx.status |= STA_UNSYNC;
  tx.maxerror = 16'000'000;  // the kernel's cap, 16 s
  ClockState s = clockStateFrom(tx, TIME_OK);
  EXPECT_FALSE(s.synchronized);
  EXPECT_FALSE(s.errorEstimate.synchronized);
  EXPECT_EQ(s.maxErrorNs, 16'000'000'000u);
  EXPECT_EQ(s.errorEstimate.encode(), 0x1D80);  // Scale 29, Multiplier 128: 16 s
  EXPECT_GE(*s.errorEstimate.errorNs(), 16e9);
}

TEST(ClockState, TimeErrorMeansUnsynchronised) {
  ClockState s = clockStateFrom(syncedTimex(), TIME_ERROR);
  EXPECT_FALSE(s.synchronized);
  EXPECT_FALSE(s.errorEstimate.synchronized);
  EXPECT_GE(*s.errorEstimate.errorNs(), 16'000'000.0);  // maxerror, not esterror
  EXPECT_EQ(s.errorEstimate.encode(), ErrorEstimate::fromErrorNs(16'000'000, false).encode());
}

TEST(ClockState, LeapSecondStatesAreStillSynchronised) {
  for (int ret : {TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT}) {
    ClockState s = clockStateFrom(syncedTimex(), ret);
    EXPECT_TRUE(s.synchronized) << "adjtimex returned " << ret;
    EXPECT_EQ(s.errorEstimate.encode(), 0x8F84) << "adjtimex returned " << ret;
  }
}

TEST(ClockState, TaiOffsetIsCopied) {
  for (int tai : {0, 10, 37, 38}) {
    struct timex tx = syncedTimex();
    tx.tai = tai;
    EXPECT_EQ(clockStateFrom(tx, TIME_OK).taiOffsetSec, tai);
    tx.status |= STA_UNSYNC;
    EXPECT_EQ(clockStateFrom(tx, TIME_OK).taiOffsetSec, tai);
  }
}

TEST(ClockState, NegativeErrorsCountAsZero) {
  struct timex tx = syncedTimex();
  tx.esterror = -5;
  tx.maxerror = -5;
  ClockState s = clockStateFrom(tx, TIME_OK);
  EXPECT_EQ(s.estErrorNs, 0u);
  EXPECT_EQ(s.maxErrorNs, 0u);
  EXPECT_EQ(s.errorEstimate.encode(), 0x8001);
}

// timex fields are external input (root can set maxerror with ADJ_MAXERROR
// before the kernel caps it again); an absurd value saturates, it must not
// wrap into a small error.
TEST(ClockState, HugeErrorsSaturate) {
  struct timex tx = syncedTimex();
  tx.status |= STA_UNSYNC;
  tx.maxerror = 18'446'744'073'709'552;  // microseconds; * 1000 passes 2^64 by 384
  ClockState s = clockStateFrom(tx, TIME_OK);
  EXPECT_EQ(s.maxErrorNs, UINT64_MAX);
  EXPECT_GE(*s.errorEstimate.errorNs(), 1.8e19);

  tx = syncedTimex();
  tx.esterror = LONG_MAX;
  s = clockStateFrom(tx, TIME_OK);
  EXPECT_TRUE(s.synchronized);
  EXPECT_EQ(s.estErrorNs, UINT64_MAX);
  EXPECT_GE(*s.errorEstimate.errorNs(), 1.8e19);
}

TEST(ClockState, ReadClockWorksUnprivileged) {
  auto s = readClock();
  if (!s) GTEST_SKIP() << "adjtimex() is not allowed here: " << s.error().message;
  EXPECT_NE(s->errorEstimate.multiplier, 0);
  EXPECT_EQ(s->errorEstimate.synchronized, s->synchronized);
}

}  // namespace
}  // namespace stamp
