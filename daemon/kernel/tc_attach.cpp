#include "kernel/tc_attach.hpp"

#include <algorithm>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "kernel/netif.hpp"
#include "stamp_abi.h"

// libbpf 1.1's uapi header predates tcx (Linux 6.6).
#ifndef BPF_TCX_INGRESS
#define STAMP_BPF_TCX_INGRESS static_cast<bpf_attach_type>(46)
#define STAMP_BPF_TCX_EGRESS static_cast<bpf_attach_type>(47)
#else
#define STAMP_BPF_TCX_INGRESS BPF_TCX_INGRESS
#define STAMP_BPF_TCX_EGRESS BPF_TCX_EGRESS
#endif

namespace stamp {
namespace {

bool exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

// A tcx link for (ifindex, type) running progFd: the pinned one at `pin`
// with its program swapped, or a new one (pinned at `pin` when given).
Result<UniqueFd> tcxLink(int progFd, unsigned ifindex, bpf_attach_type type, const std::string& pin,
                         bool& adopted) {
  if (!pin.empty() && exists(pin)) {
    UniqueFd old(bpf_obj_get(pin.c_str()));
    if (old.valid() && bpf_link_update(old.get(), progFd, nullptr) == 0) {
      adopted = true;
      return old;
    }
    // A link whose interface went away, or of another kind: start afresh.
    spdlog::info("pinned link {} cannot be adopted ({}); replacing it", pin, std::strerror(errno));
    ::unlink(pin.c_str());
  }
  int fd = bpf_link_create(progFd, static_cast<int>(ifindex), type, nullptr);
  if (fd < 0) return sysError(fd, "tcx attach");
  UniqueFd link(fd);
  if (!pin.empty() && bpf_obj_pin(fd, pin.c_str()) != 0)
    return errnoError("cannot pin link at " + pin);
  return link;
}

}  // namespace

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
  if (this == &o) return *this;
  (void)(pinPrefix_.empty() ? detach() : release());
  ifname_ = std::move(o.ifname_);
  pinPrefix_ = std::move(o.pinPrefix_);
  ifindex_ = o.ifindex_;
  priority_ = o.priority_;
  tc_ = o.tc_;
  createdHook_ = o.createdHook_;
  adopted_ = o.adopted_;
  attached_ = std::exchange(o.attached_, false);
  inLink_ = std::move(o.inLink_);
  outLink_ = std::move(o.outLink_);
  return *this;
}

Result<TcAttachment> TcAttachment::attach(const std::string& ifname, int inFd, int outFd,
                                          AttachMode mode, unsigned priority,
                                          const std::string& pinPrefix) {
  auto idx = interfaceIndex(ifname);
  if (!idx) return idx.error();
  TcAttachment a;
  a.ifname_ = ifname;
  a.ifindex_ = *idx;
  a.priority_ = priority;
  a.pinPrefix_ = pinPrefix;
  const std::string pinIn = pinPrefix.empty() ? "" : pinPrefix + STAMP_PIN_LINK_IN;
  const std::string pinOut = pinPrefix.empty() ? "" : pinPrefix + STAMP_PIN_LINK_OUT;

  if (mode != AttachMode::Tc) {
    bool adoptedIn = false;
    bool adoptedOut = false;
    auto in = tcxLink(inFd, a.ifindex_, STAMP_BPF_TCX_INGRESS, pinIn, adoptedIn);
    if (in) {
      auto out = tcxLink(outFd, a.ifindex_, STAMP_BPF_TCX_EGRESS, pinOut, adoptedOut);
      if (!out) {
        if (!pinIn.empty()) ::unlink(pinIn.c_str());
        return makeError(out.error().code, out.error().message + " to '" + ifname + "'");
      }
      a.inLink_ = std::move(*in);
      a.outLink_ = std::move(*out);
      a.adopted_ = adoptedIn && adoptedOut;
      a.attached_ = true;
      return a;
    }
    int err = in.error().code;
    // (ENOTSUP is EOPNOTSUPP on Linux.)
    if (mode == AttachMode::Tcx || (err != EINVAL && err != EOPNOTSUPP))
      return makeError(err, in.error().message + " to '" + ifname + "' failed");
    spdlog::info("kernel has no tcx ({}), falling back to clsact + cls_bpf on {}",
                 std::strerror(err), ifname);
  }

  a.tc_ = true;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(a.ifindex_), .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return sysError(err, "cannot create clsact qdisc on '" + ifname + "'");
  const std::string marker = pinPrefix.empty() ? "" : pinPrefix + STAMP_PIN_MARK_CLSACT;
  a.createdHook_ = err == 0 || (!marker.empty() && exists(marker));
  // Markers are empty directories: bpffs holds no regular files.
  auto touch = [](const std::string& path) { ::mkdir(path.c_str(), 0700); };
  if (!pinPrefix.empty()) touch(pinPrefix + STAMP_PIN_MARK_TC);  // filters to remove at teardown
  if (err == 0 && !marker.empty()) touch(marker);                // and the qdisc stampd made
  a.adopted_ = err != 0;
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

namespace {

// Priorities stampd's owners use for cls_bpf filters (handle 1 each): the
// reflector 1, the sender 2; a few more for what later versions may add.
constexpr unsigned kStampPriorities = 8;

}  // namespace

bool TcAttachment::otherFilters(unsigned ifindex, unsigned priority) {
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS})
    for (unsigned prio = 1; prio <= kStampPriorities; ++prio) {
      if (prio == priority) continue;
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex), .attach_point = point);
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = prio);
      if (bpf_tc_query(&hook, &opts) == 0) return true;
    }
  return false;
}

