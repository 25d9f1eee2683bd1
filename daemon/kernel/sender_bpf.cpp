#include "kernel/sender_bpf.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "kernel/reflector_bpf.hpp"
#include "stamp_send.skel.h"

namespace stamp {
namespace {

// cls_bpf priority of the sender's filters (the reflector uses 1).
constexpr unsigned kTcPriority = 2;

int onRing(void* ctx, void* data, size_t size) {
  if (size < sizeof(stamp_rx_record)) return 0;
  stamp_rx_record rec;
  std::memcpy(&rec, data, sizeof(rec));
  (*static_cast<SenderBpf::RecordFn*>(ctx))(rec);
  return 0;
}

int onTlvRing(void* ctx, void* data, size_t size) {
  // The record is large; hand it over in place (ring memory, 8-aligned).
  if (size < sizeof(stamp_tlv_record)) return 0;
  auto* fn = static_cast<SenderBpf::TlvFn*>(ctx);
  if (*fn) (*fn)(*static_cast<const stamp_tlv_record*>(data));
  return 0;
}

}  // namespace

Result<void> writeClockMap(int mapFd, const ClockState& clock) {
  uint32_t key = 0;
  stamp_config cfg{};
  cfg.tai_offset_ns = int64_t{clock.taiOffsetSec} * 1'000'000'000;
  cfg.err_est = clock.errorEstimate.encode();
  cfg.flags = STAMP_CFG_CLOCK_VALID;
  if (bpf_map_update_elem(mapFd, &key, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot update " STAMP_MAP_CONFIG);
  return {};
}

Result<SenderBpf> SenderBpf::load(RecordFn onRecord, TlvFn onTlv, uint32_t maxSessions) {
  SenderBpf s;
  s.onRecord_ = std::make_unique<RecordFn>(std::move(onRecord));
  s.onTlv_ = std::make_unique<TlvFn>(std::move(onTlv));
  takeLibbpfLog();
  s.skel_ = stamp_send__open();
  if (!s.skel_) return sysError(errno, "cannot open the embedded sender BPF object");
  // Entries are allocated as sessions start (BPF_F_NO_PREALLOC), but the
  // hash table's buckets are not: size it to what the limits allow.
  const uint32_t entries = std::clamp<uint32_t>(maxSessions, 1024, 1u << 20);
  bpf_map__set_max_entries(s.skel_->maps.stamp_sessions, entries);
  bpf_map__set_max_entries(s.skel_->maps.stamp_send_keys, entries);
  if (int err = stamp_send__load(s.skel_)) {
    Error e = sysError(err, "loading the sender BPF programs failed");
    if (std::string log = takeLibbpfLog(); !log.empty())
      e.message += "\nverifier/libbpf log:\n" + log;
    return e;
  }
  // One epoll set for both rings. consume() drains them in the order they
  // were added: TLV records first, so that a reply's TLVs are in before the
  // record that may end its session's run (stamp_send_in submits them in
  // that order too).
  s.ring_ =
      ring_buffer__new(bpf_map__fd(s.skel_->maps.stamp_tlv_ev), onTlvRing, s.onTlv_.get(), nullptr);
  if (!s.ring_) return sysError(errno, "cannot open the " STAMP_MAP_TLV_EVENTS " ring buffer");
  if (int e = ring_buffer__add(s.ring_, bpf_map__fd(s.skel_->maps.stamp_events), onRing,
                               s.onRecord_.get()))
    return sysError(e, "cannot open the " STAMP_MAP_EVENTS " ring buffer");
  return s;
}

SenderBpf::SenderBpf(SenderBpf&& o) noexcept {
  *this = std::move(o);
}

SenderBpf& SenderBpf::operator=(SenderBpf&& o) noexcept {
  if (this != &o) {
    destroy();
    skel_ = std::exchange(o.skel_, nullptr);
    ring_ = std::exchange(o.ring_, nullptr);
    onRecord_ = std::move(o.onRecord_);
    onTlv_ = std::move(o.onTlv_);
    attached_ = std::move(o.attached_);
    o.attached_.clear();
  }
  return *this;
}

SenderBpf::~SenderBpf() {
  destroy();
}

void SenderBpf::destroy() {
  (void)detachAll();
  if (ring_) ring_buffer__free(ring_);
  ring_ = nullptr;
  if (skel_) stamp_send__destroy(skel_);
  skel_ = nullptr;
}

Result<void> SenderBpf::attach(const std::string& ifname, AttachMode mode) {
  if (attachedTo(ifname)) return {};
  auto a = TcAttachment::attach(ifname, inProgFd(), outProgFd(), mode, kTcPriority);
  if (!a) return a.error();
  spdlog::info("sender timestamps attached to {} (ifindex {}) with {}", ifname, a->ifindex(),
               a->kind());
  attached_.push_back(std::move(*a));
  return {};
}

bool SenderBpf::attachedTo(const std::string& ifname) const {
  return std::ranges::any_of(attached_, [&](const auto& a) { return a.ifname() == ifname; });
}

Result<void> SenderBpf::detachAll() {
  Result<void> first;
  for (auto& a : attached_)
    if (auto r = a.detach(); !r && first.ok()) first = r;
  attached_.clear();
  return first;
}

Result<void> SenderBpf::setClock(const ClockState& clock) {
  return writeClockMap(bpf_map__fd(skel_->maps.stamp_config), clock);
}

Result<void> SenderBpf::addSession(const stamp_send_key& key, const stamp_send_session& s,
                                   const stamp_hmac_key* hmac) {
  // The key first: an authenticated session is never in the session map
  // without it.
  int kfd = bpf_map__fd(skel_->maps.stamp_send_keys);
  if (hmac && bpf_map_update_elem(kfd, &s.session_id, hmac, BPF_ANY) != 0)
    return sysError(errno, "cannot add a session key to " STAMP_MAP_SEND_KEYS);
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.stamp_sessions), &key, &s, BPF_ANY) != 0)
    return sysError(errno, "cannot add a session to " STAMP_MAP_SESSIONS);
  return {};
}

void SenderBpf::removeSession(const stamp_send_key& key, uint32_t sessionId) {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.stamp_sessions), &key);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.stamp_send_keys), &sessionId);
}

int SenderBpf::inProgFd() const {
  return bpf_program__fd(skel_->progs.stamp_send_in);
}
int SenderBpf::outProgFd() const {
  return bpf_program__fd(skel_->progs.stamp_send_out);
}

int SenderBpf::eventFd() const {
  return ring_buffer__epoll_fd(ring_);
}

void SenderBpf::consume() {
  // A record's handler may end a run, which drains the ring first: the
  // records of the pass in progress must not be handed out twice.
  if (consuming_) return;
  consuming_ = true;
  ring_buffer__consume(ring_);
  consuming_ = false;
}

}  // namespace stamp
