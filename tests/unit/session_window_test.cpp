// Windows of a continuous Session-Sender (spec.count == 0, spec.window > 0),
// run without BPF: a real Session on a real EventLoop sends to a small
// Session-Reflector on 127.0.0.1, and the replies reach the session's socket
// (socket timestamps). The reflector can drop chosen sequence numbers and
// hold chosen replies, so loss and late replies land where the test wants
// them relative to the window boundaries.
//
// Threads: the loop runs on a background thread and is the only one that
// touches the Session (start, stop, summary and destruction are posted to
// it through an eventfd). The reflector has its own thread. The test thread
// sleeps on CLOCK_MONOTONIC and reads what the observer recorded under mu_.
//
// Timings are asserted as ranges: the machine is shared. Lower bounds that
// follow from the code (a window is never reported before its timeout) are
// strict; upper bounds are generous.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel/clock.hpp"
#include "libstamp/codec.hpp"
#include "service/config.hpp"
#include "event_loop.hpp"
#include "kernel/netif.hpp"
#include "sender/session.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr int64_t kMs = 1'000'000;
constexpr auto kInterval = 10ms;
// At a stop, the last few packets sent may not be answered yet: the stop is
// 5 ms after a send, but the reflector thread may not have run.
constexpr uint64_t kStragglers = 3;
// A test posting to the loop or waiting for the session gives up after this
// instead of hanging; a passing run never comes close.
constexpr auto kWaitLimit = 10s;

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

void sleepUntilMonotonic(int64_t ns) {
  timespec ts{time_t(ns / kNsPerSec), long(ns % kNsPerSec)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

uint64_t num(const json& j, const char* key) {
  return j.at(key).get<uint64_t>();
}
int64_t ns(const json& j, const char* key) {
  return j.at(key).get<int64_t>();
}

// How many sequence numbers in [first, first + n) satisfy pred.
template <typename Pred>
uint64_t countIn(uint64_t first, uint64_t n, Pred pred) {
  uint64_t c = 0;
  for (uint64_t s = first; s < first + n; ++s) c += pred(uint32_t(s)) ? 1 : 0;
  return c;
}

// A Session-Reflector for tests: decodes each sender packet, asks the policy
// what to do with its sequence number (nullopt: drop; otherwise hold the
// reply that long) and answers with a 44-octet reflector packet: T2 when the
// packet was read, T3 when the reply leaves, the sender's sequence number,
// timestamp, Error Estimate and SSID copied, its own sequence number counting
// replies.
class TestReflector {
 public:
  using Policy = std::function<std::optional<milliseconds>(uint32_t senderSeq)>;

  // Answer with SSID 0, as a reflector without RFC 8972 support does.
  std::atomic<bool> zeroSsid{false};

  explicit TestReflector(Policy policy) : policy_(std::move(policy)) {
    sock_.reset(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    stop_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!sock_.valid() || !stop_.valid()) {
      error_ = std::string("socket/eventfd: ") + std::strerror(errno);
      return;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(sock_.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      error_ = std::string("bind 127.0.0.1: ") + std::strerror(errno);
      return;
    }
    port_ = ntohs(a.sin_port);
    int one = 1;
    setsockopt(sock_.get(), IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
    thread_ = std::thread([this] { run(); });
  }

  ~TestReflector() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(stop_.get(), &one, sizeof(one));
      thread_.join();
    }
  }

  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }

  // The TOS (DSCP and ECN) of the replies from now on.
  bool setReplyTos(int tos) {
    return setsockopt(sock_.get(), IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) == 0;
  }
  // The TOS of each request received, by sender sequence number.
  std::map<uint32_t, int> requestTos() const {
    std::lock_guard lock(mu_);
    return requestTos_;
  }

  // CLOCK_MONOTONIC time each reply was sent, by sender sequence number.
  std::map<uint32_t, int64_t> replies() const {
    std::lock_guard lock(mu_);
    return replies_;
  }
  std::vector<uint32_t> dropped() const {
    std::lock_guard lock(mu_);
    return dropped_;
  }

 private:
  struct Held {
    int64_t dueNs;
    sockaddr_in peer;
    ReflectorPacket reply;
  };

  void run() {
    std::vector<Held> held;
    for (;;) {
      int timeoutMs = -1;
      if (!held.empty()) {
        int64_t due = std::min_element(held.begin(), held.end(), [](auto& a, auto& b) {
                        return a.dueNs < b.dueNs;
                      })->dueNs;
        timeoutMs = int(std::max<int64_t>(0, (due - monotonicNs() + kMs - 1) / kMs));
      }
      pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (poll(fds, 2, timeoutMs) < 0 && errno != EINTR) return;
      if (fds[1].revents) return;
      if (fds[0].revents & POLLIN) receive(held);
      sendDue(held);
    }
  }

  void receive(std::vector<Held>& held) {
    for (;;) {
      uint8_t buf[2048];
      sockaddr_in peer{};
      alignas(cmsghdr) char control[64];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_name = &peer;
      msg.msg_namelen = sizeof(peer);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(sock_.get(), &msg, 0);
      if (n < 0) return;
      UnixNs t2 = realtimeNow();
      auto p = decodeSender(std::span<const uint8_t>(buf, size_t(n)));
      if (!p) continue;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
          std::lock_guard lock(mu_);
          requestTos_[p->seq] = *CMSG_DATA(c);
        }
      std::optional<milliseconds> hold = policy_(p->seq);
      if (!hold) {
        std::lock_guard lock(mu_);
        dropped_.push_back(p->seq);
        continue;
      }
      ReflectorPacket r;
      r.errEst = p->errEst;  // same timestamp format (Z bit) as the sender's
      r.ssid = zeroSsid ? uint16_t{0} : p->ssid;
      r.rxTs = ntpFromUnixNs(t2);
      r.senderSeq = p->seq;
      r.senderTs = p->ts;
      r.senderErrEst = p->errEst;
      r.senderTtl = 64;
      held.push_back({monotonicNs() + hold->count() * kMs, peer, r});
    }
  }

  void sendDue(std::vector<Held>& held) {
    const int64_t now = monotonicNs();
    std::stable_sort(held.begin(), held.end(),
                     [](const Held& a, const Held& b) { return a.dueNs < b.dueNs; });
    auto firstLater = held.begin();
    for (; firstLater != held.end() && firstLater->dueNs <= now; ++firstLater) {
      ReflectorPacket& r = firstLater->reply;
      r.seq = nextSeq_++;
      r.ts = ntpFromUnixNs(realtimeNow());
      uint8_t out[kUnauthBase] = {};
      encodeReflector(r, out);
      sendto(sock_.get(), out, sizeof(out), 0, reinterpret_cast<const sockaddr*>(&firstLater->peer),
             sizeof(firstLater->peer));
      std::lock_guard lock(mu_);
      replies_[r.senderSeq] = monotonicNs();
    }
    held.erase(held.begin(), firstLater);
  }

  Policy policy_;
  UniqueFd sock_, stop_;
  uint16_t port_ = 0;
  std::string error_;
  uint32_t nextSeq_ = 0;  // reflector thread only
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<uint32_t, int64_t> replies_;
  std::map<uint32_t, int> requestTos_;
  std::vector<uint32_t> dropped_;
};

