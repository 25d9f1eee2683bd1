// The reflector as the daemon runs it: the BPF objects, configured from
// stamp.toml, and kept current (clock state, interface addresses) by
// refresh(), which the event loop calls every second.
#pragma once

#include "kernel/reflector_bpf.hpp"
#include "service/config.hpp"
#include "service/keys.hpp"

namespace stamp {

class Reflector {
 public:
  // Loads the programs, fills the maps and attaches to every configured
  // interface. Fails with a one-line reason naming the interface or port.
  // With a `pinDir` the reflector is pinned there and adopts what an
  // earlier stampd pinned; attachments of interfaces no longer configured
  // are removed.
  static Result<Reflector> start(const Config& cfg, const KeyRing& keys, AttachMode mode,
                                 const std::string& pinDir = {});
  // What start() and update() would refuse in `cfg`: modes this version
  // lacks (authenticated), interfaces that do not exist. Touches nothing.
  static Result<void> check(const Config& cfg);

  struct Change {
    std::vector<std::string> attached, detached;
  };
  // Applies a new configuration in place, for a reload: ports and their
  // mode, timestamp format, idle timeout and reply DSCP/ECN, and the guards
  // (allow/deny prefixes, rate limits) are rewritten in the maps
  // (a changed max_sessions waits for a restart: the table's size is fixed
  // at load) (new entries first, stale ones after,
  // so a port kept is never missing), the extra addresses replaced, and
  // interfaces attached or detached; interfaces kept keep their links.
  // check(cfg) first: a failure half-way leaves a partial change.
  Result<Change> update(const Config& cfg, const KeyRing& keys, AttachMode mode);
  // For a reload that disables the reflector: detaches everywhere and
  // removes its pins.
  Result<void> shutdown();

  // Re-reads the clock and the interfaces' addresses into the maps.
  Result<void> refresh();
  // Pinned: leaves the reflector answering. Unpinned: detaches.
  Result<void> stop() {
    if (bpf_.pinned()) return bpf_.release(), Result<void>();
    return bpf_.detachAll();
  }
  const ReflectorBpf& bpf() const { return bpf_; }

 private:
  Reflector(ReflectorBpf bpf, std::vector<std::string> ifs, std::vector<Ip16> extra)
      : bpf_(std::move(bpf)), interfaces_(std::move(ifs)), extraAddrs_(std::move(extra)) {}
  Result<void> writePorts(const ReflectorConfig& rc, const KeyRing& keys);
  // The RFC 8972 TLV configuration map, from rc_ and the clock's state
  // (tlv_sync_source "auto" follows it).
  Result<void> writeTlvConfig(bool clockSynchronized);
  // The allow/deny prefixes and the rate limits; buckets restart full when
  // a limit changed from `was` (or on the first write, `was` null).
  Result<void> writeGuards(const ReflectorConfig& rc, const ReflectorConfig* was);
  // What writeGuards() last wrote.
  ReflectorConfig guards_;
  ReflectorBpf bpf_;
  ReflectorConfig rc_;
  std::vector<std::string> interfaces_;
  std::vector<Ip16> extraAddrs_;
  std::vector<Ip16> lastAddrs_;
};

}  // namespace stamp
