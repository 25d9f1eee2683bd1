#include "sender/stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace stamp {

namespace {

__extension__ using Wide = unsigned __int128;  // GCC and Clang; silences -Wpedantic

// |v| without overflow for INT64_MIN.
uint64_t magnitude(int64_t v) {
  return v < 0 ? uint64_t{0} - uint64_t(v) : uint64_t(v);
}

// Nearest rank, 1-based. The factor below 1 keeps q * n that should be an
// integer (0.9 * 10 = 9.000000000000002) from rounding up to the next rank.
uint64_t nearestRank(double q, uint64_t n) {
  q = std::clamp(q, 0.0, 1.0);
  const double r = std::ceil(q * double(n) * (1.0 - 1e-12));
  return std::clamp<uint64_t>(uint64_t(r), 1, n);
}

// JSON carries whole nanoseconds; a mean of int64 values stays in range, but
// rounding at the very edge must not overflow.
int64_t roundNs(double v) {
  constexpr double kLimit = 9.2e18;
  return int64_t(std::llround(std::clamp(v, -kLimit, kLimit)));
}

// Wrapping int64 subtraction: timestamps are untrusted, and a difference
// that overflows (values ~292 years apart) must not be undefined behaviour.
int64_t diff(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) - uint64_t(b));
}

template <typename T>
nlohmann::json orNull(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json roundedOrNull(const std::optional<double>& v) {
  return v ? nlohmann::json(roundNs(*v)) : nlohmann::json(nullptr);
}

nlohmann::json delayJson(const DelaySummary& d) {
  return {{"count", d.count},
          {"min", orNull(d.min)},
          {"avg", roundedOrNull(d.avg)},
          {"max", orNull(d.max)},
          {"stddev", roundedOrNull(d.stddev)},
          {"p50", orNull(d.p50)},
          {"p90", orNull(d.p90)},
          {"p99", orNull(d.p99)},
          {"histogram",
           {{"bins", d.histogramSpec.bins},
            {"floor_ns", d.histogramSpec.floorNs},
            {"ceiling_ns", d.histogramSpec.ceilingNs},
            {"counts", d.histogram}}}};
}

nlohmann::json ipdvJson(const IpdvSummary& d) {
  return {{"count", d.count},
          {"min", orNull(d.min)},
          {"max", orNull(d.max)},
          {"avg_abs", roundedOrNull(d.avgAbs)},
          {"p50_abs", orNull(d.p50Abs)},
          {"p99_abs", orNull(d.p99Abs)}};
}

}  // namespace

// ---- RunningStats

void RunningStats::add(int64_t v) {
  ++n_;
  if (n_ == 1) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  const double x = double(v);
  const double delta = x - mean_;
  mean_ += delta / double(n_);
  m2_ += delta * (x - mean_);
}

std::optional<int64_t> RunningStats::min() const {
  return n_ ? std::optional<int64_t>(min_) : std::nullopt;
}
std::optional<int64_t> RunningStats::max() const {
  return n_ ? std::optional<int64_t>(max_) : std::nullopt;
}
std::optional<double> RunningStats::mean() const {
  return n_ ? std::optional<double>(mean_) : std::nullopt;
}
std::optional<double> RunningStats::stddev() const {
  if (!n_) return std::nullopt;
  return std::sqrt(std::max(0.0, m2_) / double(n_));
}

// ---- LogHistogram

