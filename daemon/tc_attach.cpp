#include "tc_attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "netif.hpp"

// libbpf 1.1's uapi header predates tcx (Linux 6.6).
#ifndef BPF_TCX_INGRESS
#define STAMP_BPF_TCX_INGRESS static_cast<bpf_attach_type>(46)
#define STAMP_BPF_TCX_EGRESS static_cast<bpf_attach_type>(47)
#else
#define STAMP_BPF_TCX_INGRESS BPF_TCX_INGRESS
#define STAMP_BPF_TCX_EGRESS BPF_TCX_EGRESS
#endif

namespace stamp {
Result<TcAttachment> TcAttachment::attach(const std::string& ifname, int inFd, int outFd,
                                          AttachMode mode, unsigned priority) {
  auto idx = interfaceIndex(ifname);
  if (!idx) return idx.error();
  TcAttachment a;
  a.ifname_ = ifname;
  a.ifindex_ = *idx;
  a.priority_ = priority;

  if (mode != AttachMode::Tc) {
    int in = bpf_link_create(inFd, a.ifindex_, STAMP_BPF_TCX_INGRESS, nullptr);
    if (in >= 0) {
      a.inLink_.reset(in);
      int out = bpf_link_create(outFd, a.ifindex_, STAMP_BPF_TCX_EGRESS, nullptr);
      if (out < 0) return sysError(out, "tcx egress attach to '" + ifname + "' failed");
      a.outLink_.reset(out);
      a.attached_ = true;
      return a;
    }
    if (mode == AttachMode::Tcx || (in != -EINVAL && in != -EOPNOTSUPP && in != -ENOTSUP))
      return sysError(in, "tcx attach to '" + ifname + "' failed");
    spdlog::info("kernel has no tcx ({}), falling back to clsact + cls_bpf on {}",
                 std::strerror(-in), ifname);
  }

  a.tc_ = true;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(a.ifindex_), .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return sysError(err, "cannot create clsact qdisc on '" + ifname + "'");
  a.createdHook_ = (err == 0);
  a.attached_ = true;
  for (auto [point, fd] : {std::pair{BPF_TC_INGRESS, inFd}, {BPF_TC_EGRESS, outFd}}) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE, .handle = 1,
                .priority = priority);
    err = bpf_tc_attach(&hook, &opts);
    if (err) return sysError(err, "cls_bpf attach to '" + ifname + "' failed");
  }
  return a;
}

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
  if (this == &o) return *this;
  (void)detach();
  ifname_ = std::move(o.ifname_);
  ifindex_ = o.ifindex_;
  priority_ = o.priority_;
  tc_ = o.tc_;
  createdHook_ = o.createdHook_;
  attached_ = std::exchange(o.attached_, false);
  inLink_ = std::move(o.inLink_);
  outLink_ = std::move(o.outLink_);
  return *this;
}

Result<void> TcAttachment::detach() {
  if (!attached_) return {};
  attached_ = false;
  if (!tc_) {
    inLink_.reset();  // closing an unpinned tcx link detaches it
    outLink_.reset();
    return {};
  }
  Result<void> res;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex_));
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = priority_);
    int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && res.ok())
      res = sysError(err, "cls_bpf detach from '" + ifname_ + "' failed");
  }
  if (createdHook_) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    int err = bpf_tc_hook_destroy(&hook);
    if (err && err != -ENOENT && res.ok())
      res = sysError(err, "cannot remove clsact qdisc from '" + ifname_ + "'");
  }
  return res;
}

}  // namespace stamp