std::optional<milliseconds> answerAll(uint32_t) {
  return 0ms;
}

// One onWindow call as the observer saw it.
struct WindowReport {
  json summary;
  int64_t atNs;     // CLOCK_MONOTONIC since just before Session::start
  bool duringStop;  // inside Session::stop()
};

class SessionWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.error().message;
    loop_ = std::make_unique<EventLoop>(std::move(*loop));
    stopFd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    taskFd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    ASSERT_TRUE(stopFd_.valid() && taskFd_.valid()) << std::strerror(errno);
    auto added = loop_->add(stopFd_.get(), EPOLLIN, [this](uint32_t) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(stopFd_.get(), &count, sizeof(count));
      loop_->stop();
    });
    ASSERT_TRUE(added.ok()) << added.error().message;
    added = loop_->add(taskFd_.get(), EPOLLIN, [this](uint32_t) { runTasks(); });
    ASSERT_TRUE(added.ok()) << added.error().message;
    loopThread_ = std::thread([this] { loopResult_ = loop_->run(); });
  }

  void TearDown() override {
    if (loopThread_.joinable()) {
      onLoop([this] { session_.reset(); });  // unregisters its fds from the loop
      uint64_t one = 1;
      EXPECT_EQ(::write(stopFd_.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
      loopThread_.join();
      EXPECT_TRUE(loopResult_.ok()) << loopResult_.error().message;
    }
    reflector_.reset();
    loop_.reset();
  }

  // Runs fn on the loop thread and waits for it.
  void onLoop(std::function<void()> fn) {
    std::packaged_task<void()> task(std::move(fn));
    auto done = task.get_future();
    {
      std::lock_guard lock(taskMu_);
      tasks_.push_back(std::move(task));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(taskFd_.get(), &one, sizeof(one));
    if (done.wait_for(kWaitLimit) != std::future_status::ready) {
      std::fprintf(stderr, "the event loop did not run a task within %llds\n",
                   (long long)std::chrono::seconds(kWaitLimit).count());
      std::abort();  // the task refers to this frame: it must not outlive it
    }
  }

  void startReflector(TestReflector::Policy policy) {
    reflector_ = std::make_unique<TestReflector>(std::move(policy));
    ASSERT_TRUE(reflector_->error().empty()) << reflector_->error();
  }

  // A continuous session to the reflector, 10 ms interval.
  SessionSpec continuousSpec(std::chrono::nanoseconds window, std::chrono::nanoseconds timeout) {
    SessionSpec s;
    s.name = "win";
    s.target = *parseIp("127.0.0.1");
    s.port = reflector_->port();
    s.count = 0;
    s.interval = kInterval;
    s.timeout = timeout;
    s.window = window;
    return s;
  }

  void startSession(SessionSpec spec) {
    std::string error;
    onLoop([&] {
      Session::Observer obs;
      obs.onWindow = [this](const json& j) {
        std::lock_guard lock(mu_);
        windows_.push_back({j, monotonicNs() - t0_, inStop_});
        cv_.notify_all();
      };
      obs.onFinished = [this] {
        std::lock_guard lock(mu_);
        ++finishedCalls_;
        cv_.notify_all();
      };
      t0_ = monotonicNs();
      auto s = Session::start(std::move(spec), 1, *loop_, nullptr, ClockState{}, std::move(obs));
      if (!s) {
        error = s.error().message;
        return;
      }
      session_ = std::move(*s);
      startedAt_ = session_->startedAt();
    });
    ASSERT_TRUE(error.empty()) << error;
  }

  void sleepUntilSinceStart(milliseconds d) { sleepUntilMonotonic(t0_ + d.count() * kMs); }

  // Stops the session on the loop; returns its final summary.
  json stopSession() {
    json summary;
    onLoop([&] {
      stopAtNs_ = monotonicNs() - t0_;
      inStop_ = true;
      session_->stop();
      inStop_ = false;
      summary = session_->summary();
    });
    return summary;
  }

  json sessionSummary() {
    json summary;
    onLoop([&] { summary = session_->summary(); });
    return summary;
  }

  std::vector<WindowReport> windows() {
    std::lock_guard lock(mu_);
    return windows_;
  }

  int finishedCalls() {
    std::lock_guard lock(mu_);
    return finishedCalls_;
  }

  // Checks every window summary has the shape onWindow promises.
  void expectWellFormed(const std::vector<WindowReport>& ws) {
    for (size_t i = 0; i < ws.size(); ++i) {
      SCOPED_TRACE("window " + std::to_string(i) + ": " + ws[i].summary.dump());
      const json& w = ws[i].summary;
      EXPECT_EQ(w.value("window", json()), true);
      EXPECT_EQ(w.value("session", json()), "win");
      EXPECT_EQ(w.value("target", json()), "127.0.0.1");
      ASSERT_TRUE(w.contains("started_ns") && w.contains("ended_ns"));
      EXPECT_EQ(w.value("started", json()), formatRfc3339(ns(w, "started_ns")));
      EXPECT_EQ(w.value("ended", json()), formatRfc3339(ns(w, "ended_ns")));
      EXPECT_LT(ns(w, "started_ns"), ns(w, "ended_ns"));
      EXPECT_EQ(num(w, "sent"), num(w, "received") + num(w, "lost") + num(w, "in_flight"));
      EXPECT_EQ(num(w, "unknown_seq"), 0u);
      EXPECT_EQ(num(w, "duplicates"), 0u);
    }
    // Windows tile the run: each starts where the previous ended, the first
    // when the session started.
    if (!ws.empty()) {
      EXPECT_EQ(ns(ws[0].summary, "started_ns"), startedAt_);
    }
    for (size_t i = 1; i < ws.size(); ++i) {
      EXPECT_EQ(ns(ws[i].summary, "started_ns"), ns(ws[i - 1].summary, "ended_ns"))
          << "window " << i;
    }
  }

  std::unique_ptr<EventLoop> loop_;
  UniqueFd stopFd_, taskFd_;
  std::thread loopThread_;
  Result<void> loopResult_;
  std::mutex taskMu_;
  std::vector<std::packaged_task<void()>> tasks_;

  std::unique_ptr<TestReflector> reflector_;
  // Loop thread only (read by the test thread after onLoop returns).
  std::unique_ptr<Session> session_;
  int64_t t0_ = 0;
  UnixNs startedAt_ = 0;
  int64_t stopAtNs_ = 0;
  bool inStop_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WindowReport> windows_;
  int finishedCalls_ = 0;

 private:
  void runTasks() {
    uint64_t count;
    [[maybe_unused]] ssize_t n = read(taskFd_.get(), &count, sizeof(count));
    std::vector<std::packaged_task<void()>> batch;
    {
      std::lock_guard lock(taskMu_);
      batch.swap(tasks_);
    }
    for (auto& t : batch) t();
  }
};

// 1 s windows, 10 ms interval, stopped at 3.5 s: three full windows of about
// 100 packets, each reported one timeout after its boundary, then the
// partial fourth at the stop; together they are the run.
TEST_F(SessionWindowTest, WindowsCloseEverySecondAndAddUpToTheRun) {
  constexpr auto kTimeout = 200ms;
  startReflector(answerAll);
  startSession(continuousSpec(1s, kTimeout));
  sleepUntilSinceStart(3505ms);  // between two sends
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 4u) << "stopped at " << stopAtNs_ / kMs << " ms";
  expectWellFormed(ws);
  uint64_t sent = 0, received = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    SCOPED_TRACE("window " + std::to_string(i) + ": " + ws[i].summary.dump());
    const json& w = ws[i].summary;
    sent += num(w, "sent");
    received += num(w, "received");
    EXPECT_EQ(num(w, "lost"), 0u);
    EXPECT_EQ(num(w, "late"), 0u);
    EXPECT_EQ(w.at("rtt_ns").at("count").get<uint64_t>(), num(w, "received"));
    if (i < 3) {
      EXPECT_EQ(num(w, "received"), num(w, "sent"));
      EXPECT_EQ(num(w, "in_flight"), 0u);
      EXPECT_GE(num(w, "sent"), 90u);
      EXPECT_LE(num(w, "sent"), 110u);
      // The packet due at a boundary opens the next window, so windows
      // 0..i hold at most the 100 * (i + 1) packets due before its end (a
      // late tick moves packets into a later window, never an earlier one).
      EXPECT_LE(sent, 100 * (i + 1));
      // Each boundary lies on the session's own 1 s grid, from its start
      // (1 ms below for the realtime clock's slewing).
      const int64_t end = ns(w, "ended_ns") - startedAt_;
      EXPECT_GE(end, int64_t(i + 1) * 1000 * kMs - 1 * kMs);
      EXPECT_LE(end, int64_t(i + 1) * 1000 * kMs + 150 * kMs);
      // Reported once the closed window's timeout passed, not before.
      const int64_t due = int64_t(i + 1) * 1000 * kMs + kTimeout.count() * kMs;
      EXPECT_GE(ws[i].atNs, due);
      EXPECT_LE(ws[i].atNs, due + 400 * kMs);
      EXPECT_FALSE(ws[i].duringStop);
    } else {
      // The partial window: 3.0 s to the stop, reported by stop(). The
      // last packet or so may still be on its way back.
      EXPECT_TRUE(ws[i].duringStop);
      EXPECT_LE(num(w, "in_flight"), kStragglers);
      EXPECT_GE(num(w, "sent"), 30u);
      EXPECT_LE(num(w, "sent"), 70u);
      const int64_t len = ns(w, "ended_ns") - ns(w, "started_ns");
      EXPECT_GE(len, 300 * kMs);
      EXPECT_LE(len, 700 * kMs);
    }
  }
  EXPECT_EQ(sent, num(run, "sent")) << run.dump();
  EXPECT_EQ(received, num(run, "received")) << run.dump();
  EXPECT_EQ(num(run, "lost"), 0u);
  EXPECT_EQ(finishedCalls(), 1);
}