namespace {

// Grows `v` by a quarter (not the library's doubling) before an insert
// that would reallocate: slack stays under 25 % + 4 entries, and the growth
// is still geometric (amortised O(1) allocations per insert).
template <typename T>
void makeRoom(std::vector<T>& v) {
  if (v.size() == v.capacity()) v.reserve(v.size() + v.size() / 4 + 4);
}

// std::lower_bound without data-dependent branches (the comparison becomes a
// conditional move): bucket lookups miss the branch predictor on nearly
// every step otherwise, since consecutive delays fall in unrelated buckets.
template <typename T>
typename std::vector<T>::iterator lowerBound(std::vector<T>& v, T key) {
  size_t n = v.size();
  if (n == 0) return v.end();
  const T* base = v.data();
  while (n > 1) {
    const size_t half = n / 2;
    base += size_t(base[half - 1] < key) * half;  // arithmetic: no branch
    n -= half;
  }
  return v.begin() + (base - v.data()) + (*base < key);
}

// Bucket keys order values: the negative buckets from the largest magnitude
// down, then the positive ones up. Keys are below 2 * kBucketsPerSign (4480),
// 13 bits.
constexpr uint32_t kBuckets = uint32_t(LogHistogram::kBucketsPerSign);
constexpr int kNarrowCountBits = 19;
constexpr uint32_t kNarrowCountMax = (uint32_t{1} << kNarrowCountBits) - 1;
constexpr int kWideCountBits = 48;
constexpr uint64_t kWideCountMax = (uint64_t{1} << kWideCountBits) - 1;
static_assert(2 * LogHistogram::kBucketsPerSign <= (size_t{1} << (32 - kNarrowCountBits)));

uint32_t keyOf(int64_t v) {
  const auto b = uint32_t(LogHistogram::bucketOf(magnitude(v)));
  return v < 0 ? kBuckets - 1 - b : kBuckets + b;
}

// The middle of a key's bucket, signed.
int64_t middleOf(uint32_t key) {
  const bool negative = key < kBuckets;
  const size_t b = negative ? size_t(kBuckets - 1 - key) : size_t(key - kBuckets);
  const uint64_t low = LogHistogram::bucketLow(b);
  const auto m = int64_t(low + (LogHistogram::bucketHigh(b) - low) / 2);
  return negative ? -m : m;
}

}  // namespace

LogHistogram::LogHistogram(size_t exactSamples)
    : exactLimit_(uint32_t(std::min<size_t>(exactSamples, UINT32_MAX))),
      mode_(exactLimit_ ? Mode::kExact : Mode::kNarrow) {}

size_t LogHistogram::bucketOf(uint64_t m) {
  constexpr uint64_t kExact = uint64_t{1} << kMantissaBits;
  if (m < kExact) return size_t(m);
  if (m >= uint64_t(kRangeNs)) return kBucketsPerSign - 1;
  const int shift = int(std::bit_width(m)) - 1 - kMantissaBits;
  // (m >> shift) is the top kMantissaBits + 1 bits, in [64, 128).
  return (size_t(shift) << kMantissaBits) + size_t(m >> shift);
}

uint64_t LogHistogram::bucketLow(size_t b) {
  constexpr size_t kLinear = size_t{2} << kMantissaBits;  // buckets of width 1
  if (b < kLinear) return b;
  const size_t shift = (b >> kMantissaBits) - 1;
  const uint64_t mantissa = b - (shift << kMantissaBits);
  return mantissa << shift;
}

uint64_t LogHistogram::bucketHigh(size_t b) {
  if (b + 1 >= kBucketsPerSign) return uint64_t(kRangeNs) - 1;
  return bucketLow(b + 1) - 1;
}

// The exact samples become buckets, and their buffer is freed.
void LogHistogram::toBuckets() {
  std::vector<uint32_t> keys(words_.size());
  for (size_t i = 0; i < words_.size(); ++i) keys[i] = keyOf(int64_t(words_[i]));
  std::vector<uint64_t>().swap(words_);
  std::sort(keys.begin(), keys.end());
  // Runs of equal keys, as (key, length) in the wide form.
  std::vector<uint64_t> runs;
  uint64_t longest = 0;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    longest = std::max<uint64_t>(longest, j - i);
    runs.push_back((uint64_t(keys[i]) << kWideCountBits) | uint64_t(j - i));
    i = j;
  }
  std::vector<uint32_t>().swap(keys);
  if (longest > kNarrowCountMax) {  // only with an exact limit above 2^19
    runs.shrink_to_fit();
    words_ = std::move(runs);
    mode_ = Mode::kWide;
    return;
  }
  narrow_.clear();
  narrow_.reserve(runs.size());
  for (uint64_t r : runs)
    narrow_.push_back(uint32_t(r >> kWideCountBits) << kNarrowCountBits |
                      uint32_t(r & kWideCountMax));
  mode_ = Mode::kNarrow;
}

void LogHistogram::promote() {
  std::vector<uint64_t> wide;
  wide.reserve(narrow_.size() + narrow_.size() / 2 + 1);
  for (uint32_t e : narrow_)
    wide.push_back((uint64_t(e >> kNarrowCountBits) << kWideCountBits) | (e & kNarrowCountMax));
  std::vector<uint32_t>().swap(narrow_);
  words_ = std::move(wide);
  mode_ = Mode::kWide;
}

