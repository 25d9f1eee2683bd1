#include "reflector/reflector.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "kernel/pin_root.hpp"

namespace stamp {

Result<void> Reflector::check(const Config& cfg) {
  for (const auto& ifname : cfg.daemon.interfaces)
    if (auto idx = interfaceIndex(ifname); !idx) return idx.error();
  return {};
}

Result<Reflector> Reflector::start(const Config& cfg, const KeyRing& keys, AttachMode mode,
                                   const std::string& pinDir) {
  if (auto ok = check(cfg); !ok) return ok.error();
  if (!pinDir.empty()) {
    // Pinned attachments of interfaces that left the configuration go.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(pinDir, ec)) {
      const std::string ifname = linkPinInterface(e.path().filename(), STAMP_PIN_LINK_IN);
      if (ifname.empty()) continue;
      if (std::find(cfg.daemon.interfaces.begin(), cfg.daemon.interfaces.end(), ifname) !=
          cfg.daemon.interfaces.end())
        continue;
      spdlog::info("{} is no longer configured: removing its pinned reflector", ifname);
      (void)TcAttachment::teardown(ifname, linkPinPrefix(pinDir, ifname), 1);
    }
  }
  auto bpf = ReflectorBpf::load(pinDir, cfg.reflector.maxSessions);
  if (!bpf) return bpf.error();
  Reflector r(std::move(*bpf), cfg.daemon.interfaces, cfg.reflector.addresses);

  if (auto res = r.writePorts(cfg.reflector, keys); !res) return res.error();
  if (auto res = r.writeGuards(cfg.reflector, nullptr); !res) return res.error();
  if (auto res = r.refresh(); !res) return res.error();
  for (const auto& ifname : cfg.daemon.interfaces)
    if (auto res = r.bpf_.attach(ifname, mode); !res) return res.error();
  return r;
}

// The stamp_tlv_cfg entry for `rc`: what the Timestamp Information TLV
// names is the clock T2 and T3 come from (tlv_sync_source, or with "auto"
// NTP when the kernel clock is synchronised and the local oscillator when
// not) and how they are taken: software timestamps in tc (SW Local).
namespace {

stamp_tlv_cfg tlvConfigFor(const ReflectorConfig& rc, bool clockSynchronized) {
  stamp_tlv_cfg c{};
  if (rc.tlvs) c.flags |= STAMP_TLV_CFG_ON;
  if (rc.tlvLocationReport) c.flags |= STAMP_TLV_CFG_LOCATION;
  c.dscp_allowed = rc.tlvCosAllowedDscp;
  const std::string& src = rc.tlvSyncSource;
  c.sync_src = src == "ntp"        ? STAMP_SYNC_NTP
               : src == "ptp"      ? STAMP_SYNC_PTP
               : src == "ssu_bits" ? STAMP_SYNC_SSU
               : src == "gnss"     ? STAMP_SYNC_GPS
               : src == "local"    ? STAMP_SYNC_LOCAL
               : clockSynchronized ? STAMP_SYNC_NTP
                                   : STAMP_SYNC_LOCAL;
  c.ts_method = STAMP_TSM_SW;
  return c;
}

}  // namespace

Result<void> Reflector::writeTlvConfig(bool clockSynchronized) {
  return bpf_.setTlvConfig(tlvConfigFor(rc_, clockSynchronized));
}

Result<void> Reflector::writePorts(const ReflectorConfig& rc, const KeyRing& keys) {
  rc_ = rc;
  stamp_port_cfg pc{};
  const stamp_hmac_key* key = rc.authKey.empty() ? nullptr : keys.find(rc.authKey);
  if (!rc.authKey.empty() && !key)
    return makeError(EINVAL, "[reflector] auth_key '" + rc.authKey + "' is not in the key file");
  pc.auth = key ? 1 : 0;
  pc.mode = rc.mode == ReflectorMode::Stateful ? STAMP_MODE_STATEFUL : STAMP_MODE_STATELESS;
  pc.ts_format = rc.tsFormat == TsFormat::Ptp ? STAMP_TS_PTP : STAMP_TS_NTP;
  pc.idle_timeout_s =
      uint32_t(std::chrono::duration_cast<std::chrono::seconds>(rc.idleTimeout).count());
  std::vector<uint16_t> ports = rc.enabled ? rc.ports : std::vector<uint16_t>{};
  stamp_tos_cfg tos{};
  if (rc.dscp) tos.flags |= STAMP_TOS_SET_DSCP, tos.dscp = *rc.dscp;
  if (rc.ecn) tos.flags |= STAMP_TOS_SET_ECN, tos.ecn = *rc.ecn;
  // The DSCP/ECN policy first: a port added by a reload answers with it
  // from its first reply.
  if (auto r = bpf_.setTos(tos); !r) return r;
  // Keys before ports: a port turning authenticated never meets a missing
  // key; a port leaving authenticated mode loses its key after.
  if (key)
    if (auto r = bpf_.setKeys(ports, *key); !r) return r;
  if (auto r = bpf_.setPorts(ports, pc); !r) return r;
  if (!key) return bpf_.setKeys({}, stamp_hmac_key{});
  return {};
}