// Every 10th packet (sequence numbers 0, 10, 20, ... including the first
// packet of each window) is dropped: each closed window counts as lost
// exactly the dropped packets that were sent in it.
TEST_F(SessionWindowTest, DroppedPacketsAreLostInTheWindowTheyWereSentIn) {
  auto drop = [](uint32_t seq) { return seq % 10 == 0; };
  startReflector([drop](uint32_t seq) -> std::optional<milliseconds> {
    if (drop(seq)) return std::nullopt;
    return 0ms;
  });
  startSession(continuousSpec(1s, 200ms));
  sleepUntilSinceStart(2505ms);
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 3u) << "stopped at " << stopAtNs_ / kMs << " ms";
  expectWellFormed(ws);
  uint64_t first = 0, sent = 0, received = 0, stragglers = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    SCOPED_TRACE("window " + std::to_string(i) + ": " + ws[i].summary.dump());
    const json& w = ws[i].summary;
    const uint64_t n = num(w, "sent");
    const uint64_t dropped = countIn(first, n, drop);
    EXPECT_GE(dropped, i < 2 ? 9u : 3u);
    if (i < 2) {
      EXPECT_EQ(num(w, "received"), n - dropped);
      EXPECT_EQ(num(w, "lost"), dropped);
      EXPECT_EQ(num(w, "in_flight"), 0u);
    } else {
      // Partial window at the stop: see the DISABLED_ tests below for
      // whether its dropped packets show as lost or in flight.
      ASSERT_LE(num(w, "received"), n - dropped);
      stragglers = n - dropped - num(w, "received");
      EXPECT_LE(stragglers, kStragglers);
      EXPECT_EQ(num(w, "lost") + num(w, "in_flight"), dropped + stragglers);
    }
    EXPECT_EQ(num(w, "late"), 0u);
    first += n;
    sent += n;
    received += num(w, "received");
  }
  const uint64_t droppedTotal = countIn(0, num(run, "sent"), drop);
  EXPECT_EQ(reflector_->dropped().size(), droppedTotal);
  EXPECT_EQ(sent, num(run, "sent"));
  EXPECT_EQ(received, num(run, "received"));
  EXPECT_EQ(num(run, "received"), num(run, "sent") - droppedTotal - stragglers);
  EXPECT_EQ(num(run, "lost") + num(run, "in_flight"), droppedTotal + stragglers) << run.dump();
}