void LogHistogram::add(int64_t v) {
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  ++count_;
  if (mode_ == Mode::kExact) {
    if (count_ <= exactLimit_) {
      words_.push_back(uint64_t(v));
      return;
    }
    toBuckets();
  }
  const uint32_t key = keyOf(v);
  if (mode_ == Mode::kNarrow) {
    const uint32_t probe = key << kNarrowCountBits;
    auto it = lowerBound(narrow_, probe);
    if (it == narrow_.end() || (*it >> kNarrowCountBits) != key) {
      const auto at = it - narrow_.begin();
      makeRoom(narrow_);
      narrow_.insert(narrow_.begin() + at, probe | 1);
      return;
    }
    if ((*it & kNarrowCountMax) < kNarrowCountMax) {
      ++*it;
      return;
    }
    promote();
  }
  const uint64_t probe = uint64_t(key) << kWideCountBits;
  auto it = lowerBound(words_, probe);
  if (it == words_.end() || (*it >> kWideCountBits) != key) {
    const auto at = it - words_.begin();
    makeRoom(words_);
    words_.insert(words_.begin() + at, probe | 1);
  } else if ((*it & kWideCountMax) < kWideCountMax) {
    ++*it;  // 2^48 samples saturate: centuries at any real packet rate
  }
}

std::optional<int64_t> LogHistogram::quantile(double q) const {
  if (count_ == 0) return std::nullopt;
  const uint64_t rank = nearestRank(q, count_);
  // The extreme ranks are the observed extremes, exact even when saturated.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  if (mode_ == Mode::kExact) {
    std::vector<int64_t> sorted(words_.size());
    for (size_t i = 0; i < words_.size(); ++i) sorted[i] = int64_t(words_[i]);
    auto nth = sorted.begin() + std::ptrdiff_t(rank - 1);
    std::nth_element(sorted.begin(), nth, sorted.end());
    return *nth;
  }
  uint64_t seen = 0;
  std::optional<int64_t> found;
  if (mode_ == Mode::kNarrow) {
    for (uint32_t e : narrow_) {
      seen += e & kNarrowCountMax;
      if (seen >= rank) {
        found = middleOf(e >> kNarrowCountBits);
        break;
      }
    }
  } else {
    for (uint64_t e : words_) {
      seen += e & kWideCountMax;
      if (seen >= rank) {
        found = middleOf(uint32_t(e >> kWideCountBits));
        break;
      }
    }
  }
  // Unreachable while the counts sum to count_; max_ is the honest answer.
  return std::clamp(found.value_or(max_), min_, max_);
}

void LogHistogram::clear() {
  words_.clear();
  narrow_.clear();
  count_ = 0;
  min_ = max_ = 0;
  mode_ = exactLimit_ ? Mode::kExact : Mode::kNarrow;
}

size_t LogHistogram::bucketsUsed() const {
  switch (mode_) {
    case Mode::kExact:
      return 0;
    case Mode::kNarrow:
      return narrow_.size();
    case Mode::kWide:
      return words_.size();
  }
  return 0;
}

size_t LogHistogram::memoryBytes() const {
  return sizeof(*this) + words_.capacity() * sizeof(uint64_t) +
         narrow_.capacity() * sizeof(uint32_t);
}

// ---- FixedHistogram

Result<void> checkHistogramSpec(const HistogramSpec& spec) {
  if (spec.bins < 1 || spec.bins > kMaxExportBins)
    return makeError(EINVAL, "histogram bins must be between 1 and " +
                                 std::to_string(kMaxExportBins) + ", got " +
                                 std::to_string(spec.bins));
  if (spec.floorNs >= spec.ceilingNs)
    return makeError(EINVAL, "histogram ceiling (" + std::to_string(spec.ceilingNs) +
                                 " ns) must be above its floor (" + std::to_string(spec.floorNs) +
                                 " ns)");
  return {};
}

namespace {
constexpr int kBinCountBits = 50;  // bins below 2^14 (kMaxExportBins 10,000)
constexpr uint64_t kBinCountMax = (uint64_t{1} << kBinCountBits) - 1;
static_assert(kMaxExportBins < (uint32_t{1} << (64 - kBinCountBits)));
}  // namespace

FixedHistogram::FixedHistogram(HistogramSpec spec) : spec_(spec) {
  spec_.bins = std::clamp<uint32_t>(spec_.bins, 1, kMaxExportBins);
  if (spec_.ceilingNs <= spec_.floorNs) {
    if (spec_.floorNs == std::numeric_limits<int64_t>::max()) --spec_.floorNs;
    spec_.ceilingNs = spec_.floorNs + 1;
  }
}

