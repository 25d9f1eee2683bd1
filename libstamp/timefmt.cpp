#include "libstamp/timefmt.hpp"

#include <cstdio>
#include <ctime>
#include <initializer_list>

namespace stamp {
namespace {

constexpr int64_t kEra = int64_t{1} << 32;  // seconds in one 32-bit era

// Picks the era so that `sec32` (seconds modulo 2^32, counted from `epochSec`
// in Unix seconds) lands nearest the reference second.
int64_t unfoldSeconds(uint32_t sec32, int64_t epochSec, int64_t referenceSec) {
  int64_t base = referenceSec - epochSec;  // reference in the format's epoch
  int64_t era = base >= 0 ? base / kEra : -((-base + kEra - 1) / kEra);
  int64_t best = era * kEra + sec32;
  for (int64_t cand : {best - kEra, best + kEra}) {
    auto dist = [&](int64_t v) { return v > base ? v - base : base - v; };
    if (dist(cand) < dist(best)) best = cand;
  }
  return best + epochSec;
}

int64_t floorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

}  // namespace

WireTs ntpFromUnixNs(UnixNs t) {
  int64_t sec = floorDiv(t, kNsPerSec);
  uint64_t rem = uint64_t(t - sec * kNsPerSec);
  return {uint32_t(uint64_t(sec) + kNtpUnixOffsetSec), uint32_t((rem << 32) / kNsPerSec)};
}

UnixNs unixNsFromNtp(WireTs ts, UnixNs reference) {
  int64_t sec = unfoldSeconds(ts.sec, -int64_t(kNtpUnixOffsetSec), floorDiv(reference, kNsPerSec));
  int64_t ns = int64_t((uint64_t{ts.frac} * kNsPerSec + (uint64_t{1} << 31)) >> 32);
  return sec * kNsPerSec + ns;
}

WireTs ptpFromUnixNs(UnixNs t, int32_t taiOffsetSec) {
  int64_t tai = t + int64_t{taiOffsetSec} * kNsPerSec;
  int64_t sec = floorDiv(tai, kNsPerSec);
  return {uint32_t(uint64_t(sec)), uint32_t(tai - sec * kNsPerSec)};
}

UnixNs unixNsFromPtp(WireTs ts, int32_t taiOffsetSec, UnixNs reference) {
  int64_t refTaiSec = floorDiv(reference, kNsPerSec) + taiOffsetSec;
  int64_t sec = unfoldSeconds(ts.sec, 0, refTaiSec);
  return (sec - taiOffsetSec) * kNsPerSec + int64_t(ts.frac % uint32_t(kNsPerSec));
}

UnixNs unixNsFromWire(WireTs ts, bool ptp, int32_t taiOffsetSec, UnixNs reference) {
  return ptp ? unixNsFromPtp(ts, taiOffsetSec, reference) : unixNsFromNtp(ts, reference);
}

std::string formatRfc3339(UnixNs t) {
  int64_t sec = floorDiv(t, kNsPerSec);
  int64_t us = (t - sec * kNsPerSec) / 1000;
  time_t tt = time_t(sec);
  tm utc{};
  gmtime_r(&tt, &utc);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%06lldZ", (long long)us);
  return buf;
}

UnixNs realtimeNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

}  // namespace stamp
