// HMAC-SHA-256 for STAMP authenticated mode (RFC 8762 section 4.4), on the
// compression function the BPF programs run (bpf/stamp_sha256.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stamp_sha256.h"

namespace stamp {

inline constexpr size_t kHmacLen = 16;    // truncated HMAC on the wire
inline constexpr size_t kHmacInput = 96;  // octets a base packet's HMAC covers

// SHA-256 of any length (FIPS 180-4); for keys longer than a block and the
// generic HMAC below.
class Sha256 {
 public:
  Sha256();
  // Resumes from a state after `hashed` octets (a multiple of 64): a key
  // midstate.
  Sha256(const uint32_t state[8], uint64_t hashed);
  void update(std::span<const uint8_t> data);
  std::array<uint8_t, 32> finish();

 private:
  void compressBuffer();
  uint32_t st_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

// The midstates of a key, which BPF finishes HMACs from.
stamp_hmac_key hmacKey(std::span<const uint8_t> key);

// HMAC-SHA-256 over exactly 96 octets, truncated to 16: what BPF computes.
std::array<uint8_t, kHmacLen> hmac96(const stamp_hmac_key& key,
                                     std::span<const uint8_t, kHmacInput> msg);

// HMAC-SHA-256 of any data from a key's midstates, full 32 octets (the
// HMAC TLV of RFC 8972 4.8, whose span varies).
std::array<uint8_t, 32> hmacWith(const stamp_hmac_key& key, std::span<const uint8_t> data);

// Plain HMAC-SHA-256 of any data (RFC 2104), full 32 octets.
std::array<uint8_t, 32> hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// Overwrites memory that held a secret, in a way the compiler keeps.
void wipe(void* p, size_t n);

// Whether two MACs are equal, in a time that depends only on their length:
// every octet is compared, with no exit at the first difference, so a forger
// cannot learn from the reply time how many leading octets were right. Spans
// of different lengths are unequal.
bool macEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace stamp
