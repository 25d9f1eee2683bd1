// stamp_loadgen: the benchmark's load generator. Sends unauthenticated STAMP
// test packets (44 octets by default) at a fixed offered rate for a fixed
// time, from several threads, each with its own connected UDP socket (so
// its own source port), and counts the replies each socket gets back.
// With --tx packet (IPv4) each thread sends complete Ethernet frames through
// an AF_PACKET socket that bypasses the qdisc and the UDP/IP output path,
// with its UDP socket's address and port as source, so the replies still
// arrive on that socket; that roughly halves the cost of offering a packet.
//
// Each thread paces itself against absolute deadlines (batches of about
// --batch-us worth of packets), sleeps between batches rather than spinning
// (the benchmark measures CPU), and drains its socket after every batch and
// for --drain-ms after the last one. Bounded: it stops after --duration plus
// the drain, or earlier when it cannot keep up with the offered rate.
//
// It also measures the CPU the run cost, over the window from the first
// send to the end of the drain:
//   cpu_busy_s     whole machine, /proc/stat (user+nice+system+irq+softirq+
//                  steal), tick-based, includes everyone else's load;
//   task_cpu_s     this process + the --watch-pid processes + ksoftirqd,
//                  precise (sum_exec_runtime). Softirq work is charged to
//                  the task it interrupts, and the veth path runs it in the
//                  sending task, so this captures the packet work without
//                  the other load on a shared machine.
// With --dwell it decodes STAMP replies and reports T3 - T2 (octets 4..11
// and 16..23, NTP format) percentiles.
//
// Output: one line of key=value pairs on stdout.
#include <arpa/inet.h>
#include <dirent.h>
#include <endian.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "libstamp/codec.hpp"
#include "libstamp/hmac.hpp"
#include "stamp_abi.h"
#include "libstamp/timefmt.hpp"

namespace {

constexpr size_t kRxBufSize = 2048;

struct Options {
  std::string target;
  unsigned port = STAMP_PORT_DEFAULT;
  double rate = 100'000;
  double duration = 10;
  unsigned threads = 2;
  unsigned size = stamp::kUnauthBase;
  unsigned batchUs = 200;
  unsigned maxBatch = 64;
  unsigned drainMs = 200;
  bool dwell = false;
  std::vector<int> watchPids;
  std::string tx = "udp";  // "udp" (socket sendmmsg) or "packet" (AF_PACKET)
  std::string ifname;      // packet mode; default: from the ARP table
  std::string dstMac;      // packet mode; default: from the ARP table
  // Authenticated mode (RFC 8762 4.4): 112-octet layout, each packet
  // signed with these key midstates.
  std::optional<stamp_hmac_key> auth;
};

// Frame headers in packet mode: Ethernet, IPv4 without options, UDP.
constexpr size_t kFrameHeaders = 14 + 20 + 8;

struct PacketPath {
  int ifindex = 0;
  uint8_t srcMac[6] = {};
  uint8_t dstMac[6] = {};
};

struct ThreadResult {
  uint64_t attempted = 0;  // packets the schedule asked for
  uint64_t sent = 0;       // accepted by sendmmsg()
  uint64_t sendErrors = 0;
  uint64_t received = 0;
  uint64_t badLength = 0;  // replies whose size differs from the request's
  uint64_t dwellNegative = 0;
  int64_t sendEndNs = 0;
  double runqWait = 0;  // seconds runnable but not running (schedstat)
  std::vector<uint32_t> dwellNs;
  std::string error;
};

int64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * stamp::kNsPerSec + ts.tv_nsec;
}

