// Session statistics of the Session-Sender (docs/sender.md, Statistics): the
// four timestamps of each reply become round-trip, forward (near-end) and
// backward (far-end) delay; consecutive replies become delay variation
// (IPDV, RFC 5481); the sent and received sequence numbers become loss,
// late replies, duplicates and reordering (RFC 7680, RFC 4737).
//
// Pure computation: no I/O, no clock reads, no threads, nothing throws on
// input. Memory grows with what a session has seen, not with its length:
// an empty SessionStats is about 1.2 KiB and allocates nothing; every
// histogram, bitmap and ring is allocated on first use and bounded (see
// SessionStats and memoryBytes()).
//
// All delays are signed int64 nanoseconds. One-way delays below zero (the
// two clocks disagree) are kept exactly as computed, never clamped, and
// counted in Summary::negativeForward / negativeBackward. (Only timestamps
// some 292 years apart, whose difference does not fit int64, wrap; that is
// defined behaviour here, not a crash.)
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "libstamp/error_estimate.hpp"
#include "libstamp/result.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp {

// Welford's running count, min, max, mean and standard deviation: one pass,
// constant memory, and no catastrophic cancellation when the values share a
// large offset (e.g. one-way delays under a clock offset of hours).
class RunningStats {
 public:
  void add(int64_t v);
  uint64_t count() const { return n_; }
  // Empty (nullopt) until the first add().
  std::optional<int64_t> min() const;
  std::optional<int64_t> max() const;
  std::optional<double> mean() const;
  // Population standard deviation, sqrt(sum((x - mean)^2) / n); 0 for n == 1.
  std::optional<double> stddev() const;

 private:
  uint64_t n_ = 0;
  double mean_ = 0;
  double m2_ = 0;  // sum of squared differences from the running mean
  int64_t min_ = 0;
  int64_t max_ = 0;
};

// A log-linear histogram of signed values for percentiles.
//
// Layout: magnitudes 0..63 ns have one bucket each (exact). Above that, every
// power-of-two range [2^e, 2^(e+1)) is cut into 64 equal buckets, up to
// 2^40 ns (about 1099.5 s). Negative values go to a mirrored set of buckets
// indexed by magnitude, so -x and x have the same resolution.
//
// Percentiles use the nearest-rank definition (the smallest sample with at
// least ceil(q * n) samples at or below it) and report the middle of that
// sample's bucket, clamped to the observed [min, max].
//
// The first `exactSamples` values (kExactSamples by default) are kept as
// they are, and while the count is within that, percentiles are exact: a
// typical session of a few hundred packets gets true percentiles, a long one
// the bound below. When the count passes the limit the samples move into
// buckets and their buffer is freed. With exactSamples = 0 values go to
// buckets from the first one.
//
// Storage: only non-empty buckets are stored, in one sorted vector of packed
// (bucket, count) entries: 4 bytes each (count below 2^19), all promoted
// once to 8 bytes (count below 2^48) when a count would pass that. The
// exact buffer grows on demand up to the limit (8 bytes a sample). So the
// memory is sizeof(LogHistogram) (80 bytes) plus at most 8 bytes per sample
// while exact, then 4 (or 8) bytes per distinct bucket seen, at most 4,480
// buckets (35 KiB) whatever the count. add() allocates only when the
// buffer or the bucket vector grows (amortised), and costs a binary search
// over the non-empty buckets (plus a move of the later entries the first
// time a bucket is used).
//
// Error bound: for a true percentile x with |x| < 2^40 ns,
//     |estimate - x| <= |x| / 128   (0.78 %), and estimate == x for |x| < 64.
// Magnitudes of 2^40 ns and more share the outermost bucket of their sign;
// a percentile that falls there is only known to lie between that bucket's
// lower edge and the observed min/max (reported: the bucket middle, clamped).
class LogHistogram {
 public:
  static constexpr size_t kExactSamples = 2048;
  static constexpr int kMantissaBits = 6;
  static constexpr int kMaxExponent = 39;  // last power of two binned finely
  static constexpr int64_t kRangeNs = int64_t{1} << (kMaxExponent + 1);
  static constexpr size_t kBucketsPerSign = size_t(kMaxExponent - kMantissaBits + 2)
                                            << kMantissaBits;
  static constexpr double kMaxRelativeError = 1.0 / double(2 << kMantissaBits);

