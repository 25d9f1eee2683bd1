// The kernel clock's state as STAMP needs it: the TAI - UTC offset the BPF
// programs subtract from bpf_ktime_get_tai_ns(), and this host's Error
// Estimate, both from adjtimex(2).
#pragma once

#include <sys/timex.h>

#include <cstdint>

#include "libstamp/error_estimate.hpp"
#include "libstamp/result.hpp"

namespace stamp {

struct ClockState {
  bool synchronized = false;  // !STA_UNSYNC and adjtimex() != TIME_ERROR
  int32_t taiOffsetSec = 0;   // timex.tai: 0 unless chrony/ntpd/ptp4l set it
  uint64_t estErrorNs = 0;    // timex.esterror
  uint64_t maxErrorNs = 0;    // timex.maxerror
  ErrorEstimate errorEstimate;
};

// Derives the state from an adjtimex() result; pure, for tests. A
// synchronised clock reports its estimated error; an unsynchronised one
// reports the kernel's maximum error with S clear.
ClockState clockStateFrom(const struct timex& tx, int adjtimexReturn);

// Reads the kernel clock. Fails only if adjtimex() itself fails.
Result<ClockState> readClock();

}  // namespace stamp
