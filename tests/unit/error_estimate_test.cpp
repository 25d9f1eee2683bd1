// The Error Estimate (docs/stamp-wire.md, Error Estimate): bit layout, the worked
// table, and the promise that an encoded error never understates the input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "libstamp/error_estimate.hpp"

namespace stamp {
namespace {

using u128 = unsigned __int128;

TEST(ErrorEstimate, BitLayout) {
  struct Row {
    ErrorEstimate ee;
    uint16_t wire;
  };
  for (const Row& r : {Row{{true, false, 0, 0}, 0x8000}, Row{{false, true, 0, 0}, 0x4000},
                       Row{{false, false, 1, 0}, 0x0100}, Row{{false, false, 63, 0}, 0x3F00},
                       Row{{false, false, 0, 255}, 0x00FF}, Row{{true, true, 63, 255}, 0xFFFF},
                       Row{{true, false, 15, 132}, 0x8F84}}) {
    EXPECT_EQ(r.ee.encode(), r.wire);
    ErrorEstimate d = ErrorEstimate::decode(r.wire);
    EXPECT_EQ(d.synchronized, r.ee.synchronized) << std::hex << r.wire;
    EXPECT_EQ(d.ptp, r.ee.ptp) << std::hex << r.wire;
    EXPECT_EQ(d.scale, r.ee.scale) << std::hex << r.wire;
    EXPECT_EQ(d.multiplier, r.ee.multiplier) << std::hex << r.wire;
  }
}

TEST(ErrorEstimate, EveryWireValueRoundTrips) {
  for (uint32_t v = 0; v <= 0xFFFF; ++v) ASSERT_EQ(ErrorEstimate::decode(uint16_t(v)).encode(), v);
}

// The worked table of docs/stamp-wire.md, Error Estimate.
TEST(ErrorEstimate, SpecTable) {
  struct Row {
    uint64_t errorNs;
    uint16_t wire;
    uint8_t scale;
    uint8_t multiplier;
    double decodesToNs;  // as the table prints it
  };
  for (const Row& r :
       {Row{0, 0x8001, 0, 1, 0.233}, Row{1, 0x8005, 0, 5, 1.16}, Row{1'000, 0x8587, 5, 135, 1'006},
        Row{1'000'000, 0x8F84, 15, 132, 1'007'000}, Row{10'000'000, 0x92A4, 18, 164, 10'010'000},
        Row{1'000'000'000, 0x9980, 25, 128, 1'000'000'000}}) {
    ErrorEstimate ee = ErrorEstimate::fromErrorNs(r.errorNs, /*synchronized=*/true);
    EXPECT_EQ(ee.encode(), r.wire) << "errorNs=" << r.errorNs;
    EXPECT_EQ(ee.scale, r.scale) << "errorNs=" << r.errorNs;
    EXPECT_EQ(ee.multiplier, r.multiplier) << "errorNs=" << r.errorNs;
    auto back = ErrorEstimate::decode(r.wire).errorNs();
    ASSERT_TRUE(back.has_value());
    EXPECT_NEAR(*back, r.decodesToNs, r.decodesToNs * 0.005) << "errorNs=" << r.errorNs;
    EXPECT_GE(*back, double(r.errorNs));
  }
  // One unit is exactly 10^9 / 2^32 ns.
  EXPECT_DOUBLE_EQ(*ErrorEstimate::decode(0x8001).errorNs(), 0.23283064365386962890625);
}

TEST(ErrorEstimate, SAndZFlagsAreCarried) {
  EXPECT_EQ(ErrorEstimate::fromErrorNs(1'000'000, false).encode(), 0x0F84);
  EXPECT_EQ(ErrorEstimate::fromErrorNs(1'000'000, true, /*ptp=*/true).encode(), 0xCF84);
  EXPECT_EQ(ErrorEstimate::fromErrorNs(1'000'000, false, /*ptp=*/true).encode(), 0x4F84);
}

TEST(ErrorEstimate, MultiplierZeroHasNoError) {
  for (uint16_t v : {0x0000, 0x8000, 0x4000, 0x3F00, 0xFF00})
    EXPECT_FALSE(ErrorEstimate::decode(v).errorNs().has_value()) << std::hex << v;
}

TEST(ErrorEstimate, UnknownIsTheLargestError) {
  ErrorEstimate u = ErrorEstimate::decode(kErrorEstimateUnknown);
  EXPECT_FALSE(u.synchronized);
  EXPECT_FALSE(u.ptp);
  EXPECT_EQ(u.scale, 63);
  EXPECT_EQ(u.multiplier, 255);
  EXPECT_DOUBLE_EQ(*u.errorNs(), 255 * std::ldexp(1.0, 31) * 1e9);  // 5.48e11 s
  // No uint64 nanosecond count reaches it, so fromErrorNs never has to
  // clamp: even the largest input gets an exact, tighter encoding.
  ErrorEstimate big = ErrorEstimate::fromErrorNs(std::numeric_limits<uint64_t>::max(), false);
  EXPECT_LT(big.scale, 63);
  EXPECT_NE(big.multiplier, 0);
  EXPECT_GE(*big.errorNs(), double(std::numeric_limits<uint64_t>::max()));
  EXPECT_LT(*big.errorNs(), *u.errorNs());
}

// Checks one input exactly, in integers: the encoding covers the error, one
// Multiplier step less would not, and no smaller Scale would fit.
void checkEncoding(uint64_t errorNs) {
  ErrorEstimate ee = ErrorEstimate::fromErrorNs(errorNs, true);
  ASSERT_NE(ee.multiplier, 0) << "errorNs=" << errorNs;
  ASSERT_LE(ee.scale, 63) << "errorNs=" << errorNs;
  const u128 wanted = u128(errorNs) << 32;  // error * 2^32 * 10^9, in ns units
  const u128 given = (u128(ee.multiplier) << ee.scale) * 1'000'000'000u;
  ASSERT_GE(given, wanted) << "understated: errorNs=" << errorNs << " scale=" << int(ee.scale)
                           << " mult=" << int(ee.multiplier);
  if (errorNs > 0) {
    const u128 oneLess = (u128(ee.multiplier - 1) << ee.scale) * 1'000'000'000u;
    ASSERT_LT(oneLess, wanted) << "not tight: errorNs=" << errorNs;
  }
  if (ee.scale > 0) {
    const u128 units = (wanted + 999'999'999) / 1'000'000'000;
    const u128 step = u128(1) << (ee.scale - 1);
    ASSERT_GT((units + step - 1) / step, 255u) << "a smaller scale fits: errorNs=" << errorNs;
  }
  auto back = ee.errorNs();
  ASSERT_TRUE(back.has_value());
  ASSERT_GE(*back, double(errorNs)) << "errorNs=" << errorNs;
}

TEST(ErrorEstimate, NeverUnderstates) {
  std::vector<uint64_t> inputs;
  for (uint64_t v = 0; v <= 100'000; ++v) inputs.push_back(v);
  for (int bit = 0; bit < 64; ++bit) {
    uint64_t p = uint64_t{1} << bit;
    inputs.insert(inputs.end(), {p - 1, p, p + 1});
  }
  for (uint64_t p10 = 1, i = 0; i < 20; ++i, p10 *= 10)
    inputs.insert(inputs.end(), {p10 - 1, p10, p10 + 1});
  inputs.push_back(std::numeric_limits<uint64_t>::max());
  std::mt19937_64 rng(862);  // fixed seed: failures reproduce
  for (int i = 0; i < 200'000; ++i) inputs.push_back(rng() >> (rng() % 64));  // log-uniform-ish
  for (uint64_t v : inputs) {
    checkEncoding(v);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace stamp
