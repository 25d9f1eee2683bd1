// The Session-Sender's BPF objects: T1 on egress, T4 and the reply record on
// ingress (bpf/stamp_send.bpf.c). Sessions are entries of stamp_sessions;
// replies arrive through the stamp_events ring buffer, whose fd the event
// loop watches.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernel/clock.hpp"
#include "libstamp/result.hpp"
#include "stamp_abi.h"
#include "kernel/tc_attach.hpp"

struct stamp_send;
struct ring_buffer;

namespace stamp {

class SenderBpf {
 public:
  using RecordFn = std::function<void(const stamp_rx_record&)>;
  // A reply's TLV octets (sessions with STAMP_SEND_F_TLV); `data` holds
  // rec.captured octets, valid during the call only.
  using TlvFn = std::function<void(const stamp_tlv_record& rec)>;

  // Loads the programs; `onRecord` is called from consume() for every reply,
  // `onTlv` (if set) for every reply that carried TLVs, before its record.
  // `maxSessions`: the session tables' capacity, fixed at load ([limits]
  // max_sessions as stampd starts; clamped to [1024, 2^20]).
  static Result<SenderBpf> load(RecordFn onRecord, TlvFn onTlv = {}, uint32_t maxSessions = 65536);

  SenderBpf(const SenderBpf&) = delete;
  SenderBpf& operator=(const SenderBpf&) = delete;
  SenderBpf(SenderBpf&& o) noexcept;
  SenderBpf& operator=(SenderBpf&& o) noexcept;
  ~SenderBpf();

  Result<void> attach(const std::string& ifname, AttachMode mode);
  Result<void> detachAll();
  Result<void> detach(const std::string& ifname) { return detachOne(attached_, ifname); }
  bool attachedTo(const std::string& ifname) const;

  Result<void> setClock(const ClockState& clock);
  // `hmac`: the key midstates of an authenticated session (flags has
  // STAMP_SEND_F_AUTH), stored under s.session_id.
  Result<void> addSession(const stamp_send_key& key, const stamp_send_session& s,
                          const stamp_hmac_key* hmac = nullptr);
  void removeSession(const stamp_send_key& key, uint32_t sessionId);

  int inProgFd() const;
  int outProgFd() const;

  // The ring buffer's epoll fd: readable when records wait.
  int eventFd() const;
  // Hands every waiting record to onRecord.
  void consume();

 private:
  SenderBpf() = default;
  void destroy();
  stamp_send* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  bool consuming_ = false;
  std::unique_ptr<RecordFn> onRecord_;  // stable address: the ring's context
  std::unique_ptr<TlvFn> onTlv_;
  std::vector<TcAttachment> attached_;
};

// Writes the clock state into a stamp_config map (shared by both objects).
Result<void> writeClockMap(int mapFd, const ClockState& clock);

}  // namespace stamp
