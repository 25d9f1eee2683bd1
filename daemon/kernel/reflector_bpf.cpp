#include "kernel/reflector_bpf.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <filesystem>
#include <set>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

#include "kernel/pin_root.hpp"
#include "kernel/sender_bpf.hpp"
#include "stamp_refl.skel.h"

namespace stamp {
namespace {

// cls_bpf priority of the reflector's filters (the sender uses 2).
constexpr unsigned kTcPriority = 1;

std::mutex gLogMu;
std::string gLastWarnings;

int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Verifier logs arrive as one message of many kilobytes: size it first.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string line(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0) vsnprintf(line.data(), line.size() + 1, fmt, args);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (level == LIBBPF_WARN) {
    std::lock_guard lk(gLogMu);
    gLastWarnings += line + "\n";
    if (gLastWarnings.size() > (1 << 20)) gLastWarnings.erase(0, gLastWarnings.size() - (1 << 20));
  }
  spdlog::debug("libbpf: {}", line);
  return 0;
}

}  // namespace

std::string takeLibbpfLog() {
  std::lock_guard lk(gLogMu);
  return std::exchange(gLastWarnings, {});
}

void installLibbpfLogger() {
  libbpf_set_print(libbpfPrint);
}

ReflectorBpf::ReflectorBpf(stamp_refl* skel) : skel_(skel) {}

ReflectorBpf::ReflectorBpf(ReflectorBpf&& o) noexcept
    : skel_(std::exchange(o.skel_, nullptr)),
      pinDir_(std::move(o.pinDir_)),
      attached_(std::move(o.attached_)) {
  o.attached_.clear();
}

ReflectorBpf& ReflectorBpf::operator=(ReflectorBpf&& o) noexcept {
  if (this != &o) {
    attached_.clear();
    if (skel_) stamp_refl__destroy(skel_);
    skel_ = std::exchange(o.skel_, nullptr);
    pinDir_ = std::move(o.pinDir_);
    attached_ = std::move(o.attached_);
    o.attached_.clear();
  }
  return *this;
}

ReflectorBpf::~ReflectorBpf() {
  attached_.clear();  // each attachment detaches or, when pinned, stays
  if (skel_) stamp_refl__destroy(skel_);
}

namespace {

// max_entries of the map pinned at `path`, or 0 when there is none.
uint32_t pinnedMaxEntries(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  uint32_t n = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.max_entries : 0;
  ::close(fd);
  return n;
}

// A per-CPU hash of counter structs keyed by ifindex, summed over CPUs
// field by field: the one way every counters map of the reflector is read.
// T is a stamp_abi.h counters struct, __u64 fields only (padding included,
// which BPF leaves zero).
template <class T>
Result<std::map<unsigned, T>> sumPerCpu(int fd) {
  static_assert(sizeof(T) % sizeof(uint64_t) == 0);
  std::map<unsigned, T> out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sysError(ncpu, "cannot count CPUs");
  std::vector<T> per(static_cast<size_t>(ncpu));
  uint32_t cur = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, per.data()) == 0) {
      uint64_t sum[sizeof(T) / sizeof(uint64_t)] = {};
      for (const auto& c : per) {
        uint64_t w[sizeof(T) / sizeof(uint64_t)];
        std::memcpy(w, &c, sizeof(T));
        for (size_t i = 0; i < std::size(sum); i++) sum[i] += w[i];
      }
      T t;
      std::memcpy(&t, sum, sizeof(T));
      out[next] = t;
    }
    cur = next;
    prev = &cur;
  }
  return out;
}

}  // namespace

