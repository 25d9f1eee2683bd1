#include "clock.hpp"

#include <cstring>
#include <string>

namespace stamp {

ClockState clockStateFrom(const struct timex& tx, int ret) {
  ClockState s;
  s.synchronized = !(tx.status & STA_UNSYNC) && ret != TIME_ERROR;
  s.taiOffsetSec = tx.tai;
  s.estErrorNs = tx.esterror > 0 ? uint64_t(tx.esterror) * 1000 : 0;
  s.maxErrorNs = tx.maxerror > 0 ? uint64_t(tx.maxerror) * 1000 : 0;
  s.errorEstimate =
      ErrorEstimate::fromErrorNs(s.synchronized ? s.estErrorNs : s.maxErrorNs, s.synchronized);
  return s;
}

Result<ClockState> readClock() {
  struct timex tx{};
  int ret = adjtimex(&tx);
  if (ret < 0) {
    int e = errno;
    return makeError(e, std::string("adjtimex failed: ") + std::strerror(e));
  }
  return clockStateFrom(tx, ret);
}

}  // namespace stamp
