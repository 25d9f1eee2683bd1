#include "event_loop.hpp"

#include <cerrno>
#include <csignal>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>
#include <string>
#include <vector>

namespace stamp {
std::chrono::nanoseconds monotonicNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::chrono::nanoseconds(int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

Result<EventLoop> EventLoop::create() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return errnoError("epoll_create1");
  return EventLoop(UniqueFd(fd));
}

EventLoop::~EventLoop() {
  // Timers that outlive the loop must not reach back into it.
  for (const HeapEntry& e : heap_) e.timer->slot_ = LoopTimer::kNone;
}

Result<void> EventLoop::add(int fd, uint32_t events, Callback cb) {
  auto entry = std::make_unique<FdEntry>(FdEntry{fd, std::move(cb)});
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = entry.get();
  if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errnoError("epoll_ctl add");
  if (auto old = fds_.find(fd); old != fds_.end()) {  // a descriptor number reused unannounced
    old->second->live = false;
    removed_.push_back(std::move(old->second));
  }
  fds_[fd] = std::move(entry);
  return {};
}

void EventLoop::remove(int fd) {
  epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  // An event for it may still be in the batch being dispatched (or its
  // callback may be the one running): the entry dies after the batch.
  it->second->live = false;
  removed_.push_back(std::move(it->second));
  fds_.erase(it);
}

void EventLoop::modify(int fd, uint32_t events) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = it->second.get();
  epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::runDueTimers() {
  if (heap_.empty()) return;
  auto now = monotonicNow();
  const LoopTimer* top = heap_.front().timer;
  if (top->deadline_ - top->early_ > now) return;
  if (beforeTimers_) beforeTimers_();
  // A callback may re-arm its timer within the window that is due again;
  // bounded, so that a timer re-armed in the past cannot starve the fds.
  size_t budget = 2 * heap_.size() + 16;
  for (size_t ran = 0; !heap_.empty() && budget-- > 0; ++ran) {
    // A long batch (thousands of sessions closing their windows in the
    // same second) drains again as it goes: a reply queued while it runs
    // must not be judged lost by a timer later in the batch.
    if (ran % 32 == 31 && beforeTimers_) beforeTimers_();
    LoopTimer* t = heap_.front().timer;
    if (t->deadline_ - t->early_ > now) {
      // Time moves on while callbacks run: look again before sleeping.
      now = monotonicNow();
      if (t->deadline_ - t->early_ > now) break;
    }
    heapErase(t);
    t->cb_(t->deadline_);
  }
  if (afterTimers_) afterTimers_();
}

Result<void> EventLoop::run() {
  running_ = true;
  std::vector<epoll_event> evs(64);
  while (running_) {
    runDueTimers();
    if (!running_) break;
    // One wait for every timer: its timeout is the earliest deadline.
    timespec ts{};
    const timespec* timeout = nullptr;
    if (!heap_.empty()) {
      auto wait = heap_.front().deadline - monotonicNow();
      if (wait.count() < 0) wait = std::chrono::nanoseconds(0);
      ts.tv_sec = time_t(wait.count() / 1'000'000'000);
      ts.tv_nsec = long(wait.count() % 1'000'000'000);
      timeout = &ts;
    }
    int n = epoll_pwait2(ep_.get(), evs.data(), int(evs.size()), timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError("epoll_pwait2");
    }
    for (int i = 0; i < n && running_; ++i) {
      auto* e = static_cast<FdEntry*>(evs[size_t(i)].data.ptr);
      if (e->live) e->cb(evs[size_t(i)].events);
    }
    removed_.clear();
  }
  return {};
}

void EventLoop::heapPlace(size_t i, const HeapEntry& e) {
  heap_[i] = e;
  e.timer->slot_ = i;
}

void EventLoop::heapUp(size_t i) {
  const HeapEntry e = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent].deadline <= e.deadline) break;
    heapPlace(i, heap_[parent]);
    i = parent;
  }
  heapPlace(i, e);
}

void EventLoop::heapDown(size_t i) {
  const HeapEntry e = heap_[i];
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].deadline < heap_[child].deadline) ++child;
    if (e.deadline <= heap_[child].deadline) break;
    heapPlace(i, heap_[child]);
    i = child;
  }
  heapPlace(i, e);
}

void EventLoop::heapPush(LoopTimer* t) {
  heap_.push_back({t->deadline_, t});
  heapUp(heap_.size() - 1);
}

void EventLoop::heapErase(LoopTimer* t) {
  const size_t i = t->slot_;
  t->slot_ = LoopTimer::kNone;
  const HeapEntry last = heap_.back();
  heap_.pop_back();
  if (last.timer == t) return;
  heapPlace(i, last);
  heapUp(i);
  heapDown(last.timer->slot_);
}

void LoopTimer::armAt(std::chrono::nanoseconds deadline, std::chrono::nanoseconds early) {
  if (armed()) loop_->heapErase(this);
  deadline_ = deadline;
  early_ = std::max(early, std::chrono::nanoseconds(0));
  loop_->heapPush(this);
}

void LoopTimer::cancel() {
  if (armed()) loop_->heapErase(this);
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