void FixedHistogram::add(int64_t v) {
  uint64_t bin = 0;
  if (v >= spec_.ceilingNs) {
    bin = spec_.bins - 1;
  } else if (v > spec_.floorNs) {
    // Exact proportional mapping. Both differences are positive and below
    // 2^64; the product needs 128 bits.
    const uint64_t offset = uint64_t(v) - uint64_t(spec_.floorNs);
    const uint64_t span = uint64_t(spec_.ceilingNs) - uint64_t(spec_.floorNs);
    bin = uint64_t(Wide(offset) * spec_.bins / span);
  }
  const uint64_t probe = bin << kBinCountBits;
  auto it = lowerBound(bins_, probe);
  if (it == bins_.end() || (*it >> kBinCountBits) != bin) {
    const auto at = it - bins_.begin();
    makeRoom(bins_);
    bins_.insert(bins_.begin() + at, probe | 1);
  } else if ((*it & kBinCountMax) < kBinCountMax)
    ++*it;
}

std::vector<uint64_t> FixedHistogram::counts() const {
  std::vector<uint64_t> dense(spec_.bins, 0);
  for (uint64_t e : bins_) dense[size_t(e >> kBinCountBits)] = e & kBinCountMax;
  return dense;
}

size_t FixedHistogram::memoryBytes() const {
  return sizeof(*this) + bins_.capacity() * sizeof(uint64_t);
}

// ---- StatsLimits

StatsLimits StatsLimits::forSchedule(std::chrono::nanoseconds interval,
                                     std::chrono::nanoseconds timeout) {
  StatsLimits l;
  const int64_t step = interval.count();
  const int64_t wait = std::max<int64_t>(0, timeout.count());
  if (step <= 0) {
    l.seqWindow = SessionStats::kSeqWindow;
    return l;
  }
  // Sent within one timeout, counting the one sent now: wait / step + 1,
  // capped before the margin so nothing overflows.
  const int64_t inFlight = std::min<int64_t>(wait / step, SessionStats::kSeqWindow) + 1;
  l.seqWindow = std::clamp<int64_t>(int64_t(std::bit_ceil(uint64_t(inFlight) * 4)),
                                    SessionStats::kMinSeqWindow, SessionStats::kSeqWindow);
  return l;
}

namespace {

StatsLimits normalised(StatsLimits l) {
  const int64_t w = std::clamp(l.seqWindow, SessionStats::kMinSeqWindow, SessionStats::kSeqWindow);
  l.seqWindow = int64_t(std::bit_ceil(uint64_t(w)));
  l.exactSamples = std::min<size_t>(l.exactSamples, UINT32_MAX);
  return l;
}

}  // namespace

// ---- SessionStats

bool SessionStats::test(Bit which, int64_t seq) const {
  const uint64_t i = uint64_t(seq) & uint64_t(limits_.seqWindow - 1);
  return (bits_[3 * (i / 64) + which] >> (i % 64)) & 1;
}
void SessionStats::set(Bit which, int64_t seq) {
  const uint64_t i = uint64_t(seq) & uint64_t(limits_.seqWindow - 1);
  bits_[3 * (i / 64) + which] |= uint64_t{1} << (i % 64);
}
void SessionStats::clearAll(int64_t seq) {
  const uint64_t i = uint64_t(seq) & uint64_t(limits_.seqWindow - 1);
  const uint64_t keep = ~(uint64_t{1} << (i % 64));
  uint64_t* w = &bits_[3 * (i / 64)];
  w[0] &= keep;
  w[1] &= keep;
  w[2] &= keep;
}

void SessionStats::DelayStats::add(int64_t v) {
  running.add(v);
  percentiles.add(v);
  exported.add(v);
}

void SessionStats::DelayStats::clear() {
  running = RunningStats();
  percentiles.clear();
  exported.clear();
}

DelaySummary SessionStats::DelayStats::summary() const {
  DelaySummary d;
  d.count = running.count();
  d.min = running.min();
  d.max = running.max();
  d.avg = running.mean();
  d.stddev = running.stddev();
  d.p50 = percentiles.quantile(0.50);
  d.p90 = percentiles.quantile(0.90);
  d.p99 = percentiles.quantile(0.99);
  d.histogramSpec = exported.spec();
  d.histogram = exported.counts();
  return d;
}

