// stamp_probe: a plain-socket STAMP Session-Sender (RFC 8762 section 4.2.1,
// SSID from RFC 8972 section 3) that judges every reply of a stateless
// Session-Reflector. No eBPF: T1 and T4 are taken in userspace (T4 from the
// kernel's receive timestamp when it offers one), so the figures it prints
// are for checking a reflector, not for measuring a network.
//
// It assumes sender and reflector share one kernel clock (network namespaces
// of one host), which lets it demand T1 <= T2 <= T3 <= T4, and that no router
// sits between them, which lets it demand that the reflector saw the TTL it
// sent. Exit status: 0 when every packet came back once and passed every
// check, 1 when any did not, 2 when the probe itself could not run.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "libstamp/codec.hpp"
#include "libstamp/error_estimate.hpp"
#include "stamp_abi.h"
#include "libstamp/timefmt.hpp"

using namespace stamp;

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitSetup = 2;
constexpr size_t kMaxFailuresShown = 10;
constexpr uint32_t kMinSize = 14;     // seq, T1, Error Estimate: the TWAMP-Light minimum
constexpr uint32_t kMaxSize = 65507;  // largest UDP payload over IPv4

struct Options {
  std::string target;
  uint16_t port = STAMP_PORT_DEFAULT;
  uint32_t count = 100;
  std::vector<uint32_t> sizes{44};
  std::string interval = "1ms";
  std::string timeout = "1s";
  int ttl = 64;
  uint16_t ssid = 0;
  bool json = false;
};

// "250us", "10ms", "1s", "500ns"; a bare number counts microseconds.
std::optional<int64_t> parseDurationNs(std::string_view text) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data() || n < 0) return std::nullopt;
  std::string_view unit(p, size_t(text.data() + text.size() - p));
  static const std::pair<std::string_view, int64_t> kUnits[] = {
      {"", 1'000}, {"ns", 1}, {"us", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  for (const auto& [u, mult] : kUnits)
    if (unit == u) return n <= INT64_MAX / mult ? std::optional(n * mult) : std::nullopt;
  return std::nullopt;
}

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

std::string endpointText(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    port = ntohs(a.sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof(host));
    port = ntohs(a.sin6_port);
  }
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

bool sameEndpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port &&
         std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(in6_addr)) == 0;
}

std::optional<Endpoint> resolveTarget(const std::string& host, uint16_t port, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    why = "--target '" + host + "' is not an IPv4 or IPv6 address: " + gai_strerror(rc);
    return std::nullopt;
  }
  Endpoint ep;
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.len = res->ai_addrlen;
  freeaddrinfo(res);
  return ep;
}

// The sender's own Error Estimate, from the kernel clock as stampd derives
// it: S from STA_UNSYNC, the error from esterror (synchronised) or maxerror.
struct LocalClock {
  uint16_t errEst = kErrorEstimateUnknown;
  int32_t taiOffsetSec = 0;
};

LocalClock readLocalClock() {
  struct timex tx {};
  int ret = adjtimex(&tx);
  LocalClock c;
  if (ret < 0) return c;
  bool synced = !(tx.status & STA_UNSYNC) && ret != TIME_ERROR;
  long err = synced ? tx.esterror : tx.maxerror;
  c.errEst = ErrorEstimate::fromErrorNs(err > 0 ? uint64_t(err) * 1000 : 0, synced).encode();
  c.taiOffsetSec = tx.tai;
  return c;
}

// UDP counters of this network namespace, to explain lost replies: a reply
// with a bad checksum never reaches the socket, but the kernel counts it.
struct UdpCounters {
  uint64_t csumErrors = 0;
  uint64_t rcvbufErrors = 0;
};

UdpCounters readUdpCounters(bool ipv6) {
  UdpCounters c;
  if (ipv6) {
    std::ifstream in("/proc/net/snmp6");
    std::string key;
    uint64_t value;
    while (in >> key >> value) {
      if (key == "Udp6InCsumErrors") c.csumErrors = value;
      if (key == "Udp6RcvbufErrors") c.rcvbufErrors = value;
    }
    return c;
  }
  std::ifstream in("/proc/net/snmp");
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (header.rfind("Udp:", 0) != 0) continue;
    std::istringstream hs(header), vs(values);
    std::string name, value;
    while (hs >> name && vs >> value) {
      if (name == "InCsumErrors") c.csumErrors = std::stoull(value);
      if (name == "RcvbufErrors") c.rcvbufErrors = std::stoull(value);
    }
    break;
  }
  return c;
}