  // exactSamples above 2^32 - 1 is taken as 2^32 - 1.
  explicit LogHistogram(size_t exactSamples = kExactSamples);
  void add(int64_t v);
  uint64_t count() const { return count_; }
  // q in [0, 1] (0.99 for p99); values outside are clamped. nullopt when
  // empty.
  std::optional<int64_t> quantile(double q) const;
  // Back to empty with the same exact limit; keeps the capacity it has.
  void clear();
  // sizeof(*this) plus the capacity of every heap block.
  size_t memoryBytes() const;
  // Non-empty buckets stored; 0 while the samples are exact. For tests.
  size_t bucketsUsed() const;
  // True while the exact-sample buffer holds the samples. For tests.
  bool exact() const { return mode_ == Mode::kExact; }

  // The bucket a magnitude falls in, and that bucket's inclusive bounds
  // (the last bucket's upper bound is reported as kRangeNs - 1). For tests.
  static size_t bucketOf(uint64_t magnitude);
  static uint64_t bucketLow(size_t bucket);
  static uint64_t bucketHigh(size_t bucket);

 private:
  enum class Mode : uint8_t { kExact, kNarrow, kWide };
  void toBuckets();
  void promote();

  // kExact: the samples (int64 bit patterns). kWide: (key << 48) | count.
  std::vector<uint64_t> words_;
  // kNarrow: (key << 19) | count. key orders values: see keyOf().
  std::vector<uint32_t> narrow_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  uint32_t exactLimit_ = 0;
  Mode mode_ = Mode::kExact;
};

// The exported histogram: `bins` fixed-width bins covering [floorNs,
// ceilingNs). Bin i holds values in [floor + i*w, floor + (i+1)*w) with
// w = (ceiling - floor) / bins (w may be fractional). Outliers are not
// dropped: values below the floor count in bin 0, values at or above the
// ceiling in the last bin.
struct HistogramSpec {
  uint32_t bins = 50;
  int64_t floorNs = 0;
  int64_t ceilingNs = 100'000'000;  // 100 ms
  bool operator==(const HistogramSpec&) const = default;
};

inline constexpr uint32_t kMaxExportBins = 10'000;

// For configuration checks: fails (EINVAL, with a message naming the field)
// unless 1 <= bins <= kMaxExportBins and floorNs < ceilingNs.
Result<void> checkHistogramSpec(const HistogramSpec& spec);

// Storage: the non-empty bins only, in a sorted vector of packed (bin,
// count) entries of 8 bytes; nothing is allocated before the first add().
class FixedHistogram {
 public:
  // Never trusts the spec: bins are clamped to [1, kMaxExportBins] and an
  // empty or inverted range becomes [floorNs, floorNs + 1). spec() reports
  // what is in effect. Check user input with checkHistogramSpec() first.
  explicit FixedHistogram(HistogramSpec spec = {});
  void add(int64_t v);
  const HistogramSpec& spec() const { return spec_; }
  // spec().bins counts, dense (built on each call).
  std::vector<uint64_t> counts() const;
  // Back to empty with the same spec; keeps the capacity it has.
  void clear() { bins_.clear(); }
  // sizeof(*this) plus the heap block's capacity.
  size_t memoryBytes() const;

 private:
  HistogramSpec spec_;
  std::vector<uint64_t> bins_;  // (bin << 50) | count, sorted by bin
};

