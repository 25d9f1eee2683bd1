// Replies for the statistics tests, built from one-way delays.
#pragma once

#include <cstdint>

#include "libstamp/timefmt.hpp"
#include "sender/stats.hpp"

namespace stamp::testing {

inline constexpr UnixNs kEpoch = 1'700'000'000 * kNsPerSec;  // Nov 2023
inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kUs = 1'000;

// A reply whose timestamps follow from one-way delays, the reflector's
// dwell time and the reflector clock's offset from the sender's.
inline ReplySample reply(uint32_t seq, UnixNs t1, int64_t fwd, int64_t dwell, int64_t bwd,
                         int64_t reflectorOffset = 0) {
  ReplySample r;
  r.senderSeq = seq;
  r.reflectorSeq = seq;
  r.t1 = t1;
  r.t2 = t1 + fwd + reflectorOffset;
  r.t3 = r.t2 + dwell;
  r.t4 = t1 + fwd + dwell + bwd;
  return r;
}

}  // namespace stamp::testing
