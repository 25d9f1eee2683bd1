#include "tc_run.hpp"

#include "libstamp/error_estimate.hpp"
#include "prog_test_run.hpp"

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace stamp::test {

::testing::AssertionResult runTc(int progFd, const Bytes& frame, uint32_t mark, TcRun& run) {
  __sk_buff ctxIn{}, ctxOut{};
  ctxIn.mark = mark;
  bpf_test_run_opts opts = tcTestRunOpts(frame, run.out, ctxIn, ctxOut);
  int err = bpf_prog_test_run_opts(progFd, &opts);
  if (err != 0)
    return ::testing::AssertionFailure() << "BPF_PROG_TEST_RUN failed: " << std::strerror(-err);
  run.verdict = int(opts.retval);
  run.out.resize(opts.data_size_out);
  run.markOut = ctxOut.mark;
  return ::testing::AssertionSuccess();
}

ClockState syncedClock(int32_t taiOffsetSec) {
  ClockState clock;
  clock.synchronized = true;
  clock.taiOffsetSec = taiOffsetSec;
  clock.errorEstimate = ErrorEstimate::fromErrorNs(1000, true);
  return clock;
}

int32_t kernelTaiOffsetSec() {
  timespec tai{}, utc{};
  clock_gettime(CLOCK_TAI, &tai);
  clock_gettime(CLOCK_REALTIME, &utc);
  double d = double(tai.tv_sec - utc.tv_sec) + double(tai.tv_nsec - utc.tv_nsec) / 1e9;
  return int32_t(std::lround(d));
}

int64_t taiNow() {
  timespec ts{};
  clock_gettime(CLOCK_TAI, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

::testing::AssertionResult ok(const Result<void>& r) {
  if (r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.error().message;
}

std::string hexDump(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%02x%c", b[i],
                  (i % 16 == 15 || i + 1 == b.size()) ? '\n' : ' ');
    s += buf;
  }
  return s;
}

}  // namespace stamp::test
