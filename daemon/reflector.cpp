#include "reflector.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

namespace stamp {

Result<Reflector> Reflector::start(const Config& cfg, AttachMode mode, const std::string& pinDir) {
  if (cfg.reflector.mode != ReflectorMode::Stateless)
    return makeError(ENOTSUP, cfg.path + ": reflector mode \"stateful\" is not supported by this "
                                         "version of stampd; use \"stateless\"");
  if (cfg.reflector.tsFormat != TsFormat::Ntp)
    return makeError(ENOTSUP, cfg.path + ": reflector timestamp_format \"ptp\" is not supported "
                                         "by this version of stampd; use \"ntp\"");
  if (!cfg.reflector.authKey.empty())
    return makeError(ENOTSUP, cfg.path + ": authenticated reflector mode (auth_key) is not "
                                         "supported by this version of stampd");
  for (const auto& ifname : cfg.daemon.interfaces)
    if (auto idx = interfaceIndex(ifname); !idx) return idx.error();

  if (!pinDir.empty()) {
    // Pinned attachments of interfaces that left the configuration go.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(pinDir, ec)) {
      std::string name = e.path().filename();
      if (name.rfind("link_", 0) != 0 || name.size() < 9 || name.substr(name.size() - 3) != "_in")
        continue;
      std::string ifname = name.substr(5, name.size() - 8);
      if (std::find(cfg.daemon.interfaces.begin(), cfg.daemon.interfaces.end(), ifname) !=
          cfg.daemon.interfaces.end())
        continue;
      spdlog::info("{} is no longer configured: removing its pinned reflector", ifname);
      (void)TcAttachment::teardown(ifname, pinDir + "/link_" + ifname, 1);
    }
  }
  auto bpf = ReflectorBpf::load(pinDir);
  if (!bpf) return bpf.error();
  Reflector r(std::move(*bpf), cfg.daemon.interfaces, cfg.reflector.addresses);

  stamp_port_cfg pc{};
  pc.mode = STAMP_MODE_STATELESS;
  pc.ts_format = STAMP_TS_NTP;
  std::vector<uint16_t> ports = cfg.reflector.enabled ? cfg.reflector.ports : std::vector<uint16_t>{};
  if (auto res = r.bpf_.setPorts(ports, pc); !res) return res.error();
  if (auto res = r.refresh(); !res) return res.error();
  for (const auto& ifname : cfg.daemon.interfaces)
    if (auto res = r.bpf_.attach(ifname, mode); !res) return res.error();
  return r;
}

Result<void> Reflector::refresh() {
  auto clock = readClock();
  if (!clock) return clock.error();
  if (auto res = bpf_.setClock(*clock); !res) return res;

  std::vector<Ip16> addrs = interfaceAddresses(interfaces_);
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
