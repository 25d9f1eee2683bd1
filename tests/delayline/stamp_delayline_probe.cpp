// stamp_delayline_probe: the probe the delay line's e2e test measures with.
// `serve` echoes UDP probes, stamping their arrival; `send` sends a
// numbered train and reports loss, reordering, round-trip time and both
// one-way delays; `vlan-send`/`vlan-recv` check that 802.1Q tags survive.
//
// One-way figures are meaningful because sender and server run on the same
// host and read the same CLOCK_REALTIME (network namespaces do not change
// clocks). Arrivals are the kernel's receive timestamps, so a probe process
// waiting for the CPU does not add to the delays it reports.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp::delayline {
namespace {

constexpr uint32_t kMagic = 0x53444c50;  // "SDLP"

// Wire layout, all fields in host order (both ends run on this host).
struct Probe {
  uint32_t magic;
  uint32_t seq;
  int64_t sentNs;      // sender's CLOCK_REALTIME just before send()
  int64_t receivedNs;  // server's kernel receive time, CLOCK_REALTIME, filled by serve
  int64_t repliedNs;   // server's CLOCK_REALTIME just before its reply, filled by serve
};

Error errnoError(const std::string& what) {
  int e = errno;
  return makeError(e, what + ": " + std::strerror(e));
}

int64_t toNs(const timespec& ts) {
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return toNs(ts);
}

int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return toNs(ts);
}

// Receives one datagram into buf with its kernel receive time (CLOCK_REALTIME;
// the time of this call when the kernel gave none). Returns recvmsg's result.
ssize_t receiveStamped(int fd, std::span<uint8_t> buf, sockaddr_storage* peer, socklen_t* peerLen,
                       int64_t* rxNs) {
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr msg{};
  msg.msg_name = peer;
  msg.msg_namelen = peer ? *peerLen : 0;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
  *rxNs = realtimeNs();
  if (n < 0) return n;
  if (peer) *peerLen = msg.msg_namelen;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      *rxNs = toNs(ts);
    }
  }
  return n;
}

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

Result<Address> parseAddress(const std::string& host, uint16_t port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof *v6;
  } else {
    return makeError(EINVAL, "not an IPv4 or IPv6 address: " + host);
  }
  return a;
}

Result<UniqueFd> udpSocket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("socket(SOCK_DGRAM)");
  UniqueFd owner(fd);
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
    return errnoError("SO_TIMESTAMPNS");
  return owner;
}

Result<UniqueFd> terminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return errnoError("sigprocmask");
  int fd = signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) return errnoError("signalfd");
  return UniqueFd(fd);
}

// Echoes probes until SIGINT/SIGTERM, then prints how many it received.
Result<void> serve(const std::string& bindHost, uint16_t port) {
  auto addr = parseAddress(bindHost, port);
  if (!addr) return addr.error();
  auto sock = udpSocket(addr->ss.ss_family);
  if (!sock) return sock.error();
  if (addr->ss.ss_family == AF_INET6) {
    int off = 0;  // "::" also serves IPv4, as v4-mapped addresses
    setsockopt(sock->get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(sock->get(), reinterpret_cast<const sockaddr*>(&addr->ss), addr->len) != 0)
    return errnoError("bind " + bindHost);
  auto sig = terminationSignals();
  if (!sig) return sig.error();
  std::printf("probe-serve: listening on %s port %u\n", bindHost.c_str(), unsigned(port));
  std::fflush(stdout);

  uint64_t received = 0;
  pollfd fds[2] = {{sock->get(), POLLIN, 0}, {sig->get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return errnoError("poll");
    }
    if (fds[1].revents) break;
    if (!fds[0].revents) continue;
    uint8_t buf[2048];
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    int64_t rxNs = 0;
    ssize_t n = receiveStamped(sock->get(), buf, &peer, &peerLen, &rxNs);
    if (n < ssize_t(sizeof(Probe))) continue;  // not ours, or an error
    Probe p;
    std::memcpy(&p, buf, sizeof p);
    if (p.magic != kMagic) continue;
    ++received;
    p.receivedNs = rxNs;
    p.repliedNs = realtimeNs();
    std::memcpy(buf, &p, sizeof p);
    sendto(sock->get(), buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&peer), peerLen);
  }
  std::printf("probe-serve: received=%llu\n", (unsigned long long)received);
  return {};
}

