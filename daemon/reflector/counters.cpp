#include "reflector/counters.hpp"

#include "kernel/netif.hpp"
#include "kernel/reflector_bpf.hpp"

namespace stamp {
namespace {

// Per-ifindex values by attached interface name.
template <typename C>
void byName(const std::map<std::string, unsigned>& index, Result<std::map<unsigned, C>> counters,
            std::map<std::string, InterfaceCounters>& out, C InterfaceCounters::*field) {
  if (!counters) return;
  for (const auto& [ifname, idx] : index)
    if (auto it = counters->find(idx); it != counters->end()) out[ifname].*field = it->second;
}

}  // namespace

ReflectorSnapshot readSnapshot(const ReflectorBpf& bpf) {
  ReflectorSnapshot snap;
  snap.maxSessions = bpf.maxSessions();
  if (auto n = bpf.sessionCount()) snap.sessions = *n;
  std::map<std::string, unsigned> index;
  for (const auto& [ifname, kind] : bpf.attachments()) {
    snap.interfaces[ifname].attach = kind;
    if (auto idx = interfaceIndex(ifname)) index[ifname] = *idx;
  }
  byName(index, bpf.counters(), snap.interfaces, &InterfaceCounters::refl);
  byName(index, bpf.stateCounters(), snap.interfaces, &InterfaceCounters::state);
  byName(index, bpf.authCounters(), snap.interfaces, &InterfaceCounters::auth);
  byName(index, bpf.tlvCounters(), snap.interfaces, &InterfaceCounters::tlv);
  byName(index, bpf.guardCounters(), snap.interfaces, &InterfaceCounters::guard);
  byName(index, bpf.abuseCounters(), snap.interfaces, &InterfaceCounters::abuse);
  return snap;
}

const char* parseDropName(int reason) {
  switch (reason) {
    case STAMP_DROP_BAD_SOURCE:
      return "bad_source";
    case STAMP_DROP_SRC_PORT_ZERO:
      return "source_port_zero";
    case STAMP_DROP_MALFORMED:
      return "malformed";
    case STAMP_DROP_BAD_CHECKSUM:
      return "bad_checksum";
    case STAMP_DROP_RESIZE:
      return "resize_failed";
    case STAMP_DROP_UNSUPPORTED:
      return "unsupported_mode";
    default:
      return "unknown";
  }
}

void forEachDrop(const InterfaceCounters& c,
                 const std::function<void(const char* reason, uint64_t count)>& fn) {
  for (int k = 0; k < STAMP_DROP_MAX; ++k) fn(parseDropName(k), c.refl.drop[k]);
  fn("no_state", c.state.drop_no_state);
  fn("auth_failed", c.auth.failed);
  fn("auth_short", c.auth.short_);
  fn("auth_no_key", c.auth.no_key);
  fn("not_allowed", c.guard.not_allowed);
  fn("rate_per_source", c.guard.rate_per_source);
  fn("rate_global", c.guard.rate_global);
  fn("martian_source", c.abuse.martian_source);
  fn("reflector_source_port", c.abuse.reflector_source_port);
  fn("reflected_packet", c.abuse.reflected_packet);
  fn("short_request", c.abuse.short_request);
}

}  // namespace stamp