Result<ReflectorBpf> ReflectorBpf::load(const std::string& pinDir, uint32_t maxSessions) {
  takeLibbpfLog();
  stamp_refl* skel = stamp_refl__open();
  if (!skel) return sysError(errno, "cannot open the embedded reflector BPF object");
  for (bpf_map* m : {skel->maps.stamp_refl_sess, skel->maps.stamp_tlv_sess})
    if (int e = bpf_map__set_max_entries(m, maxSessions)) {
      stamp_refl__destroy(skel);
      return sysError(
          e, std::string("cannot size ") + bpf_map__name(m) + " to " + std::to_string(maxSessions));
    }
  if (!pinDir.empty()) {
    // A pinned map is adopted only with its exact size; the session tables
    // may be resized, at the price of their sessions.
    for (const char* name : {STAMP_MAP_REFL_SESS, STAMP_MAP_TLV_SESS}) {
      std::string sess = pinDir + "/" + name;
      if (uint32_t was = pinnedMaxEntries(sess); was != 0 && was != maxSessions) {
        spdlog::info("reflector max_sessions {} -> {}: {} starts empty", was, maxSessions, name);
        if (::unlink(sess.c_str()) != 0 && errno != ENOENT) {
          stamp_refl__destroy(skel);
          return errnoError("cannot remove " + sess);
        }
      }
    }
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, skel->obj) {
      // Constants (.rodata: SHA-256's round constants) belong to the
      // program that is loaded, not to the pinned state.
      if (bpf_map__is_internal(map)) continue;
      // The TLV walk's per-CPU work area holds nothing across packets; not
      // pinning it lets its layout change between versions.
      if (std::string(bpf_map__name(map)) == STAMP_MAP_TLV_SCRATCH) continue;
      std::string path = pinDir + "/" + bpf_map__name(map);
      if (int e = bpf_map__set_pin_path(map, path.c_str())) {
        stamp_refl__destroy(skel);
        return sysError(e, "cannot set pin path " + path);
      }
    }
  }
  int err = stamp_refl__load(skel);
  if (err) {
    std::string log = takeLibbpfLog();
    stamp_refl__destroy(skel);
    Error e = sysError(err, "loading the reflector BPF programs failed");
    if (!log.empty()) e.message += "\nverifier/libbpf log:\n" + log;
    return e;
  }
  ReflectorBpf r(skel);
  r.pinDir_ = pinDir;
  return r;
}

int ReflectorBpf::inProgFd() const {
  return bpf_program__fd(skel_->progs.stamp_refl_in);
}
int ReflectorBpf::outProgFd() const {
  return bpf_program__fd(skel_->progs.stamp_refl_out);
}

Result<void> ReflectorBpf::attach(const std::string& ifname, AttachMode mode) {
  for (const auto& a : attached_)
    if (a.ifname() == ifname) return {};
  std::string pin = pinDir_.empty() ? "" : linkPinPrefix(pinDir_, ifname);
  auto a = TcAttachment::attach(ifname, inProgFd(), outProgFd(), mode, kTcPriority, pin);
  if (!a) return a.error();
  spdlog::info("reflector {} {} (ifindex {}) with {}{}",
               a->adopted() ? "adopted on" : "attached to", ifname, a->ifindex(),
               a->kind() == std::string("tcx") ? "tcx links" : "clsact + cls_bpf",
               pin.empty() ? "" : ", pinned under " + pinDir_);
  attached_.push_back(std::move(*a));
  return {};
}

Result<void> ReflectorBpf::detachAll() {
  Result<void> first;
  for (auto& a : attached_) {
    auto r = a.detach();
    if (!r && first.ok()) first = r;
  }
  attached_.clear();
  return first;
}

Result<void> ReflectorBpf::detach(const std::string& ifname) {
  return detachOne(attached_, ifname);
}

std::vector<std::string> ReflectorBpf::adopted() const {
  std::vector<std::string> v;
  for (const auto& a : attached_)
    if (a.adopted()) v.push_back(a.ifname());
  return v;
}

