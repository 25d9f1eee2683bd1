// stamp_auth_sender: an authenticated STAMP Session-Sender (RFC 8762
// sections 4.2.2, 4.3.2, 4.4) built on OpenSSL's HMAC and a plain UDP
// socket, sharing no code with stampd: the interoperability check of
// stampd's in-kernel authenticated reflector.
//
//   stamp_auth_sender --target ADDR [--port N] --key HEX [--count N]
//                     [--interval-ms N] [--timeout-ms N] [--size N]
//
// Sends COUNT 112-octet (or SIZE) authenticated requests, T1 from
// CLOCK_REALTIME in NTP format, and checks each reply: its length, its HMAC
// (OpenSSL, over octets 0..95), the copied sequence, T1, SSID and Error
// Estimate, and T1 <= T2 <= T3 <= T4 within 2 s. Prints one JSON object:
// sent, received, hmac_ok, hmac_bad, malformed, rtt_avg_ns.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

constexpr uint64_t kNtpUnix = 2208988800ULL;

uint64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

void be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
uint32_t rdbe32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

void ntp(uint64_t unixNs, uint8_t* out) {
  uint64_t sec = unixNs / 1000000000ULL + kNtpUnix;
  uint64_t frac = ((unixNs % 1000000000ULL) << 32) / 1000000000ULL;
  be32(out, uint32_t(sec));
  be32(out + 4, uint32_t(frac));
}
uint64_t fromNtp(const uint8_t* p) {
  uint64_t sec = rdbe32(p) - kNtpUnix;
  uint64_t frac = rdbe32(p + 4);
  return sec * 1000000000ULL + ((frac * 1000000000ULL) >> 32);
}

void mac(const std::vector<uint8_t>& key, const uint8_t* pkt, uint8_t out[16]) {
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), pkt, 96, full, &len);
  std::memcpy(out, full, 16);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"authenticated STAMP test sender on OpenSSL"};
  std::string target, keyHex;
  int port = 862, count = 10, intervalMs = 10, timeoutMs = 1000, size = 112;
  app.add_option("--target", target)->required();
  app.add_option("--port", port);
  app.add_option("--key", keyHex)->required();
  app.add_option("--count", count);
  app.add_option("--interval-ms", intervalMs);
  app.add_option("--timeout-ms", timeoutMs);
  app.add_option("--size", size)->check(CLI::Range(112, 1400));
  CLI11_PARSE(app, argc, argv);

  std::vector<uint8_t> key;
  for (size_t i = 0; i + 1 < keyHex.size(); i += 2)
    key.push_back(uint8_t(std::stoul(keyHex.substr(i, 2), nullptr, 16)));

  sockaddr_storage peer{};
  socklen_t plen;
  int family;
  if (inet_pton(AF_INET, target.c_str(), &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&peer);
    a->sin_family = family = AF_INET;
    a->sin_port = htons(uint16_t(port));
    plen = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, target.c_str(),
                       &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons(uint16_t(port));
    plen = sizeof(sockaddr_in6);
  } else {
    std::fprintf(stderr, "bad address %s\n", target.c_str());
    return 2;
  }
  int fd = socket(family, SOCK_DGRAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&peer), plen) != 0) {
    std::perror("socket/connect");
    return 1;
  }

  const uint16_t ssid = 0x4a55, errEst = 0x8001;
  int sent = 0, received = 0, hmacOk = 0, hmacBad = 0, malformed = 0;
  uint64_t rttSum = 0;
  std::vector<uint64_t> t1s(size_t(count), 0);
  auto drain = [&](int waitMs) {
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, waitMs) > 0) {
      uint8_t buf[2048];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      uint64_t t4 = nowNs();
      if (n < 0) break;
      waitMs = 0;
      if (n != size) {
        ++malformed;
        continue;
      }
      uint8_t want[16];
      mac(key, buf, want);
      if (std::memcmp(want, buf + 96, 16) != 0) {
        ++hmacBad;
        continue;
      }
      ++hmacOk;
      uint32_t seq = rdbe32(buf + 48);
      if (seq >= uint32_t(count) || rdbe32(buf + 64) == 0 || fromNtp(buf + 64) != t1s[seq] ||
          ((buf[26] << 8) | buf[27]) != ssid || ((buf[72] << 8) | buf[73]) != errEst) {
        ++malformed;
        continue;
      }
      uint64_t t1 = fromNtp(buf + 64), t2 = fromNtp(buf + 32), t3 = fromNtp(buf + 16);
      const uint64_t slack = 2000000000ULL;
      if (t2 + slack < t1 || t3 < t2 || t4 + slack < t3) {
        ++malformed;
        continue;
      }
      ++received;
      rttSum += (t4 - t1) - (t3 - t2);
    }
  };
  for (int i = 0; i < count; i++) {
    std::vector<uint8_t> pkt(size_t(size), 0);
    be32(pkt.data(), uint32_t(i));
    uint64_t t1 = nowNs();
    ntp(t1, pkt.data() + 16);
    t1s[size_t(i)] = fromNtp(pkt.data() + 16);  // as the reflector will copy it
    pkt[24] = uint8_t(errEst >> 8);
    pkt[25] = uint8_t(errEst);
    pkt[26] = uint8_t(ssid >> 8);
    pkt[27] = uint8_t(ssid);
    mac(key, pkt.data(), pkt.data() + 96);
    if (send(fd, pkt.data(), pkt.size(), 0) == ssize_t(pkt.size())) ++sent;
    drain(intervalMs);
  }
  drain(timeoutMs);
  std::printf(
      "{\"sent\":%d,\"received\":%d,\"hmac_ok\":%d,\"hmac_bad\":%d,\"malformed\":%d,"
      "\"rtt_avg_ns\":%llu}\n",
      sent, received, hmacOk, hmacBad, malformed,
      received ? (unsigned long long)(rttSum / uint64_t(received)) : 0ULL);
  return 0;
}