namespace {

// GCRA parameters of `rate` requests per second with bursts of `burst`
// (0: one second's worth).
void gcra(uint32_t rate, uint32_t burst, __u64& interval, __u64& tolerance) {
  if (rate == 0) {
    interval = tolerance = 0;
    return;
  }
  interval = 1'000'000'000ULL / rate;
  tolerance = uint64_t((burst ? burst : rate) - 1) * interval;
}

}  // namespace

Result<void> Reflector::writeGuards(const ReflectorConfig& rc, const ReflectorConfig* was) {
  std::vector<std::pair<IpPrefix, uint8_t>> rules;
  for (const auto& p : rc.allow) rules.emplace_back(p, STAMP_RULE_ALLOW);
  for (const auto& p : rc.deny) rules.emplace_back(p, STAMP_RULE_DENY);
  stamp_guard_cfg g{};
  if (!rules.empty()) g.flags |= STAMP_GUARD_PREFIXES;
  if (!rc.allow.empty()) g.flags |= STAMP_GUARD_DEFAULT_DENY;
  if (rc.answerShortRequests) g.flags |= STAMP_GUARD_ALLOW_SHORT;
  if (rc.answerReflectorSourcePorts) g.flags |= STAMP_GUARD_ALLOW_REFL_SPORT;
  if (rc.answerReflectedPackets) g.flags |= STAMP_GUARD_ALLOW_REFLECTED;
  g.src6_prefix = rc.rateLimitIpv6Prefix;
  gcra(rc.rateLimitPerSource, rc.rateLimitPerSourceBurst, g.src_interval_ns, g.src_tolerance_ns);
  gcra(rc.rateLimit, rc.rateLimitBurst, g.all_interval_ns, g.all_tolerance_ns);
  // A bucket filled under an old limit would hold a source back longer than
  // the new one allows (a raised limit would first act as a lower one).
  const bool limitsChanged = !was || was->rateLimitPerSource != rc.rateLimitPerSource ||
                             was->rateLimitPerSourceBurst != rc.rateLimitPerSourceBurst ||
                             was->rateLimit != rc.rateLimit ||
                             was->rateLimitBurst != rc.rateLimitBurst ||
                             was->rateLimitIpv6Prefix != rc.rateLimitIpv6Prefix;
  if (limitsChanged)
    if (auto res = bpf_.resetRateBuckets(); !res) return res;
  if (auto res = bpf_.setGuards(rules, g); !res) return res;
  guards_ = rc;
  return {};
}

Result<Reflector::Change> Reflector::update(const Config& cfg, const KeyRing& keys,
                                            AttachMode mode) {
  Change change;
  const auto& want = cfg.daemon.interfaces;
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (cfg.reflector.maxSessions != bpf_.maxSessions())
    spdlog::warn(
        "reflector max_sessions {} takes effect when stampd restarts; the session "
        "table keeps {} entries until then",
        cfg.reflector.maxSessions, bpf_.maxSessions());
  if (auto res = writePorts(cfg.reflector, keys); !res) return res.error();
  if (auto res = writeGuards(cfg.reflector, &guards_); !res) return res.error();
  extraAddrs_ = cfg.reflector.addresses;
  // The address set of the interfaces to come first, so that a new
  // interface answers from its first packet.
  interfaces_ = want;
  if (auto res = refresh(); !res) return res.error();
  for (const auto& ifname : want) {
    if (bpf_.attachments().contains(ifname)) continue;
    if (auto res = bpf_.attach(ifname, mode); !res) return res.error();
    change.attached.push_back(ifname);
  }
  for (const auto& [ifname, kind] : bpf_.attachments()) {
    if (has(want, ifname)) continue;
    if (auto res = bpf_.detach(ifname); !res) return res.error();
    spdlog::info("reflector detached from {}", ifname);
    change.detached.push_back(ifname);
  }
  return change;
}

Result<void> Reflector::shutdown() {
  auto res = bpf_.detachAll();
  interfaces_.clear();
  return res;
}

Result<void> Reflector::refresh() {
  auto clock = readClock();
  if (!clock) return clock.error();
  if (auto res = bpf_.setClock(*clock); !res) return res;
  if (auto res = writeTlvConfig(clock->synchronized); !res) return res;

  // Without a fresh list (getifaddrs failed: out of descriptors) the
  // last good one stays in the map: answering on a stale address for a
  // while beats not answering at all.
  auto found = interfaceAddresses(interfaces_);
  if (!found) return found.error();
  std::vector<Ip16> addrs = std::move(*found);
  for (const auto& a : extraAddrs_)
    if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(a);
  std::sort(addrs.begin(), addrs.end());
  if (addrs != lastAddrs_) {
    if (auto res = bpf_.setAddresses(addrs); !res) return res;
    spdlog::debug("reflector answers on {} local addresses", addrs.size());
    lastAddrs_ = std::move(addrs);
  }
  return {};
}

}  // namespace stamp
