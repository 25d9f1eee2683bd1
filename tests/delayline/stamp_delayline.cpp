// stamp_delayline: a delay line for tests on kernels without netem. Runs in a
// network namespace holding two interfaces A and B, reads every frame each
// one receives through an AF_PACKET socket and sends it out of the other one
// after a fixed delay per direction (plus optional jitter, optionally
// dropping every Nth UDP frame). One thread, one epoll loop: a socket, a
// bounded FIFO and a timerfd per direction, and a signalfd.
//
// Frames keep their order: each direction's release times never decrease,
// and the timerfd is armed, absolute on CLOCK_MONOTONIC, for the oldest one.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "frame.hpp"
#include "frame_queue.hpp"
#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp::delayline {
namespace {

constexpr int kSocketBufferBytes = 4 << 20;

// struct virtio_net_hdr, the PACKET_VNET_HDR prefix. <linux/virtio_net.h>
// cannot be included from C++ (a member is named `class`), so the layout is
// spelled out here; it is fixed uapi, host byte order on this host.
struct VnetHeader {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t hdrLen;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};
static_assert(sizeof(VnetHeader) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVnetGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
constexpr int kRxBatch = 64;           // frames read per wakeup before timers get a turn
// Room for the two control messages a frame comes with.
constexpr size_t kControlBytes = CMSG_SPACE(sizeof(tpacket_auxdata)) + CMSG_SPACE(sizeof(timespec));

struct Options {
  std::string ifA;
  std::string ifB;
  int64_t delayAbNs = 0;
  int64_t delayBaNs = 0;
  int64_t jitterAbNs = 0;
  int64_t jitterBaNs = 0;
  uint64_t dropEveryAb = 0;
  uint64_t dropEveryBa = 0;
  size_t queueFrames = 4096;
  uint64_t seed = 1;
  int rtPriority = 10;
};

struct Counters {
  uint64_t received = 0;
  uint64_t forwarded = 0;
  uint64_t droppedNth = 0;
  uint64_t droppedOverflow = 0;
  uint64_t droppedOversize = 0;
  uint64_t sendErrors = 0;
  uint64_t kernelDrops = 0;
  uint64_t checksumsCompleted = 0;
  uint64_t vlanTagsRestored = 0;
  int64_t lateSumNs = 0;
  int64_t lateMaxNs = 0;
};

Error errnoError(const std::string& what) {
  int e = errno;
  return makeError(e, what + ": " + std::strerror(e));
}

int64_t toNs(const timespec& ts) {
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t clockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return toNs(ts);
}

int64_t monotonicNs() {
  return clockNs(CLOCK_MONOTONIC);
}

// The kernel's receive timestamp (CLOCK_REALTIME) moved onto CLOCK_MONOTONIC,
// so a frame's delay runs from its arrival, not from whenever this process
// got the CPU to read it. Falls back to nowMono for a missing or implausible
// stamp (a realtime step, say).
int64_t arrivalMonoNs(const timespec* rxReal, int64_t nowMono) {
  if (rxReal == nullptr || (rxReal->tv_sec == 0 && rxReal->tv_nsec == 0)) return nowMono;
  int64_t ageNs = clockNs(CLOCK_REALTIME) - toNs(*rxReal);
  if (ageNs < 0 || ageNs > 1'000'000'000) return nowMono;
  return nowMono - ageNs;
}

Result<void> setIntOption(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) return errnoError(what);
  return {};
}

// An AF_PACKET socket bound to one interface, in promiscuous mode, that
// does not see its own (or anyone's) outgoing frames, exchanges a
// virtio_net_hdr with the kernel in front of every frame and gets each
// frame's kernel receive time.
class PacketPort {
 public:
  static Result<PacketPort> open(const std::string& ifname) {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) return makeError(ENODEV, "interface " + ifname + " not found");
    // Protocol 0 until bind(): no frame from another interface is queued
    // in the window before the socket is bound to this one.
    int raw = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (raw < 0) return errnoError("socket(AF_PACKET) for " + ifname);
    UniqueFd fd(raw);

    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
    if (ioctl(fd.get(), SIOCGIFMTU, &ifr) != 0) return errnoError("SIOCGIFMTU on " + ifname);
    int mtu = ifr.ifr_mtu;

    if (auto r = setIntOption(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, 1,
                              "PACKET_IGNORE_OUTGOING (kernel >= 4.20)");
        !r)
      return r.error();
    if (auto r = setIntOption(fd.get(), SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA"); !r)
      return r.error();
    if (auto r = setIntOption(fd.get(), SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"); !r)
      return r.error();
    if (auto r = setIntOption(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS"); !r)
      return r.error();
    // Root may exceed rmem_max/wmem_max; otherwise take what the sysctl allows.
    if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBufferBytes,
                   sizeof kSocketBufferBytes) != 0)
      (void)setIntOption(fd.get(), SOL_SOCKET, SO_RCVBUF, kSocketBufferBytes, "SO_RCVBUF");
    if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBufferBytes,
                   sizeof kSocketBufferBytes) != 0)
      (void)setIntOption(fd.get(), SOL_SOCKET, SO_SNDBUF, kSocketBufferBytes, "SO_SNDBUF");

    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = int(ifindex);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
      return errnoError("bind AF_PACKET socket to " + ifname);

    packet_mreq mr{};
    mr.mr_ifindex = int(ifindex);
    mr.mr_type = PACKET_MR_PROMISC;  // undone by the kernel when the socket closes
    if (setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
      return errnoError("PACKET_MR_PROMISC on " + ifname);
    return PacketPort(std::move(fd), ifname, mtu);
  }

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  int mtu() const { return mtu_; }

 private:
  PacketPort(UniqueFd fd, std::string name, int mtu)
      : fd_(std::move(fd)), name_(std::move(name)), mtu_(mtu) {}
  UniqueFd fd_;
  std::string name_;
  int mtu_;
};

struct Direction {
  const char* label;  // "a->b"
  const PacketPort& rx;
  const PacketPort& tx;
  int64_t delayNs;
  int64_t jitterNs;
  uint64_t dropEvery;  // 0: never
  FrameQueue queue;
  UniqueFd timer;
  uint64_t udpSeen = 0;
  bool warnedOversize = false;
  bool warnedSend = false;
  Counters counters;
};

Result<UniqueFd> makeTimer() {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return errnoError("timerfd_create");
  return UniqueFd(fd);
}

// Epoll tags: which fd woke the loop.
enum Tag : uint32_t { kRxAb, kRxBa, kTimerAb, kTimerBa, kSignal };

class DelayLine {
 public:
  // Opens both ports, allocates both queues and blocks SIGINT, SIGTERM and
  // SIGUSR1 in favour of a signalfd. Fails with the reason when an
  // interface is missing or a socket option is not supported.
  static Result<std::unique_ptr<DelayLine>> create(const Options& o) {
    auto a = PacketPort::open(o.ifA);
    if (!a) return a.error();
    auto b = PacketPort::open(o.ifB);
    if (!b) return b.error();
    auto tab = makeTimer();
    if (!tab) return tab.error();
    auto tba = makeTimer();
    if (!tba) return tba.error();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return errnoError("epoll_create1");
    UniqueFd epoll(ep);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return errnoError("sigprocmask");
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) return errnoError("signalfd");

    std::unique_ptr<DelayLine> dl(new DelayLine(o, std::move(*a), std::move(*b), std::move(*tab),
                                                std::move(*tba), std::move(epoll), UniqueFd(sfd)));
    const std::pair<int, Tag> watches[] = {{dl->a_.fd(), kRxAb},
                                           {dl->b_.fd(), kRxBa},
                                           {dl->ab_.timer.get(), kTimerAb},
                                           {dl->ba_.timer.get(), kTimerBa},
                                           {dl->signals_.get(), kSignal}};
    for (auto [fd, tag] : watches) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = tag;
      if (epoll_ctl(dl->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
        return errnoError("epoll_ctl add");
    }
    return dl;
  }

  size_t slotBytes() const { return slotBytes_; }

  // Forwards until SIGINT or SIGTERM; SIGUSR1 prints the counters and goes on.
  Result<void> run() {
    epoll_event evs[8];
    for (;;) {
      int n = epoll_wait(epoll_.get(), evs, 8, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoError("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        switch (evs[i].data.u32) {
          case kRxAb:
            receive(ab_);
            break;
          case kRxBa:
            receive(ba_);
            break;
          case kTimerAb:
            release(ab_);
            break;
          case kTimerBa:
            release(ba_);
            break;
          case kSignal:
            if (!handleSignals()) return {};
            break;
        }
      }
    }
  }

  void printCounters() {
    for (Direction* d : {&ab_, &ba_}) {
      tpacket_stats st{};
      socklen_t len = sizeof st;
      // Reading the statistics resets them in the kernel, hence the sum.
      if (getsockopt(d->rx.fd(), SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        d->counters.kernelDrops += st.tp_drops;
      const Counters& c = d->counters;
      double lateAvgUs = c.forwarded ? double(c.lateSumNs) / double(c.forwarded) / 1e3 : 0.0;
      std::printf(
          "stamp_delayline: %s received=%llu forwarded=%llu dropped_nth=%llu "
          "dropped_overflow=%llu dropped_oversize=%llu send_errors=%llu kernel_drops=%llu "
          "queued=%zu checksums_completed=%llu vlan_tags_restored=%llu late_avg_us=%.1f "
          "late_max_us=%.1f\n",
          d->label, (unsigned long long)c.received, (unsigned long long)c.forwarded,
          (unsigned long long)c.droppedNth, (unsigned long long)c.droppedOverflow,
          (unsigned long long)c.droppedOversize, (unsigned long long)c.sendErrors,
          (unsigned long long)c.kernelDrops, d->queue.size(),
          (unsigned long long)c.checksumsCompleted, (unsigned long long)c.vlanTagsRestored,
          lateAvgUs, double(c.lateMaxNs) / 1e3);
    }
    std::fflush(stdout);
  }

 private:
  DelayLine(const Options& o, PacketPort a, PacketPort b, UniqueFd timerAb, UniqueFd timerBa,
            UniqueFd epoll, UniqueFd signals)
      : a_(std::move(a)),
        b_(std::move(b)),
        // Room for the largest frame either side can carry (Ethernet header
        // and up to two VLAN tags in the data) plus one tag the kernel may
        // have moved into metadata.
        slotBytes_(size_t(std::max(a_.mtu(), b_.mtu())) + kEthHeaderBytes + 3 * kVlanTagBytes),
        ab_{"a->b",
            a_,
            b_,
            o.delayAbNs,
            o.jitterAbNs,
            o.dropEveryAb,
            FrameQueue(o.queueFrames, slotBytes_),
            std::move(timerAb)},
        ba_{"b->a",
            b_,
            a_,
            o.delayBaNs,
            o.jitterBaNs,
            o.dropEveryBa,
            FrameQueue(o.queueFrames, slotBytes_),
            std::move(timerBa)},
        scratch_(slotBytes_),
        epoll_(std::move(epoll)),
        signals_(std::move(signals)),
        rng_(o.seed) {}

  void receive(Direction& d) {
    for (int i = 0; i < kRxBatch; ++i) {
      // A full queue still has to be drained, into the scratch slot.
      std::span<uint8_t> slot = d.queue.full() ? std::span<uint8_t>(scratch_) : d.queue.backSlot();
      std::span<uint8_t> room = slot.subspan(kVlanTagBytes);
      VnetHeader vh{};
      sockaddr_ll from{};
      alignas(cmsghdr) char control[kControlBytes];
      iovec iov[2] = {{&vh, sizeof vh}, {room.data(), room.size()}};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = iov;
      msg.msg_iovlen = 2;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(d.rx.fd(), &msg, MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          std::fprintf(stderr, "stamp_delayline: recvmsg on %s failed: %s\n", d.rx.name().c_str(),
                       std::strerror(errno));
        return;
      }
      int64_t nowMono = monotonicNs();
      // PACKET_IGNORE_OUTGOING already hides these; kept as a second guard
      // because re-reading our own transmissions would loop frames forever.
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      ++d.counters.received;
      size_t len = size_t(n) - sizeof vh;
      if ((msg.msg_flags & MSG_TRUNC) || len > room.size() || vh.gsoType != kVnetGsoNone) {
        ++d.counters.droppedOversize;
        warnOversize(d, len);
        continue;
      }
      std::span<uint8_t> frame = room.first(len);
      // A local sender's frame crosses veth with only the pseudo-header sum
      // in its checksum field. Sent on as it is, it would reach the far side
      // as a plain frame with a wrong checksum, so finish it as a NIC would.
      if ((vh.flags & kVnetNeedsCsum) && completeChecksum(frame, vh.csumStart, vh.csumOffset))
        ++d.counters.checksumsCompleted;
      timespec rxReal{};
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          std::memcpy(&rxReal, CMSG_DATA(c), sizeof rxReal);
          continue;
        }
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if (aux.tp_status & TP_STATUS_VLAN_VALID) {
          uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
          frame = insertVlanTag(frame, tpid, aux.tp_vlan_tci);
          ++d.counters.vlanTagsRestored;
        }
      }
      if (d.dropEvery != 0 && isUdpOverIp(frame) && ++d.udpSeen % d.dropEvery == 0) {
        ++d.counters.droppedNth;
        continue;
      }
      if (d.queue.full()) {
        ++d.counters.droppedOverflow;
        continue;
      }
      int64_t releaseNs = arrivalMonoNs(&rxReal, nowMono) + d.delayNs;
      if (d.jitterNs > 0) releaseNs += std::uniform_int_distribution<int64_t>(0, d.jitterNs)(rng_);
      releaseNs = std::max(releaseNs, d.queue.lastReleaseNs());
      bool wasEmpty = d.queue.empty();
      d.queue.push(frame, releaseNs);
      if (wasEmpty) arm(d, releaseNs);
    }
  }

  void release(Direction& d) {
    uint64_t expirations;
    (void)!read(d.timer.get(), &expirations, sizeof expirations);
    int64_t now = monotonicNs();
    while (!d.queue.empty() && d.queue.front().releaseNs <= now) {
      const FrameQueue::Entry& e = d.queue.front();
      VnetHeader none{};  // no checksum or segmentation work left
      iovec iov[2] = {{&none, sizeof none}, {e.frame.data(), e.frame.size()}};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = 2;
      // Lateness is taken before sending: on veth, sendmsg() also runs the
      // far side's receive path, which is not the delay line being late.
      int64_t late = monotonicNs() - e.releaseNs;
      if (sendmsg(d.tx.fd(), &msg, MSG_DONTWAIT) < 0) {
        ++d.counters.sendErrors;
        if (!d.warnedSend) {
          d.warnedSend = true;
          std::fprintf(stderr, "stamp_delayline: %s send on %s failed (counted, first only): %s\n",
                       d.label, d.tx.name().c_str(), std::strerror(errno));
        }
      } else {
        ++d.counters.forwarded;
        d.counters.lateSumNs += late;
        d.counters.lateMaxNs = std::max(d.counters.lateMaxNs, late);
      }
      d.queue.pop();
      now = monotonicNs();
    }
    if (!d.queue.empty()) arm(d, d.queue.front().releaseNs);
  }

  void arm(Direction& d, int64_t atNs) {
    itimerspec its{};
    its.it_value.tv_sec = time_t(atNs / 1'000'000'000);
    its.it_value.tv_nsec = long(atNs % 1'000'000'000);
    // An absolute time already past fires at once, so a late arm is harmless.
    if (timerfd_settime(d.timer.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0)
      std::fprintf(stderr, "stamp_delayline: timerfd_settime failed: %s\n", std::strerror(errno));
  }

  void warnOversize(Direction& d, size_t len) {
    if (d.warnedOversize) return;
    d.warnedOversize = true;
    std::fprintf(stderr,
                 "stamp_delayline: %s dropped a %zu-byte frame from %s that exceeds the MTU "
                 "(counted, first only); turn off GRO/TSO on the interfaces (ethtool -K DEV "
                 "gro off tso off gso off)\n",
                 d.label, len, d.rx.name().c_str());
  }

  // Returns false when the loop should stop.
  bool handleSignals() {
    signalfd_siginfo si;
    bool keepGoing = true;
    while (read(signals_.get(), &si, sizeof si) == ssize_t(sizeof si)) {
      if (si.ssi_signo == SIGUSR1)
        printCounters();
      else
        keepGoing = false;
    }
    return keepGoing;
  }

  PacketPort a_;
  PacketPort b_;
  size_t slotBytes_;
  Direction ab_;
  Direction ba_;
  std::vector<uint8_t> scratch_;
  UniqueFd epoll_;
  UniqueFd signals_;
  std::mt19937_64 rng_;
};

// "50ms", "1.5ms", "200us", "2s" -> nanoseconds, as a number string.
CLI::AsNumberWithUnit durationToNs() {
  const std::map<std::string, double> units{{"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  return CLI::AsNumberWithUnit(units, CLI::AsNumberWithUnit::UNIT_REQUIRED, "DURATION");
}

// "50.000 ms +0.000 ms jitter, dropping UDP frames 10, 20, 30, ..."
std::string describe(int64_t delayNs, int64_t jitterNs, uint64_t dropEvery) {
  char buf[128];
  int n = std::snprintf(buf, sizeof buf, "%.3f ms +%.3f ms jitter", double(delayNs) / 1e6,
                        double(jitterNs) / 1e6);
  if (dropEvery != 0)
    std::snprintf(buf + n, sizeof buf - size_t(n), ", dropping UDP frames %llu, %llu, %llu, ...",
                  (unsigned long long)dropEvery, (unsigned long long)(2 * dropEvery),
                  (unsigned long long)(3 * dropEvery));
  return buf;
}

}  // namespace
}  // namespace stamp::delayline

int main(int argc, char** argv) {
  using stamp::delayline::durationToNs;
  using stamp::delayline::Options;
  Options o;
  CLI::App app{
      "Forwards every frame received on interface A out of B after --delay-ab, and every frame "
      "received on B out of A after --delay-ba, in order. Durations take a unit: ns, us, ms, s. "
      "Prints per-direction counters on SIGUSR1, and on SIGINT/SIGTERM before exiting 0. Turn "
      "GRO off on both interfaces so frames stay within the MTU.",
      "stamp_delayline"};
  auto addDuration = [&app](const char* name, int64_t& ns, const std::string& help) {
    app.add_option_function<double>(
           name, [&ns](double v) { ns = std::llround(v); }, help)
        ->transform(durationToNs())
        ->check(CLI::Validator(
            [](std::string& v) { return std::stod(v) < 0 ? "must not be negative" : ""; }, ">=0"));
  };
  app.add_option("--a", o.ifA, "interface A")->required();
  app.add_option("--b", o.ifB, "interface B")->required();
  addDuration("--delay-ab", o.delayAbNs, "delay of frames from A to B (default 0)");
  addDuration("--delay-ba", o.delayBaNs, "delay of frames from B to A (default 0)");
  addDuration("--jitter-ab", o.jitterAbNs,
              "extra delay drawn uniformly from [0, DURATION] per A->B frame; frames still "
              "leave in order, so a frame may wait for its predecessor");
  addDuration("--jitter-ba", o.jitterBaNs, "as --jitter-ab, for B->A");
  app.add_option("--drop-every-ab", o.dropEveryAb,
                 "drop every Nth UDP-over-IP frame from A to B (other frames never dropped)")
      ->check(CLI::PositiveNumber);
  app.add_option("--drop-every-ba", o.dropEveryBa, "as --drop-every-ab, for B->A")
      ->check(CLI::PositiveNumber);
  app.add_option("--queue-frames", o.queueFrames,
                 "frames held per direction at most; more are dropped and counted")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1), size_t(1) << 20));
  app.add_option("--seed", o.seed, "jitter random seed")->capture_default_str();
  app.add_option("--rt-priority", o.rtPriority,
                 "SCHED_FIFO priority, so releases stay on time on a busy host; 0 keeps the "
                 "normal scheduler")
      ->capture_default_str()
      ->check(CLI::Range(0, 99));
  CLI11_PARSE(app, argc, argv);
  if (o.ifA == o.ifB) {
    std::fprintf(stderr, "stamp_delayline: --a and --b must be different interfaces\n");
    return 2;
  }

  // The default 50 us timer slack would add up to 50 us to every release.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  // netem delays in softirq context; a process competing with a loaded
  // host's compilers can be milliseconds late without a real-time policy.
  if (o.rtPriority > 0) {
    sched_param sp{};
    sp.sched_priority = o.rtPriority;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
      std::fprintf(stderr,
                   "stamp_delayline: SCHED_FIFO priority %d not granted (%s); releases may be "
                   "late when the host is busy\n",
                   o.rtPriority, std::strerror(errno));
  }
  auto dl = stamp::delayline::DelayLine::create(o);
  if (!dl) {
    std::fprintf(stderr, "stamp_delayline: %s\n", dl.error().message.c_str());
    return 1;
  }
  using stamp::delayline::describe;
  std::printf(
      "stamp_delayline: forwarding %s <-> %s: a->b %s; b->a %s; queue %zu frames x %zu bytes "
      "per direction\n",
      o.ifA.c_str(), o.ifB.c_str(), describe(o.delayAbNs, o.jitterAbNs, o.dropEveryAb).c_str(),
      describe(o.delayBaNs, o.jitterBaNs, o.dropEveryBa).c_str(), o.queueFrames,
      (*dl)->slotBytes());
  std::fflush(stdout);
  auto r = (*dl)->run();
  (*dl)->printCounters();
  if (!r) {
    std::fprintf(stderr, "stamp_delayline: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}