void SessionStats::IpdvStats::add(int64_t ipdv) {
  signedValues.add(ipdv);
  // A wrapped difference can be INT64_MIN, whose magnitude does not fit:
  // saturate.
  const uint64_t m = magnitude(ipdv);
  const int64_t a = m > uint64_t(std::numeric_limits<int64_t>::max())
                        ? std::numeric_limits<int64_t>::max()
                        : int64_t(m);
  absMean += (double(a) - absMean) / double(signedValues.count());
  absPercentiles.add(a);
}

void SessionStats::IpdvStats::clear() {
  signedValues = RunningStats();
  absMean = 0;
  absPercentiles.clear();
}

IpdvSummary SessionStats::IpdvStats::summary() const {
  IpdvSummary d;
  d.count = signedValues.count();
  d.min = signedValues.min();
  d.max = signedValues.max();
  if (d.count) d.avgAbs = absMean;
  d.p50Abs = absPercentiles.quantile(0.50);
  d.p99Abs = absPercentiles.quantile(0.99);
  return d;
}

SessionStats::SessionStats(const HistogramSpec& histogram, StatsLimits limits)
    : limits_(normalised(limits)),
      rtt_(histogram, limits_.exactSamples),
      forward_(histogram, limits_.exactSamples),
      backward_(histogram, limits_.exactSamples),
      ipdvRtt_(limits_.exactSamples),
      ipdvForward_(limits_.exactSamples),
      ipdvBackward_(limits_.exactSamples) {}

void SessionStats::reset() {
  c_ = Counters();
  anySent_ = anyReceived_ = anyReflector_ = false;
  forwardTrust_ = backwardTrust_ = Trust::kAlias;
  highestSent_ = highestReceived_ = highestReflector_ = 0;
  std::fill(bits_.begin(), bits_.end(), 0);
  inFlightHead_ = inFlightSize_ = 0;
  for (DelayStats* d : {&rtt_, &forward_, &backward_}) d->clear();
  // trustedForward_/trustedBackward_ keep their storage; addOneWay()
  // overwrites it before use.
  for (IpdvStats* d : {&ipdvRtt_, &ipdvForward_, &ipdvBackward_}) d->clear();
  std::fill(recent_.begin(), recent_.end(), DelayEntry());
}

int64_t SessionStats::unfold(uint32_t seq) const {
  // The nearest 64-bit value with these low 32 bits.
  return highestSent_ + int64_t(int32_t(seq - uint32_t(highestSent_)));
}

bool SessionStats::inWindow(int64_t seq) const {
  return seq <= highestSent_ && seq > highestSent_ - limits_.seqWindow;
}

void SessionStats::markLost(int64_t seq) {
  set(kExpired, seq);
  c_.lost++;
}

void SessionStats::pushInFlight(InFlight f) {
  if (inFlightSize_ == inFlight_.size()) {
    // Full: double, unrolling the ring to the start.
    std::vector<InFlight> bigger;
    bigger.reserve(std::max<size_t>(4, 2 * inFlight_.size()));
    for (size_t i = 0; i < inFlightSize_; ++i)
      bigger.push_back(inFlight_[(inFlightHead_ + i) & (inFlight_.size() - 1)]);
    bigger.resize(bigger.capacity());
    inFlight_ = std::move(bigger);
    inFlightHead_ = 0;
  }
  inFlight_[(inFlightHead_ + inFlightSize_) & (inFlight_.size() - 1)] = f;
  ++inFlightSize_;
}

void SessionStats::popInFlight() {
  inFlightHead_ = (inFlightHead_ + 1) & (inFlight_.size() - 1);
  --inFlightSize_;
}

// Answered packets at the front need no expiry: drop them, so the ring holds
// about the packets really unanswered.
void SessionStats::dropAnswered() {
  while (inFlightSize_) {
    const int64_t s = inFlight_[inFlightHead_].seq;
    if (inWindow(s) && !test(kReplied, s) && !test(kExpired, s)) break;
    popInFlight();
  }
}

// Reuses the bitmap slots of sequence numbers leaving the window. A packet
// leaving while still in flight is lost now: its slot is needed.
void SessionStats::slideTo(int64_t newHighest) {
  const int64_t first = std::max(highestSent_ + 1, newHighest - limits_.seqWindow + 1);
  for (int64_t s = first; s <= newHighest; ++s) {
    if (test(kSent, s) && !test(kReplied, s) && !test(kExpired, s)) c_.lost++;
    clearAll(s);
  }
  highestSent_ = newHighest;
  while (inFlightSize_ && !inWindow(inFlight_[inFlightHead_].seq)) popInFlight();
}