void sleepUntil(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / stamp::kNsPerSec), static_cast<long>(ns % stamp::kNsPerSec)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Seconds this thread has waited on a run queue so far (second schedstat
// field): how much the machine's other load held the generator back.
double threadRunqWait() {
  std::ifstream in("/proc/thread-self/schedstat");
  unsigned long long run = 0, wait = 0;
  in >> run >> wait;
  return double(wait) / 1e9;
}

void setInt(int fd, int level, int name, int value) {
  setsockopt(fd, level, name, &value, sizeof(value));
}

uint64_t be64At(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return be64toh(v);
}

// T3 - T2 of one reply in nanoseconds; false when it is negative.
bool dwellOf(const uint8_t* payload, bool auth, uint32_t& ns) {
  uint64_t t3 = be64At(
      payload + (auth ? offsetof(stamp_refl_auth, ts_sec) : offsetof(stamp_refl_unauth, ts_sec)));
  uint64_t t2 = be64At(
      payload + (auth ? offsetof(stamp_refl_auth, rx_sec) : offsetof(stamp_refl_unauth, rx_sec)));
  auto diff = static_cast<int64_t>(t3 - t2);  // both sec << 32 | frac
  if (diff < 0) return false;
  unsigned __int128 v = static_cast<unsigned __int128>(diff) * stamp::kNsPerSec;
  uint64_t out = static_cast<uint64_t>(v >> 32);
  ns = out > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(out);
  return true;
}

// One's complement sum of big-endian 16-bit words, not yet folded.
uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) sum += uint32_t(p[n - 1]) << 8;
  return sum;
}

uint16_t foldSum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

