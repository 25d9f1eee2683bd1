// stamp_bpfstats: how long each BPF program on one interface's tcx hooks
// runs per packet. Enables the kernel's BPF run-time statistics (BPF_ENABLE_
// STATS; they stay on only while this process holds the returned fd), takes
// run_time_ns and run_cnt of every program attached to tcx ingress and
// egress of --ifname, waits --duration seconds, and prints the difference:
//
//   stamp_bpfstats: ingress stamp_refl_in runs=300000 ns_per_run=633
//
// Statistics cost every BPF program on the machine two clock reads per run
// while they are on, so use it in a run of its own, never while measuring
// CPU.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

// libbpf 1.1's uapi header predates tcx (Linux 6.6).
constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);
constexpr auto kTcxEgress = static_cast<bpf_attach_type>(47);

struct ProgStats {
  std::string hook;
  std::string name;
  int fd = -1;
  __u64 runTimeNs = 0;
  __u64 runCnt = 0;
};

bool readStats(ProgStats& p) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(p.fd, &info, &len) != 0) return false;
  p.name = info.name;
  p.runTimeNs = info.run_time_ns;
  p.runCnt = info.run_cnt;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"per-packet run time of the BPF programs on an interface's tcx hooks"};
  std::string ifname;
  double duration = 2;
  app.add_option("--ifname", ifname, "interface")->required();
  app.add_option("--duration", duration, "seconds to sample")->check(CLI::Range(0.1, 600.0));
  CLI11_PARSE(app, argc, argv);

  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "stamp_bpfstats: interface '%s': %s\n", ifname.c_str(),
                 std::strerror(errno));
    return 1;
  }
  int statsFd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (statsFd < 0) {
    std::fprintf(stderr, "stamp_bpfstats: cannot enable BPF statistics: %s\n",
                 std::strerror(-statsFd));
    return 1;
  }

  std::vector<ProgStats> progs;
  for (auto [hook, type] : {std::pair{"ingress", kTcxIngress}, {"egress", kTcxEgress}}) {
    __u32 ids[64] = {};
    __u32 count = 64, flags = 0;
    // For tcx the query target is the ifindex (a union with target_fd).
    if (bpf_prog_query(static_cast<int>(ifindex), type, 0, &flags, ids, &count) != 0) continue;
    for (__u32 i = 0; i < count; ++i) {
      ProgStats p;
      p.hook = hook;
      p.fd = bpf_prog_get_fd_by_id(ids[i]);
      if (p.fd >= 0 && readStats(p)) progs.push_back(p);
    }
  }
  if (progs.empty()) {
    std::fprintf(stderr, "stamp_bpfstats: no tcx programs on %s\n", ifname.c_str());
    return 1;
  }

  std::printf("stamp_bpfstats: ready\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));

  for (auto& p : progs) {
    ProgStats now = p;
    if (!readStats(now)) continue;
    __u64 runs = now.runCnt - p.runCnt;
    __u64 ns = now.runTimeNs - p.runTimeNs;
    std::printf("stamp_bpfstats: %s %s runs=%llu ns_per_run=%.0f\n", p.hook.c_str(), p.name.c_str(),
                static_cast<unsigned long long>(runs), runs ? double(ns) / double(runs) : 0.0);
    close(p.fd);
  }
  close(statsFd);
  return 0;
}