// Delay samples of one kind, in ms; prints min, median, mean and max. The
// median is what a test should judge precision by: one stall of the host
// moves the mean and the max but not the median.
struct Stat {
  std::vector<double> samples;
  void add(double v) { samples.push_back(v); }
  void print(const char* name) {
    if (samples.empty()) {
      std::printf("probe: %s no samples\n", name);
      return;
    }
    std::sort(samples.begin(), samples.end());
    double sum = 0;
    for (double v : samples) sum += v;
    std::printf("probe: %s min=%.3f p50=%.3f avg=%.3f max=%.3f\n", name, samples.front(),
                samples[samples.size() / 2], sum / double(samples.size()), samples.back());
  }
};

struct SendOptions {
  std::string to;
  uint16_t port = 8620;
  uint32_t count = 10;
  int64_t intervalNs = 100'000'000;
  int64_t waitNs = 1'000'000'000;
  size_t size = 64;
};

// Sends `count` probes `interval` apart, then waits up to `wait` for the
// last replies, and prints the summary.
Result<void> send(const SendOptions& o) {
  auto addr = parseAddress(o.to, o.port);
  if (!addr) return addr.error();
  auto sock = udpSocket(addr->ss.ss_family);
  if (!sock) return sock.error();
  if (connect(sock->get(), reinterpret_cast<const sockaddr*>(&addr->ss), addr->len) != 0)
    return errnoError("connect " + o.to);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (tfd < 0) return errnoError("timerfd_create");
  UniqueFd timer(tfd);
  itimerspec its{};
  its.it_interval.tv_sec = time_t(o.intervalNs / 1'000'000'000);
  its.it_interval.tv_nsec = long(o.intervalNs % 1'000'000'000);
  its.it_value.tv_nsec = 1;  // first probe at once
  if (timerfd_settime(tfd, 0, &its, nullptr) != 0) return errnoError("timerfd_settime");

  std::vector<uint8_t> buf(std::max(o.size, sizeof(Probe)));
  std::vector<bool> seen(o.count, false);
  uint32_t sent = 0;
  uint64_t received = 0, duplicates = 0, reordered = 0, sendErrors = 0;
  int64_t highest = -1;
  Stat rtt, fwd, rev;
  int64_t deadline = 0;
  pollfd fds[2] = {{sock->get(), POLLIN, 0}, {tfd, POLLIN, 0}};
  while (received < o.count) {
    int timeoutMs = -1;
    if (sent == o.count) {
      int64_t left = deadline - monotonicNs();
      if (left <= 0) break;
      timeoutMs = int(left / 1'000'000) + 1;
    }
    int n = poll(fds, sent == o.count ? 1 : 2, timeoutMs);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError("poll");
    }
    if (sent < o.count && fds[1].revents) {
      uint64_t ticks = 0;
      (void)!read(tfd, &ticks, sizeof ticks);
      // Catch up on ticks missed while descheduled, so the rate holds.
      for (uint64_t t = 0; t < std::max<uint64_t>(ticks, 1) && sent < o.count; ++t) {
        Probe p{kMagic, sent, realtimeNs(), 0, 0};
        std::memcpy(buf.data(), &p, sizeof p);
        if (::send(sock->get(), buf.data(), buf.size(), MSG_DONTWAIT) < 0) ++sendErrors;
        if (++sent == o.count) deadline = monotonicNs() + o.waitNs;
      }
    }
    if (fds[0].revents) {
      uint8_t in[2048];
      int64_t now = 0;
      ssize_t r = receiveStamped(sock->get(), in, nullptr, nullptr, &now);
      if (r < ssize_t(sizeof(Probe))) continue;  // ICMP error or junk
      Probe p;
      std::memcpy(&p, in, sizeof p);
      if (p.magic != kMagic || p.seq >= o.count) continue;
      if (seen[p.seq]) {
        ++duplicates;
        continue;
      }
      seen[p.seq] = true;
      ++received;
      if (int64_t(p.seq) < highest) ++reordered;
      highest = std::max(highest, int64_t(p.seq));
      rtt.add(double(now - p.sentNs) / 1e6);
      fwd.add(double(p.receivedNs - p.sentNs) / 1e6);
      // From the reply's departure: the server's own turnaround is not the
      // path's delay.
      rev.add(double(now - p.repliedNs) / 1e6);
    }
  }
  std::printf(
      "probe: sent=%u received=%llu lost=%llu reordered=%llu duplicates=%llu send_errors=%llu\n",
      sent, (unsigned long long)received, (unsigned long long)(sent - received),
      (unsigned long long)reordered, (unsigned long long)duplicates,
      (unsigned long long)sendErrors);
  rtt.print("rtt_ms");
  fwd.print("fwd_ms");
  rev.print("rev_ms");
  return {};
}

// VLAN-tagged frames, injected and captured through AF_PACKET (this test
// kernel has no 802.1Q devices). The receiving kernel moves the tag into
// metadata before any socket sees the frame, so the receiver reads it from
// PACKET_AUXDATA; a tag the delay line failed to restore shows as missing.
constexpr uint16_t kVlanProbeEtherType = 0x88b5;  // IEEE local experimental
constexpr uint8_t kVlanProbeMagic[4] = {'S', 'D', 'L', 'V'};

struct VlanOptions {
  std::string dev;
  uint16_t tci = 0;
  uint32_t count = 5;
  size_t size = 1500;  // bytes after the EtherType: a full-MTU tagged frame
  int64_t intervalNs = 20'000'000;
  int64_t timeoutNs = 2'000'000'000;
};

Result<UniqueFd> packetSocket(const std::string& dev, uint16_t protocol) {
  unsigned ifindex = if_nametoindex(dev.c_str());
  if (ifindex == 0) return makeError(ENODEV, "interface " + dev + " not found");
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("socket(AF_PACKET)");
  UniqueFd owner(fd);
  int on = 1;
  if (protocol != 0 && (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) != 0 ||
                        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on) != 0))
    return errnoError("PACKET_AUXDATA/PACKET_IGNORE_OUTGOING");
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(protocol);
  sll.sll_ifindex = int(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return errnoError("bind AF_PACKET socket to " + dev);
  return owner;
}