bool SessionStats::onSent(uint32_t seq, UnixNs sentAt) {
  if (!anySent_) {
    if (bits_.empty()) bits_.assign(size_t(3 * limits_.seqWindow / 64), 0);
    anySent_ = true;
    highestSent_ = seq;
  } else {
    const int64_t s = unfold(seq);
    if (s <= highestSent_) return false;
    slideTo(s);
  }
  set(kSent, highestSent_);
  c_.sent++;
  pushInFlight({highestSent_, sentAt});
  return true;
}

void SessionStats::expire(UnixNs now, std::chrono::nanoseconds timeout) {
  const uint64_t limit = uint64_t(std::max<int64_t>(0, timeout.count()));
  while (inFlightSize_) {
    const InFlight& f = inFlight_[inFlightHead_];
    if (now <= f.sentAt) break;
    // now > sentAt, so the true age is in (0, 2^64): exact in unsigned.
    if (uint64_t(now) - uint64_t(f.sentAt) <= limit) break;
    if (inWindow(f.seq) && !test(kReplied, f.seq) && !test(kExpired, f.seq)) markLost(f.seq);
    popInFlight();
  }
  dropAnswered();
}

void SessionStats::onReply(const ReplySample& r) {
  if (!anySent_) {
    c_.unknownSeq++;
    return;
  }
  const int64_t s = unfold(r.senderSeq);
  if (s > highestSent_) {
    c_.unknownSeq++;
    return;
  }
  if (!inWindow(s)) {
    c_.outOfWindow++;
    return;
  }
  if (!test(kSent, s)) {
    c_.unknownSeq++;
    return;
  }
  if (test(kReplied, s)) {
    c_.duplicates++;
    return;
  }
  set(kReplied, s);
  dropAnswered();
  // The reflector answered this one (in time or not): a stateful reflector's
  // numbering then says how many requests it has seen.
  const int64_t rs =
      anyReflector_
          ? highestReflector_ + int64_t(int32_t(r.reflectorSeq - uint32_t(highestReflector_)))
          : int64_t(r.reflectorSeq);
  if (!anyReflector_ || rs > highestReflector_) highestReflector_ = rs;
  anyReflector_ = true;
  if (test(kExpired, s)) {
    c_.late++;
    return;
  }
  if (r.late) {
    markLost(s);
    c_.late++;
    return;
  }
  c_.received++;
  if (anyReceived_ && s < highestReceived_) {
    c_.reordered++;
  } else {
    anyReceived_ = true;
    highestReceived_ = s;
  }
  addDelays(s, r);
}

// Trusted values share the as-measured storage until the first flagged
// one: that moment the trusted side gets a copy of its own (without the
// flagged value), or nothing if no value was trusted yet.
void SessionStats::addOneWay(DelayStats& measured, Trust& trust,
                             std::unique_ptr<TrustedStats>& trusted, int64_t v, OneWayFlag flag,
                             std::array<uint64_t, kOneWayFlags>& flagged) {
  if (flag == OneWayFlag::kOk) {
    if (trust == Trust::kNone) {
      if (trusted) {
        trusted->running = RunningStats();
        trusted->percentiles.clear();
      } else {
        trusted = std::make_unique<TrustedStats>(
            TrustedStats{RunningStats(), LogHistogram(limits_.exactSamples)});
      }
      trust = Trust::kSeparate;
    }
    if (trust == Trust::kSeparate) {
      trusted->running.add(v);
      trusted->percentiles.add(v);
    }
  } else {
    flagged[size_t(flag)]++;
    if (trust == Trust::kAlias) {
      if (measured.running.count() == 0) {
        trust = Trust::kNone;
      } else {
        if (trusted) {
          trusted->running = measured.running;
          trusted->percentiles = measured.percentiles;
        } else {
          trusted =
              std::make_unique<TrustedStats>(TrustedStats{measured.running, measured.percentiles});
        }
        trust = Trust::kSeparate;
      }
    }
  }
  measured.add(v);
}

