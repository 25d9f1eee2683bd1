// stamp_udp_reflector: the benchmark's userspace baseline. A plain UDP
// socket reflector: recvmmsg() a batch, turn every datagram into a STAMP
// reply (RFC 8762 section 4.3, stateless: reflector sequence = sender
// sequence), sendmmsg() the batch back to the sources. T2 is the kernel's
// receive timestamp (SO_TIMESTAMPNS), T3 is taken once per batch just before
// sendmmsg(). With --echo it sends every datagram back unchanged instead.
//
// Runs until SIGTERM or SIGINT; prints "stamp_udp_reflector: ready" on stdout
// once bound and the reply count on exit. --threads N opens N SO_REUSEPORT
// sockets, one per thread.
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "libstamp/codec.hpp"
#include "stamp_abi.h"
#include "libstamp/timefmt.hpp"

namespace {

constexpr size_t kBufSize = 2048;
constexpr size_t kCtlSize = 256;
// Error Estimate for a clock nobody vouches for: S = 0, largest error.
constexpr uint16_t kUnknownErrEst = 0x3fff;

struct Options {
  std::string bind = "::";
  unsigned port = STAMP_PORT_DEFAULT;
  unsigned batch = 64;
  unsigned threads = 1;
  int rcvbuf = 4 << 20;
  bool echo = false;
};

std::atomic<bool> gStop{false};
std::atomic<uint64_t> gReflected{0};
std::atomic<uint64_t> gSendErrors{0};

int setInt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}

// Returns the socket, or -1 with a message on stderr.
int openSocket(const Options& o) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET6;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, o.bind.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(o.port));
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, o.bind.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(o.port));
    len = sizeof(*v6);
  } else {
    std::fprintf(stderr, "stamp_udp_reflector: '%s' is not an IPv4 or IPv6 address\n",
                 o.bind.c_str());
    return -1;
  }

  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("stamp_udp_reflector: socket");
    return -1;
  }
  timeval tick{0, 200'000};  // wakes idle threads to notice a stop request
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
  if (setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, o.rcvbuf) != 0)
    setInt(fd, SOL_SOCKET, SO_RCVBUF, o.rcvbuf);
  if (o.threads > 1) setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (family == AF_INET6) setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  if (!o.echo) {
    setInt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    setInt(fd, IPPROTO_IP, IP_RECVTTL, 1);  // also covers IPv4-mapped peers
    setInt(fd, IPPROTO_IP, IP_TTL, STAMP_REPLY_TTL);
    if (family == AF_INET6) {
      setInt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
      setInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, STAMP_REPLY_TTL);
    }
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::fprintf(stderr, "stamp_udp_reflector: bind [%s]:%u: %s\n", o.bind.c_str(), o.port,
                 std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

// Reads T2 and the arrival TTL from the control messages of one datagram.
void readControl(msghdr& h, stamp::UnixNs& t2, uint8_t& ttl) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      t2 = int64_t{ts.tv_sec} * stamp::kNsPerSec + ts.tv_nsec;
    } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
               (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
      int v;
      std::memcpy(&v, CMSG_DATA(c), sizeof(v));
      ttl = static_cast<uint8_t>(v);
    }
  }
}

void putTs(uint8_t* at, stamp::WireTs ts) {
  uint32_t w[2] = {htobe32(ts.sec), htobe32(ts.frac)};
  std::memcpy(at, w, sizeof(w));
}