bool parseMac(const std::string& text, uint8_t mac[6]) {
  unsigned b[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
  return true;
}

// Finds the interface and MAC address of an IPv4 neighbour in this network
// namespace's ARP table; options override either.
bool resolvePacketPath(const Options& o, PacketPath& path, std::string& err) {
  std::string ifname = o.ifname, mac = o.dstMac;
  if (ifname.empty() || mac.empty()) {
    std::ifstream arp("/proc/net/arp");
    std::string line;
    std::getline(arp, line);  // column titles
    while (std::getline(arp, line)) {
      std::istringstream f(line);
      std::string ip, hwType, flags, hw, mask, dev;
      if (f >> ip >> hwType >> flags >> hw >> mask >> dev && ip == o.target &&
          hw != "00:00:00:00:00:00") {
        if (ifname.empty()) ifname = dev;
        if (mac.empty()) mac = hw;
        break;
      }
    }
  }
  if (ifname.empty() || mac.empty()) {
    err = "no ARP entry for " + o.target + ": add a neighbour entry or pass --ifname and --dst-mac";
    return false;
  }
  if (!parseMac(mac, path.dstMac)) {
    err = "'" + mac + "' is not a MAC address";
    return false;
  }
  path.ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (path.ifindex == 0) {
    err = "interface '" + ifname + "' not found";
    return false;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  bool ok = fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
  if (fd >= 0) close(fd);
  if (!ok) {
    err = "cannot read the MAC address of '" + ifname + "'";
    return false;
  }
  std::memcpy(path.srcMac, ifr.ifr_hwaddr.sa_data, 6);
  return true;
}

class Worker {
 public:
  Worker(unsigned id, const Options& o, const sockaddr_storage& dst, socklen_t dstLen,
         const PacketPath& path)
      : id_(id), o_(o), dst_(dst), dstLen_(dstLen), path_(path) {}

  void run(int64_t startNs, ThreadResult& res) {
    int fd = socket(dst_.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      res.error = std::string("socket: ") + std::strerror(errno);
      return;
    }
    setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
    setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&dst_), dstLen_) != 0) {
      res.error = std::string("connect: ") + std::strerror(errno);
      close(fd);
      return;
    }
    prctl(PR_SET_TIMERSLACK, 1UL);
    // In packet mode the UDP socket only receives: the frames leave through
    // an AF_PACKET socket, with this socket's address and port as source.
    int txFd = fd;
    const bool packetTx = o_.tx == "packet";
    const size_t hdr = packetTx ? kFrameHeaders : 0;
    if (packetTx) {
      txFd = openPacketTx(fd, res);
      if (txFd < 0) {
        close(fd);
        return;
      }
    }

    const double rate = o_.rate / o_.threads;
    const auto total = static_cast<uint64_t>(std::llround(o_.duration * rate));
    const uint64_t batch =
        std::clamp<uint64_t>(std::llround(rate * o_.batchUs / 1e6), 1, o_.maxBatch);
    // A generator that falls behind by more than this stops: the run then
    // reports achieved < offered instead of running on.
    const int64_t hardEndNs = startNs + static_cast<int64_t>(o_.duration * 1.02e9) + 20'000'000;
    if (o_.dwell) res.dwellNs.reserve(total);

    const size_t frame = hdr + o_.size;
    std::vector<uint8_t> tx(o_.maxBatch * frame, 0);
    std::vector<iovec> txIov(o_.maxBatch);
    std::vector<mmsghdr> txMsg(o_.maxBatch);
    for (unsigned i = 0; i < o_.maxBatch; ++i) {
      if (packetTx) std::memcpy(&tx[i * frame], frameHeaders_, kFrameHeaders);
      txIov[i] = {&tx[i * frame], frame};
      txMsg[i] = {};
      txMsg[i].msg_hdr.msg_iov = &txIov[i];
      txMsg[i].msg_hdr.msg_iovlen = 1;
    }
    rx_.assign(o_.maxBatch * kRxBufSize, 0);
    rxIov_.resize(o_.maxBatch);
    rxMsg_.resize(o_.maxBatch);

    sleepUntil(startNs);
    const double waitAtStart = threadRunqWait();
    int64_t next = startNs;
    while (res.attempted < total) {
      sleepUntil(next);
      int64_t now = monoNs();
      if (now > hardEndNs) break;
      auto due =
          std::min<uint64_t>(total, static_cast<uint64_t>(double(now - startNs) * rate / 1e9) + 1);
      if (due <= res.attempted) {  // woke a hair early
        next = startNs + static_cast<int64_t>(double(res.attempted) * 1e9 / rate) + 1000;
        continue;
      }
      uint64_t want = std::min<uint64_t>(due - res.attempted, o_.maxBatch);

      stamp::SenderPacket p;
      p.ts = stamp::ntpFromUnixNs(stamp::realtimeNow());  // T1, once per batch
      p.errEst = 0x3fff;
      for (uint64_t j = 0; j < want; ++j) {
        p.seq = static_cast<uint32_t>((res.attempted + j) * o_.threads + id_);
        uint8_t* f = &tx[j * frame];
        if (o_.auth) {
          stamp::encodeSenderAuth(p, std::span<uint8_t>(f + hdr, o_.size));
          auto mac = stamp::hmac96(
              *o_.auth, std::span<const uint8_t, stamp::kHmacInput>(f + hdr, stamp::kHmacInput));
          std::memcpy(f + hdr + stamp::kHmacInput, mac.data(), mac.size());
        } else {
          stamp::encodeSender(p, std::span<uint8_t>(f + hdr, o_.size));
        }
        if (packetTx) {
          uint8_t* udp = f + 14 + 20;
          put16(udp + 6, 0);
          uint16_t c = foldSum(sum16(udp, 8 + o_.size, pseudoSum_));
          put16(udp + 6, c == 0 ? 0xffff : c);
        }
      }
      uint64_t done = 0;
      while (done < want) {
        int r = sendmmsg(txFd, &txMsg[done], static_cast<unsigned>(want - done), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          // ECONNREFUSED reports an earlier ICMP error; the batch is lost.
          res.sendErrors += want - done;
          break;
        }
        done += static_cast<uint64_t>(r);
      }
      res.attempted += want;
      res.sent += done;
      drain(fd, res);
      next = startNs + static_cast<int64_t>(double(res.attempted + batch - 1) * 1e9 / rate);
    }
    res.sendEndNs = monoNs();

    const int64_t drainEnd = res.sendEndNs + int64_t{o_.drainMs} * 1'000'000;
    for (int64_t now = monoNs(); now < drainEnd; now = monoNs()) {
      pollfd pfd{fd, POLLIN, 0};
      int ms = static_cast<int>((drainEnd - now + 999'999) / 1'000'000);
      if (poll(&pfd, 1, ms) > 0) drain(fd, res);
    }
    res.runqWait = threadRunqWait() - waitAtStart;
    if (txFd != fd) close(txFd);
    close(fd);
  }

 private:
  // Opens the AF_PACKET socket that sends on behalf of the connected UDP
  // socket `udpFd` and prepares the frame headers. IPv4 only.
  int openPacketTx(int udpFd, ThreadResult& res) {
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    if (dst_.ss_family != AF_INET ||
        getsockname(udpFd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
      res.error = "packet mode needs an IPv4 target";
      return -1;
    }
    const auto* dst = reinterpret_cast<const sockaddr_in*>(&dst_);
    int pfd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: sends only
    if (pfd < 0) {
      res.error = std::string("AF_PACKET socket: ") + std::strerror(errno);
      return -1;
    }
    setInt(pfd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
    setInt(pfd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = path_.ifindex;
    if (bind(pfd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
      res.error = std::string("AF_PACKET bind: ") + std::strerror(errno);
      close(pfd);
      return -1;
    }

    uint8_t* h = frameHeaders_;
    std::memcpy(h, path_.dstMac, 6);
    std::memcpy(h + 6, path_.srcMac, 6);
    put16(h + 12, ETHERTYPE_IP);
    uint8_t* ip = h + 14;
    const uint16_t udpLen = static_cast<uint16_t>(8 + o_.size);
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<uint16_t>(20 + udpLen));
    put16(ip + 4, 0);       // id
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    put16(ip + 10, 0);
    std::memcpy(ip + 12, &local.sin_addr, 4);
    std::memcpy(ip + 16, &dst->sin_addr, 4);
    put16(ip + 10, foldSum(sum16(ip, 20)));
    uint8_t* udp = ip + 20;
    std::memcpy(udp, &local.sin_port, 2);
    std::memcpy(udp + 2, &dst->sin_port, 2);
    put16(udp + 4, udpLen);
    put16(udp + 6, 0);
    // Pseudo-header: addresses, protocol, UDP length.
    pseudoSum_ = sum16(ip + 12, 8) + IPPROTO_UDP + udpLen;
    return pfd;
  }

  // Reads every reply already queued on the socket.
  void drain(int fd, ThreadResult& res) {
    for (;;) {
      for (unsigned i = 0; i < o_.maxBatch; ++i) {
        rxIov_[i] = {&rx_[i * kRxBufSize], kRxBufSize};
        rxMsg_[i] = {};
        rxMsg_[i].msg_hdr.msg_iov = &rxIov_[i];
        rxMsg_[i].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(fd, rxMsg_.data(), o_.maxBatch, MSG_DONTWAIT, nullptr);
      if (got <= 0) return;  // EAGAIN, or ECONNREFUSED from an ICMP error
      for (int i = 0; i < got; ++i) {
        ++res.received;
        unsigned len = rxMsg_[i].msg_len;
        if (len != o_.size) ++res.badLength;
        if (!o_.dwell || len < (o_.auth ? stamp::kAuthBase : stamp::kUnauthBase)) continue;
        uint32_t ns;
        if (dwellOf(&rx_[i * kRxBufSize], o_.auth.has_value(), ns))
          res.dwellNs.push_back(ns);
        else
          ++res.dwellNegative;
      }
      if (static_cast<unsigned>(got) < o_.maxBatch) return;
    }
  }

  unsigned id_;
  const Options& o_;
  sockaddr_storage dst_;
  socklen_t dstLen_;
  PacketPath path_;
  uint8_t frameHeaders_[kFrameHeaders] = {};
  uint32_t pseudoSum_ = 0;
  std::vector<uint8_t> rx_;
  std::vector<iovec> rxIov_;
  std::vector<mmsghdr> rxMsg_;
};

// Machine-wide CPU from the first line of /proc/stat, in seconds.
struct MachineCpu {
  double busy = 0, total = 0;
};

MachineCpu readProcStat() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                     steal = 0;
  in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  MachineCpu m;
  m.busy = double(user + nice + sys + irq + softirq + steal) / hz;
  m.total = m.busy + double(idle + iowait) / hz;
  return m;
}

// Sum of sum_exec_runtime over every thread of a process, in seconds.
double processRuntime(int pid) {
  double sum = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name + "/schedstat");
    unsigned long long ns = 0;
    if (in >> ns) sum += double(ns) / 1e9;
  }
  closedir(d);
  return sum;
}

std::vector<int> softirqDaemons() {
  std::vector<int> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/comm");
    std::string comm;
    if (std::getline(in, comm) && comm.rfind("ksoftirqd/", 0) == 0) pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

double selfRuntime() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

struct CpuSnapshot {
  MachineCpu machine;
  double self = 0, watched = 0, softirqd = 0;
};

CpuSnapshot snapshot(const std::vector<int>& watch, const std::vector<int>& ksoftirqd) {
  CpuSnapshot s;
  s.machine = readProcStat();
  s.self = selfRuntime();
  for (int p : watch) s.watched += processRuntime(p);
  for (int p : ksoftirqd) s.softirqd += processRuntime(p);
  return s;
}

bool resolveTarget(const Options& o, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, o.target.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(o.port));
    len = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, o.target.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(o.port));
    len = sizeof(*v6);
    return true;
  }
  return false;
}