void SessionStats::addDelays(int64_t s, const ReplySample& r) {
  DelayEntry e;
  e.seq = s;
  e.hasForward = r.hasT2;
  e.hasBackward = r.hasT3;
  if (r.hasT2 && r.hasT3) {
    e.rtt = diff(diff(r.t4, r.t1), diff(r.t3, r.t2));
  } else {
    e.rtt = diff(r.t4, r.t1);
    c_.rttWithoutDwell++;
  }
  rtt_.add(e.rtt);
  if (e.rtt < 0) c_.negativeRtt++;
  if (e.hasForward) {
    e.forward = diff(r.t2, r.t1);
    if (e.forward < 0) c_.negativeForward++;
    addOneWay(forward_, forwardTrust_, trustedForward_, e.forward, r.forwardFlag,
              c_.flaggedForward);
  }
  if (e.hasBackward) {
    e.backward = diff(r.t4, r.t3);
    if (e.backward < 0) c_.negativeBackward++;
    addOneWay(backward_, backwardTrust_, trustedBackward_, e.backward, r.backwardFlag,
              c_.flaggedBackward);
  }

  if (recent_.empty()) {
    const int64_t ring = std::clamp<int64_t>(limits_.seqWindow / 8, 8, kIpdvWindow);
    recent_.assign(size_t(ring), DelayEntry());
  }
  const uint64_t mask = recent_.size() - 1;
  const DelayEntry& before = recent_[uint64_t(s - 1) & mask];
  if (before.seq == s - 1) pairIpdv(before, e);
  const DelayEntry& after = recent_[uint64_t(s + 1) & mask];
  if (after.seq == s + 1) pairIpdv(e, after);
  recent_[uint64_t(s) & mask] = e;
}

void SessionStats::pairIpdv(const DelayEntry& earlier, const DelayEntry& later) {
  ipdvRtt_.add(diff(later.rtt, earlier.rtt));
  if (earlier.hasForward && later.hasForward)
    ipdvForward_.add(diff(later.forward, earlier.forward));
  if (earlier.hasBackward && later.hasBackward)
    ipdvBackward_.add(diff(later.backward, earlier.backward));
}

DelaySummary SessionStats::trustedSummary(const DelayStats& measured, Trust trust,
                                          const TrustedStats* trusted) const {
  DelaySummary d;
  d.histogramSpec = measured.exported.spec();
  const RunningStats* running = nullptr;
  const LogHistogram* percentiles = nullptr;
  if (trust == Trust::kAlias) {
    running = &measured.running;
    percentiles = &measured.percentiles;
  } else if (trust == Trust::kSeparate) {
    running = &trusted->running;
    percentiles = &trusted->percentiles;
  } else {
    return d;
  }
  d.count = running->count();
  d.min = running->min();
  d.max = running->max();
  d.avg = running->mean();
  d.stddev = running->stddev();
  d.p50 = percentiles->quantile(0.50);
  d.p90 = percentiles->quantile(0.90);
  d.p99 = percentiles->quantile(0.99);
  return d;
}

Summary SessionStats::counters() const {
  Summary s;
  s.sent = c_.sent;
  s.received = c_.received;
  s.lost = c_.lost;
  s.late = c_.late;
  s.duplicates = c_.duplicates;
  s.reordered = c_.reordered;
  s.inFlight = inFlight();
  s.unknownSeq = c_.unknownSeq;
  s.outOfWindow = c_.outOfWindow;
  s.negativeRtt = c_.negativeRtt;
  s.negativeForward = c_.negativeForward;
  s.negativeBackward = c_.negativeBackward;
  s.rttWithoutDwell = c_.rttWithoutDwell;
  s.flaggedForward = c_.flaggedForward;
  s.flaggedBackward = c_.flaggedBackward;
  if (statefulReflector_ && anyReflector_) {
    // The reflector saw highest + 1 requests: the lost ones beyond that
    // were lost on the way there, the rest on the way back. Replies lost
    // after the last one received look forward-lost; nothing tells them
    // apart at the end of a run.
    const uint64_t lost = s.lost;
    const int64_t reached = highestReflector_ + 1;
    const int64_t fwd = int64_t(s.sent - s.inFlight) - reached;
    s.forwardLost = uint64_t(std::clamp<int64_t>(fwd, 0, int64_t(lost)));
    s.backwardLost = lost - *s.forwardLost;
  }
  return s;
}

Summary SessionStats::summary() const {
  Summary s = counters();
  s.rtt = rtt_.summary();
  s.forward = forward_.summary();
  s.backward = backward_.summary();
  s.trustedForward = trustedSummary(forward_, forwardTrust_, trustedForward_.get());
  s.trustedBackward = trustedSummary(backward_, backwardTrust_, trustedBackward_.get());
  s.ipdvRtt = ipdvRtt_.summary();
  s.ipdvForward = ipdvForward_.summary();
  s.ipdvBackward = ipdvBackward_.summary();
  return s;
}

nlohmann::json SessionStats::toJson() const {
  return stamp::toJson(summary());
}

