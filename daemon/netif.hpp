// Interfaces and their addresses, as the reflector's address map wants them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "result.hpp"

namespace stamp {

// An IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d), as in stamp_addrs.
using Ip16 = std::array<uint8_t, 16>;

// Parses "192.0.2.1" or "2001:db8::1"; errors name the text.
Result<Ip16> parseIp(const std::string& text);
std::string formatIp(const Ip16& a);
bool isV4Mapped(const Ip16& a);

// The ifindex of `name`, or an error "interface 'NAME' not found".
Result<unsigned> interfaceIndex(const std::string& name);

// Every unicast address configured on the named interfaces right now.
std::vector<Ip16> interfaceAddresses(const std::vector<std::string>& names);

}  // namespace stamp
