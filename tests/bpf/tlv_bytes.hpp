// RFC 8972 TLVs written by hand, octet by octet, for the tests of both
// sides (tests/bpf/tlv_test.cpp, tests/unit/tlv_test.cpp). Nothing here
// shares code with libstamp/tlv.cpp or with the programs under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace stamp::test {

using Bytes = std::vector<uint8_t>;

// Flags, type, length and value (RFC 8972 section 4). The length is that of
// `value` unless `length` makes the TLV lie about it.
inline Bytes tlvBytes(uint8_t flags, uint8_t type, const Bytes& value,
                      std::optional<uint16_t> length = {}) {
  const uint16_t l = length ? *length : uint16_t(value.size());
  Bytes b{flags, type, uint8_t(l >> 8), uint8_t(l)};
  b.insert(b.end(), value.begin(), value.end());
  return b;
}

// The parts, one after the other.
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

inline Bytes zeros(size_t n) {
  return Bytes(n, 0);
}

}  // namespace stamp::test
