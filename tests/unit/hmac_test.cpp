// HMAC-SHA-256 as stampd computes it (the compression function the BPF
// programs run, finished from key midstates) against OpenSSL and the
// RFC 4231 vectors.
#include "libstamp/hmac.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace stamp {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

std::vector<uint8_t> fromHex(std::string_view h) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    v.push_back(uint8_t(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return v;
}

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

std::vector<uint8_t> openssl(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), data.data(), data.size(), out, &len);
  return {out, out + len};
}

struct Rfc4231 {
  std::vector<uint8_t> key, data;
  const char* mac;
};

std::vector<Rfc4231> rfc4231() {
  return {
      {std::vector<uint8_t>(20, 0x0b), bytes("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {bytes("Jefe"), bytes("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
       std::vector<uint8_t>(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::vector<uint8_t>(131, 0xaa),
       bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::vector<uint8_t>(131, 0xaa),
       bytes("This is a test using a larger than block-size key and a larger than "
             "block-size data. The key needs to be hashed before being used by the "
             "HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(Hmac, Rfc4231Vectors) {
  for (const auto& v : rfc4231()) {
    auto mac = hmacSha256(v.key, v.data);
    EXPECT_EQ(hex(mac), v.mac) << "key of " << v.key.size() << " octets";
    EXPECT_EQ(hex(openssl(v.key, v.data)), v.mac);
  }
}

TEST(Hmac, Rfc4231TruncatedCase5) {
  // Test Case 5 is about truncation to 128 bits, which STAMP uses.
  std::vector<uint8_t> key(20, 0x0c);
  auto mac = hmacSha256(key, bytes("Test With Truncation"));
  EXPECT_EQ(hex(std::span(mac).first(16)), "a3b6167473100ee06e0c796c2955552b");
}

TEST(Hmac, Sha256OfEmptyAndAbc) {
  Sha256 a;
  EXPECT_EQ(hex(a.finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 b;
  b.update(bytes("abc"));
  EXPECT_EQ(hex(b.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The regression vector of docs/stamp-wire.md, Regression vectors: an authenticated
// Session-Sender packet, seq 1, key 00..1f.
TEST(Hmac, StampAuthenticatedSenderVector) {
  std::vector<uint8_t> key(32);
  for (size_t i = 0; i < key.size(); i++) key[i] = uint8_t(i);
  std::array<uint8_t, 96> pkt{};
  auto put = [&](size_t off, std::string_view h) {
    auto b = fromHex(h);
    std::copy(b.begin(), b.end(), pkt.begin() + off);
  };
  put(0, "00000001");
  put(16, "e93c7f0080000000");
  put(24, "8f841234");
  auto mac = hmac96(hmacKey(key), pkt);
  EXPECT_EQ(hex(mac), hex(std::span<const uint8_t>(openssl(key, pkt)).first(16)));
  EXPECT_EQ(hex(mac), "daea90b0cecbefc4b829479cd235f1ef");
}

// Midstate HMAC over 96 octets = OpenSSL's HMAC, for keys of every length
// class (empty, short, one block, longer than a block) and random packets.
TEST(Hmac, Hmac96MatchesOpenSslForRandomKeysAndPackets) {
  std::mt19937 rng(8762);
  for (size_t keyLen : {0, 1, 16, 32, 63, 64, 65, 100, 200}) {
    for (int round = 0; round < 20; round++) {
      std::vector<uint8_t> key(keyLen);
      for (auto& b : key) b = uint8_t(rng());
      std::array<uint8_t, 96> pkt;
      for (auto& b : pkt) b = uint8_t(rng());
      auto mac = hmac96(hmacKey(key), pkt);
      EXPECT_EQ(hex(mac), hex(std::span<const uint8_t>(openssl(key, pkt)).first(16)))
          << "key length " << keyLen;
      auto full = hmacSha256(key, pkt);
      EXPECT_EQ(hex(full), hex(openssl(key, pkt)));
    }
  }
}

// The HMAC TLV's HMAC (any length, from the midstates) = OpenSSL's.
TEST(Hmac, HmacWithMidstatesMatchesOpenSslForAnyLength) {
  std::mt19937 rng(8972);
  for (size_t keyLen : {16, 32, 64, 100}) {
    std::vector<uint8_t> key(keyLen);
    for (auto& b : key) b = uint8_t(rng());
    const stamp_hmac_key k = hmacKey(key);
    for (size_t len : {0, 1, 4, 55, 56, 63, 64, 65, 119, 120, 128, 1000}) {
      std::vector<uint8_t> data(len);
      for (auto& b : data) b = uint8_t(rng());
      EXPECT_EQ(hex(hmacWith(k, data)), hex(openssl(key, data))) << keyLen << "/" << len;
    }
  }
}

TEST(Hmac, OneFlippedBitChangesTheMac) {
  std::vector<uint8_t> key(32, 0x42);
  auto k = hmacKey(key);
  std::array<uint8_t, 96> pkt{};
  auto base = hmac96(k, pkt);
  for (size_t bit = 0; bit < 96 * 8; bit += 37) {
    auto p = pkt;
    p[bit / 8] ^= uint8_t(1u << (bit % 8));
    EXPECT_NE(hex(hmac96(k, p)), hex(base)) << "bit " << bit;
  }
}

}  // namespace
// The constant-time comparison answers like memcmp: equal MACs are equal,
// and one differing bit in any octet (first, last, every one between) makes
// them unequal, as do different lengths.
TEST(Hmac, MacEqualFindsADifferenceInEveryPosition) {
  std::array<uint8_t, kHmacLen> a;
  for (size_t i = 0; i < a.size(); i++) a[i] = uint8_t(0xa5 ^ i);
  auto b = a;
  EXPECT_TRUE(macEqual(a, b));
  EXPECT_TRUE(macEqual(std::span<const uint8_t>(), std::span<const uint8_t>()));
  for (size_t pos = 0; pos < a.size(); pos++) {
    for (int bit = 0; bit < 8; bit++) {
      auto c = a;
      c[pos] ^= uint8_t(1u << bit);
      EXPECT_FALSE(macEqual(a, c)) << "octet " << pos << " bit " << bit;
      EXPECT_FALSE(macEqual(c, a)) << "octet " << pos << " bit " << bit;
    }
  }
  auto full = hmacSha256(std::vector<uint8_t>(32, 7), bytes("x"));
  EXPECT_TRUE(macEqual(full, full));
  EXPECT_FALSE(macEqual(std::span<const uint8_t>(full).first(kHmacLen), full));
  EXPECT_FALSE(macEqual(std::span<const uint8_t>(full).first(kHmacLen),
                        std::span<const uint8_t>(full).first(kHmacLen - 1)));
}

}  // namespace stamp