// Replies to sequence numbers 90..94 (sent at 0.90..0.94 s) are held 350 ms
// and so arrive after the 1 s boundary but within the 500 ms timeout: they
// count in window 0, which is reported only at 1.5 s. The reply to 50 is
// held 800 ms, past its timeout: window 0 counts it lost and late.
TEST_F(SessionWindowTest, ReplyDelayedPastTheBoundaryCountsInItsOwnWindowAfterTheTimeout) {
  constexpr auto kTimeout = 500ms;
  startReflector([](uint32_t seq) -> std::optional<milliseconds> {
    if (seq >= 90 && seq <= 94) return 350ms;
    if (seq == 50) return 800ms;
    return 0ms;
  });
  startSession(continuousSpec(1s, kTimeout));
  // Window 0 is reported at 1.5 s; the stop leaves window 1 partial.
  sleepUntilSinceStart(1755ms);
  const json run = stopSession();
  const auto ws = windows();
  const auto replies = reflector_->replies();

  ASSERT_EQ(ws.size(), 2u) << "stopped at " << stopAtNs_ / kMs << " ms";
  expectWellFormed(ws);
  const json& w0 = ws[0].summary;
  const json& w1 = ws[1].summary;
  SCOPED_TRACE("window 0: " + w0.dump() + "\nwindow 1: " + w1.dump());
  // Preconditions: 90..94 were sent in window 0 and answered after its end.
  ASSERT_GE(num(w0, "sent"), 95u) << "the send schedule slipped past the boundary";
  for (uint32_t seq = 90; seq <= 94; ++seq) {
    ASSERT_TRUE(replies.count(seq)) << seq;
    EXPECT_GT(replies.at(seq) - t0_, 1000 * kMs) << seq;
  }
  ASSERT_TRUE(replies.count(50));

  EXPECT_EQ(num(w0, "received"), num(w0, "sent") - 1);
  EXPECT_EQ(num(w0, "lost"), 1u);
  EXPECT_EQ(num(w0, "late"), 1u);
  EXPECT_EQ(num(w0, "in_flight"), 0u);
  EXPECT_EQ(w0.at("rtt_ns").at("count").get<uint64_t>(), num(w0, "sent") - 1);
  // Reported once the timeout after the boundary had passed, before the stop.
  EXPECT_GE(ws[0].atNs, 1000 * kMs + kTimeout.count() * kMs);
  EXPECT_LE(ws[0].atNs, 1000 * kMs + kTimeout.count() * kMs + 400 * kMs);
  EXPECT_FALSE(ws[0].duringStop);
  EXPECT_GT(ws[0].atNs, replies.at(94) - t0_);

  // Window 1 got none of window 0's replies (they would be unknown there).
  EXPECT_EQ(num(w1, "received") + num(w1, "in_flight"), num(w1, "sent"));
  EXPECT_LE(num(w1, "in_flight"), kStragglers);
  EXPECT_EQ(num(w1, "lost"), 0u);
  EXPECT_EQ(num(w1, "late"), 0u);
  EXPECT_TRUE(ws[1].duringStop);

  EXPECT_EQ(num(run, "sent"), num(w0, "sent") + num(w1, "sent"));
  EXPECT_EQ(num(run, "lost"), 1u);
  EXPECT_EQ(num(run, "late"), 1u);
  EXPECT_EQ(num(run, "received"), num(run, "sent") - 1 - num(w1, "in_flight"));
}