Result<void> vlanSend(const VlanOptions& o) {
  auto sock = packetSocket(o.dev, 0);
  if (!sock) return sock.error();
  std::vector<uint8_t> f(18 + o.size, 0x5a);
  std::fill_n(f.begin(), 6, 0xff);  // broadcast
  const uint8_t src[6] = {0x02, 0x53, 0x44, 0x4c, 0x56, 0x01};
  std::copy(src, src + 6, f.begin() + 6);
  f[12] = 0x81;
  f[13] = 0x00;
  f[14] = uint8_t(o.tci >> 8);
  f[15] = uint8_t(o.tci);
  f[16] = uint8_t(kVlanProbeEtherType >> 8);
  f[17] = uint8_t(kVlanProbeEtherType);
  std::copy(kVlanProbeMagic, kVlanProbeMagic + 4, f.begin() + 18);
  for (uint32_t seq = 0; seq < o.count; ++seq) {
    std::memcpy(&f[22], &seq, sizeof seq);
    if (::send(sock->get(), f.data(), f.size(), 0) < 0) return errnoError("send on " + o.dev);
    timespec gap{time_t(o.intervalNs / 1'000'000'000), long(o.intervalNs % 1'000'000'000)};
    nanosleep(&gap, nullptr);
  }
  std::printf("probe-vlan: sent=%u frame_bytes=%zu\n", o.count, f.size());
  return {};
}

