// NTP and PTP wire timestamps against the values in docs/stamp-wire.md,
// Timestamp formats; both era wraps (NTP 2036, PTP 2106) and times before 1970.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>

#include "libstamp/timefmt.hpp"

namespace stamp {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// UnixNs of a UTC calendar date plus a time of day, so the tests read like
// the dates they are about.
UnixNs at(year_month_day date, nanoseconds timeOfDay = 0ns) {
  return duration_cast<nanoseconds>(sys_days{date}.time_since_epoch() + timeOfDay).count();
}
constexpr UnixNs ns(nanoseconds d) {
  return d.count();
}

const UnixNs k2024 = at(2024y / January / 1);
// NTP era 1 starts here: NTP seconds wrap to 0.
const UnixNs kNtpEra1 = at(2036y / February / 7, 6h + 28min + 16s);
// PTP seconds (TAI) wrap to 0 at 2^32 s TAI, which is 37 s earlier in UTC.
constexpr int32_t kTai = 37;
const UnixNs kPtpWrap = at(2106y / February / 7, 6h + 28min + 16s) - ns(37s);

TEST(TimeFmt, CalendarHelperAgreesWithSpec) {
  EXPECT_EQ(k2024, 1'704'067'200 * kNsPerSec);
  EXPECT_EQ(kNtpEra1, ((int64_t{1} << 32) - int64_t(kNtpUnixOffsetSec)) * kNsPerSec);
  EXPECT_EQ(kNtpEra1, 2'085'978'496 * kNsPerSec);
}

TEST(TimeFmt, WireTsRawIsSecondsThenFraction) {
  WireTs ts{0x01020304, 0x05060708};
  EXPECT_EQ(ts.raw(), 0x0102030405060708ULL);
  EXPECT_EQ(WireTs::fromRaw(0x0102030405060708ULL), ts);
}

// ---- NTP ----

TEST(Ntp, KnownValuesFromSpec) {
  EXPECT_EQ(ntpFromUnixNs(k2024), (WireTs{0xE93C7F00, 0}));
  EXPECT_EQ(ntpFromUnixNs(k2024 + ns(500ms)), (WireTs{0xE93C7F00, 0x80000000}));
  EXPECT_EQ(ntpFromUnixNs(0), (WireTs{0x83AA7E80, 0}));  // the Unix epoch
  EXPECT_EQ(ntpFromUnixNs(at(1900y / January / 1)), (WireTs{0, 0}));
}

TEST(Ntp, FractionIsTruncated) {
  // ns * 2^32 / 10^9, rounded down, as the BPF programs compute it.
  struct Row {
    UnixNs ns;
    uint32_t frac;
  };
  for (const Row& r :
       {Row{0, 0}, Row{1, 4} /* 4.29 */, Row{2, 8} /* 8.59 */, Row{3, 12} /* 12.88 */,
        Row{250'000'000, 0x40000000}, Row{500'000'000, 0x80000000},
        Row{999'999'999, 0xFFFFFFFB} /* 4294967291.7 */}) {
    EXPECT_EQ(ntpFromUnixNs(k2024 + r.ns).frac, r.frac) << "ns=" << r.ns;
    EXPECT_EQ(ntpFromUnixNs(k2024 + r.ns).sec, 0xE93C7F00u) << "ns=" << r.ns;
  }
}

TEST(Ntp, DecodeRoundsFractionToNearestNanosecond) {
  const uint32_t sec = 0xE93C7F00;
  EXPECT_EQ(unixNsFromNtp({sec, 1}, k2024), k2024);      // 0.23 ns
  EXPECT_EQ(unixNsFromNtp({sec, 2}, k2024), k2024);      // 0.47 ns
  EXPECT_EQ(unixNsFromNtp({sec, 3}, k2024), k2024 + 1);  // 0.70 ns
  EXPECT_EQ(unixNsFromNtp({sec, 0x80000000}, k2024), k2024 + ns(500ms));
  // 0.99999999977 s rounds up into the next second.
  EXPECT_EQ(unixNsFromNtp({sec, 0xFFFFFFFF}, k2024), k2024 + ns(1s));
}

// Truncating on encode and rounding on decode loses nothing: one fraction
// unit is 0.23 ns, less than half a nanosecond.
TEST(Ntp, EveryNanosecondRoundTrips) {
  auto check = [](UnixNs sub) {
    UnixNs t = k2024 + sub;
    UnixNs back = unixNsFromNtp(ntpFromUnixNs(t), t);
    if (back != t) ADD_FAILURE() << "ns " << sub << " came back as " << back - k2024;
    return back == t;
  };
  for (UnixNs sub = 0; sub < 20'000; ++sub)
    if (!check(sub)) return;
  for (UnixNs sub = kNsPerSec - 20'000; sub < kNsPerSec; ++sub)
    if (!check(sub)) return;
  for (UnixNs sub = 0; sub < kNsPerSec; sub += 9'973)  // a prime stride: ~100k samples
    if (!check(sub)) return;
}

TEST(Ntp, EraBoundary2036) {
  EXPECT_EQ(ntpFromUnixNs(kNtpEra1), (WireTs{0, 0}));
  EXPECT_EQ(ntpFromUnixNs(kNtpEra1 - 1), (WireTs{0xFFFFFFFF, 0xFFFFFFFB}));
  EXPECT_EQ(ntpFromUnixNs(kNtpEra1 + ns(16s)), (WireTs{16, 0}));

  // Seconds 0 of era 1, with the local clock on either side of the wrap.
  for (UnixNs refOffset : {-ns(1h), UnixNs{-1}, UnixNs{0}, UnixNs{1}, ns(1h), -ns(24h * 365 * 30),
                           ns(24h * 365 * 30)}) {
    UnixNs ref = kNtpEra1 + refOffset;
    EXPECT_EQ(unixNsFromNtp({0, 0}, ref), kNtpEra1) << "reference offset " << refOffset;
    EXPECT_EQ(unixNsFromNtp({16, 0x80000000}, ref), kNtpEra1 + ns(16s) + ns(500ms));
    // The last second of era 0.
    EXPECT_EQ(unixNsFromNtp({0xFFFFFFFF, 0}, ref), kNtpEra1 - ns(1s));
  }
  // The same wire value near 1900 is era 0.
  EXPECT_EQ(unixNsFromNtp({0, 0}, at(1900y / January / 2)), at(1900y / January / 1));
}

TEST(Ntp, DecodedValueLiesWithin68YearsOfReference) {
  const int64_t kHalfEraNs = (int64_t{1} << 31) * kNsPerSec;
  for (UnixNs ref = at(1971y / January / 1); ref < at(2200y / January / 1); ref += ns(24h * 997)) {
    for (uint32_t sec : {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xE93C7F00u, 0xFFFFFFFFu}) {
      UnixNs t = unixNsFromNtp({sec, 0}, ref);
      ASSERT_LE(t - ref, kHalfEraNs) << "sec " << sec << " ref " << ref;
      ASSERT_GE(t - ref, -kHalfEraNs) << "sec " << sec << " ref " << ref;
      ASSERT_EQ(ntpFromUnixNs(t).sec, sec);
    }
  }
}

TEST(Ntp, BeforeUnixEpochAndNegativeUnixNs) {
  EXPECT_EQ(ntpFromUnixNs(-1), (WireTs{0x83AA7E7F, 0xFFFFFFFB}));
  EXPECT_EQ(ntpFromUnixNs(-ns(500ms)), (WireTs{0x83AA7E7F, 0x80000000}));
  EXPECT_EQ(ntpFromUnixNs(-ns(1s)), (WireTs{0x83AA7E7F, 0}));
  const UnixNs moonLanding = at(1969y / July / 20, 20h + 17min + 40s + 123'456'789ns);
  for (UnixNs t : {UnixNs{-1}, -ns(500ms), -ns(1s), -ns(1s) - 1, moonLanding,
                   at(1950y / June / 15, 12h + 999'999'999ns)}) {
    EXPECT_EQ(unixNsFromNtp(ntpFromUnixNs(t), 0), t) << "t=" << t;
    EXPECT_EQ(unixNsFromNtp(ntpFromUnixNs(t), t), t) << "t=" << t;
  }
  // 1900 is 70 years before 1970, more than half an era: decoded with a
  // 1970 reference it is the same wire value in era 1 (2036), as it should.
  const UnixNs early = at(1900y / January / 1, 1ns);
  EXPECT_EQ(unixNsFromNtp(ntpFromUnixNs(early), early), early);
  EXPECT_EQ(unixNsFromNtp(ntpFromUnixNs(early), 0), kNtpEra1 + 1);
}

// ---- PTP ----

TEST(Ptp, KnownValuesFromSpec) {
  EXPECT_EQ(ptpFromUnixNs(k2024, kTai), (WireTs{0x659200A5, 0}));
  EXPECT_EQ(ptpFromUnixNs(k2024, 0), (WireTs{0x65920080, 0}));
  EXPECT_EQ(ptpFromUnixNs(k2024 + 123'456'789, kTai), (WireTs{0x659200A5, 123'456'789}));
  EXPECT_EQ(unixNsFromPtp({0x659200A5, 123'456'789}, kTai, k2024), k2024 + 123'456'789);
}

TEST(Ptp, RoundTripsExactly) {
  for (UnixNs sub = 0; sub < kNsPerSec; sub += 7'919) {
    UnixNs t = k2024 + sub;
    ASSERT_EQ(unixNsFromPtp(ptpFromUnixNs(t, kTai), kTai, t), t);
    ASSERT_EQ(unixNsFromPtp(ptpFromUnixNs(t, 0), 0, k2024), t);
  }
}

TEST(Ptp, EraBoundary2106) {
  EXPECT_EQ(ptpFromUnixNs(kPtpWrap, kTai), (WireTs{0, 0}));
  EXPECT_EQ(ptpFromUnixNs(kPtpWrap - 1, kTai), (WireTs{0xFFFFFFFF, 999'999'999}));
  for (UnixNs refOffset :
       {-ns(1h), UnixNs{-1}, UnixNs{0}, UnixNs{1}, ns(1h), -ns(24h * 365 * 50)}) {
    UnixNs ref = kPtpWrap + refOffset;
    EXPECT_EQ(unixNsFromPtp({0, 5}, kTai, ref), kPtpWrap + 5) << "offset " << refOffset;
    EXPECT_EQ(unixNsFromPtp({0xFFFFFFFF, 0}, kTai, ref), kPtpWrap - ns(1s));
    EXPECT_EQ(unixNsFromPtp({0xFFFFFFFF, 999'999'999}, kTai, ref), kPtpWrap - 1);
  }
  // A 2024 wire value decoded in 2024 stays in era 0.
  EXPECT_EQ(unixNsFromPtp({0x659200A5, 0}, kTai, k2024 + ns(10s)), k2024);
}

TEST(Ptp, NegativeUnixNs) {
  EXPECT_EQ(ptpFromUnixNs(-1, 0), (WireTs{0xFFFFFFFF, 999'999'999}));
  EXPECT_EQ(ptpFromUnixNs(-1, kTai), (WireTs{36, 999'999'999}));
  for (int32_t tai : {0, kTai}) {
    for (UnixNs t : {UnixNs{-1}, -ns(1s), -ns(37s) - 1, at(1969y / July / 20, 20h + 17min)}) {
      EXPECT_EQ(unixNsFromPtp(ptpFromUnixNs(t, tai), tai, 0), t) << "t=" << t << " tai=" << tai;
    }
  }
}

TEST(Wire, ZBitChoosesTheFormat) {
  const UnixNs t = k2024 + ns(250ms);
  WireTs asNtp = ntpFromUnixNs(t);
  WireTs asPtp = ptpFromUnixNs(t, kTai);
  EXPECT_EQ(unixNsFromWire(asNtp, /*ptp=*/false, kTai, k2024), t);
  EXPECT_EQ(unixNsFromWire(asPtp, /*ptp=*/true, kTai, k2024), t);
  // Read with the wrong format, the same bits mean another time.
  EXPECT_EQ(unixNsFromWire(asNtp, true, kTai, k2024), unixNsFromPtp(asNtp, kTai, k2024));
  EXPECT_NE(unixNsFromWire(asNtp, true, kTai, k2024), t);
  EXPECT_EQ(unixNsFromWire(asPtp, false, kTai, k2024), unixNsFromNtp(asPtp, k2024));
  EXPECT_NE(unixNsFromWire(asPtp, false, kTai, k2024), t);
}

TEST(Wire, RealtimeNowIsTheSystemClock) {
  UnixNs before = duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
  UnixNs now = realtimeNow();
  UnixNs after = duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

}  // namespace
}  // namespace stamp
