#include "libstamp/hmac.hpp"

#include <cstring>

namespace stamp {

namespace {

constexpr uint32_t kIv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

uint32_t loadBe32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

void storeBe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// The state after compressing one padded key block (K ^ pad).
void padState(const uint8_t block[64], uint8_t pad, uint32_t st[8]) {
  uint32_t w[16];
  for (size_t i = 0; i < 16; i++) w[i] = loadBe32(block + 4 * i) ^ (uint32_t(pad) * 0x01010101u);
  std::memcpy(st, kIv, sizeof(kIv));
  stamp_sha256_block(st, w);
  wipe(w, sizeof(w));
}

// RFC 2104: a key longer than the block is hashed first, then zero-padded.
std::array<uint8_t, 64> keyBlock(std::span<const uint8_t> key) {
  std::array<uint8_t, 64> b{};
  if (key.size() > b.size()) {
    Sha256 h;
    h.update(key);
    auto d = h.finish();
    std::memcpy(b.data(), d.data(), d.size());
    wipe(d.data(), d.size());
  } else if (!key.empty()) {
    std::memcpy(b.data(), key.data(), key.size());
  }
  return b;
}

}  // namespace

void wipe(void* p, size_t n) {
  volatile uint8_t* v = static_cast<volatile uint8_t*>(p);
  while (n--) *v++ = 0;
}

bool macEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  // Volatile: the compiler may neither stop at the first non-zero
  // difference nor turn the loop into memcmp.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff = uint8_t(diff | (a[i] ^ b[i]));
  return diff == 0;
}

Sha256::Sha256() {
  std::memcpy(st_, kIv, sizeof(kIv));
}

Sha256::Sha256(const uint32_t state[8], uint64_t hashed) : total_(hashed) {
  std::memcpy(st_, state, sizeof(st_));
}

void Sha256::compressBuffer() {
  uint32_t w[16];
  for (size_t i = 0; i < 16; i++) w[i] = loadBe32(buf_ + 4 * i);
  stamp_sha256_block(st_, w);
  used_ = 0;
}

void Sha256::update(std::span<const uint8_t> data) {
  total_ += data.size();
  for (uint8_t b : data) {
    buf_[used_++] = b;
    if (used_ == sizeof(buf_)) compressBuffer();
  }
}

std::array<uint8_t, 32> Sha256::finish() {
  uint64_t bits = total_ * 8;
  buf_[used_++] = 0x80;
  if (used_ > 56) {
    std::memset(buf_ + used_, 0, sizeof(buf_) - used_);
    compressBuffer();
  }
  std::memset(buf_ + used_, 0, 56 - used_);
  for (int i = 0; i < 8; i++) buf_[56 + i] = uint8_t(bits >> (56 - 8 * i));
  compressBuffer();
  std::array<uint8_t, 32> out;
  for (size_t i = 0; i < 8; i++) storeBe32(out.data() + 4 * i, st_[i]);
  wipe(buf_, sizeof(buf_));
  return out;
}

stamp_hmac_key hmacKey(std::span<const uint8_t> key) {
  auto block = keyBlock(key);
  stamp_hmac_key k{};
  padState(block.data(), 0x36, k.inner);
  padState(block.data(), 0x5c, k.outer);
  wipe(block.data(), block.size());
  return k;
}

std::array<uint8_t, kHmacLen> hmac96(const stamp_hmac_key& key,
                                     std::span<const uint8_t, kHmacInput> msg) {
  stamp_hmac_scratch s{};
  for (size_t i = 0; i < 24; i++) s.msg[i] = loadBe32(msg.data() + 4 * i);
  stamp_hmac96(&key, &s);
  std::array<uint8_t, kHmacLen> out;
  for (size_t i = 0; i < 4; i++) storeBe32(out.data() + 4 * i, s.out[i]);
  return out;
}

std::array<uint8_t, 32> hmacWith(const stamp_hmac_key& key, std::span<const uint8_t> data) {
  Sha256 inner(key.inner, 64);
  inner.update(data);
  auto d = inner.finish();
  Sha256 outer(key.outer, 64);
  outer.update(d);
  return outer.finish();
}

std::array<uint8_t, 32> hmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  auto block = keyBlock(key);
  uint8_t pad[64];
  Sha256 inner;
  for (size_t i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
  inner.update(pad);
  inner.update(data);
  auto d = inner.finish();
  Sha256 outer;
  for (size_t i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
  outer.update(pad);
  outer.update(d);
  wipe(pad, sizeof(pad));
  wipe(block.data(), block.size());
  return outer.finish();
}

}  // namespace stamp