Result<void> TcAttachment::release() {
  attached_ = false;
  inLink_.reset();
  outLink_.reset();
  return {};
}

Result<void> TcAttachment::detach() {
  if (!attached_) return {};
  attached_ = false;
  if (!pinPrefix_.empty()) {
    ::unlink((pinPrefix_ + STAMP_PIN_LINK_IN).c_str());
    ::unlink((pinPrefix_ + STAMP_PIN_LINK_OUT).c_str());
  }
  if (!tc_) {
    // Detach explicitly: dropping the last reference frees a tcx link only
    // when the kernel gets to it, so the programs could outlive the call.
    for (auto* link : {&inLink_, &outLink_})
      if (link->valid()) (void)bpf_link_detach(link->get());
    inLink_.reset();
    outLink_.reset();
    return {};
  }
  auto r = teardown(ifname_, pinPrefix_, priority_);
  // A qdisc this process created goes with it, unless filters of another
  // owner joined it since (the pinned reflector attached after the sender
  // made the qdisc, at a reload): destroying it would take them along.
  if (createdHook_ && pinPrefix_.empty() && !otherFilters(ifindex_, priority_)) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex_),
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    int err = bpf_tc_hook_destroy(&hook);
    if (err && err != -ENOENT && r.ok())
      r = sysError(err, "cannot remove clsact qdisc from '" + ifname_ + "'");
  }
  return r;
}

Result<void> TcAttachment::teardown(const std::string& ifname, const std::string& pinPrefix,
                                    unsigned priority) {
  Result<void> res;
  if (!pinPrefix.empty()) {
    for (const char* dir : {STAMP_PIN_LINK_IN, STAMP_PIN_LINK_OUT}) {
      // Pinned tcx links are detached before their pins go, so the programs
      // are off the interface when teardown returns (not when the kernel
      // frees the link later).
      std::string pin = pinPrefix + dir;
      int fd = bpf_obj_get(pin.c_str());
      if (fd >= 0) {
        (void)bpf_link_detach(fd);
        ::close(fd);
      }
      ::unlink(pin.c_str());
    }
  }
  unsigned ifindex = if_nametoindex(ifname.c_str());
  const bool tcMode = pinPrefix.empty() || exists(pinPrefix + STAMP_PIN_MARK_TC);
  if (!pinPrefix.empty()) ::rmdir((pinPrefix + STAMP_PIN_MARK_TC).c_str());
  if (ifindex == 0 || !tcMode) {
    if (!pinPrefix.empty()) ::rmdir((pinPrefix + STAMP_PIN_MARK_CLSACT).c_str());
    return res;  // tcx links went with their pins; or the interface is gone
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex));
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = priority);
    int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && err != -EINVAL && res.ok())
      res = sysError(err, "cls_bpf detach from '" + ifname + "' failed");
  }
  const std::string marker = pinPrefix.empty() ? "" : pinPrefix + STAMP_PIN_MARK_CLSACT;
  if (!marker.empty() && exists(marker)) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    int err = bpf_tc_hook_destroy(&hook);
    if (err && err != -ENOENT && res.ok())
      res = sysError(err, "cannot remove clsact qdisc from '" + ifname + "'");
    ::rmdir(marker.c_str());
  }
  return res;
}

Result<void> detachOne(std::vector<TcAttachment>& list, const std::string& ifname) {
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const TcAttachment& a) { return a.ifname() == ifname; });
  if (it == list.end()) return {};
  auto r = it->detach();
  list.erase(it);
  return r;
}

}  // namespace stamp