uint32_t percentile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  auto k =
      static_cast<size_t>(std::min<double>(double(v.size() - 1), std::floor(q * double(v.size()))));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"STAMP load generator for the stampd reflector benchmark"};
  Options o;
  app.add_option("--target", o.target, "reflector address (IPv4 or IPv6)")->required();
  app.add_option("--port", o.port, "reflector UDP port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "offered rate, packets per second (all threads)")
      ->check(CLI::Range(1.0, 1e8))
      ->capture_default_str();
  app.add_option("--duration", o.duration, "sending time, seconds")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "sending threads, one socket each")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--size", o.size, "UDP payload octets")
      ->check(CLI::Range(unsigned(stamp::kUnauthBase), 1472u))
      ->capture_default_str();
  app.add_option("--batch-us", o.batchUs, "target time between batches, microseconds")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--max-batch", o.maxBatch, "largest sendmmsg/recvmmsg batch")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--drain-ms", o.drainMs, "time to wait for late replies")
      ->check(CLI::Range(0, 10'000))
      ->capture_default_str();
  app.add_flag("--dwell", o.dwell, "decode STAMP replies and report T3 - T2");
  app.add_option("--watch-pid", o.watchPids, "also count this process's CPU (repeatable)");
  app.add_option("--tx", o.tx, "send through UDP sockets or AF_PACKET (IPv4; cheaper per packet)")
      ->check(CLI::IsMember({"udp", "packet"}))
      ->capture_default_str();
  app.add_option("--ifname", o.ifname, "packet mode: interface (default: from the ARP table)");
  app.add_option("--dst-mac", o.dstMac, "packet mode: next-hop MAC (default: from the ARP table)");
  std::string authKeyHex;
  app.add_option("--auth-key", authKeyHex,
                 "authenticated mode with this key (hex); --size at least 112");
  CLI11_PARSE(app, argc, argv);
  if (!authKeyHex.empty()) {
    std::vector<uint8_t> key;
    for (size_t i = 0; i + 1 < authKeyHex.size(); i += 2)
      key.push_back(uint8_t(std::stoul(authKeyHex.substr(i, 2), nullptr, 16)));
    o.auth = stamp::hmacKey(key);
    if (o.size < stamp::kAuthBase) o.size = stamp::kAuthBase;
  }

  sockaddr_storage dst;
  socklen_t dstLen = 0;
  if (!resolveTarget(o, dst, dstLen)) {
    std::fprintf(stderr, "stamp_loadgen: '%s' is not an IPv4 or IPv6 address\n", o.target.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<int> ksoftirqd = softirqDaemons();

  PacketPath path;
  if (o.tx == "packet") {
    std::string err;
    if (!resolvePacketPath(o, path, err)) {
      std::fprintf(stderr, "stamp_loadgen: %s\n", err.c_str());
      return 2;
    }
  }
  std::vector<Worker> workers;
  std::vector<ThreadResult> results(o.threads);
  for (unsigned i = 0; i < o.threads; ++i) workers.emplace_back(i, o, dst, dstLen, path);
  const int64_t startNs = monoNs() + 50'000'000;  // lets every thread set up first
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < o.threads; ++i)
    threads.emplace_back([&, i] { workers[i].run(startNs, results[i]); });
  sleepUntil(startNs);
  CpuSnapshot before = snapshot(o.watchPids, ksoftirqd);
  int64_t t0 = monoNs();
  for (auto& t : threads) t.join();
  CpuSnapshot after = snapshot(o.watchPids, ksoftirqd);
  int64_t t1 = monoNs();

  ThreadResult sum;
  int64_t sendEnd = startNs;
  std::vector<uint32_t> dwell;
  for (auto& r : results) {
    if (!r.error.empty()) {
      std::fprintf(stderr, "stamp_loadgen: %s\n", r.error.c_str());
      return 1;
    }
    sum.attempted += r.attempted;
    sum.sent += r.sent;
    sum.sendErrors += r.sendErrors;
    sum.received += r.received;
    sum.badLength += r.badLength;
    sum.dwellNegative += r.dwellNegative;
    sendEnd = std::max(sendEnd, r.sendEndNs);
    sum.runqWait += r.runqWait;
    dwell.insert(dwell.end(), r.dwellNs.begin(), r.dwellNs.end());
  }
  const auto target =
      static_cast<uint64_t>(std::llround(o.duration * o.rate / o.threads)) * o.threads;
  double sendSecs = double(sendEnd - startNs) / 1e9;
  double achieved = sendSecs > 0 ? double(sum.attempted) / sendSecs : 0;
  double lossPct =
      sum.sent ? 100.0 * (1.0 - std::min(1.0, double(sum.received) / double(sum.sent))) : 100.0;
  // The generator kept its schedule when it sent everything it was asked to
  // in about the time it was given.
  bool kept =
      sum.attempted == target && sum.sendErrors == 0 && sendSecs <= o.duration * 1.02 + 0.02;

  std::printf(
      "offered_pps=%.0f target=%llu attempted=%llu sent=%llu received=%llu loss_pct=%.4f "
      "achieved_pps=%.0f kept_rate=%d send_errors=%llu bad_length=%llu window_s=%.3f "
      "cpu_busy_s=%.3f cpu_total_s=%.3f self_cpu_s=%.4f watch_cpu_s=%.4f "
      "softirqd_cpu_s=%.4f task_cpu_s=%.4f gen_runq_wait_s=%.4f",
      o.rate, (unsigned long long)target, (unsigned long long)sum.attempted,
      (unsigned long long)sum.sent, (unsigned long long)sum.received, lossPct, achieved,
      kept ? 1 : 0, (unsigned long long)sum.sendErrors, (unsigned long long)sum.badLength,
      double(t1 - t0) / 1e9, after.machine.busy - before.machine.busy,
      after.machine.total - before.machine.total, after.self - before.self,
      after.watched - before.watched, after.softirqd - before.softirqd,
      (after.self - before.self) + (after.watched - before.watched) +
          (after.softirqd - before.softirqd),
      sum.runqWait);
  if (o.dwell) {
    size_t n = dwell.size();
    uint32_t p50 = percentile(dwell, 0.50);
    uint32_t p99 = percentile(dwell, 0.99);
    uint32_t p999 = percentile(dwell, 0.999);
    uint32_t mx = n ? *std::max_element(dwell.begin(), dwell.end()) : 0;
    std::printf(
        " dwell_n=%zu dwell_neg=%llu dwell_p50_ns=%u dwell_p99_ns=%u dwell_p999_ns=%u "
        "dwell_max_ns=%u",
        n, (unsigned long long)sum.dwellNegative, p50, p99, p999, mx);
  }
  std::printf("\n");
  return 0;
}
