// The reflector's BPF objects: loading the embedded skeleton, attaching its
// programs to interfaces (tcx links, or clsact + cls_bpf where tcx is
// missing), and reading and writing its maps. Every handle has one owner;
// nothing here throws, failures come back as Result with context.
//
// Built so the daemon issue can pin: the links are plain fds and the maps
// are reachable through mapFd().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernel/clock.hpp"
#include "kernel/netif.hpp"
#include "libstamp/result.hpp"
#include "stamp_abi.h"
#include "kernel/tc_attach.hpp"

struct stamp_refl;

namespace stamp {

class ReflectorBpf {
 public:
  // Opens and loads the embedded programs. On a verifier rejection the error
  // message carries the verifier log.
  // With a `pinDir`, the maps are pinned there (and adopted from there when
  // a compatible pin exists, counters and all), and attach() pins its links
  // there too, adopting pinned ones by swapping in the new programs.
  // `maxSessions` sizes the stateful session table (STAMP_MAP_REFL_SESS)
  // and the TLV session state (STAMP_MAP_TLV_SESS); a pinned table of
  // another size is replaced, its sessions restart at 0.
  static Result<ReflectorBpf> load(const std::string& pinDir = {},
                                   uint32_t maxSessions = STAMP_REFL_SESS_DEFAULT);
  // Removes every pin under `pinDir` and detaches what they held; for
  // stampd --teardown, when no stampd holds them. Lists what it removed.
  static Result<std::vector<std::string>> teardown(const std::string& pinDir);

  ReflectorBpf(const ReflectorBpf&) = delete;
  ReflectorBpf& operator=(const ReflectorBpf&) = delete;
  ReflectorBpf(ReflectorBpf&& o) noexcept;
  ReflectorBpf& operator=(ReflectorBpf&& o) noexcept;
  // Detaches what is attached, except pinned attachments, which keep
  // answering after the process is gone.
  ~ReflectorBpf();

  // Attaches ingress and egress programs to the interface. Auto tries tcx
  // first and falls back to clsact + cls_bpf when the kernel lacks tcx.
  Result<void> attach(const std::string& ifname, AttachMode mode = AttachMode::Auto);
  // Detaches from every interface (unpinning); only a clsact qdisc stampd
  // created is removed. Returns the first failure but tries them all.
  Result<void> detachAll();
  // Detaches from one interface (and unpins it); no-op if not attached.
  Result<void> detach(const std::string& ifname);
  // Lets go of the programs: pinned attachments stay, others detach.
  void release() { attached_.clear(); }
  bool pinned() const { return !pinDir_.empty(); }
  // Interfaces whose attachment was adopted from pins rather than created.
  std::vector<std::string> adopted() const;
  // "tcx" or "tc" per attached interface name.
  std::map<std::string, std::string> attachments() const;

  Result<void> setClock(const ClockState& clock);
  Result<void> setPorts(const std::vector<uint16_t>& ports, const stamp_port_cfg& cfg);
  // The replies' DSCP/ECN policy, for every port (STAMP_MAP_REFL_TOS); a
  // `cfg` without flags copies the request's values.
  Result<void> setTos(const stamp_tos_cfg& cfg);
  Result<void> setAddresses(const std::vector<Ip16>& addrs);
  // The guards: `rules` (prefix, STAMP_RULE_*) become exactly the content
  // of the allow/deny trie and `cfg` its switches and rate limits. Written
  // in an order that never leaves a kept rule missing: new rules, then the
  // configuration, then stale rules removed.
  Result<void> setGuards(const std::vector<std::pair<IpPrefix, uint8_t>>& rules,
                         const stamp_guard_cfg& cfg);
  // Empties the rate-limit buckets (every source starts with a full burst),
  // for limits that changed.
  // Changes kernel state, not this object: not const on purpose.
  Result<void> resetRateBuckets();  // NOLINT(readability-make-member-function-const)
  // The per-source bucket map and the bucket of all sources (for tests).
  int sourceRateMapFd() const;
  int allRateMapFd() const;
  // Counters per ifindex, summed over CPUs.
  Result<std::map<unsigned, stamp_refl_counters>> counters() const;
  // Requests the guards dropped, by reason, per ifindex, summed over CPUs.
  Result<std::map<unsigned, stamp_guard_counters>> guardCounters() const;
  // Requests the abuse defences dropped, by reason, per ifindex, summed
  // over CPUs.
  Result<std::map<unsigned, stamp_abuse_counters>> abuseCounters() const;
  // Stateful-mode counters per ifindex, summed over CPUs.
  Result<std::map<unsigned, stamp_state_counters>> stateCounters() const;
  // Authenticated-mode counters per ifindex, summed over CPUs.
  Result<std::map<unsigned, stamp_auth_counters>> authCounters() const;
  // The key midstates of the authenticated ports (exactly these ports).
  Result<void> setKeys(const std::vector<uint16_t>& ports, const stamp_hmac_key& key);
  // RFC 8972 TLV processing: its configuration (all zero until written:
  // TLVs copied unchanged), counters per ifindex summed over CPUs, and the
  // per-session Direct Measurement / Follow-Up state (for tests).
  Result<void> setTlvConfig(const stamp_tlv_cfg& cfg);
  Result<std::map<unsigned, stamp_tlv_counters>> tlvCounters() const;
  int tlvSessionMapFd() const;
  // The stateful session table: its fd (for status and tests), its size as
  // loaded, and how many sessions it holds now.
  int sessionMapFd() const;
  uint32_t maxSessions() const;
  Result<size_t> sessionCount() const;

  int inProgFd() const;
  int outProgFd() const;

 private:
  explicit ReflectorBpf(stamp_refl* skel);

  stamp_refl* skel_ = nullptr;
  std::string pinDir_;
  std::vector<TcAttachment> attached_;
};

// Routes libbpf's messages to spdlog (debug level) and keeps the last
// warnings, such as a verifier log, for error reports.
void installLibbpfLogger();
// The libbpf warnings (such as a verifier log) since the last call.
std::string takeLibbpfLog();

}  // namespace stamp
