// A single-threaded epoll loop. Callbacks run on the loop's thread, must not
// block and must not throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

class LoopTimer;

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<EventLoop> create();
  EventLoop(EventLoop&&) = default;
  ~EventLoop();

  // Watches fd (not owned) for `events` (EPOLLIN ...).
  Result<void> add(int fd, uint32_t events, Callback cb);
  void remove(int fd);
  // Changes the events watched for fd.
  void modify(int fd, uint32_t events);
  // Runs until stop() is called from a callback.
  Result<void> run();
  void stop() { running_ = false; }
  // Called before the timers that are due run, once per wake-up that runs
  // any: the daemon drains the replies the kernel has queued, so that no
  // timer judges a packet lost whose reply has already arrived.
  void beforeTimers(std::function<void()> hook) { beforeTimers_ = std::move(hook); }
  // Called after a wake-up's timers have run (the daemon commits the
  // windows they closed in one transaction).
  void afterTimers(std::function<void()> hook) { afterTimers_ = std::move(hook); }
  // Timers armed (for tests and the status).
  size_t timers() const { return heap_.size(); }
  // Runs the timers due by now (a test's stand-in for run()).
  void runDueTimers();

 private:
  friend class LoopTimer;
  struct FdEntry {
    int fd;
    Callback cb;
    bool live = true;
  };
  explicit EventLoop(UniqueFd ep) : ep_(std::move(ep)) {}
  // The timer heap: a binary min-heap on the deadline, each timer knowing
  // its slot, so that arming, re-arming and cancelling are O(log n) and
  // allocate nothing once the heap has grown.
  void heapPush(LoopTimer* t);
  void heapErase(LoopTimer* t);
  void heapUp(size_t i);
  void heapDown(size_t i);
  // The deadline is kept beside the pointer: sifting compares without
  // touching ten thousand timers scattered over the heap memory.
  struct HeapEntry {
    std::chrono::nanoseconds deadline;
    LoopTimer* timer;
  };
  void heapPlace(size_t i, const HeapEntry& e);

  UniqueFd ep_;
  std::unordered_map<int, std::unique_ptr<FdEntry>> fds_;
  // Entries removed while events for them may still be pending in the
  // current batch; freed after it.
  std::vector<std::unique_ptr<FdEntry>> removed_;
  std::vector<HeapEntry> heap_;
  std::function<void()> beforeTimers_, afterTimers_;
  bool running_ = false;
};

// A one-shot timer on CLOCK_MONOTONIC run by the loop. Thousands of
// sessions each hold one: they share the loop's single wait (its timeout
// is the earliest deadline), not a timerfd and an epoll entry each. Not
// copyable or movable (the loop holds its address while armed); the
// destructor cancels it.
class LoopTimer {
 public:
  // `due`: the deadline the timer was armed for.
  using Callback = std::function<void(std::chrono::nanoseconds due)>;
  LoopTimer(EventLoop& loop, Callback cb) : loop_(&loop), cb_(std::move(cb)) {}
  ~LoopTimer() { cancel(); }
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  // Fires once at CLOCK_MONOTONIC `deadline`, or up to `early` before it
  // when the loop is awake then for another timer: timers close together
  // share one wake-up. Arming an armed timer moves it.
  void armAt(std::chrono::nanoseconds deadline,
             std::chrono::nanoseconds early = std::chrono::nanoseconds(0));
  void cancel();
  bool armed() const { return slot_ != kNone; }
  std::chrono::nanoseconds deadline() const { return deadline_; }

 private:
  friend class EventLoop;
  static constexpr size_t kNone = SIZE_MAX;
  EventLoop* loop_;
  Callback cb_;
  std::chrono::nanoseconds deadline_{0}, early_{0};
  size_t slot_ = kNone;
};

// CLOCK_MONOTONIC now, the loop's timer clock.
std::chrono::nanoseconds monotonicNow();

// A listening socket that accept() failed on for lack of descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). Level-triggered, the pending
// connection would wake the loop at once, forever: the socket leaves the
// loop until resume(), which its owner calls from a periodic sweep.
class AcceptPause {
 public:
  // After accept() failed with `err`: true if the socket was paused (and
  // every 60th time a warning naming `what` is logged).
  bool onAcceptError(EventLoop& loop, int listenFd, int err, const char* what);
  void resume(EventLoop& loop, int listenFd);

 private:
  bool paused_ = false;
  uint64_t pauses_ = 0;
};

// A periodic CLOCK_MONOTONIC timerfd; the caller reads it on each tick.
Result<UniqueFd> makePeriodicTimer(uint64_t periodNs);
// Blocks SIGTERM, SIGINT and SIGHUP and returns a signalfd for them.
Result<UniqueFd> makeSignalFd();

}  // namespace stamp
