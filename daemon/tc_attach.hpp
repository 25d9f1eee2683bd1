// Attaching a pair of tc programs (ingress, egress) to one interface: tcx
// links on kernels that have them (>= 6.6), clsact + cls_bpf otherwise.
// Shared by the reflector and the sender, which attach side by side.
#pragma once

#include <string>

#include "result.hpp"
#include "unique_fd.hpp"

namespace stamp {

enum class AttachMode { Auto, Tcx, Tc };

class TcAttachment {
 public:
  // Attaches inFd to ingress and outFd to egress of `ifname`. With cls_bpf,
  // `priority` tells the programs of different owners apart; a clsact qdisc
  // that already exists is used and left in place on detach.
  static Result<TcAttachment> attach(const std::string& ifname, int inFd, int outFd,
                                     AttachMode mode, unsigned priority);

  TcAttachment(TcAttachment&& o) noexcept { *this = std::move(o); }
  TcAttachment& operator=(TcAttachment&& o) noexcept;
  ~TcAttachment() { (void)detach(); }

  // Idempotent; only a clsact qdisc this attachment created is removed.
  Result<void> detach();

  const std::string& ifname() const { return ifname_; }
  unsigned ifindex() const { return ifindex_; }
  const char* kind() const { return tc_ ? "tc" : "tcx"; }

 private:
  TcAttachment() = default;
  std::string ifname_;
  unsigned ifindex_ = 0;
  unsigned priority_ = 1;
  bool tc_ = false;
  bool createdHook_ = false;
  bool attached_ = false;
  UniqueFd inLink_, outLink_;
};

}  // namespace stamp
