// Timestamp formats of STAMP (RFC 8762 section 4.2.1, RFC 8877): the NTP
// 64-bit format (UTC, epoch 1900) and the PTPv2 truncated format (TAI, epoch
// 1970). Internally stampd counts signed nanoseconds since the Unix epoch on
// the UTC scale (UnixNs); TAI values are UTC + the TAI offset.
#pragma once

#include <cstdint>
#include <string>

namespace stamp {

using UnixNs = int64_t;  // nanoseconds since 1970-01-01T00:00:00Z, UTC scale

inline constexpr int64_t kNsPerSec = 1'000'000'000;
inline constexpr uint64_t kNtpUnixOffsetSec = 2'208'988'800ULL;

// A 64-bit wire timestamp: seconds in the high half, fraction or
// nanoseconds in the low half, host order.
struct WireTs {
  uint32_t sec = 0;
  uint32_t frac = 0;
  uint64_t raw() const { return (uint64_t{sec} << 32) | frac; }
  static WireTs fromRaw(uint64_t r) { return {uint32_t(r >> 32), uint32_t(r)}; }
  bool operator==(const WireTs&) const = default;
};

// NTP format. The fraction is ns * 2^32 / 10^9 truncated, exactly as the BPF
// programs compute it, so both sides agree bit for bit.
WireTs ntpFromUnixNs(UnixNs t);
// Decodes an NTP timestamp, unfolding the 2^32-second era so that the result
// lies within 68 years of `reference` (pass the local time). The fraction is
// rounded to the nearest nanosecond.
UnixNs unixNsFromNtp(WireTs ts, UnixNs reference);

// PTPv2 truncated format: TAI seconds (32 low bits) and nanoseconds.
// `taiOffsetSec` is TAI - UTC (37 since 2017).
WireTs ptpFromUnixNs(UnixNs t, int32_t taiOffsetSec);
UnixNs unixNsFromPtp(WireTs ts, int32_t taiOffsetSec, UnixNs reference);

// Decodes with the format the Error Estimate's Z bit names.
UnixNs unixNsFromWire(WireTs ts, bool ptp, int32_t taiOffsetSec, UnixNs reference);

// RFC 3339 in UTC with microseconds: "2026-11-27T06:52:11.123456Z".
std::string formatRfc3339(UnixNs t);

// CLOCK_REALTIME now, as UnixNs.
UnixNs realtimeNow();

}  // namespace stamp