size_t SessionStats::memoryBytes() const {
  size_t bytes = sizeof(*this);
  for (const DelayStats* d : {&rtt_, &forward_, &backward_})
    bytes += d->percentiles.memoryBytes() - sizeof(LogHistogram) + d->exported.memoryBytes() -
             sizeof(FixedHistogram);
  for (const TrustedStats* t : {trustedForward_.get(), trustedBackward_.get()})
    if (t) bytes += sizeof(TrustedStats) + t->percentiles.memoryBytes() - sizeof(LogHistogram);
  for (const IpdvStats* d : {&ipdvRtt_, &ipdvForward_, &ipdvBackward_})
    bytes += d->absPercentiles.memoryBytes() - sizeof(LogHistogram);
  bytes += bits_.capacity() * sizeof(uint64_t);
  bytes += inFlight_.capacity() * sizeof(InFlight);
  bytes += recent_.capacity() * sizeof(DelayEntry);
  return bytes;
}

const char* oneWayFlagName(OneWayFlag f) {
  switch (f) {
    case OneWayFlag::kOk:
      return "ok";
    case OneWayFlag::kLocalUnsynchronized:
      return "local_unsynchronized";
    case OneWayFlag::kRemoteUnsynchronized:
      return "remote_unsynchronized";
    case OneWayFlag::kErrorUnknown:
      return "error_unknown";
    case OneWayFlag::kNegative:
      return "negative";
    case OneWayFlag::kBelowError:
      return "below_error";
  }
  return "unknown";
}

OneWayFlag classifyOneWay(int64_t valueNs, const ErrorEstimate& local,
                          const ErrorEstimate& remote) {
  if (!local.synchronized) return OneWayFlag::kLocalUnsynchronized;
  if (!remote.synchronized) return OneWayFlag::kRemoteUnsynchronized;
  auto le = local.errorNs();
  auto re = remote.errorNs();
  if (!le || !re) return OneWayFlag::kErrorUnknown;
  if (valueNs < 0) return OneWayFlag::kNegative;
  if (double(valueNs) < *le + *re) return OneWayFlag::kBelowError;
  return OneWayFlag::kOk;
}

namespace {

// The trusted one-way figures, without the exported histogram (the
// as-measured delay objects carry it).
nlohmann::json trustedJson(const DelaySummary& d) {
  nlohmann::json j = delayJson(d);
  j.erase("histogram");
  return j;
}

nlohmann::json flagsJson(const std::array<uint64_t, kOneWayFlags>& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (int i = 1; i < kOneWayFlags; ++i)
    if (counts[size_t(i)]) j[oneWayFlagName(OneWayFlag(i))] = counts[size_t(i)];
  return j;
}

}  // namespace

nlohmann::json toJson(const Summary& s) {
  uint64_t flagged = 0;
  for (int i = 1; i < kOneWayFlags; ++i)
    flagged += s.flaggedForward[size_t(i)] + s.flaggedBackward[size_t(i)];
  nlohmann::json oneWay = {
      {"trusted", flagged == 0 && (s.forward.count + s.backward.count) > 0},
      {"forward_ns", trustedJson(s.trustedForward)},
      {"backward_ns", trustedJson(s.trustedBackward)},
      {"flagged",
       {{"forward", flagsJson(s.flaggedForward)}, {"backward", flagsJson(s.flaggedBackward)}}}};
  auto orNull = [](const std::optional<uint64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {{"sent", s.sent},
          {"one_way", oneWay},
          {"forward_lost", orNull(s.forwardLost)},
          {"backward_lost", orNull(s.backwardLost)},
          {"received", s.received},
          {"lost", s.lost},
          {"late", s.late},
          {"duplicates", s.duplicates},
          {"reordered", s.reordered},
          {"in_flight", s.inFlight},
          {"unknown_seq", s.unknownSeq},
          {"out_of_window", s.outOfWindow},
          {"negative_rtt", s.negativeRtt},
          {"negative_forward", s.negativeForward},
          {"negative_backward", s.negativeBackward},
          {"rtt_without_dwell", s.rttWithoutDwell},
          {"rtt_ns", delayJson(s.rtt)},
          {"forward_ns", delayJson(s.forward)},
          {"backward_ns", delayJson(s.backward)},
          {"ipdv_ns",
           {{"rtt", ipdvJson(s.ipdvRtt)},
            {"forward", ipdvJson(s.ipdvForward)},
            {"backward", ipdvJson(s.ipdvBackward)}}}};
}

}  // namespace stamp
