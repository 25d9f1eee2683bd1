#include "bpf_runtime.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include <cstdarg>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

#include "stamp_refl.skel.h"

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

std::string takeWarnings() {
  std::lock_guard lk(gLogMu);
  return std::exchange(gLastWarnings, {});
}

Error sysError(int err, const std::string& what) {
  if (err < 0) err = -err;
  return makeError(err, what + ": " + std::strerror(err));
}

}  // namespace

void installLibbpfLogger() { libbpf_set_print(libbpfPrint); }

struct ReflectorBpf::Attachment {
  std::string ifname;
  unsigned ifindex = 0;
  bool tc = false;          // clsact + cls_bpf rather than tcx
  bool createdHook = false; // stampd created the clsact qdisc
  UniqueFd inLink, outLink; // tcx links
};

ReflectorBpf::ReflectorBpf(stamp_refl* skel) : skel_(skel) {}

ReflectorBpf::ReflectorBpf(ReflectorBpf&& o) noexcept
    : skel_(std::exchange(o.skel_, nullptr)), attached_(std::move(o.attached_)) {
  o.attached_.clear();
}

ReflectorBpf& ReflectorBpf::operator=(ReflectorBpf&& o) noexcept {
  if (this != &o) {
    (void)detachAll();
    if (skel_) stamp_refl__destroy(skel_);
    skel_ = std::exchange(o.skel_, nullptr);
    attached_ = std::move(o.attached_);
    o.attached_.clear();
  }
  return *this;
}

ReflectorBpf::~ReflectorBpf() {
  (void)detachAll();
  if (skel_) stamp_refl__destroy(skel_);
}

Result<ReflectorBpf> ReflectorBpf::load() {
  takeWarnings();
  stamp_refl* skel = stamp_refl__open();
  if (!skel) return sysError(errno, "cannot open the embedded reflector BPF object");
  int err = stamp_refl__load(skel);
  if (err) {
    std::string log = takeWarnings();
    stamp_refl__destroy(skel);
    Error e = sysError(err, "loading the reflector BPF programs failed");
    if (!log.empty()) e.message += "\nverifier/libbpf log:\n" + log;
    return e;
  }
  ReflectorBpf r(skel);
  uint32_t key = 0;
  stamp_config cfg{};
  cfg.err_est = 0x3fff;
  if (bpf_map_update_elem(bpf_map__fd(skel->maps.stamp_config), &key, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot initialise " STAMP_MAP_CONFIG);
  return r;
}

int ReflectorBpf::inProgFd() const { return bpf_program__fd(skel_->progs.stamp_refl_in); }
int ReflectorBpf::outProgFd() const { return bpf_program__fd(skel_->progs.stamp_refl_out); }

Result<void> ReflectorBpf::attach(const std::string& ifname, AttachMode mode) {
  for (const auto& a : attached_)
    if (a.ifname == ifname) return {};
  auto idx = interfaceIndex(ifname);
  if (!idx) return idx.error();
  Attachment a;
  a.ifname = ifname;
  a.ifindex = *idx;

  if (mode != AttachMode::Tc) {
    int in = bpf_link_create(inProgFd(), a.ifindex, STAMP_BPF_TCX_INGRESS, nullptr);
    if (in >= 0) {
      a.inLink.reset(in);
      int out = bpf_link_create(outProgFd(), a.ifindex, STAMP_BPF_TCX_EGRESS, nullptr);
      if (out < 0) return sysError(out, "tcx egress attach to '" + ifname + "' failed");
      a.outLink.reset(out);
      spdlog::info("reflector attached to {} (ifindex {}) with tcx links", ifname, a.ifindex);
      attached_.push_back(std::move(a));
      return {};
    }
    if (mode == AttachMode::Tcx || (in != -EINVAL && in != -EOPNOTSUPP && in != -ENOTSUP))
      return sysError(in, "tcx attach to '" + ifname + "' failed");
    spdlog::info("kernel has no tcx ({}), falling back to clsact + cls_bpf on {}",
                 std::strerror(-in), ifname);
  }

  a.tc = true;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(a.ifindex), .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return sysError(err, "cannot create clsact qdisc on '" + ifname + "'");
  a.createdHook = (err == 0);
  for (auto [point, fd] : {std::pair{BPF_TC_INGRESS, inProgFd()}, {BPF_TC_EGRESS, outProgFd()}}) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = BPF_TC_F_REPLACE, .handle = 1,
                .priority = 1);
    err = bpf_tc_attach(&hook, &opts);
    if (err) {
      (void)detach(a);
      return sysError(err, "cls_bpf attach to '" + ifname + "' failed");
    }
  }
  spdlog::info("reflector attached to {} (ifindex {}) with clsact + cls_bpf", ifname, a.ifindex);
  attached_.push_back(std::move(a));
  return {};
}