// Padding beyond the 44-octet base: the offset mixed with the sequence
// number, so a shifted, truncated or swapped payload shows up. With room
// for it, the octets after the base are one RFC 8972 Extra Padding TLV
// (U set, as a Session-Sender sends it) holding that pattern, so that an
// RFC 8972 reflector has a well-formed TLV to answer.
uint8_t padByte(uint32_t seq, size_t offset) {
  return uint8_t(offset ^ (seq * 0x9du));
}
uint8_t requestByte(uint32_t seq, size_t offset, size_t size) {
  if (size >= kUnauthBase + STAMP_TLV_HDR && offset < kUnauthBase + STAMP_TLV_HDR) {
    const size_t len = size - kUnauthBase - STAMP_TLV_HDR;
    const uint8_t hdr[] = {STAMP_TLV_U, STAMP_TLV_PADDING, uint8_t(len >> 8), uint8_t(len)};
    return hdr[offset - kUnauthBase];
  }
  return padByte(seq, offset);
}
// The reply octet for it: the same, except the first octet after the base,
// which a reflector that walks TLVs rewrites: the Extra Padding TLV's flags
// cleared (understood), or M set on octets too few for a TLV header.
bool replyByteOk(uint32_t seq, size_t offset, size_t size, uint8_t got) {
  const uint8_t sent = requestByte(seq, offset, size);
  if (got == sent) return true;
  if (offset != kUnauthBase) return false;
  return size >= kUnauthBase + STAMP_TLV_HDR ? got == 0 : got == STAMP_TLV_M;
}

struct Request {
  bool sent = false;
  uint32_t size = 0;
  WireTs t1;
  uint32_t replies = 0;
};

struct Reply {
  const uint8_t* data = nullptr;
  size_t len = 0;
  bool truncated = false;
  sockaddr_storage from{};
  std::optional<int> ttl;  // IP TTL / Hop Limit of the reply
  UnixNs t4 = 0;
};

struct Distribution {
  std::vector<int64_t> v;
  int64_t quantile(double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t rank = size_t(q * double(v.size()) + 0.999999);
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  }
  nlohmann::json toJson() {
    if (v.empty()) return nullptr;
    return {{"p50", quantile(0.5)},
            {"p99", quantile(0.99)},
            {"max", quantile(1.0)},
            {"min", quantile(0.0)}};
  }
};

class Probe {
 public:
  Probe(const Options& opt, const Endpoint& target, const LocalClock& clock)
      : opt_(opt), target_(target), clock_(clock), requests_(opt.count) {}

  // Builds request `seq` into buf and returns its size.
  size_t build(uint32_t seq, std::vector<uint8_t>& buf) {
    Request& r = requests_[seq];
    r.size = opt_.sizes[seq % opt_.sizes.size()];
    buf.assign(std::max<size_t>(r.size, kUnauthBase), 0);
    r.t1 = ntpFromUnixNs(realtimeNow());
    SenderPacket p{seq, r.t1, clock_.errEst, opt_.ssid};
    encodeSender(p, buf);
    for (size_t i = kUnauthBase; i < r.size; ++i) buf[i] = requestByte(seq, i, r.size);
    return r.size;
  }
  void markSent(uint32_t seq) {
    requests_[seq].sent = true;
    ++sent_;
  }
  bool allAnswered() const { return answered_ == sent_; }

