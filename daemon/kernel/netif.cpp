#include "kernel/netif.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace stamp {

Result<Ip16> parseIp(const std::string& text) {
  Ip16 a{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    a[10] = a[11] = 0xff;
    std::memcpy(&a[12], &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(a.data(), &v6, 16);
    return a;
  }
  return makeError(EINVAL, "'" + text + "' is not an IPv4 or IPv6 address");
}

bool isV4Mapped(const Ip16& a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(a.begin(), a.begin() + 12, kPrefix);
}

std::string formatIp(const Ip16& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isV4Mapped(a))
    inet_ntop(AF_INET, &a[12], buf, sizeof(buf));
  else
    inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  return buf;
}

Result<IpPrefix> parsePrefix(const std::string& text) {
  auto slash = text.find('/');
  auto addr = parseIp(text.substr(0, slash));
  if (!addr) return makeError(EINVAL, "'" + text + "' is not an IPv4 or IPv6 address or prefix");
  // The length as written: an IPv4 one counts in IPv4 bits.
  const bool v4Text = text.substr(0, slash).find(':') == std::string::npos;
  const unsigned maxLen = v4Text ? 32 : 128;
  unsigned len = maxLen;
  if (slash != std::string::npos) {
    const char* b = text.data() + slash + 1;
    const char* e = text.data() + text.size();
    auto [end, ec] = std::from_chars(b, e, len);
    if (b == e || ec != std::errc() || end != e || len > maxLen)
      return makeError(EINVAL,
                       "'" + text + "': the prefix length must be 0.." + std::to_string(maxLen));
  }
  IpPrefix p{*addr, uint8_t(v4Text ? 96 + len : len)};
  Ip16 masked = p.addr;
  for (unsigned bit = p.length; bit < 128; ++bit) masked[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  if (masked != p.addr) {
    IpPrefix meant{masked, p.length};
    return makeError(EINVAL, "'" + text + "' has bits set beyond its length (did you mean '" +
                                 formatPrefix(meant) + "'?)");
  }
  return p;
}

std::string formatPrefix(const IpPrefix& p) {
  if (isV4Mapped(p.addr) && p.length >= 96)
    return formatIp(p.addr) + "/" + std::to_string(p.length - 96);
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, p.addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(p.length);
}

Result<unsigned> interfaceIndex(const std::string& name) {
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return makeError(ENODEV, "interface '" + name + "' not found");
  return idx;
}

Result<std::vector<Ip16>> interfaceAddresses(const std::vector<std::string>& names) {
  std::vector<Ip16> out;
  ifaddrs* list = nullptr;
  // It fails without a free descriptor (its netlink socket) or memory: the
  // caller keeps what it had rather than an empty list.
  if (getifaddrs(&list) != 0) return errnoError("getifaddrs");
  for (ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr || std::find(names.begin(), names.end(), it->ifa_name) == names.end())
      continue;
    Ip16 a{};
    if (it->ifa_addr->sa_family == AF_INET) {
      a[10] = a[11] = 0xff;
      std::memcpy(&a[12], &reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr, 4);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(a.data(), &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace stamp
