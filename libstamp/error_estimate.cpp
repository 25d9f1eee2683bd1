#include "libstamp/error_estimate.hpp"

#include <cmath>

#include "stamp_abi.h"

namespace stamp {

uint16_t ErrorEstimate::encode() const {
  return uint16_t((synchronized ? STAMP_EE_S : 0) | (ptp ? STAMP_EE_Z : 0) |
                  ((scale & STAMP_EE_SCALE_MASK) << STAMP_EE_SCALE_SHIFT) |
                  (multiplier & STAMP_EE_MULT_MASK));
}

ErrorEstimate ErrorEstimate::decode(uint16_t v) {
  return {(v & STAMP_EE_S) != 0, (v & STAMP_EE_Z) != 0,
          uint8_t((v >> STAMP_EE_SCALE_SHIFT) & STAMP_EE_SCALE_MASK),
          uint8_t(v & STAMP_EE_MULT_MASK)};
}

std::optional<double> ErrorEstimate::errorNs() const {
  if (multiplier == 0) return std::nullopt;
  return std::ldexp(double(multiplier), int(scale) - 32) * 1e9;
}

ErrorEstimate ErrorEstimate::fromErrorNs(uint64_t errorNs, bool synchronized, bool ptp) {
  // The error in units of 2^-32 s, rounded up: ceil(ns * 2^32 / 1e9).
  unsigned __int128 units = ((unsigned __int128)errorNs << 32);
  units = (units + 999'999'999) / 1'000'000'000;
  ErrorEstimate ee{synchronized, ptp, 0, 1};
  for (unsigned scale = 0; scale <= 63; ++scale) {
    unsigned __int128 step = (unsigned __int128)1 << scale;
    unsigned __int128 mult = (units + step - 1) / step;
    if (mult <= 255) {
      ee.scale = uint8_t(scale);
      ee.multiplier = uint8_t(mult == 0 ? 1 : mult);
      return ee;
    }
  }
  ee.scale = 63;
  ee.multiplier = 255;
  return ee;
}

}  // namespace stamp