Result<std::vector<std::string>> ReflectorBpf::teardown(const std::string& pinDir) {
  std::vector<std::string> removed;
  std::error_code ec;
  if (!std::filesystem::exists(pinDir, ec)) return removed;
  std::set<std::string> links;
  std::vector<std::string> others;
  for (const auto& e : std::filesystem::directory_iterator(pinDir, ec)) {
    const std::string name = e.path().filename();
    std::string ifname;
    for (const char* suffix :
         {STAMP_PIN_LINK_IN, STAMP_PIN_LINK_OUT, STAMP_PIN_MARK_CLSACT, STAMP_PIN_MARK_TC})
      if (ifname.empty()) ifname = linkPinInterface(name, suffix);
    if (!ifname.empty())
      links.insert(ifname);
    else
      others.push_back(e.path());
  }
  Result<std::vector<std::string>> res = removed;
  for (const auto& ifname : links) {
    auto r = TcAttachment::teardown(ifname, linkPinPrefix(pinDir, ifname), kTcPriority);
    if (!r && res.ok()) res = r.error();
    removed.push_back("reflector on " + ifname);
  }
  for (const auto& path : others) {
    if (::unlink(path.c_str()) != 0 && res.ok()) res = errnoError("cannot remove " + path);
    removed.push_back(path);
  }
  if (::rmdir(pinDir.c_str()) != 0 && errno != ENOENT && res.ok())
    res = errnoError("cannot remove " + pinDir);
  if (!res) return res;
  return removed;
}

std::map<std::string, std::string> ReflectorBpf::attachments() const {
  std::map<std::string, std::string> m;
  for (const auto& a : attached_) m[a.ifname()] = a.kind();
  return m;
}

Result<void> ReflectorBpf::setClock(const ClockState& clock) {
  return writeClockMap(bpf_map__fd(skel_->maps.stamp_config), clock);
}

namespace {

// The keys of map `fd` that are not among `keep`.
template <typename K>
std::vector<K> staleKeys(int fd, const std::vector<K>& keep) {
  K cur{}, next{};
  std::vector<K> stale;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (std::find_if(keep.begin(), keep.end(), [&](const K& k) {
          return std::memcmp(&k, &next, sizeof(K)) == 0;
        }) == keep.end())
      stale.push_back(next);
    cur = next;
    prev = &cur;
  }
  return stale;
}

// Makes the hash map `fd` hold exactly `keys`, each with `value`.
template <typename K, typename V>
Result<void> syncHash(int fd, const std::vector<K>& keys, const V& value, const char* name) {
  for (const K& k : keys)
    if (bpf_map_update_elem(fd, &k, &value, BPF_ANY) != 0)
      return sysError(errno, std::string("cannot update ") + name);
  for (const K& k : staleKeys(fd, keys)) bpf_map_delete_elem(fd, &k);
  return {};
}

}  // namespace

Result<void> ReflectorBpf::setPorts(const std::vector<uint16_t>& ports, const stamp_port_cfg& cfg) {
  return syncHash(bpf_map__fd(skel_->maps.stamp_ports), ports, cfg, STAMP_MAP_PORTS);
}

Result<void> ReflectorBpf::setTos(const stamp_tos_cfg& cfg) {
  uint32_t key0 = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.stamp_refl_tos), &key0, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot update " STAMP_MAP_REFL_TOS);
  return {};
}

Result<void> ReflectorBpf::setAddresses(const std::vector<Ip16>& addrs) {
  std::vector<stamp_addr_key> keys;
  for (const auto& a : addrs) {
    stamp_addr_key k{};
    std::memcpy(k.addr, a.data(), 16);
    keys.push_back(k);
  }
  uint8_t one = 1;
  return syncHash(bpf_map__fd(skel_->maps.stamp_addrs), keys, one, STAMP_MAP_ADDRS);
}

Result<void> ReflectorBpf::setGuards(const std::vector<std::pair<IpPrefix, uint8_t>>& rules,
                                     const stamp_guard_cfg& cfg) {
  const int fd = bpf_map__fd(skel_->maps.stamp_allow);
  std::vector<stamp_prefix_key> keys;
  for (const auto& [prefix, rule] : rules) {
    stamp_prefix_key k{};
    k.prefixlen = prefix.length;
    std::memcpy(k.addr, prefix.addr.data(), sizeof(k.addr));
    if (bpf_map_update_elem(fd, &k, &rule, BPF_ANY) != 0)
      return sysError(errno, "cannot update " STAMP_MAP_ALLOW " with " + formatPrefix(prefix));
    keys.push_back(k);
  }
  const uint32_t key0 = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.stamp_guard_cfg), &key0, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot update " STAMP_MAP_GUARD_CFG);
  for (const auto& k : staleKeys(fd, keys))
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return sysError(errno, "cannot remove a stale prefix from " STAMP_MAP_ALLOW);
  return {};
}

