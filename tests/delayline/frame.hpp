// Ethernet frame helpers for the delay line. Pure functions over bytes, no
// system calls, so the unit tier can test them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace stamp::delayline {

inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kVlanTagBytes = 4;

// True when the frame carries UDP over IPv4 or IPv6, behind at most two VLAN
// tags (802.1Q or 802.1ad) and, for IPv6, behind hop-by-hop, routing,
// destination-options and fragment headers. Short or malformed frames are
// simply "not UDP". Only these frames count towards --drop-every-*, so ARP
// and neighbour discovery are never dropped.
bool isUdpOverIp(std::span<const uint8_t> frame);

// Finishes a partial checksum the way a NIC would: the Internet checksum of
// frame[csumStart..end] (the checksum field already holds the pseudo-header
// sum) is stored at csumStart + csumOffset, with 0 sent as 0xffff. Returns
// false, leaving the frame untouched, when the offsets do not fit the frame.
bool completeChecksum(std::span<uint8_t> frame, size_t csumStart, size_t csumOffset);

// Puts an 802.1Q/802.1ad tag back between the MAC addresses and the
// EtherType, for frames whose tag the kernel moved into metadata. Expects
// kVlanTagBytes writable bytes directly in front of frame.data() and a frame
// of at least 12 bytes; moves only the 12 address bytes. Returns the tagged
// frame, which starts kVlanTagBytes earlier.
std::span<uint8_t> insertVlanTag(std::span<uint8_t> frame, uint16_t tpid, uint16_t tci);

}  // namespace stamp::delayline