// Stopped at 1.3 s with a 1 s timeout: window 0 is still waiting for its
// timeout (until 2.0 s) and window 1 is partial; stop() reports both, in
// order. Replies to 110 and later are held 900 ms, so window 1 has packets
// in flight at the stop; their timeout has not passed, so none is lost.
TEST_F(SessionWindowTest, StopMidWindowReportsBothOpenWindowsWithoutLosingPacketsInFlight) {
  auto held = [](uint32_t seq) { return seq >= 110; };
  startReflector(
      [held](uint32_t seq) -> std::optional<milliseconds> { return held(seq) ? 900ms : 0ms; });
  startSession(continuousSpec(1s, 1s));
  sleepUntilSinceStart(1305ms);
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 2u) << "stopped at " << stopAtNs_ / kMs << " ms";
  expectWellFormed(ws);
  const json& w0 = ws[0].summary;
  const json& w1 = ws[1].summary;
  SCOPED_TRACE("window 0: " + w0.dump() + "\nwindow 1: " + w1.dump());
  EXPECT_TRUE(ws[0].duringStop);
  EXPECT_TRUE(ws[1].duringStop);
  EXPECT_LT(ws[0].atNs, 2000 * kMs);  // before window 0's own deadline

  EXPECT_GE(num(w0, "sent"), 90u);
  EXPECT_LE(num(w0, "sent"), 110u);
  EXPECT_EQ(num(w0, "received"), num(w0, "sent") - countIn(0, num(w0, "sent"), held));
  EXPECT_EQ(num(w0, "lost"), 0u);

  const uint64_t heldInW1 = countIn(num(w0, "sent"), num(w1, "sent"), held);
  ASSERT_GE(heldInW1, 5u) << "too few packets in flight at the stop to test anything";
  EXPECT_EQ(num(w1, "received"), num(w1, "sent") - heldInW1);
  EXPECT_EQ(num(w1, "in_flight"), heldInW1);
  EXPECT_EQ(num(w1, "lost"), 0u);
  const int64_t len = ns(w1, "ended_ns") - ns(w1, "started_ns");
  EXPECT_GE(len, 200 * kMs);
  EXPECT_LE(len, 700 * kMs);

  EXPECT_EQ(num(run, "sent"), num(w0, "sent") + num(w1, "sent"));
  EXPECT_EQ(num(run, "lost"), 0u);
  EXPECT_EQ(num(run, "in_flight"), num(w0, "in_flight") + heldInW1);
  EXPECT_EQ(finishedCalls(), 1);
}