// One reflected packet as the Session-Sender saw it, timestamps already
// converted to UnixNs (each with its own Z bit).
// Whether a one-way delay (T2 - T1 or T4 - T3) can be believed. It takes two
// clocks, and their Error Estimates (RFC 8762 4.1.2) say how far to trust
// each: a value is flagged when either clock is not synchronised (S = 0),
// when an error is unknown (Multiplier 0), when it is negative, or when it
// is smaller than the two errors together (it could be zero). The first
// reason that applies is the one given. RTT needs one clock and is never
// flagged.
enum class OneWayFlag : uint8_t {
  kOk = 0,
  kLocalUnsynchronized,
  kRemoteUnsynchronized,
  kErrorUnknown,
  kNegative,
  kBelowError,
};
inline constexpr int kOneWayFlags = 6;
const char* oneWayFlagName(OneWayFlag f);  // "ok", "local_unsynchronized", ...
OneWayFlag classifyOneWay(int64_t valueNs, const ErrorEstimate& local, const ErrorEstimate& remote);

struct ReplySample {
  uint32_t senderSeq = 0;     // the sender Sequence Number the reply echoes
  uint32_t reflectorSeq = 0;  // carried for directional loss; not evaluated yet
  UnixNs t1 = 0;              // sender transmit
  UnixNs t2 = 0;              // reflector receive
  UnixNs t3 = 0;              // reflector transmit
  UnixNs t4 = 0;              // sender receive
  bool hasT2 = true;          // false: the reply carried no usable T2
  bool hasT3 = true;          // false: the reply carried no usable T3
  bool late = false;          // the caller saw it arrive after the session timeout
  // classifyOneWay() of T2 - T1 and T4 - T3 (the caller knows the clocks).
  OneWayFlag forwardFlag = OneWayFlag::kOk, backwardFlag = OneWayFlag::kOk;
};

// Delay statistics of one direction. Every optional is empty exactly when
// count == 0 (and shows as null in JSON). avg and stddev are population
// values (Welford); p50/p90/p99 come from a LogHistogram (bound above).
struct DelaySummary {
  uint64_t count = 0;
  std::optional<int64_t> min, max, p50, p90, p99;
  std::optional<double> avg, stddev;
  HistogramSpec histogramSpec;      // the exported histogram, in effect
  std::vector<uint64_t> histogram;  // histogramSpec.bins counts; empty in
                                    // Summary::trustedForward/Backward, which
                                    // export no histogram
};

// Inter-packet delay variation, RFC 5481: IPDV(n) = D(n) - D(n-1) for sender
// sequence numbers n-1 and n that were both received in time, whatever order
// they arrived in. A lost, late or absent value breaks the pair; nothing is
// bridged across a gap. min and max are SIGNED (min is usually negative);
// avgAbs, p50Abs and p99Abs describe |IPDV|.
struct IpdvSummary {
  uint64_t count = 0;
  std::optional<int64_t> min, max;
  std::optional<double> avgAbs;
  std::optional<int64_t> p50Abs, p99Abs;
};

// Counters follow sender sequence numbers:
//   sent        = distinct sequence numbers passed to onSent()
//   received    = distinct replies that arrived in time
//   lost        = sent packets with no in-time reply once their timeout passed
//                 (late replies included), so sent = received + lost + inFlight
//   late        = replies for packets already counted lost; never "received"
//   duplicates  = further replies for a sequence number already answered
//                 (in time or late)
//   reordered   = in-time unique replies whose sequence number is below the
//                 highest one received so far (RFC 4737 "NextExp" test)
//   unknownSeq  = replies for a sequence number never sent (ignored)
//   outOfWindow = replies for a sequence number older than the last
//                 StatsLimits::seqWindow sent (ignored; see SessionStats)
// Delay statistics and IPDV use in-time, first replies only.
struct Summary {
  uint64_t sent = 0, received = 0, lost = 0, late = 0, duplicates = 0, reordered = 0;
  uint64_t inFlight = 0, unknownSeq = 0, outOfWindow = 0;
  uint64_t negativeRtt = 0, negativeForward = 0, negativeBackward = 0;
  uint64_t rttWithoutDwell = 0;  // RTT samples lacking T2 or T3: plain T4 - T1
  DelaySummary rtt, forward, backward;
  IpdvSummary ipdvRtt, ipdvForward, ipdvBackward;
  // forward and backward above are as measured; these hold only the values
  // classifyOneWay() passed, and how many it flagged, by reason.
  DelaySummary trustedForward, trustedBackward;
  std::array<uint64_t, kOneWayFlags> flaggedForward{}, flaggedBackward{};
  // With a stateful reflector (RFC 8762 4.3): lost split by direction, from
  // the reflector's Sequence Numbers; forwardLost + backwardLost == lost.
  std::optional<uint64_t> forwardLost, backwardLost;
};

