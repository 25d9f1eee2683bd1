// stamp_tc_hooks: lists the BPF programs attached to an interface's tcx
// hooks (Linux 6.6), one line each: "tcx/ingress id 129 stamp_refl_in".
// Debian 12's bpftool (7.1) predates tcx, so `bpftool net show` prints
// nothing for them; the e2e tier uses this to see that stampd attached and,
// after it stopped, detached. Runs in the caller's network namespace.
//
// Exit status: 0 with the list (possibly empty), 1 when the interface does
// not exist or the kernel refuses the query.
#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

// The uapi header of libbpf 1.1 predates tcx.
constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr int kTcxEgress = 47;   // BPF_TCX_EGRESS

std::string progName(__u32 id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return "?";
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  std::string name = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.name : "?";
  close(fd);
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dev;
  CLI::App app{"stamp_tc_hooks: list the BPF programs on an interface's tcx hooks"};
  app.add_option("DEV", dev, "interface name, in the current network namespace")->required();
  CLI11_PARSE(app, argc, argv);

  unsigned ifindex = if_nametoindex(dev.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "stamp_tc_hooks: no interface '%s': %s\n", dev.c_str(),
                 std::strerror(errno));
    return 1;
  }
  for (auto [type, label] : {std::pair{kTcxIngress, "tcx/ingress"}, {kTcxEgress, "tcx/egress"}}) {
    std::vector<__u32> ids(64);
    LIBBPF_OPTS(bpf_prog_query_opts, opts, .prog_ids = ids.data(), .prog_cnt = __u32(ids.size()));
    int err = bpf_prog_query_opts(int(ifindex), bpf_attach_type(type), &opts);
    if (err) {
      std::fprintf(stderr, "stamp_tc_hooks: %s query on '%s' failed: %s\n", label, dev.c_str(),
                   std::strerror(-err));
      return 1;
    }
    for (__u32 i = 0; i < opts.prog_cnt && i < ids.size(); ++i)
      std::printf("%s id %u %s\n", label, ids[i], progName(ids[i]).c_str());
  }
  return 0;
}