// Known bug (see the report that came with this file): at stop(), a window
// is reported "as it stands" without expiring it, so a dropped packet whose
// timeout passed long before the stop shows as in flight in its window,
// while the run's summary (expired on every timer tick) counts it lost.
// Session::stop() promises "outstanding packets count as lost once their
// timeout has passed, not before".
//
// Partial window: 100..104 dropped (sent 1.00..1.04 s), 100 ms timeout,
// stop at 1.5 s.
TEST_F(SessionWindowTest, StopCountsExpiredPacketsOfThePartialWindowAsLost) {
  auto drop = [](uint32_t seq) { return seq >= 100 && seq <= 104; };
  startReflector([drop](uint32_t seq) -> std::optional<milliseconds> {
    if (drop(seq)) return std::nullopt;
    return 0ms;
  });
  startSession(continuousSpec(1s, 100ms));
  sleepUntilSinceStart(1505ms);
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 2u) << "stopped at " << stopAtNs_ / kMs << " ms";
  const json& w1 = ws[1].summary;
  SCOPED_TRACE("window 1: " + w1.dump() + "\nrun: " + run.dump());
  const uint64_t dropped = countIn(num(ws[0].summary, "sent"), num(w1, "sent"), drop);
  ASSERT_EQ(dropped, 5u);
  EXPECT_EQ(num(run, "lost"), dropped);
  EXPECT_EQ(num(w1, "lost"), dropped);
  EXPECT_LE(num(w1, "in_flight"), kStragglers);
}

// Closing window: 10 dropped (sent 0.1 s), 300 ms timeout, stop at 1.2 s
// while window 0 still waits for its timeout (until 1.3 s).
TEST_F(SessionWindowTest, StopCountsExpiredPacketsOfTheClosingWindowAsLost) {
  startReflector([](uint32_t seq) -> std::optional<milliseconds> {
    if (seq == 10) return std::nullopt;
    return 0ms;
  });
  startSession(continuousSpec(1s, 300ms));
  sleepUntilSinceStart(1205ms);
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 2u) << "stopped at " << stopAtNs_ / kMs << " ms";
  const json& w0 = ws[0].summary;
  SCOPED_TRACE("window 0: " + w0.dump() + "\nrun: " + run.dump());
  ASSERT_TRUE(ws[0].duringStop);
  EXPECT_EQ(num(run, "lost"), 1u);
  EXPECT_EQ(num(w0, "lost"), 1u);
  EXPECT_EQ(num(w0, "in_flight"), 0u);
}