// The `session start --json` fields this module owns (docs/control-protocol.md, The run
// summary): "sent",
// "received", "lost", "duplicates", "reordered", "rtt_ns", "forward_ns",
// "backward_ns", each delay object with "min", "avg", "max", "p50", "p99"
// (null when its count is 0); added: "late", "in_flight", "unknown_seq",
// "out_of_window", "negative_rtt", "negative_forward", "negative_backward",
// "rtt_without_dwell", per delay object "count", "p90", "stddev" and
// "histogram": {"bins", "floor_ns", "ceiling_ns", "counts"}, and "ipdv_ns":
// {"rtt"|"forward"|"backward": {"count", "min", "max", "avg_abs", "p50_abs",
// "p99_abs"}}, "forward_lost" and "backward_lost" (null unless the
// reflector is stateful), and "one_way": {"trusted": bool, "forward_ns", "backward_ns"
// (the trusted values only), "flagged": {"forward"|"backward": {REASON: N}}}.
// avg, stddev and avg_abs are rounded to whole nanoseconds. The
// caller adds "session", "target", "port".
nlohmann::json toJson(const Summary& s);

// How much a SessionStats keeps (see its comment).
struct StatsLimits {
  size_t exactSamples = LogHistogram::kExactSamples;  // per histogram; 0: no exact samples
  int64_t seqWindow = 65536;  // sequence numbers tracked; a power of two in [64, 65536]
  // The window for a schedule: the packets one timeout can hold in flight,
  // with margin (x4, rounded up to a power of two), clamped to [64, 65536].
  static StatsLimits forSchedule(std::chrono::nanoseconds interval,
                                 std::chrono::nanoseconds timeout);
  bool operator==(const StatsLimits&) const = default;
};

// The statistics of one session run. Feed it from the single event loop
// (not thread-safe).
//
// Sequence numbers are 32-bit on the wire and wrap; they are unfolded to 64
// bits relative to the highest one sent, so a session may run through 2^32
// and beyond. Receipt is tracked for the last W = limits().seqWindow
// sequence numbers sent, in bitmaps. Beyond that window:
//   - a packet still waiting for its reply when W newer packets have been
//     sent is counted lost at that moment (only with more than W packets in
//     flight within one timeout: StatsLimits::forSchedule() leaves a margin
//     of 4);
//   - a reply for a sequence number that has left the window is counted in
//     outOfWindow and otherwise ignored: it can no longer be told apart as
//     late or duplicate.
// IPDV pairs are matched in a ring of the last R = clamp(W / 8, 8,
// kIpdvWindow) received delays: a pair whose two replies are reordered by R
// or more is skipped.
//
// Memory (memoryBytes(); x86-64, default exported histogram): an empty
// SessionStats holds 1,232 bytes and no heap. The first packet sent
// allocates the bitmaps (3 x W / 8 bytes: 24 bytes for W = 64, 24 KiB for
// 65536), the first reply the IPDV ring (40 bytes x R). The list of packets
// in flight is a ring that grows on demand to the packets actually
// unanswered (16 bytes each, at most W). The eight percentile histograms
// (rtt, forward, backward, |IPDV| of each, and the trusted one-way ones)
// cost what LogHistogram says: 8 bytes a sample while exact, then 4 bytes a
// non-empty bucket. The trusted one-way statistics are the as-measured ones
// as long as every sample was trusted (no copy); only after a flagged sample
// do they get storage of their own. The exported histograms keep their
// non-empty bins only (8 bytes each). Measured at 1 pps, 2 s timeout
// (StatsLimits::forSchedule: W = 64), RTT around 200 us with 30 % jitter:
// a 30 s window (30 replies, exact samples) about 3.5 KiB; a 10 minute
// run (600 replies) with exactSamples = 0 about 6.5 KiB; a million packets
// at 1 ms (W = 8192, 2,000 in flight) about 78 KiB. tests/stats/
// session_limits_test.cpp prints the figures.
class SessionStats {
 public:
  static constexpr int64_t kSeqWindow = 65536;  // the largest seqWindow
  static constexpr int64_t kMinSeqWindow = 64;
  static constexpr int64_t kIpdvWindow = 1024;  // the largest IPDV ring