void reflectLoop(int fd, const Options& o) {
  const unsigned n = o.batch;
  std::vector<uint8_t> bufs(n * kBufSize);
  std::vector<uint8_t> ctls(n * kCtlSize);
  std::vector<sockaddr_storage> peers(n);
  std::vector<iovec> riov(n), siov(n);
  std::vector<mmsghdr> rmsg(n), smsg(n);
  std::vector<size_t> replyLen(n);

  while (!gStop.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < n; ++i) {
      riov[i] = {&bufs[i * kBufSize], kBufSize};
      msghdr& h = rmsg[i].msg_hdr;
      h = {};
      h.msg_name = &peers[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &riov[i];
      h.msg_iovlen = 1;
      if (!o.echo) {
        h.msg_control = &ctls[i * kCtlSize];
        h.msg_controllen = kCtlSize;
      }
    }
    int got = recvmmsg(fd, rmsg.data(), n, MSG_WAITFORONE, nullptr);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      std::perror("stamp_udp_reflector: recvmmsg");
      return;
    }

    unsigned out = 0;
    for (int i = 0; i < got; ++i) {
      msghdr& h = rmsg[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) continue;
      uint8_t* buf = &bufs[i * kBufSize];
      size_t len = rmsg[i].msg_len;
      if (!o.echo) {
        auto req = stamp::decodeSender(std::span<const uint8_t>(buf, len));
        if (req) {
          stamp::UnixNs t2 = 0;
          uint8_t ttl = 0;
          readControl(h, t2, ttl);
          if (t2 == 0) t2 = stamp::realtimeNow();  // no kernel timestamp
          stamp::ReflectorPacket r;
          r.seq = req->seq;
          r.errEst = kUnknownErrEst;
          r.ssid = req->ssid;
          r.rxTs = stamp::ntpFromUnixNs(t2);
          r.senderSeq = req->seq;
          r.senderTs = req->ts;
          r.senderErrEst = req->errEst;
          r.senderTtl = ttl;
          if (len < stamp::kUnauthBase) {
            std::memset(buf + len, 0, stamp::kUnauthBase - len);
            len = stamp::kUnauthBase;
          }
          stamp::encodeReflector(r, std::span<uint8_t>(buf, len));
        }
      }
      replyLen[out] = len;
      siov[out] = {buf, len};
      msghdr& s = smsg[out].msg_hdr;
      s = {};
      s.msg_name = h.msg_name;
      s.msg_namelen = h.msg_namelen;
      s.msg_iov = &siov[out];
      s.msg_iovlen = 1;
      ++out;
    }
    if (!o.echo && out > 0) {
      stamp::WireTs t3 = stamp::ntpFromUnixNs(stamp::realtimeNow());
      for (unsigned i = 0; i < out; ++i)
        if (replyLen[i] >= stamp::kUnauthBase)
          putTs(static_cast<uint8_t*>(siov[i].iov_base) + offsetof(stamp_refl_unauth, ts_sec), t3);
    }

    unsigned sent = 0;
    while (sent < out) {
      int r = sendmmsg(fd, &smsg[sent], out - sent, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        gSendErrors.fetch_add(out - sent, std::memory_order_relaxed);
        break;
      }
      sent += static_cast<unsigned>(r);
    }
    gReflected.fetch_add(sent, std::memory_order_relaxed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"userspace UDP STAMP reflector, the baseline of the stampd benchmark"};
  Options o;
  app.add_option("--bind", o.bind, "local address (\"::\" is dual-stack)")->capture_default_str();
  app.add_option("--port", o.port, "UDP port")->check(CLI::Range(1, 65535))->capture_default_str();
  app.add_option("--batch", o.batch, "datagrams per recvmmsg/sendmmsg")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "threads, one SO_REUSEPORT socket each")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--rcvbuf", o.rcvbuf, "socket receive buffer, bytes")->capture_default_str();
  app.add_flag("--echo", o.echo, "send datagrams back unchanged (no STAMP reply fields)");
  CLI11_PARSE(app, argc, argv);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);  // inherited by the threads

  std::vector<int> fds;
  for (unsigned i = 0; i < o.threads; ++i) {
    int fd = openSocket(o);
    if (fd < 0) return 1;
    fds.push_back(fd);
  }
  std::vector<std::thread> workers;
  for (int fd : fds) workers.emplace_back(reflectLoop, fd, std::cref(o));

  std::printf("stamp_udp_reflector: ready (%s, port %u, %u thread(s), batch %u)\n",
              o.echo ? "echo" : "stamp", o.port, o.threads, o.batch);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  gStop = true;
  for (auto& t : workers) t.join();
  for (int fd : fds) close(fd);
  std::printf("stamp_udp_reflector: reflected=%llu send_errors=%llu\n",
              static_cast<unsigned long long>(gReflected.load()),
              static_cast<unsigned long long>(gSendErrors.load()));
  return 0;
}
