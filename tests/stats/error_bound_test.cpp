// The documented error bound of LogHistogram on adversarial distributions:
// every percentile p1..p99 and p99.9 against the exact nearest-rank value of
// a sorted copy, with exact samples off (buckets from the first value), with
// the default limit, and across the exact-to-bucket transition. While the
// count is within the exact limit the percentiles must be exact.
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
constexpr int64_t kUs = 1'000;
constexpr int64_t kMs = 1'000'000;

uint64_t mag(int64_t v) {
  return v < 0 ? uint64_t{0} - uint64_t(v) : uint64_t(v);
}

// Percentiles in thousandths: p1..p99 and p99.9.
std::vector<int64_t> perMilles() {
  std::vector<int64_t> p;
  for (int64_t i = 1; i <= 99; ++i) p.push_back(10 * i);
  p.push_back(999);
  return p;
}

// `h` has been fed exactly `values` (in any order). exactLimit: the
// histogram's exact-sample limit.
void expectBound(const LogHistogram& h, std::vector<int64_t> values, size_t exactLimit,
                 const std::string& what) {
  ASSERT_EQ(h.count(), values.size()) << what;
  std::sort(values.begin(), values.end());
  const auto n = int64_t(values.size());
  const bool exact = values.size() <= exactLimit;
  const uint64_t lastLow = LogHistogram::bucketLow(LogHistogram::kBucketsPerSign - 1);
  int failures = 0;
  for (int64_t pm : perMilles()) {
    const int64_t rank = std::max<int64_t>(1, (pm * n + 999) / 1000);
    const int64_t x = values[size_t(rank - 1)];
    const auto est = h.quantile(double(pm) / 1000.0);
    ASSERT_TRUE(est) << what;
    const uint64_t err = *est > x ? uint64_t(*est) - uint64_t(x) : uint64_t(x) - uint64_t(*est);
    std::string where = what + " n=" + std::to_string(n) + " p" + std::to_string(pm / 10) + "." +
                        std::to_string(pm % 10) + " exact " + std::to_string(x) + " estimate " +
                        std::to_string(*est);
    bool ok;
    if (exact || mag(x) < 64) {
      ok = *est == x;
    } else if (mag(x) < uint64_t(LogHistogram::kRangeNs)) {
      ok = double(err) <= double(mag(x)) * LogHistogram::kMaxRelativeError;
    } else {
      // Beyond 2^40 ns: the outermost bucket of x's sign, within [min, max].
      ok = (*est < 0) == (x < 0) && mag(*est) >= lastLow && *est >= values.front() &&
           *est <= values.back();
    }
    EXPECT_TRUE(ok) << where;
    if (!ok && ++failures > 5) return;
  }
}

// Feeds `values` in order to histograms with exact limit 0 and the default,
// checking at every count in `checkpoints` (and at the end).
void checkBothModes(const std::vector<int64_t>& values, const std::string& what) {
  for (size_t limit : {size_t{0}, LogHistogram::kExactSamples}) {
    LogHistogram h(limit);
    std::vector<size_t> checkpoints = {1,
                                       2,
                                       100,
                                       LogHistogram::kExactSamples - 1,
                                       LogHistogram::kExactSamples,
                                       LogHistogram::kExactSamples + 1,
                                       LogHistogram::kExactSamples + 2,
                                       values.size()};
    size_t next = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      h.add(values[i]);
      while (next < checkpoints.size() && checkpoints[next] < i + 1) ++next;
      if (next < checkpoints.size() && checkpoints[next] == i + 1) {
        expectBound(h, std::vector<int64_t>(values.begin(), values.begin() + std::ptrdiff_t(i + 1)),
                    limit, what + (limit ? " (exact limit)" : " (buckets only)"));
        if (::testing::Test::HasFailure()) return;
      }
    }
    EXPECT_EQ(h.exact(), values.size() <= limit) << what;
  }
}

TEST(ErrorBound, BimodalWithPercentilesAtTheEdgeOfAMode) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> fast(20.0 * kUs, 0.3 * kUs), slow(80.0 * kMs, 0.05 * kMs);
  // 90 % fast: p90 is the slowest fast value, p91 the fastest slow one.
  for (int fastPercent : {90, 50, 99}) {
    std::vector<int64_t> v;
    for (int i = 0; i < 20'000; ++i)
      v.push_back(int64_t(i % 100 < fastPercent ? fast(rng) : slow(rng)));
    std::shuffle(v.begin(), v.end(), rng);
    checkBothModes(v, "bimodal " + std::to_string(fastPercent) + "% at 20 us");
  }
}