Result<void> vlanReceive(const VlanOptions& o) {
  auto sock = packetSocket(o.dev, ETH_P_ALL);
  if (!sock) return sock.error();
  std::printf("probe-vlan: listening on %s\n", o.dev.c_str());
  std::fflush(stdout);
  uint64_t received = 0, tagged = 0;
  size_t maxBytes = 0;
  int64_t deadline = monotonicNs() + o.timeoutNs;
  while (received < o.count) {
    int64_t left = deadline - monotonicNs();
    if (left <= 0) break;
    pollfd pfd{sock->get(), POLLIN, 0};
    if (poll(&pfd, 1, int(left / 1'000'000) + 1) <= 0) continue;
    uint8_t buf[2048];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock->get(), &msg, MSG_DONTWAIT);
    if (n < 18 || (buf[12] << 8 | buf[13]) != kVlanProbeEtherType ||
        std::memcmp(&buf[14], kVlanProbeMagic, 4) != 0)
      continue;
    ++received;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
      bool tpidOk = !(aux.tp_status & TP_STATUS_VLAN_TPID_VALID) || aux.tp_vlan_tpid == 0x8100;
      if ((aux.tp_status & TP_STATUS_VLAN_VALID) && aux.tp_vlan_tci == o.tci && tpidOk) {
        ++tagged;
        maxBytes = std::max(maxBytes, size_t(n) + 4);
      }
    }
  }
  std::printf("probe-vlan: received=%llu tagged=%llu max_frame_bytes=%zu\n",
              (unsigned long long)received, (unsigned long long)tagged, maxBytes);
  return {};
}

}  // namespace
}  // namespace stamp::delayline

int main(int argc, char** argv) {
  namespace dl = stamp::delayline;
  CLI::App app{"Probes for the stamp_delayline e2e test: UDP delay and loss trains, 802.1Q tags.",
               "stamp_delayline_probe"};
  app.require_subcommand(1);
  const std::map<std::string, int64_t> units{
      {"ns", 1}, {"us", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  auto duration = CLI::AsNumberWithUnit(units, CLI::AsNumberWithUnit::UNIT_REQUIRED, "DURATION");

  std::string bindHost = "::";
  uint16_t servePort = 8620;
  auto* serveCmd = app.add_subcommand(
      "serve", "echo probes until SIGINT/SIGTERM, then print probe-serve: received=N");
  serveCmd->add_option("--bind", bindHost, "address to listen on; :: serves IPv4 too")
      ->capture_default_str();
  serveCmd->add_option("--port", servePort, "UDP port")->capture_default_str();

  dl::SendOptions so;
  auto* sendCmd = app.add_subcommand("send", "send a probe train and print its summary");
  sendCmd->add_option("--to", so.to, "server address")->required();
  sendCmd->add_option("--port", so.port, "UDP port")->capture_default_str();
  sendCmd->add_option("--count", so.count, "probes to send")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  sendCmd->add_option("--interval", so.intervalNs, "time between probes (default 100ms)")
      ->transform(duration)
      ->check(CLI::PositiveNumber);
  sendCmd->add_option("--wait", so.waitNs, "wait for replies after the last probe (default 1s)")
      ->transform(duration)
      ->check(CLI::NonNegativeNumber);
  sendCmd->add_option("--size", so.size, "UDP payload bytes (at least 32)")
      ->capture_default_str()
      ->check(CLI::Range(size_t(32), size_t(1472)));

  dl::VlanOptions vo;
  auto* vlanSendCmd = app.add_subcommand(
      "vlan-send", "inject 802.1Q-tagged broadcast frames (EtherType 0x88b5) on --dev");
  auto* vlanRecvCmd = app.add_subcommand(
      "vlan-recv", "count frames from vlan-send on --dev, and those still carrying --tci");
  for (CLI::App* cmd : {vlanSendCmd, vlanRecvCmd}) {
    cmd->add_option("--dev", vo.dev, "interface")->required();
    cmd->add_option("--tci", vo.tci, "tag control information (PCP << 13 | VID)")->required();
    cmd->add_option("--count", vo.count, "frames")->capture_default_str();
  }
  vlanSendCmd->add_option("--size", vo.size, "bytes after the inner EtherType")
      ->capture_default_str()
      ->check(CLI::Range(size_t(8), size_t(1500)));
  vlanRecvCmd->add_option("--timeout", vo.timeoutNs, "give up after (default 2s)")
      ->transform(duration)
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto r = serveCmd->parsed()      ? dl::serve(bindHost, servePort)
           : sendCmd->parsed()     ? dl::send(so)
           : vlanSendCmd->parsed() ? dl::vlanSend(vo)
                                   : dl::vlanReceive(vo);
  if (!r) {
    std::fprintf(stderr, "stamp_delayline_probe: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}
