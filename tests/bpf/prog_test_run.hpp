// The arguments of one BPF_PROG_TEST_RUN of a tc program, as the bpf tier
// (runTc), its concurrency tests and stamp_modes_bench all pass them.
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf.h>

#include <cstdint>

#include "packet.hpp"

namespace stamp::test {

// `frame` in; `out` sized for the frame plus the 256 octets a program may
// grow it by, for what the program leaves; __sk_buff contexts `ctxIn` (the
// caller sets e.g. its mark) and `ctxOut`; `repeat` runs. Everything it
// points to must outlive the run.
inline bpf_test_run_opts tcTestRunOpts(const Bytes& frame, Bytes& out, __sk_buff& ctxIn,
                                       __sk_buff& ctxOut, uint32_t repeat = 1) {
  out.assign(frame.size() + 256, 0);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = uint32_t(frame.size());
  opts.data_out = out.data();
  opts.data_size_out = uint32_t(out.size());
  opts.ctx_in = &ctxIn;
  opts.ctx_size_in = sizeof(ctxIn);
  opts.ctx_out = &ctxOut;
  opts.ctx_size_out = sizeof(ctxOut);
  opts.repeat = repeat;
  return opts;
}

}  // namespace stamp::test
