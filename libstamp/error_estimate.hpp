// The Error Estimate field (RFC 4656 section 4.1.2; the Z bit from RFC 8186
// section 2.3): S (synchronised), Z (0 NTP, 1 PTP), Scale and Multiplier,
// error = Multiplier * 2^(Scale - 32) seconds.
#pragma once

#include <cstdint>
#include <optional>

namespace stamp {

struct ErrorEstimate {
  bool synchronized = false;
  bool ptp = false;   // the Z bit
  uint8_t scale = 0;  // 0..63
  uint8_t multiplier = 1;

  uint16_t encode() const;
  static ErrorEstimate decode(uint16_t v);
  // The error in nanoseconds, rounded up; nullopt when Multiplier is 0 (the
  // RFC calls such a value corrupt; TWAMP-Light peers often send it).
  std::optional<double> errorNs() const;
  // Smallest Scale whose Multiplier (rounded up, never 0) covers errorNs, so
  // the encoded value never understates the error.
  static ErrorEstimate fromErrorNs(uint64_t errorNs, bool synchronized, bool ptp = false);
};

// The encoding of "unsynchronised, error unknown": S=0, Scale=63, Mult=255.
inline constexpr uint16_t kErrorEstimateUnknown = 0x3fff;

}  // namespace stamp
