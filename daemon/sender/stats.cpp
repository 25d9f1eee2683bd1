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

LogHistogram::LogHistogram() : pos_(kBucketsPerSign, 0), neg_(kBucketsPerSign, 0) {
  exact_.reserve(kExactSamples);
}

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

void LogHistogram::add(int64_t v) {
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  ++count_;
  (v < 0 ? neg_ : pos_)[bucketOf(magnitude(v))]++;
  if (count_ <= kExactSamples) exact_.push_back(v);
}

std::optional<int64_t> LogHistogram::quantile(double q) const {
  if (count_ == 0) return std::nullopt;
  const uint64_t rank = nearestRank(q, count_);
  // The extreme ranks are the observed extremes, exact even when saturated.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  if (count_ <= kExactSamples) {
    std::vector<int64_t> sorted = exact_;
    auto nth = sorted.begin() + std::ptrdiff_t(rank - 1);
    std::nth_element(sorted.begin(), nth, sorted.end());
    return *nth;
  }
  auto middle = [](size_t b) { return bucketLow(b) + (bucketHigh(b) - bucketLow(b)) / 2; };
  uint64_t seen = 0;
  std::optional<int64_t> found;
  for (size_t b = kBucketsPerSign; b-- > 0 && !found;) {
    seen += neg_[b];
    if (seen >= rank) found = -int64_t(middle(b));
  }
  for (size_t b = 0; b < kBucketsPerSign && !found; ++b) {
    seen += pos_[b];
    if (seen >= rank) found = int64_t(middle(b));
  }
  // Unreachable while the counts sum to count_; max_ is the honest answer.
  return std::clamp(found.value_or(max_), min_, max_);
}

