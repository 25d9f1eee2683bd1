// Running one tc program under BPF_PROG_TEST_RUN, and the few things the
// bpf-tier fixtures need around it: the kernel's TAI offset, Result<void> as
// a gtest assertion, a hex dump for failure messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/sender_bpf.hpp"
#include "kernel/clock.hpp"
#include "packet.hpp"
#include "libstamp/result.hpp"

namespace stamp::test {

// BPF_PROG_TEST_RUN runs a tc program on a skb of the loopback device.
inline constexpr unsigned kLoIfindex = 1;

// What a run hands back: the tc verdict, the frame as the program left it
// and the skb mark.
struct TcRun {
  int verdict = 0;
  Bytes out;
  uint32_t markOut = 0;
};

// One BPF_PROG_TEST_RUN of the tc program `progFd` on `frame`, with a
// __sk_buff context whose only non-zero field is `mark`. With ifindex 0 the
// kernel runs it on a skb of the loopback device. Fails only if the syscall
// does.
::testing::AssertionResult runTc(int progFd, const Bytes& frame, uint32_t mark, TcRun& run);

// TAI - UTC as the kernel applies it to CLOCK_TAI (and so to
// bpf_ktime_get_tai_ns()): timex.tai, 0 unless a time daemon set it.
int32_t kernelTaiOffsetSec();

// What the fixtures write to stamp_config: a synchronised clock with a 1 us
// Error Estimate and TAI offset `taiOffsetSec`.
ClockState syncedClock(int32_t taiOffsetSec);

// CLOCK_TAI now, in nanoseconds.
int64_t taiNow();

::testing::AssertionResult ok(const Result<void>& r);

// 16 octets a line, for failure messages.
std::string hexDump(const Bytes& b);

// The loopback device's entry in per-interface counters (ReflectorBpf's
// counters(), stateCounters(), authCounters(), tlvCounters()), zero when it
// has none yet. An error fails the test.
template <typename Counters>
Counters loEntry(Result<std::map<unsigned, Counters>> all) {
  if (!all) {
    ADD_FAILURE() << all.error().message;
    return {};
  }
  auto it = all->find(kLoIfindex);
  return it == all->end() ? Counters{} : it->second;
}

// Loads the programs under test once per suite: `load()` returns a
// Result<Bpf>. Not root, or EPERM: `skip` says why; any other failure goes to
// `error` (the tests then fail with it).
template <typename Bpf, typename Load>
void loadForSuite(std::optional<Bpf>& bpf, std::string& skip, std::string& error, Load load) {
  skip.clear();
  error.clear();
  if (geteuid() != 0) {
    skip = "needs root: loads BPF programs and runs BPF_PROG_TEST_RUN";
    return;
  }
  installLibbpfLogger();
  auto r = load();
  if (!r) {
    if (r.error().code == EPERM)
      skip = "BPF program load not permitted here (EPERM): " + r.error().message;
    else
      error = r.error().message;
    return;
  }
  bpf.emplace(std::move(*r));
}

// The fixture of a test suite whose tests share one loaded Bpf (ReflectorBpf
// or SenderBpf), Derived being that fixture: loaded once before the suite by
// Derived::load() (Bpf::load() unless Derived has its own, public), dropped
// after it. Each test first skips when the load was not permitted here, or
// fails with the load's error; then Derived's prepare() sets the maps up.
template <typename Derived, typename Bpf>
class BpfSuite : public ::testing::Test {
 public:
  static Result<Bpf> load() { return Bpf::load(); }
  static void SetUpTestSuite() {
    loadForSuite(bpf_, skipReason_, loadError_, [] { return Derived::load(); });
  }
  static void TearDownTestSuite() { bpf_.reset(); }

 protected:
  void SetUp() final {
    if (!skipReason_.empty()) GTEST_SKIP() << skipReason_;
    ASSERT_TRUE(bpf_) << loadError_;
    prepare();
  }
  virtual void prepare() {}

  static inline std::optional<Bpf> bpf_;
  static inline std::string skipReason_, loadError_;
};

// A BpfSuite of the sender's programs that keeps what their ring buffers
// hand over (at bpf_->consume()) in records_ and tlvRecords_.
template <typename Derived>
class SenderSuite : public BpfSuite<Derived, SenderBpf> {
 public:
  static Result<SenderBpf> load() {
    return SenderBpf::load([](const stamp_rx_record& r) { records_.push_back(r); },
                           [](const stamp_tlv_record& r) { tlvRecords_.push_back(r); });
  }

 protected:
  static inline std::vector<stamp_rx_record> records_;
  static inline std::vector<stamp_tlv_record> tlvRecords_;
};

}  // namespace stamp::test