Result<void> ReflectorBpf::resetRateBuckets() {  // NOLINT(readability-make-member-function-const)
  const uint32_t key0 = 0;
  const stamp_rate_all empty{};
  if (bpf_map_update_elem(allRateMapFd(), &key0, &empty, BPF_ANY) != 0)
    return sysError(errno, "cannot reset " STAMP_MAP_ALL_RATE);
  // Deleting while walking can restart the walk; an empty map ends it.
  const int fd = sourceRateMapFd();
  stamp_addr_key k{};
  for (size_t n = 0; n <= STAMP_SRC_RATE_ENTRIES && bpf_map_get_next_key(fd, nullptr, &k) == 0; ++n)
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return sysError(errno, "cannot reset " STAMP_MAP_SRC_RATE);
  return {};
}

int ReflectorBpf::sourceRateMapFd() const {
  return bpf_map__fd(skel_->maps.stamp_src_rate);
}

int ReflectorBpf::allRateMapFd() const {
  return bpf_map__fd(skel_->maps.stamp_all_rate);
}

Result<std::map<unsigned, stamp_guard_counters>> ReflectorBpf::guardCounters() const {
  return sumPerCpu<stamp_guard_counters>(bpf_map__fd(skel_->maps.stamp_guard_cnt));
}

Result<std::map<unsigned, stamp_abuse_counters>> ReflectorBpf::abuseCounters() const {
  return sumPerCpu<stamp_abuse_counters>(bpf_map__fd(skel_->maps.stamp_abuse_cnt));
}

int ReflectorBpf::sessionMapFd() const {
  return bpf_map__fd(skel_->maps.stamp_refl_sess);
}

uint32_t ReflectorBpf::maxSessions() const {
  return bpf_map__max_entries(skel_->maps.stamp_refl_sess);
}

Result<size_t> ReflectorBpf::sessionCount() const {
  int fd = sessionMapFd();
  stamp_refl_sess_key cur{}, next{};
  const void* prev = nullptr;
  size_t n = 0;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    cur = next;
    prev = &cur;
  }
  if (errno != ENOENT) return sysError(errno, "cannot walk " STAMP_MAP_REFL_SESS);
  return n;
}

Result<std::map<unsigned, stamp_state_counters>> ReflectorBpf::stateCounters() const {
  return sumPerCpu<stamp_state_counters>(bpf_map__fd(skel_->maps.stamp_state_cnt));
}

Result<std::map<unsigned, stamp_auth_counters>> ReflectorBpf::authCounters() const {
  return sumPerCpu<stamp_auth_counters>(bpf_map__fd(skel_->maps.stamp_auth_cnt));
}

Result<void> ReflectorBpf::setKeys(const std::vector<uint16_t>& ports, const stamp_hmac_key& key) {
  return syncHash(bpf_map__fd(skel_->maps.stamp_keys), ports, key, STAMP_MAP_KEYS);
}

Result<void> ReflectorBpf::setTlvConfig(const stamp_tlv_cfg& cfg) {
  uint32_t key = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.stamp_tlv_cfg), &key, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot update " STAMP_MAP_TLV_CFG);
  return {};
}

int ReflectorBpf::tlvSessionMapFd() const {
  return bpf_map__fd(skel_->maps.stamp_tlv_sess);
}

Result<std::map<unsigned, stamp_tlv_counters>> ReflectorBpf::tlvCounters() const {
  return sumPerCpu<stamp_tlv_counters>(bpf_map__fd(skel_->maps.stamp_tlv_cnt));
}

Result<std::map<unsigned, stamp_refl_counters>> ReflectorBpf::counters() const {
  return sumPerCpu<stamp_refl_counters>(bpf_map__fd(skel_->maps.stamp_counters));
}

}  // namespace stamp
