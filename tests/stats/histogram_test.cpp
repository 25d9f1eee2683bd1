// The building blocks of the session statistics: Welford running moments,
// the constant-memory log-linear percentile histogram and its documented
// error bound, and the fixed-width exported histogram.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "sender/stats.hpp"

namespace stamp {
namespace {

constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinI64 = std::numeric_limits<int64_t>::min();

// ---- RunningStats

TEST(RunningStats, EmptyHasNoValues) {
  RunningStats r;
  EXPECT_EQ(r.count(), 0u);
  EXPECT_FALSE(r.min());
  EXPECT_FALSE(r.max());
  EXPECT_FALSE(r.mean());
  EXPECT_FALSE(r.stddev());
}

TEST(RunningStats, SmallHandComputedSet) {
  RunningStats r;
  for (int64_t v : {2, 4, 4, 4, 5, 5, 7, 9}) r.add(v);
  EXPECT_EQ(r.count(), 8u);
  EXPECT_EQ(*r.min(), 2);
  EXPECT_EQ(*r.max(), 9);
  EXPECT_DOUBLE_EQ(*r.mean(), 5.0);
  EXPECT_DOUBLE_EQ(*r.stddev(), 2.0);  // population standard deviation
}

TEST(RunningStats, SingleValueHasZeroDeviation) {
  RunningStats r;
  r.add(-42);
  EXPECT_EQ(*r.min(), -42);
  EXPECT_EQ(*r.max(), -42);
  EXPECT_DOUBLE_EQ(*r.mean(), -42.0);
  EXPECT_DOUBLE_EQ(*r.stddev(), 0.0);
}

// One-way delays under a large clock offset: a huge common value with a
// small spread, where a naive sum of squares loses every digit.
TEST(RunningStats, MatchesTwoPassOnLargeOffset) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 1000.0);
  const int64_t offset = 3'600'000'000'000;  // one hour in ns
  std::vector<int64_t> v(100'000);
  for (auto& x : v) x = offset + int64_t(std::llround(noise(rng)));

  RunningStats r;
  for (int64_t x : v) r.add(x);

  long double sum = 0;
  for (int64_t x : v) sum += (long double)(x - offset);
  const long double mean = (long double)offset + sum / v.size();
  long double sq = 0;
  for (int64_t x : v) {
    const long double d = (long double)x - mean;
    sq += d * d;
  }
  const double stddev = double(std::sqrt(sq / v.size()));

  EXPECT_NEAR(*r.mean(), double(mean), 0.5);  // sub-ns on 3.6e12 (double ulp there: 5e-4)
  EXPECT_NEAR(*r.stddev(), stddev, stddev * 1e-7);
  EXPECT_GT(stddev, 900.0);
  EXPECT_LT(stddev, 1100.0);
}

TEST(RunningStats, MatchesTwoPassOnMixedSigns) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> dist(-5'000'000'000, 5'000'000'000);
  std::vector<int64_t> v(50'000);
  for (auto& x : v) x = dist(rng);
  RunningStats r;
  for (int64_t x : v) r.add(x);
  long double sum = 0;
  for (int64_t x : v) sum += x;
  const long double mean = sum / v.size();
  long double sq = 0;
  for (int64_t x : v) sq += ((long double)x - mean) * ((long double)x - mean);
  const double stddev = double(std::sqrt(sq / v.size()));
  EXPECT_NEAR(*r.mean(), double(mean), 1.0);
  EXPECT_NEAR(*r.stddev(), stddev, stddev * 1e-9);
  EXPECT_EQ(*r.min(), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(*r.max(), *std::max_element(v.begin(), v.end()));
}

// ---- LogHistogram layout

TEST(LogHistogram, BucketsTileTheRangeWithBoundedWidth) {
  using H = LogHistogram;
  EXPECT_GE(H::kRangeNs, 1000 * int64_t{1'000'000'000});  // at least +-1000 s
  EXPECT_EQ(H::bucketLow(0), 0u);
  for (size_t b = 0; b < H::kBucketsPerSign; ++b) {
    const uint64_t lo = H::bucketLow(b), hi = H::bucketHigh(b);
    ASSERT_LE(lo, hi) << "bucket " << b;
    ASSERT_EQ(H::bucketOf(lo), b) << "bucket " << b;
    ASSERT_EQ(H::bucketOf(hi), b) << "bucket " << b;
    if (b + 1 < H::kBucketsPerSign) {
      ASSERT_EQ(H::bucketLow(b + 1), hi + 1) << "bucket " << b;
    }
    if (lo < 64) {
      ASSERT_EQ(lo, hi) << "small magnitudes are exact";
    } else {
      ASSERT_LE(double(hi - lo + 1) / double(lo), 1.0 / 64) << "bucket " << b;
    }
  }
  EXPECT_EQ(H::bucketHigh(H::kBucketsPerSign - 1), uint64_t(H::kRangeNs) - 1);
  EXPECT_EQ(H::bucketOf(uint64_t(H::kRangeNs)), H::kBucketsPerSign - 1);
  EXPECT_EQ(H::bucketOf(uint64_t{1} << 63), H::kBucketsPerSign - 1);
}

TEST(LogHistogram, EmptyHasNoPercentile) {
  LogHistogram h;
  EXPECT_FALSE(h.quantile(0.5));
}

// Exact nearest-rank percentile of a sorted sample, q in per mille.
int64_t exactPercentile(const std::vector<int64_t>& sorted, int64_t perMille) {
  const int64_t n = int64_t(sorted.size());
  const int64_t rank = std::max<int64_t>(1, (perMille * n + 999) / 1000);
  return sorted[size_t(rank - 1)];
}

void expectWithinBound(std::vector<int64_t> sample, const std::string& what) {
  LogHistogram h;
  for (int64_t v : sample) h.add(v);
  std::sort(sample.begin(), sample.end());
  for (int64_t perMille : {1, 10, 100, 250, 500, 750, 900, 990, 999, 1000}) {
    const int64_t exact = exactPercentile(sample, perMille);
    const int64_t est = *h.quantile(double(perMille) / 1000.0);
    const uint64_t err = exact > est ? uint64_t(exact - est) : uint64_t(est - exact);
    const uint64_t mag = exact < 0 ? uint64_t(-exact) : uint64_t(exact);
    if (mag < 64) {
      EXPECT_EQ(est, exact) << what << " p" << perMille / 10.0;
    } else {
      // The documented bound: |estimate - exact| <= |exact| / 128.
      EXPECT_LE(double(err), double(mag) * LogHistogram::kMaxRelativeError)
          << what << " p" << perMille / 10.0 << " exact " << exact << " estimate " << est;
    }
  }
}

TEST(LogHistogram, PercentilesWithinBoundUniform) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> d(0, 1'000'000'000);
  std::vector<int64_t> v(100'000);
  for (auto& x : v) x = d(rng);
  expectWithinBound(v, "uniform 0..1 s");
}

TEST(LogHistogram, PercentilesWithinBoundLogUniform) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> e(0.0, std::log(1e12));  // 1 ns .. 1000 s
  std::vector<int64_t> v(100'000);
  for (auto& x : v) x = int64_t(std::exp(e(rng)));
  expectWithinBound(v, "log-uniform 1 ns..1000 s");
}

TEST(LogHistogram, PercentilesWithinBoundSigned) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> d(-200'000.0, 1'000'000.0);  // offset clocks: both signs
  std::vector<int64_t> v(100'000);
  for (auto& x : v) x = int64_t(std::llround(d(rng)));
  expectWithinBound(v, "normal, mixed sign");
  for (auto& x : v) x = -(x < 0 ? -x : x) - 1;  // all negative
  expectWithinBound(v, "all negative");
}

TEST(LogHistogram, PercentilesExactForSmallValues) {
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int64_t> d(-63, 63);
  std::vector<int64_t> v(100'000);
  for (auto& x : v) x = d(rng);
  expectWithinBound(v, "small integers");
}

TEST(LogHistogram, PercentileIsClampedToObservedRange) {
  LogHistogram h;
  h.add(1'000'003);
  EXPECT_EQ(*h.quantile(0.5), 1'000'003);
  EXPECT_EQ(*h.quantile(0.0), 1'000'003);
  EXPECT_EQ(*h.quantile(1.0), 1'000'003);
  h.add(kMaxI64);  // saturates into the last bucket; max stays exact
  h.add(kMinI64);
  EXPECT_EQ(*h.quantile(1.0), kMaxI64);
  EXPECT_EQ(*h.quantile(0.0), kMinI64);
  EXPECT_NEAR(double(*h.quantile(0.5)), 1'000'003.0, 1'000'003.0 / 128);
}

// Memory follows the buckets in use, not the sample count: at most every
// bucket of both signs in the wide (8-byte) form, with vector slack.
TEST(LogHistogram, MemoryIsBoundedByTheBuckets) {
  LogHistogram h;
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> d(kMinI64, kMaxI64);
  size_t atHalf = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    h.add(i % 2 ? d(rng) : int64_t(i));
    if (i == 500'000) atHalf = h.memoryBytes();
  }
  EXPECT_EQ(h.count(), 1'000'000u);
  EXPECT_LE(h.bucketsUsed(), 2 * LogHistogram::kBucketsPerSign);
  EXPECT_LE(h.memoryBytes(),
            sizeof(LogHistogram) + 2 * 2 * LogHistogram::kBucketsPerSign * sizeof(uint64_t));
  EXPECT_EQ(h.memoryBytes(), atHalf);  // every bucket seen by then

  // A narrow distribution keeps few buckets however many samples.
  LogHistogram narrow(0);
  std::normal_distribution<double> rtt(200'000.0, 5'000.0);
  for (int i = 0; i < 1'000'000; ++i) narrow.add(int64_t(rtt(rng)));
  EXPECT_LT(narrow.memoryBytes(), size_t{2048}) << narrow.bucketsUsed() << " buckets";
}

// One count passing 2^19 - 1 promotes every entry to the wide form once;
// percentiles are unchanged by it.
TEST(LogHistogram, CountsPassTheNarrowForm) {
  LogHistogram h(0);
  for (int i = 0; i < 600'000; ++i) h.add(1'000);
  for (int i = 0; i < 300'000; ++i) h.add(-5'000'000);
  EXPECT_EQ(h.count(), 900'000u);
  EXPECT_EQ(h.bucketsUsed(), 2u);
  EXPECT_EQ(*h.quantile(0.5), 1'000);
  EXPECT_EQ(*h.quantile(0.3), -5'000'000);
  EXPECT_EQ(*h.quantile(0.34), 1'000);
}

// An exact limit above 2^19: the samples leave the buffer straight into the
// wide form when one bucket already holds more than a narrow entry can.
TEST(LogHistogram, HugeExactLimitMovesToTheWideForm) {
  LogHistogram h(600'000);
  for (int i = 0; i < 600'000; ++i) h.add(i % 3 ? 7'000 : -7);
  EXPECT_TRUE(h.exact());
  EXPECT_EQ(*h.quantile(0.5), 7'000);
  h.add(7'000);
  EXPECT_FALSE(h.exact());
  EXPECT_EQ(h.bucketsUsed(), 2u);
  EXPECT_EQ(*h.quantile(0.33), -7);
  EXPECT_NEAR(double(*h.quantile(0.5)), 7'000.0, 7'000.0 / 128);
  EXPECT_LE(h.memoryBytes(), sizeof(LogHistogram) + 2 * sizeof(uint64_t));
}

TEST(LogHistogram, ClearKeepsTheLimit) {
  LogHistogram h(4);
  for (int64_t v : {5, 1'000, 2'000, 3'000, 4'000}) h.add(v);
  EXPECT_FALSE(h.exact());
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_FALSE(h.quantile(0.5));
  EXPECT_TRUE(h.exact());
  for (int64_t v : {1'000'001, 1'000'003, 1'000'005}) h.add(v);
  EXPECT_EQ(*h.quantile(0.5), 1'000'003) << "exact again";
  LogHistogram none(0);
  none.add(1'000'001);
  EXPECT_FALSE(none.exact());
  none.clear();
  EXPECT_FALSE(none.exact());
}

// ---- FixedHistogram

TEST(FixedHistogram, OutliersGoToTheEndBins) {
  FixedHistogram h({10, 0, 100});  // bins of 10 ns
  // Bin 0: below the floor, and [0, 10).
  for (int64_t v : {int64_t{-5}, kMinI64, int64_t{0}, int64_t{9}}) h.add(v);
  h.add(10);  // bin 1
  h.add(55);  // bin 5
  // Bin 9: [90, 100), and at or above the ceiling.
  for (int64_t v : {int64_t{99}, int64_t{100}, int64_t{1'000'000'000}, kMaxI64}) h.add(v);
  const std::vector<uint64_t> want = {4, 1, 0, 0, 0, 1, 0, 0, 0, 4};
  EXPECT_EQ(h.counts(), want);
}

TEST(FixedHistogram, FractionalWidthIsExact) {
  FixedHistogram h({3, 0, 10});  // width 3.333 ns
  for (int64_t v : {0, 3, 4, 6, 7, 9}) h.add(v);
  const std::vector<uint64_t> want = {2, 2, 2};
  EXPECT_EQ(h.counts(), want);
}

TEST(FixedHistogram, NegativeFloorAndWideRange) {
  FixedHistogram h({4, kMinI64, kMaxI64});
  h.add(kMinI64);
  h.add(-1);
  h.add(0);
  h.add(kMaxI64 - 1);
  const std::vector<uint64_t> want = {1, 1, 1, 1};
  EXPECT_EQ(h.counts(), want);
}

TEST(FixedHistogram, InvalidSpecIsRepairedAndReported) {
  EXPECT_TRUE(checkHistogramSpec({50, 0, 1000}).ok());
  const auto zeroBins = checkHistogramSpec({0, 0, 1000});
  ASSERT_FALSE(zeroBins.ok());
  EXPECT_NE(zeroBins.error().message.find("bins"), std::string::npos);
  EXPECT_FALSE(checkHistogramSpec({kMaxExportBins + 1, 0, 1000}).ok());
  const auto inverted = checkHistogramSpec({10, 1000, 1000});
  ASSERT_FALSE(inverted.ok());
  EXPECT_NE(inverted.error().message.find("ceiling"), std::string::npos);

  FixedHistogram h({0, 500, 100});
  EXPECT_EQ(h.spec().bins, 1u);
  EXPECT_EQ(h.spec().floorNs, 500);
  EXPECT_EQ(h.spec().ceilingNs, 501);
  h.add(7);
  EXPECT_EQ(h.counts(), std::vector<uint64_t>{1});
  FixedHistogram big({kMaxExportBins * 10, 0, 10});
  EXPECT_EQ(big.spec().bins, kMaxExportBins);
}

}  // namespace
}  // namespace stamp

// Up to kExactSamples values the percentiles are the samples themselves:
// ten replies around 150 ms (the demo's delay line) must not collapse onto
// one 2 ms wide bucket.
TEST(LogHistogram, SmallCountsAreExact) {
  stamp::LogHistogram h;
  std::vector<int64_t> v = {150'098'000, 150'132'000, 150'135'000, 150'140'000, 150'146'000,
                            150'146'500, 150'147'000, 150'156'000, 150'163'000, 150'165'000};
  std::shuffle(v.begin(), v.end(), std::mt19937(7));
  for (int64_t x : v) h.add(x);
  EXPECT_EQ(h.quantile(0.50), 150'146'000);  // nearest rank 5 of 10
  EXPECT_EQ(h.quantile(0.90), 150'163'000);  // rank 9
  EXPECT_EQ(h.quantile(0.99), 150'165'000);  // rank 10
}

// The exact buffer grows on demand up to the limit and is freed when the
// count passes it; the buckets then hold the samples.
TEST(LogHistogram, ExactBufferIsFreedAfterTheLimit) {
  stamp::LogHistogram h;
  const size_t empty = h.memoryBytes();
  EXPECT_EQ(empty, sizeof(stamp::LogHistogram)) << "nothing allocated up front";
  const size_t n = stamp::LogHistogram::kExactSamples;
  for (size_t i = 0; i < n; ++i) h.add(int64_t(i));
  EXPECT_TRUE(h.exact());
  EXPECT_GE(h.memoryBytes(), empty + n * sizeof(int64_t));
  h.add(int64_t(n));  // one past the limit
  EXPECT_FALSE(h.exact());
  // Only the buckets remain: 4 bytes each (and vector slack), no sample
  // buffer.
  EXPECT_LE(h.memoryBytes(), empty + 2 * h.bucketsUsed() * sizeof(uint32_t));
  EXPECT_LT(h.memoryBytes(), empty + n * sizeof(int64_t) / 2);
  for (size_t i = n + 1; i < 4 * n; ++i) h.add(int64_t(i));
  EXPECT_LT(h.memoryBytes(), empty + 2 * h.bucketsUsed() * sizeof(uint32_t) + 64);
  // Past the exact range the bound applies: p50 of 0..8191 is 4095.
  auto p50 = h.quantile(0.5);
  ASSERT_TRUE(p50);
  EXPECT_NEAR(double(*p50), 4095.0, 4095.0 / 128);
}