  void check(const Reply& rp) {
    std::vector<std::string> problems;
    auto fail = [&](std::string s) { problems.push_back(std::move(s)); };
    std::string who = "reply";

    if (!sameEndpoint(rp.from, target_.addr))
      fail("came from " + endpointText(rp.from) + ", not " + endpointText(target_.addr));
    if (rp.truncated) fail("larger than the receive buffer");
    auto decoded = decodeReflector({rp.data, rp.len});
    if (!decoded) {
      fail(std::to_string(rp.len) + " octets, too short to identify");
      return record(who, problems, nullptr);
    }
    const ReflectorPacket& p = *decoded;
    if (p.senderSeq >= requests_.size() || !requests_[p.senderSeq].sent) {
      fail("Session-Sender Sequence Number " + std::to_string(p.senderSeq) + " was never sent");
      return record(who, problems, nullptr);
    }
    Request& rq = requests_[p.senderSeq];
    who = "seq " + std::to_string(p.senderSeq) + " (size " + std::to_string(rq.size) + ")";
    if (++rq.replies > 1) {
      ++duplicates_;
      fail("duplicate reply #" + std::to_string(rq.replies));
    } else {
      ++answered_;
    }

    size_t wantLen = std::max<size_t>(kUnauthBase, rq.size);
    if (rp.len != wantLen)
      fail("payload " + std::to_string(rp.len) + " octets, expected " + std::to_string(wantLen));
    if (p.seq != p.senderSeq)
      fail("reflector Sequence Number " + std::to_string(p.seq) +
           " != Session-Sender Sequence Number (stateless)");
    if (p.senderTs != rq.t1)
      fail("copied T1 " + hex(p.senderTs.raw()) + " != sent " + hex(rq.t1.raw()));
    if (p.senderErrEst != clock_.errEst)
      fail("copied Error Estimate " + hex(p.senderErrEst) + " != sent " + hex(clock_.errEst));
    // A request shorter than 16 octets carried no SSID; the reflector reads
    // the missing octets as zero (RFC 8762 section 4.6).
    uint16_t wantSsid = rq.size >= offsetof(stamp_sender_unauth, mbz) ? opt_.ssid : 0;
    if (!p.hasSsid || p.ssid != wantSsid)
      fail("SSID " + (p.hasSsid ? hex(p.ssid) : std::string("missing")) + " != " + hex(wantSsid));
    if (!p.hasSenderTtl || p.senderTtl != opt_.ttl)
      fail("Session-Sender TTL " +
           (p.hasSenderTtl ? std::to_string(p.senderTtl) : std::string("missing")) +
           " != TTL sent " + std::to_string(opt_.ttl));
    if (!rp.ttl)
      fail("no TTL / Hop Limit control message");
    else if (*rp.ttl != STAMP_REPLY_TTL)
      fail("reply IP TTL " + std::to_string(*rp.ttl) + " != " + std::to_string(STAMP_REPLY_TTL));
    if (rp.len >= kUnauthBase) {
      for (size_t off : {offsetof(stamp_refl_unauth, mbz1), offsetof(stamp_refl_unauth, mbz1) + 1,
                         offsetof(stamp_refl_unauth, mbz2), offsetof(stamp_refl_unauth, mbz2) + 1,
                         offsetof(stamp_refl_unauth, mbz2) + 2})
        if (rp.data[off] != 0) {
          fail("MBZ octet " + std::to_string(off) + " is " + hex(rp.data[off]));
          break;
        }
    }
    for (size_t i = kUnauthBase; i < std::min<size_t>(rp.len, rq.size); ++i)
      if (!replyByteOk(p.senderSeq, i, rq.size, rp.data[i])) {
        fail("octet " + std::to_string(i) + " is " + hex(rp.data[i]) + ", sent " +
             hex(requestByte(p.senderSeq, i, rq.size)));
        break;
      }

    ErrorEstimate reflEe = ErrorEstimate::decode(p.errEst);
    if (reflEe.multiplier == 0)
      fail("reflector Error Estimate " + hex(p.errEst) + " has Multiplier 0");
    bool ptp = reflEe.ptp;
    UnixNs t1 = unixNsFromNtp(rq.t1, rp.t4);
    UnixNs t2 = unixNsFromWire(p.rxTs, ptp, clock_.taiOffsetSec, rp.t4);
    UnixNs t3 = unixNsFromWire(p.ts, ptp, clock_.taiOffsetSec, rp.t4);
    UnixNs t4 = rp.t4;
    if (!(t1 <= t2 && t2 <= t3 && t3 <= t4))
      fail("timestamps out of order: T2-T1 " + std::to_string(t2 - t1) + " ns, T3-T2 " +
           std::to_string(t3 - t2) + " ns, T4-T3 " + std::to_string(t4 - t3) + " ns");

    Timing timing{t3 - t2, t4 - t1, t2 - t1, t4 - t3};
    record(who, problems, problems.empty() ? &timing : nullptr);
  }

  struct Timing {
    int64_t dwell, rtt, forward, backward;
  };

  uint32_t sent() const { return sent_; }
  uint32_t ok() const { return ok_; }
  uint32_t bad() const { return bad_; }
  uint32_t duplicates() const { return duplicates_; }
  uint32_t lost() const { return sent_ - answered_; }

  // The first few lost sequence numbers, for the failure report.
  std::vector<std::string> lostDetails() const {
    std::vector<std::string> out;
    for (uint32_t s = 0; s < requests_.size() && out.size() < kMaxFailuresShown; ++s)
      if (requests_[s].sent && requests_[s].replies == 0)
        out.push_back("seq " + std::to_string(s) + " (size " + std::to_string(requests_[s].size) +
                      "): no reply");
    return out;
  }
  const std::vector<std::string>& failures() const { return failures_; }
  size_t failureCount() const { return failureCount_; }
  Distribution dwell, rtt, forward, backward;

 private:
  template <typename T>
  static std::string hex(T v) {
    char b[24];
    std::snprintf(b, sizeof(b), "0x%0*llx", int(sizeof(T) * 2), (unsigned long long)v);
    return b;
  }

