// stamp_bounce: loads the benchmark's no-op tc reflector (stamp_bounce.bpf.c)
// on one interface's tcx ingress and keeps it attached until SIGTERM or
// SIGINT. With --drop the same program drops the matching packets instead:
// the benchmark's "load only" baseline. With --first it goes in front of
// whatever is attached already, so a running reflector can be shadowed and
// unshadowed without restarting it.
//
// Prints "stamp_bounce: ready" on stdout once attached, and the packet count
// on exit. The link is not pinned: it goes away with the process.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "stamp_bounce.skel.h"

namespace {

// libbpf 1.1's uapi header predates tcx and bpf_mprog (Linux 6.6).
constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);
constexpr __u32 kBpfFBefore = 1U << 3;  // BPF_F_BEFORE: with no relative prog, the head

struct SkelDeleter {
  void operator()(stamp_bounce* s) const { stamp_bounce__destroy(s); }
};

int fail(const std::string& what, int err) {
  std::fprintf(stderr, "stamp_bounce: %s: %s\n", what.c_str(), std::strerror(err < 0 ? -err : err));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"no-op tc reflector (or dropper) for the stampd benchmark"};
  std::string ifname;
  unsigned port = 862;
  bool drop = false, first = false;
  app.add_option("--ifname", ifname, "interface to attach to (tcx ingress)")->required();
  app.add_option("--port", port, "UDP destination port to bounce")->check(CLI::Range(1, 65535));
  app.add_flag("--drop", drop, "drop the matching packets instead of bouncing them");
  app.add_flag("--first", first,
               "attach in front of the programs already on the hook (to shadow a reflector)");
  CLI11_PARSE(app, argc, argv);

  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) return fail("interface '" + ifname + "'", errno);

  // Block the stop signals before anything else so sigwait() sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<stamp_bounce, SkelDeleter> skel(stamp_bounce__open());
  if (!skel) return fail("cannot open the embedded BPF object", errno);
  skel->rodata->bounce_port = static_cast<__u16>(port);
  skel->rodata->bounce_drop = drop ? 1 : 0;
  if (int err = stamp_bounce__load(skel.get()); err) return fail("loading the BPF program", err);

  int prog = bpf_program__fd(skel->progs.stamp_bounce);
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = first ? kBpfFBefore : 0);
  int link = bpf_link_create(prog, static_cast<int>(ifindex), kTcxIngress, &opts);
  if (link < 0) return fail("tcx ingress attach to '" + ifname + "'", link);

  std::printf("stamp_bounce: ready (%s on %s, port %u)\n", drop ? "drop" : "bounce", ifname.c_str(),
              port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  close(link);  // detaches

  int ncpu = libbpf_num_possible_cpus();
  std::vector<__u64> per(ncpu > 0 ? static_cast<size_t>(ncpu) : 1);
  __u32 key = 0;
  __u64 total = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stamp_bnc_count), &key, per.data()) == 0)
    for (auto v : per) total += v;
  std::printf("stamp_bounce: packets=%llu\n", static_cast<unsigned long long>(total));
  return 0;
}