TEST(ErrorBound, HeavyTailPareto) {
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double alpha = 1.1, xm = 100.0 * kUs;
  std::vector<int64_t> v;
  for (int i = 0; i < 50'000; ++i) {
    const double x = xm / std::pow(1.0 - u(rng), 1.0 / alpha);
    v.push_back(int64_t(std::min(x, 9.0e18)));
  }
  EXPECT_GT(*std::max_element(v.begin(), v.end()), 1'000 * kMs) << "reaches seconds";
  checkBothModes(v, "pareto 1.1");
}

TEST(ErrorBound, NegativeOneWayValues) {
  std::mt19937_64 rng(13);
  std::lognormal_distribution<double> delay(std::log(500.0 * kUs), 0.5);
  std::vector<int64_t> v;
  // The reflector clock 3 ms behind: most forward delays negative.
  for (int i = 0; i < 20'000; ++i) v.push_back(int64_t(delay(rng)) - 3 * kMs);
  checkBothModes(v, "offset -3 ms");
  // Mixed signs around zero, some within the exact range |x| < 64.
  std::normal_distribution<double> aroundZero(0.0, 2.0 * kUs);
  std::normal_distribution<double> tiny(0.0, 40.0);
  v.clear();
  for (int i = 0; i < 20'000; ++i)
    v.push_back(int64_t(std::llround(i % 4 ? aroundZero(rng) : tiny(rng))));
  checkBothModes(v, "mixed signs around 0");
}

TEST(ErrorBound, AllValuesInOneBucket) {
  std::mt19937_64 rng(14);
  // [2^20, 2^20 + 2^14): one bucket of width 16,384 ns.
  const size_t b = LogHistogram::bucketOf(uint64_t{1} << 20);
  ASSERT_EQ(LogHistogram::bucketHigh(b) - LogHistogram::bucketLow(b), (uint64_t{1} << 14) - 1);
  std::uniform_int_distribution<int64_t> d(int64_t(LogHistogram::bucketLow(b)),
                                           int64_t(LogHistogram::bucketHigh(b)));
  std::vector<int64_t> v;
  for (int i = 0; i < 10'000; ++i) v.push_back(d(rng));
  checkBothModes(v, "one bucket");
  for (auto& x : v) x = -x;
  checkBothModes(v, "one negative bucket");
  v.assign(10'000, 123'456'789);
  checkBothModes(v, "one value");
}

TEST(ErrorBound, ValuesAtBucketBoundaries) {
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<size_t> bucket(0, LogHistogram::kBucketsPerSign - 2);
  std::vector<int64_t> v;
  for (int i = 0; i < 20'000; ++i) {
    const size_t b = bucket(rng);
    const uint64_t m = i % 2 ? LogHistogram::bucketLow(b) : LogHistogram::bucketHigh(b);
    v.push_back(i % 3 ? int64_t(m) : -int64_t(m));
  }
  checkBothModes(v, "bucket edges");
}

TEST(ErrorBound, ExtremesAndBeyondTheFineRange) {
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int> e(41, 62);
  std::normal_distribution<double> rtt(200.0 * kUs, 60.0 * kUs);
  std::vector<int64_t> v;
  for (int i = 0; i < 20'000; ++i) {
    switch (i % 5) {
      case 0:
        v.push_back(int64_t{1} << e(rng));  // beyond 2^40 ns
        break;
      case 1:
        v.push_back(-(int64_t{1} << e(rng)) + i);
        break;
      case 2:
        v.push_back(i % 2 ? kMaxI64 : kMinI64);
        break;
      default:
        v.push_back(int64_t(rtt(rng)));
    }
  }
  v[0] = kMinI64;
  v[1] = kMaxI64;
  v[2] = LogHistogram::kRangeNs - 1;
  v[3] = LogHistogram::kRangeNs;
  v[4] = -LogHistogram::kRangeNs;
  checkBothModes(v, "extremes");
}

}  // namespace
}  // namespace stamp