  void record(const std::string& who, const std::vector<std::string>& problems,
              const Timing* timing) {
    if (problems.empty()) {
      ++ok_;
      dwell.v.push_back(timing->dwell);
      rtt.v.push_back(timing->rtt);
      forward.v.push_back(timing->forward);
      backward.v.push_back(timing->backward);
      return;
    }
    ++bad_;
    ++failureCount_;
    if (failures_.size() >= kMaxFailuresShown) return;
    std::string line = who + ":";
    for (size_t i = 0; i < problems.size(); ++i) line += (i ? "; " : " ") + problems[i];
    failures_.push_back(line);
  }

  const Options& opt_;
  Endpoint target_;
  LocalClock clock_;
  std::vector<Request> requests_;
  uint32_t sent_ = 0, answered_ = 0, ok_ = 0, bad_ = 0, duplicates_ = 0;
  std::vector<std::string> failures_;
  size_t failureCount_ = 0;
};

// Reads every reply queued on the socket; returns false on a socket error.
bool drain(int fd, bool ipv6, Probe& probe, std::string& why) {
  static std::vector<uint8_t> buf(65536);
  alignas(cmsghdr) char control[512];
  for (;;) {
    Reply rp;
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &rp.from;
    msg.msg_namelen = sizeof(rp.from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    UnixNs userT4 = realtimeNow();
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
      why = std::string("recvmsg: ") + std::strerror(errno);
      return false;
    }
    rp.data = buf.data();
    rp.len = std::min<size_t>(size_t(n), buf.size());
    rp.truncated = size_t(n) > buf.size() || (msg.msg_flags & MSG_TRUNC);
    rp.t4 = userT4;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts;
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        rp.t4 = int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
      } else if ((!ipv6 && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                 (ipv6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        int ttl;
        std::memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
        rp.ttl = ttl;
      }
    }
    probe.check(rp);
  }
}

// Waits for the socket to become readable or for the deadline (monotonic).
void waitReadable(int fd, int64_t deadlineNs) {
  int64_t left = deadlineNs - monotonicNs();
  if (left <= 0) return;
  pollfd p{fd, POLLIN, 0};
  timespec ts{time_t(left / kNsPerSec), long(left % kNsPerSec)};
  (void)ppoll(&p, 1, &ts, nullptr);
}