  // The exported histograms (rtt, forward, backward) use `histogram`; see
  // FixedHistogram for how an invalid spec is handled. An invalid
  // limits.seqWindow is clamped to [64, 65536] and rounded up to a power of
  // two; limits() reports what is in effect.
  explicit SessionStats(const HistogramSpec& histogram = {}, StatsLimits limits = {});

  // Back to empty, with the same histogram spec, limits and
  // setStatefulReflector(); keeps (and reuses) the storage already
  // allocated, so recycling a window allocates nothing.
  void reset();

  const StatsLimits& limits() const { return limits_; }

  // A test packet with sequence number `seq` left at `sentAt`. Sequence
  // numbers must increase from call to call (modulo 2^32, by less than
  // 2^31; gaps are allowed and are not counted as sent). Returns false and
  // changes nothing when `seq` is not after the last one sent. Send times
  // are expected not to decrease; one that does only delays expiry of the
  // packets sent after it.
  bool onSent(uint32_t seq, UnixNs sentAt);

  // A reply arrived. Untrusted input: a sequence number never sent, or any
  // timestamp values, are handled (counted), never asserted. A reply with
  // `late` set for a packet still in flight counts that packet lost and
  // late at once.
  void onReply(const ReplySample& r);

  // Declares lost every packet sent more than `timeout` before `now` that
  // has no reply yet (a reply exactly `timeout` after sending is in time).
  // Call it periodically and once at the end of the run with the last
  // `now`; replies for those packets then count as late. A negative
  // timeout is taken as 0.
  void expire(UnixNs now, std::chrono::nanoseconds timeout);

  // sent - received - lost, in O(1).
  uint64_t inFlight() const { return c_.sent - c_.received - c_.lost; }
  // Every counter of Summary (sent ... rttWithoutDwell, inFlight, the
  // flagged counts, forwardLost/backwardLost), in O(1) and without
  // allocating; the delay, IPDV and histogram parts are left empty.
  Summary counters() const;
  Summary summary() const;        // counters() and every delay part
  nlohmann::json toJson() const;  // stamp::toJson(summary())

  // The reflector numbers requests itself (stateful): summary() then splits
  // the loss into forward and backward.
  void setStatefulReflector(bool on) { statefulReflector_ = on; }

  // Bytes held by this object: sizeof(*this) plus every heap block's
  // capacity and every owned object (see the class comment).
  size_t memoryBytes() const;

