#include "event_loop.hpp"

#include <cerrno>
#include <csignal>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cstring>

#include <spdlog/spdlog.h>
#include <string>
#include <vector>

namespace stamp {
Result<EventLoop> EventLoop::create() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return errnoError("epoll_create1");
  return EventLoop(UniqueFd(fd));
}

Result<void> EventLoop::add(int fd, uint32_t events, Callback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errnoError("epoll_ctl add");
  callbacks_[fd] = std::move(cb);
  return {};
}

void EventLoop::remove(int fd) {
  epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  callbacks_.erase(fd);
}

void EventLoop::modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev);
}

Result<void> EventLoop::run() {
  running_ = true;
  std::vector<epoll_event> evs(64);
  while (running_) {
    int n = epoll_wait(ep_.get(), evs.data(), int(evs.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError("epoll_wait");
    }
    for (int i = 0; i < n && running_; ++i) {
      auto it = callbacks_.find(evs[i].data.fd);
      if (it == callbacks_.end()) continue;
      Callback cb = it->second;  // a callback may remove itself
      cb(evs[i].events);
    }
  }
  return {};
}

bool AcceptPause::onAcceptError(EventLoop& loop, int listenFd, int err, const char* what) {
  if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) return false;
  if (pauses_++ % 60 == 0)
    spdlog::warn("{}: cannot accept ({}); pausing new connections", what, std::strerror(err));
  paused_ = true;
  loop.modify(listenFd, 0);
  return true;
}

void AcceptPause::resume(EventLoop& loop, int listenFd) {
  if (!paused_) return;
  paused_ = false;
  loop.modify(listenFd, EPOLLIN);
}

Result<UniqueFd> makePeriodicTimer(uint64_t periodNs) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return errnoError("timerfd_create");
  UniqueFd owner(fd);
  itimerspec its{};
  its.it_interval.tv_sec = time_t(periodNs / 1'000'000'000);
  its.it_interval.tv_nsec = long(periodNs % 1'000'000'000);
  its.it_value = its.it_interval;
  if (timerfd_settime(fd, 0, &its, nullptr) != 0) return errnoError("timerfd_settime");
  return owner;
}

Result<UniqueFd> makeSignalFd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return errnoError("sigprocmask");
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return errnoError("signalfd");
  return UniqueFd(fd);
}

}  // namespace stamp
