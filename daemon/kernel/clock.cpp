#include "kernel/clock.hpp"

#include <cstring>
#include <string>

namespace stamp {

ClockState clockStateFrom(const struct timex& tx, int adjtimexReturn) {
  ClockState s;
  s.synchronized = !(tx.status & STA_UNSYNC) && adjtimexReturn != TIME_ERROR;
  s.taiOffsetSec = tx.tai;
  // Microseconds to nanoseconds, saturating: an absurd kernel value must
  // still encode as "very large", never wrap to a small one.
  auto toNs = [](long us) -> uint64_t {
    if (us <= 0) return 0;
    return uint64_t(us) > UINT64_MAX / 1000 ? UINT64_MAX : uint64_t(us) * 1000;
  };
  s.estErrorNs = toNs(tx.esterror);
  s.maxErrorNs = toNs(tx.maxerror);
  s.errorEstimate =
      ErrorEstimate::fromErrorNs(s.synchronized ? s.estErrorNs : s.maxErrorNs, s.synchronized);
  return s;
}

Result<ClockState> readClock() {
  struct timex tx {};
  int ret = adjtimex(&tx);
  if (ret < 0) {
    int e = errno;
    return makeError(e, std::string("adjtimex failed: ") + std::strerror(e));
  }
  return clockStateFrom(tx, ret);
}

}  // namespace stamp