 private:
  struct Counters {
    uint64_t sent = 0, received = 0, lost = 0, late = 0, duplicates = 0, reordered = 0;
    uint64_t unknownSeq = 0, outOfWindow = 0;
    uint64_t negativeRtt = 0, negativeForward = 0, negativeBackward = 0;
    uint64_t rttWithoutDwell = 0;
    std::array<uint64_t, kOneWayFlags> flaggedForward{}, flaggedBackward{};
  };
  struct DelayStats {
    DelayStats(const HistogramSpec& spec, size_t exactSamples)
        : percentiles(exactSamples), exported(spec) {}
    void add(int64_t v);
    void clear();
    DelaySummary summary() const;
    RunningStats running;
    LogHistogram percentiles;
    FixedHistogram exported;
  };
  // The trusted values of one direction, apart from the as-measured ones.
  struct TrustedStats {
    RunningStats running;
    LogHistogram percentiles;
  };
  // How trusted one-way values are held (see addOneWay()).
  enum class Trust : uint8_t {
    kAlias,     // all samples so far trusted: the as-measured DelayStats
    kNone,      // none trusted yet (at least one flagged): nothing stored
    kSeparate,  // some flagged, some trusted: *trusted
  };
  struct IpdvStats {
    explicit IpdvStats(size_t exactSamples) : absPercentiles(exactSamples) {}
    void add(int64_t ipdv);
    void clear();
    IpdvSummary summary() const;
    RunningStats signedValues;
    double absMean = 0;  // running mean of |IPDV| (Welford's update)
    LogHistogram absPercentiles;
  };
  // The delays of one received packet, kept for IPDV pairing.
  struct DelayEntry {
    static constexpr int64_t kEmpty = INT64_MIN;  // no sequence number is this
    int64_t seq = kEmpty;                         // unfolded sequence number
    int64_t rtt = 0, forward = 0, backward = 0;
    bool hasForward = false, hasBackward = false;
  };
  struct InFlight {
    int64_t seq;
    UnixNs sentAt;
  };

  // The three receipt bitmaps, one word of each side by side.
  enum Bit : size_t { kSent = 0, kReplied = 1, kExpired = 2 };
  bool test(Bit which, int64_t seq) const;
  void set(Bit which, int64_t seq);
  void clearAll(int64_t seq);

  int64_t unfold(uint32_t seq) const;
  bool inWindow(int64_t seq) const;
  void slideTo(int64_t newHighest);
  void markLost(int64_t seq);
  void addDelays(int64_t seq, const ReplySample& r);
  void addOneWay(DelayStats& measured, Trust& trust, std::unique_ptr<TrustedStats>& trusted,
                 int64_t v, OneWayFlag flag, std::array<uint64_t, kOneWayFlags>& flagged);
  DelaySummary trustedSummary(const DelayStats& measured, Trust trust,
                              const TrustedStats* trusted) const;
  void pairIpdv(const DelayEntry& earlier, const DelayEntry& later);
  void pushInFlight(InFlight f);
  void popInFlight();
  void dropAnswered();

  StatsLimits limits_;
  Counters c_;
  bool anySent_ = false;
  bool anyReceived_ = false;
  bool statefulReflector_ = false;
  bool anyReflector_ = false;
  Trust forwardTrust_ = Trust::kAlias, backwardTrust_ = Trust::kAlias;
  int64_t highestSent_ = 0;
  int64_t highestReceived_ = 0;
  int64_t highestReflector_ = 0;  // unfolded reflector Sequence Number
  // sent, replied, expired (counted lost): 3 x seqWindow / 64 words,
  // allocated by the first onSent().
  std::vector<uint64_t> bits_;
  // Packets sent and maybe unanswered, increasing seq: a ring (capacity a
  // power of two) growing on demand; entries may be answered already.
  std::vector<InFlight> inFlight_;
  size_t inFlightHead_ = 0, inFlightSize_ = 0;
  DelayStats rtt_, forward_, backward_;
  std::unique_ptr<TrustedStats> trustedForward_, trustedBackward_;
  IpdvStats ipdvRtt_, ipdvForward_, ipdvBackward_;
  std::vector<DelayEntry> recent_;  // the IPDV ring, by seq modulo its size
};

}  // namespace stamp