Result<void> ReflectorBpf::detach(Attachment& a) {
  Result<void> res;
  if (!a.tc) {
    a.inLink.reset();  // closing an unpinned tcx link detaches it
    a.outLink.reset();
    return res;
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(a.ifindex));
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
    int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && res.ok())
      res = sysError(err, "cls_bpf detach from '" + a.ifname + "' failed");
  }
  if (a.createdHook) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    int err = bpf_tc_hook_destroy(&hook);
    if (err && err != -ENOENT && res.ok())
      res = sysError(err, "cannot remove clsact qdisc from '" + a.ifname + "'");
  }
  return res;
}

Result<void> ReflectorBpf::detachAll() {
  Result<void> first;
  for (auto& a : attached_) {
    auto r = detach(a);
    if (!r && first.ok()) first = r;
  }
  attached_.clear();
  return first;
}

std::map<std::string, std::string> ReflectorBpf::attachments() const {
  std::map<std::string, std::string> m;
  for (const auto& a : attached_) m[a.ifname] = a.tc ? "tc" : "tcx";
  return m;
}

Result<void> ReflectorBpf::setClock(const ClockState& clock) {
  uint32_t key = 0;
  stamp_config cfg{};
  cfg.tai_offset_ns = int64_t{clock.taiOffsetSec} * 1'000'000'000;
  cfg.err_est = clock.errorEstimate.encode();
  cfg.flags = STAMP_CFG_CLOCK_VALID;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.stamp_config), &key, &cfg, BPF_ANY) != 0)
    return sysError(errno, "cannot update " STAMP_MAP_CONFIG);
  return {};
}

namespace {

// Makes the hash map `fd` hold exactly `keys`, each with `value`.
template <typename K, typename V>
Result<void> syncHash(int fd, const std::vector<K>& keys, const V& value, const char* name) {
  for (const K& k : keys)
    if (bpf_map_update_elem(fd, &k, &value, BPF_ANY) != 0)
      return sysError(errno, std::string("cannot update ") + name);
  K cur{}, next{};
  std::vector<K> stale;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (std::find_if(keys.begin(), keys.end(), [&](const K& k) {
          return std::memcmp(&k, &next, sizeof(K)) == 0;
        }) == keys.end())
      stale.push_back(next);
    cur = next;
    prev = &cur;
  }
  for (const K& k : stale) bpf_map_delete_elem(fd, &k);
  return {};
}

}  // namespace

Result<void> ReflectorBpf::setPorts(const std::vector<uint16_t>& ports, const stamp_port_cfg& cfg) {
  return syncHash(bpf_map__fd(skel_->maps.stamp_ports), ports, cfg, STAMP_MAP_PORTS);
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

Result<std::map<unsigned, stamp_refl_counters>> ReflectorBpf::counters() const {
  std::map<unsigned, stamp_refl_counters> out;
  int fd = bpf_map__fd(skel_->maps.stamp_counters);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sysError(ncpu, "cannot count CPUs");
  std::vector<stamp_refl_counters> per(static_cast<size_t>(ncpu));
  uint32_t cur = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, per.data()) == 0) {
      stamp_refl_counters sum{};
      for (const auto& c : per) {
        sum.rx += c.rx;
        sum.reflected += c.reflected;
        sum.fragments += c.fragments;
        sum.t3_stamped += c.t3_stamped;
        for (int i = 0; i < STAMP_DROP_MAX; ++i) sum.drop[i] += c.drop[i];
      }
      out[next] = sum;
    }
    cur = next;
    prev = &cur;
  }
  return out;
}

}  // namespace stamp
