// A single-threaded epoll loop. Callbacks run on the loop's thread, must not
// block and must not throw.
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<EventLoop> create();

  // Watches fd (not owned) for `events` (EPOLLIN ...).
  Result<void> add(int fd, uint32_t events, Callback cb);
  void remove(int fd);
  // Changes the events watched for fd.
  void modify(int fd, uint32_t events);
  // Runs until stop() is called from a callback.
  Result<void> run();
  void stop() { running_ = false; }

 private:
  explicit EventLoop(UniqueFd ep) : ep_(std::move(ep)) {}
  UniqueFd ep_;
  std::map<int, Callback> callbacks_;
  bool running_ = false;
};

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
