// The reflector's counters as one value: what status and the metrics show,
// read from the BPF maps once per request or scrape. Renderers take this
// snapshot, not the maps, so they can be tested without BPF.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "stamp_abi.h"

namespace stamp {

class ReflectorBpf;

// One attached interface's counters, summed over CPUs (zeros for an
// interface the programs have not seen a packet on yet).
struct InterfaceCounters {
  std::string attach;  // "tcx", "tc", ... as ReflectorBpf::attachments() says
  stamp_refl_counters refl{};
  stamp_state_counters state{};
  stamp_auth_counters auth{};
  stamp_tlv_counters tlv{};
  stamp_guard_counters guard{};
  stamp_abuse_counters abuse{};
};

struct ReflectorSnapshot {
  uint32_t maxSessions = 0;                             // size of the stateful session table
  std::optional<uint64_t> sessions;                     // entries in it, when readable
  std::map<std::string, InterfaceCounters> interfaces;  // by interface name
};

// Reads every counters map of `bpf` (a map that cannot be read gives zeros).
ReflectorSnapshot readSnapshot(const ReflectorBpf& bpf);

// Every reason the reflector drops a request for, in one list: the parse
// drops of stamp_refl_counters.drop[], the stateful, authenticated and
// guard drops. Calls `fn(reason, count)` in a fixed order; status and the
// metrics' "reason" label use these names.
void forEachDrop(const InterfaceCounters& c,
                 const std::function<void(const char* reason, uint64_t count)>& fn);

// The name of a STAMP_DROP_* index ("bad_source", ...; "unknown" if none).
const char* parseDropName(int reason);

}  // namespace stamp