// A session with a count never reports windows, even with a window in a
// hand-built spec (specFromConfig/specFromJson would have zeroed it) and a
// run that crosses the boundary.
TEST_F(SessionWindowTest, CountedSessionNeverReportsWindows) {
  startReflector(answerAll);
  SessionSpec spec = continuousSpec(1s, 200ms);
  spec.count = 120;  // 1.19 s of sending
  startSession(spec);
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, kWaitLimit, [this] { return finishedCalls_ > 0; }));
  }
  const json run = sessionSummary();
  EXPECT_EQ(num(run, "sent"), 120u);
  EXPECT_EQ(num(run, "received"), 120u);
  EXPECT_EQ(run.value("state", json()), "finished");
  EXPECT_EQ(finishedCalls(), 1);
  EXPECT_TRUE(windows().empty()) << windows().front().summary.dump();
}

// RFC 8972 section 3: a reflector that zeroes the SSID does not support it.
// By default the replies are used and counted; with stopOnZeroSsid the run
// ends at the first one.
TEST_F(SessionWindowTest, ZeroedSsidIsCountedOrStopsTheRun) {
  startReflector(answerAll);
  reflector_->zeroSsid = true;
  SessionSpec spec = continuousSpec(0s, 200ms);
  spec.count = 30;
  startSession(spec);
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, kWaitLimit, [this] { return finishedCalls_ > 0; }));
  }
  json run = sessionSummary();
  EXPECT_EQ(num(run, "received"), 30u);
  EXPECT_EQ(num(run, "zero_ssid_replies"), 30u);
  EXPECT_TRUE(run["stopped_by"].is_null());
}

TEST_F(SessionWindowTest, StopOnZeroSsidEndsTheRunAtTheFirstReply) {
  startReflector(answerAll);
  reflector_->zeroSsid = true;
  SessionSpec spec = continuousSpec(0s, 200ms);
  spec.count = 100;  // 1 s of sending if nothing stopped it
  spec.stopOnZeroSsid = true;
  startSession(spec);
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, kWaitLimit, [this] { return finishedCalls_ > 0; }));
  }
  json run = sessionSummary();
  EXPECT_EQ(run.value("stopped_by", json()), "zero_ssid");
  EXPECT_EQ(num(run, "zero_ssid_replies"), 1u);
  EXPECT_LT(num(run, "sent"), 20u) << "the run went on after the zeroed SSID";
  EXPECT_EQ(finishedCalls(), 1);
}

// The 1 s minimum is a check of specFromConfig/specFromJson, not of
// Session::start: a hand-built spec with a 250 ms window gets 250 ms
// windows.
TEST_F(SessionWindowTest, HandBuiltSubSecondWindowIsHonoured) {
  startReflector(answerAll);
  startSession(continuousSpec(250ms, 100ms));
  sleepUntilSinceStart(1055ms);  // window 3 closing (until 1.1 s), window 4 partial
  const json run = stopSession();
  const auto ws = windows();

  ASSERT_EQ(ws.size(), 5u) << "stopped at " << stopAtNs_ / kMs << " ms";
  expectWellFormed(ws);
  uint64_t sent = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    SCOPED_TRACE("window " + std::to_string(i) + ": " + ws[i].summary.dump());
    const json& w = ws[i].summary;
    sent += num(w, "sent");
    EXPECT_EQ(num(w, "lost"), 0u);
    if (i < 4) {
      EXPECT_EQ(num(w, "received"), num(w, "sent"));
      EXPECT_GE(num(w, "sent"), 20u);
      EXPECT_LE(num(w, "sent"), 30u);
      EXPECT_LE(sent, 25 * (i + 1));
      const int64_t end = ns(w, "ended_ns") - startedAt_;
      EXPECT_GE(end, int64_t(i + 1) * 250 * kMs - 1 * kMs);
      EXPECT_LE(end, int64_t(i + 1) * 250 * kMs + 100 * kMs);
    }
  }
  EXPECT_LE(num(ws[4].summary, "in_flight"), kStragglers);
  EXPECT_FALSE(ws[2].duringStop);
  EXPECT_TRUE(ws[3].duringStop);  // still waiting for its timeout at the stop
  EXPECT_TRUE(ws[4].duringStop);
  EXPECT_EQ(sent, num(run, "sent"));
}

