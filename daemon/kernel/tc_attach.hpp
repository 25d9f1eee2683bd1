// Attaching a pair of tc programs (ingress, egress) to one interface: tcx
// links on kernels that have them (>= 6.6), clsact + cls_bpf otherwise.
// Shared by the reflector and the sender, which attach side by side.
//
// Pinned attachments outlive the process: their tcx links are pinned as
// PIN_PREFIX_in / PIN_PREFIX_out, and a later attach with the same prefix
// adopts them, swapping in the new programs atomically (BPF_LINK_UPDATE),
// so the interface is never without a reflector. With cls_bpf the filters
// stay in the qdisc by themselves; PIN_PREFIX_tc marks that mode and
// PIN_PREFIX_clsact a qdisc stampd created, so that teardown removes what
// stampd made and nothing else (markers are empty directories: bpffs holds
// no regular files).
#pragma once

#include <string>
#include <vector>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

enum class AttachMode { Auto, Tcx, Tc };

class TcAttachment {
 public:
  // Attaches inFd to ingress and outFd to egress of `ifname`. With cls_bpf,
  // `priority` tells the programs of different owners apart; a clsact qdisc
  // that already exists is used and left in place on detach. A non-empty
  // `pinPrefix` makes the attachment pinned (see above).
  static Result<TcAttachment> attach(const std::string& ifname, int inFd, int outFd,
                                     AttachMode mode, unsigned priority,
                                     const std::string& pinPrefix = {});

  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;
  TcAttachment(TcAttachment&& o) noexcept { *this = std::move(o); }
  TcAttachment& operator=(TcAttachment&& o) noexcept;
  // Unpinned: detaches. Pinned: releases (the programs keep running).
  ~TcAttachment() { (void)(pinPrefix_.empty() ? detach() : release()); }

  // Removes the programs from the interface (and the pins). Idempotent;
  // only a clsact qdisc stampd created is removed.
  Result<void> detach();
  // Closes this process's handles but leaves pinned programs attached.
  Result<void> release();

  const std::string& ifname() const { return ifname_; }
  unsigned ifindex() const { return ifindex_; }
  const char* kind() const { return tc_ ? "tc" : "tcx"; }
  bool adopted() const { return adopted_; }

  // Removes what a pinned attachment left under `pinPrefix` for `ifname`
  // when no process holds it any more (stampd --teardown).
  static Result<void> teardown(const std::string& ifname, const std::string& pinPrefix,
                               unsigned priority);

 private:
  TcAttachment() = default;
  // Whether cls_bpf filters of stampd's other owners (priorities other
  // than `priority`) are on the interface's clsact qdisc.
  static bool otherFilters(unsigned ifindex, unsigned priority);
  std::string ifname_;
  std::string pinPrefix_;
  unsigned ifindex_ = 0;
  unsigned priority_ = 1;
  bool tc_ = false;
  bool createdHook_ = false;
  bool attached_ = false;
  bool adopted_ = false;
  UniqueFd inLink_, outLink_;
};

// Detaches and forgets the attachment of `ifname` in `list`, if any.
Result<void> detachOne(std::vector<TcAttachment>& list, const std::string& ifname);

}  // namespace stamp