size_t LogHistogram::memoryBytes() const {
  return sizeof(*this) + (pos_.capacity() + neg_.capacity()) * sizeof(uint64_t) +
         exact_.capacity() * sizeof(int64_t);
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

FixedHistogram::FixedHistogram(HistogramSpec spec) : spec_(spec) {
  spec_.bins = std::clamp<uint32_t>(spec_.bins, 1, kMaxExportBins);
  if (spec_.ceilingNs <= spec_.floorNs) {
    if (spec_.floorNs == std::numeric_limits<int64_t>::max()) --spec_.floorNs;
    spec_.ceilingNs = spec_.floorNs + 1;
  }
  counts_.assign(spec_.bins, 0);
}

void FixedHistogram::add(int64_t v) {
  size_t bin = 0;
  if (v >= spec_.ceilingNs) {
    bin = spec_.bins - 1;
  } else if (v > spec_.floorNs) {
    // Exact proportional mapping. Both differences are positive and below
    // 2^64; the product needs 128 bits.
    const uint64_t offset = uint64_t(v) - uint64_t(spec_.floorNs);
    const uint64_t span = uint64_t(spec_.ceilingNs) - uint64_t(spec_.floorNs);
    bin = size_t(Wide(offset) * spec_.bins / span);
  }
  counts_[bin]++;
}

// ---- SessionStats

bool SessionStats::Bitmap::test(int64_t seq) const {
  const uint64_t i = uint64_t(seq) & (kSeqWindow - 1);
  return (words_[i / 64] >> (i % 64)) & 1;
}
void SessionStats::Bitmap::set(int64_t seq) {
  const uint64_t i = uint64_t(seq) & (kSeqWindow - 1);
  words_[i / 64] |= uint64_t{1} << (i % 64);
}
void SessionStats::Bitmap::clear(int64_t seq) {
  const uint64_t i = uint64_t(seq) & (kSeqWindow - 1);
  words_[i / 64] &= ~(uint64_t{1} << (i % 64));
}

void SessionStats::DelayStats::add(int64_t v) {
  running.add(v);
  percentiles.add(v);
  exported.add(v);
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
  absValues.add(a);
  absPercentiles.add(a);
}

IpdvSummary SessionStats::IpdvStats::summary() const {
  IpdvSummary d;
  d.count = signedValues.count();
  d.min = signedValues.min();
  d.max = signedValues.max();
  d.avgAbs = absValues.mean();
  d.p50Abs = absPercentiles.quantile(0.50);
  d.p99Abs = absPercentiles.quantile(0.99);
  return d;
}

SessionStats::SessionStats(const HistogramSpec& histogram)
    : rtt_(histogram),
      forward_(histogram),
      backward_(histogram),
      trustedForward_(histogram),
      trustedBackward_(histogram),
      recent_(kIpdvWindow) {}

int64_t SessionStats::unfold(uint32_t seq) const {
  // The nearest 64-bit value with these low 32 bits.
  return highestSent_ + int64_t(int32_t(seq - uint32_t(highestSent_)));
}

bool SessionStats::inWindow(int64_t seq) const {
  return seq <= highestSent_ && seq > highestSent_ - kSeqWindow;
}

void SessionStats::markLost(int64_t seq) {
  expired_.set(seq);
  counts_.lost++;
}

// Reuses the bitmap slots of sequence numbers leaving the window. A packet
// leaving while still in flight is lost now: its slot is needed.
void SessionStats::slideTo(int64_t newHighest) {
  const int64_t first = std::max(highestSent_ + 1, newHighest - kSeqWindow + 1);
  for (int64_t s = first; s <= newHighest; ++s) {
    if (sent_.test(s) && !replied_.test(s) && !expired_.test(s)) counts_.lost++;
    sent_.clear(s);
    replied_.clear(s);
    expired_.clear(s);
  }
  highestSent_ = newHighest;
  while (!inFlight_.empty() && !inWindow(inFlight_.front().seq)) inFlight_.pop_front();
}

bool SessionStats::onSent(uint32_t seq, UnixNs sentAt) {
  if (!anySent_) {
    anySent_ = true;
    highestSent_ = seq;
  } else {
    const int64_t s = unfold(seq);
    if (s <= highestSent_) return false;
    slideTo(s);
  }
  sent_.set(highestSent_);
  counts_.sent++;
  inFlight_.push_back({highestSent_, sentAt});
  return true;
}

void SessionStats::expire(UnixNs now, std::chrono::nanoseconds timeout) {
  const uint64_t limit = uint64_t(std::max<int64_t>(0, timeout.count()));
  while (!inFlight_.empty()) {
    const InFlight& f = inFlight_.front();
    if (now <= f.sentAt) break;
    // now > sentAt, so the true age is in (0, 2^64): exact in unsigned.
    if (uint64_t(now) - uint64_t(f.sentAt) <= limit) break;
    if (inWindow(f.seq) && !replied_.test(f.seq) && !expired_.test(f.seq)) markLost(f.seq);
    inFlight_.pop_front();
  }
}

void SessionStats::onReply(const ReplySample& r) {
  if (!anySent_) {
    counts_.unknownSeq++;
    return;
  }
  const int64_t s = unfold(r.senderSeq);
  if (s > highestSent_) {
    counts_.unknownSeq++;
    return;
  }
  if (!inWindow(s)) {
    counts_.outOfWindow++;
    return;
  }
  if (!sent_.test(s)) {
    counts_.unknownSeq++;
    return;
  }
  if (replied_.test(s)) {
    counts_.duplicates++;
    return;
  }
  replied_.set(s);
  // The reflector answered this one (in time or not): a stateful reflector's
  // numbering then says how many requests it has seen.
  const int64_t rs =
      anyReflector_
          ? highestReflector_ + int64_t(int32_t(r.reflectorSeq - uint32_t(highestReflector_)))
          : int64_t(r.reflectorSeq);
  if (!anyReflector_ || rs > highestReflector_) highestReflector_ = rs;
  anyReflector_ = true;
  if (expired_.test(s)) {
    counts_.late++;
    return;
  }
  if (r.late) {
    markLost(s);
    counts_.late++;
    return;
  }
  counts_.received++;
  if (anyReceived_ && s < highestReceived_) {
    counts_.reordered++;
  } else {
    anyReceived_ = true;
    highestReceived_ = s;
  }
  addDelays(s, r);
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
    counts_.rttWithoutDwell++;
  }
  rtt_.add(e.rtt);
  if (e.rtt < 0) counts_.negativeRtt++;
  if (e.hasForward) {
    e.forward = diff(r.t2, r.t1);
    forward_.add(e.forward);
    if (e.forward < 0) counts_.negativeForward++;
    if (r.forwardFlag == OneWayFlag::kOk)
      trustedForward_.add(e.forward);
    else
      counts_.flaggedForward[size_t(r.forwardFlag)]++;
  }
  if (e.hasBackward) {
    e.backward = diff(r.t4, r.t3);
    backward_.add(e.backward);
    if (e.backward < 0) counts_.negativeBackward++;
    if (r.backwardFlag == OneWayFlag::kOk)
      trustedBackward_.add(e.backward);
    else
      counts_.flaggedBackward[size_t(r.backwardFlag)]++;
  }

  const DelayEntry& before = recent_[uint64_t(s - 1) % kIpdvWindow];
  if (before.seq == s - 1) pairIpdv(before, e);
  const DelayEntry& after = recent_[uint64_t(s + 1) % kIpdvWindow];
  if (after.seq == s + 1) pairIpdv(e, after);
  recent_[uint64_t(s) % kIpdvWindow] = e;
}

void SessionStats::pairIpdv(const DelayEntry& earlier, const DelayEntry& later) {
  ipdvRtt_.add(diff(later.rtt, earlier.rtt));
  if (earlier.hasForward && later.hasForward)
    ipdvForward_.add(diff(later.forward, earlier.forward));
  if (earlier.hasBackward && later.hasBackward)
    ipdvBackward_.add(diff(later.backward, earlier.backward));
}

Summary SessionStats::summary() const {
  Summary s = counts_;
  s.inFlight = s.sent - s.received - s.lost;
  s.rtt = rtt_.summary();
  s.forward = forward_.summary();
  s.backward = backward_.summary();
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
  s.trustedForward = trustedForward_.summary();
  s.trustedBackward = trustedBackward_.summary();
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
  for (const DelayStats* d : {&rtt_, &forward_, &backward_, &trustedForward_, &trustedBackward_})
    bytes += d->percentiles.memoryBytes() - sizeof(LogHistogram) +
             d->exported.counts().capacity() * sizeof(uint64_t);
  for (const IpdvStats* d : {&ipdvRtt_, &ipdvForward_, &ipdvBackward_})
    bytes += d->absPercentiles.memoryBytes() - sizeof(LogHistogram);
  bytes += sent_.memoryBytes() + replied_.memoryBytes() + expired_.memoryBytes();
  bytes += recent_.capacity() * sizeof(DelayEntry);
  bytes += inFlight_.size() * sizeof(InFlight);
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