// DSCP and ECN without BPF: the session's socket sends DSCP 46 / ECT(1)
// (IP_TOS, ECN bits included) and learns each reply's TOS from IP_RECVTOS;
// the reflector here answers with DSCP 10 / CE, which the summary counts.
TEST_F(SessionWindowTest, DscpAndEcnSentAndRepliesCounted) {
  startReflector(answerAll);
  ASSERT_TRUE(reflector_->setReplyTos(10 << 2 | 3)) << std::strerror(errno);
  SessionSpec spec = continuousSpec(0s, 1s);
  spec.count = 20;
  spec.interval = 5ms;
  spec.dscp = 46;
  spec.ecn = 1;
  startSession(spec);
  {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, kWaitLimit, [this] { return finishedCalls_ > 0; }))
        << "the run did not finish";
  }
  json s = sessionSummary();
  SCOPED_TRACE(s.dump());
  auto tos = reflector_->requestTos();
  EXPECT_EQ(tos.size(), 20u);
  for (const auto& [seq, t] : tos) EXPECT_EQ(t, 46 << 2 | 1) << "request " << seq;
  EXPECT_EQ(num(s, "received"), 20u);
  EXPECT_EQ(s.value("dscp", json()), 46);
  EXPECT_EQ(s.value("ecn", json()), 1);
  EXPECT_EQ(s.value("reply_dscp", json()), json({{"10", 20}}));
  EXPECT_EQ(s.value("reply_ecn", json()), json({{"3", 20}}));
  EXPECT_EQ(s.value("reply_ecn_ce", json()), 20);
}

TEST(SessionTosSpec, BuildersCheckDscpAndEcn) {
  auto fromJson = [](json extra) {
    json a = {{"target", "127.0.0.1"}};
    a.update(extra);
    return specFromJson(a);
  };
  auto good = fromJson({{"dscp", 63}, {"ecn", 3}});
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->dscp, 63);
  EXPECT_EQ(good->ecn, 3);
  auto byDefault = fromJson(json::object());
  ASSERT_TRUE(byDefault.ok());
  EXPECT_EQ(byDefault->ecn, 0);
  for (auto [key, value, message] : {std::tuple{"dscp", 64, "\"dscp\" must be an integer 0..63"},
                                     {"dscp", 300, "\"dscp\" must be an integer 0..63"},
                                     {"dscp", -1, "\"dscp\" must be an integer 0..63"},
                                     {"ecn", 4, "\"ecn\" must be an integer 0..3"},
                                     {"ecn", 257, "\"ecn\" must be an integer 0..3"}}) {
    auto r = fromJson({{key, value}});
    ASSERT_FALSE(r.ok()) << key << "=" << value;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find(message), std::string::npos) << r.error().message;
  }
  SessionConfig c;
  c.name = "cfg";
  c.target = "127.0.0.1";
  c.dscp = 46;
  c.ecn = 2;
  auto spec = specFromConfig(c);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->dscp, 46);
  EXPECT_EQ(spec->ecn, 2);
}

// The window rules of the two spec builders: at least 1 s, not negative,
// 0 for "never", 30 s by default for an ad-hoc continuous session, and
// ignored (0) for a session with a count.
TEST(SessionWindowSpec, BuildersCheckTheWindow) {
  auto fromJson = [](json extra) {
    json a = {{"target", "127.0.0.1"}, {"count", 0}};
    a.update(extra);
    return specFromJson(a);
  };
  {
    auto s = fromJson({{"window_ns", 999'999'999}});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("window must be at least 1s"), std::string::npos)
        << s.error().message;
    EXPECT_EQ(s.error().code, EINVAL);
  }
  {
    auto s = fromJson({{"window_ns", -1}});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("\"window_ns\" must be an integer 0..9223372036854775807"),
              std::string::npos)
        << s.error().message;
  }
  {
    auto s = fromJson({{"window_ns", 1'000'000'000}});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->window, 1s);
  }
  {
    auto s = fromJson({{"window_ns", 0}});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->window, 0s);
  }
  {
    auto s = fromJson(json::object());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->window, 30s);
  }
  {
    auto s = fromJson({{"count", 5}, {"window_ns", 500'000'000}});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->window, 0s);
  }

  SessionConfig c;
  c.name = "cfg";
  c.target = "127.0.0.1";
  c.count = 0;
  c.window = 500ms;
  auto bad = specFromConfig(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("window must be at least 1s"), std::string::npos)
      << bad.error().message;
  c.window = 2s;
  auto good = specFromConfig(c);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->window, 2s);
  c.count = 10;
  c.window = 500ms;
  auto counted = specFromConfig(c);
  ASSERT_TRUE(counted.ok()) << counted.error().message;
  EXPECT_EQ(counted->window, 0s);
}

}  // namespace
}  // namespace stamp