int setupError(const std::string& why) {
  std::fprintf(stderr, "stamp_probe: %s\n", why.c_str());
  return kExitSetup;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{
      "stamp_probe: a plain UDP-socket STAMP Session-Sender that checks every reply of a "
      "stateless Session-Reflector on the same host's clock"};
  app.add_option("--target", opt.target, "reflector address, IPv4 or IPv6")->required();
  app.add_option("--port", opt.port, "reflector UDP port")->capture_default_str();
  app.add_option("--count", opt.count, "packets to send")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--sizes", opt.sizes,
                 "STAMP payload sizes in octets to cycle through, e.g. 14,40,44,100,1400")
      ->delimiter(',')
      ->check(CLI::Range(kMinSize, kMaxSize));
  app.add_option("--interval", opt.interval,
                 "gap between packets: 250us, 10ms, 1s; a bare number is microseconds")
      ->capture_default_str();
  app.add_option("--timeout", opt.timeout,
                 "how long to wait for replies after the last packet (same units)")
      ->capture_default_str();
  app.add_option("--ttl", opt.ttl, "IP TTL / Hop Limit to send with")
      ->capture_default_str()
      ->check(CLI::Range(1, 255));
  app.add_option("--ssid", opt.ssid, "SSID (RFC 8972) to send; 0 means none")
      ->capture_default_str();
  app.add_flag("--json", opt.json, "print the summary as one JSON object");
  CLI11_PARSE(app, argc, argv);

  auto intervalNs = parseDurationNs(opt.interval);
  if (!intervalNs) return setupError("--interval '" + opt.interval + "' is not a duration");
  auto timeoutNs = parseDurationNs(opt.timeout);
  if (!timeoutNs) return setupError("--timeout '" + opt.timeout + "' is not a duration");
  if (opt.sizes.empty()) return setupError("--sizes needs at least one size");

  std::string why;
  auto target = resolveTarget(opt.target, opt.port, why);
  if (!target) return setupError(why);
  bool ipv6 = target->addr.ss_family == AF_INET6;

  Socket sock(socket(target->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (sock.get() < 0) return setupError(std::string("socket: ") + std::strerror(errno));
  int fd = sock.get();
  int one = 1;
  int rcvbuf = 4 << 20;
  // SO_RCVBUFFORCE needs CAP_NET_ADMIN; plain SO_RCVBUF is the fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
    return setupError(std::string("SO_TIMESTAMPNS: ") + std::strerror(errno));
  int rc = ipv6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &opt.ttl, sizeof(opt.ttl))
                : setsockopt(fd, IPPROTO_IP, IP_TTL, &opt.ttl, sizeof(opt.ttl));
  if (rc < 0) return setupError(std::string("setting the TTL: ") + std::strerror(errno));
  rc = ipv6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one))
            : setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
  if (rc < 0) return setupError(std::string("asking for the reply TTL: ") + std::strerror(errno));

  LocalClock clock = readLocalClock();
  Probe probe(opt, *target, clock);
  UdpCounters before = readUdpCounters(ipv6);

  std::vector<uint8_t> buf;
  int64_t start = monotonicNs();
  int64_t lastSend = start;
  for (uint32_t seq = 0; seq < opt.count; ++seq) {
    int64_t due = start + int64_t(seq) * *intervalNs;
    while (monotonicNs() < due) {
      waitReadable(fd, due);
      if (!drain(fd, ipv6, probe, why)) return setupError(why);
    }
    size_t len = probe.build(seq, buf);
    if (sendto(fd, buf.data(), len, 0, reinterpret_cast<const sockaddr*>(&target->addr),
               target->len) != ssize_t(len))
      return setupError("sendto " + endpointText(target->addr) + ": " + std::strerror(errno));
    probe.markSent(seq);
    lastSend = monotonicNs();
    if (!drain(fd, ipv6, probe, why)) return setupError(why);
  }
  // Wait for the stragglers, then a little longer so that duplicates show.
  int64_t deadline = lastSend + *timeoutNs;
  while (!probe.allAnswered() && monotonicNs() < deadline) {
    waitReadable(fd, deadline);
    if (!drain(fd, ipv6, probe, why)) return setupError(why);
  }
  int64_t linger = monotonicNs() + std::min<int64_t>(*timeoutNs, 20'000'000);
  while (monotonicNs() < linger) {
    waitReadable(fd, linger);
    if (!drain(fd, ipv6, probe, why)) return setupError(why);
  }
  UdpCounters after = readUdpCounters(ipv6);
  uint64_t csumErrors = after.csumErrors - before.csumErrors;
  uint64_t rcvbufErrors = after.rcvbufErrors - before.rcvbufErrors;

  bool pass = probe.ok() == probe.sent() && probe.bad() == 0 && probe.lost() == 0;
  std::vector<std::string> details = probe.failures();
  for (auto& l : probe.lostDetails())
    if (details.size() < 2 * kMaxFailuresShown) details.push_back(l);

  if (opt.json) {
    nlohmann::json j = {
        {"target", endpointText(target->addr)},
        {"sent", probe.sent()},
        {"ok", probe.ok()},
        {"bad", probe.bad()},
        {"lost", probe.lost()},
        {"duplicates", probe.duplicates()},
        {"pass", pass},
        {"dwell_ns", probe.dwell.toJson()},
        {"rtt_ns", probe.rtt.toJson()},
        {"forward_ns", probe.forward.toJson()},
        {"backward_ns", probe.backward.toJson()},
        {"udp_checksum_errors", csumErrors},
        {"udp_rcvbuf_errors", rcvbufErrors},
        {"failures", details},
    };
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (const auto& l : details) std::fprintf(stderr, "stamp_probe: FAIL %s\n", l.c_str());
    if (probe.failureCount() > probe.failures().size())
      std::fprintf(stderr, "stamp_probe: ... and %zu more bad replies\n",
                   probe.failureCount() - probe.failures().size());
    if (csumErrors || rcvbufErrors)
      std::fprintf(stderr,
                   "stamp_probe: this namespace counted %llu UDP checksum errors and %llu "
                   "receive-buffer drops during the run\n",
                   (unsigned long long)csumErrors, (unsigned long long)rcvbufErrors);
    std::printf(
        "stamp_probe: %u sent, %u ok, %u bad, %u lost, %u dup (%s); dwell T3-T2 p50 %lld ns p99 "
        "%lld ns; rtt T4-T1 p50 %lld ns p99 %lld ns\n",
        probe.sent(), probe.ok(), probe.bad(), probe.lost(), probe.duplicates(),
        endpointText(target->addr).c_str(), (long long)probe.dwell.quantile(0.5),
        (long long)probe.dwell.quantile(0.99), (long long)probe.rtt.quantile(0.5),
        (long long)probe.rtt.quantile(0.99));
  }
  return pass ? 0 : kExitFailed;
}
