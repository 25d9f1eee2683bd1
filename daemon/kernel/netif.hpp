// Interfaces and their addresses, as the reflector's address map wants them.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "libstamp/result.hpp"

namespace stamp {

// An IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d), as in stamp_addrs.
using Ip16 = std::array<uint8_t, 16>;

// Parses "192.0.2.1" or "2001:db8::1"; errors name the text.
Result<Ip16> parseIp(const std::string& text);
std::string formatIp(const Ip16& a);
bool isV4Mapped(const Ip16& a);

// A source prefix ([reflector] allow and deny) in the 128-bit space of
// Ip16: an IPv4 /24 has length 96 + 24. Bits beyond the length are zero.
struct IpPrefix {
  Ip16 addr{};
  uint8_t length = 0;  // 0..128
  auto operator<=>(const IpPrefix&) const = default;
};
// "192.0.2.0/24", "2001:db8::/32", or an address alone (a /32 or /128).
// Refuses host bits beyond the length, naming the prefix meant.
Result<IpPrefix> parsePrefix(const std::string& text);
// As written: "192.0.2.0/24" for an IPv4-mapped prefix of length >= 96.
std::string formatPrefix(const IpPrefix& p);

// The ifindex of `name`, or an error "interface 'NAME' not found".
Result<unsigned> interfaceIndex(const std::string& name);

// Every unicast address configured on the named interfaces right now.
Result<std::vector<Ip16>> interfaceAddresses(const std::vector<std::string>& names);

}  // namespace stamp
