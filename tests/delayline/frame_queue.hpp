// A bounded FIFO of frames waiting for their release time. All memory is
// allocated up front (capacity x slot bytes), so the delay line's footprint
// is fixed however fast frames arrive; when the queue is full the caller
// drops and counts. Not thread-safe: the delay line is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace stamp::delayline {

class FrameQueue {
 public:
  struct Entry {
    std::span<uint8_t> frame;
    int64_t releaseNs;
  };

  // Allocates capacity slots of slotBytes each (may throw std::bad_alloc:
  // construct at start-up only). capacity and slotBytes must be > 0.
  FrameQueue(size_t capacity, size_t slotBytes)
      : slotBytes_(slotBytes), storage_(capacity * slotBytes), entries_(capacity) {}

  size_t capacity() const { return entries_.size(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == entries_.size(); }

  // The slot the next push() will commit; the caller receives a frame into
  // it. Expects !full().
  std::span<uint8_t> backSlot() { return {&storage_[tail_ * slotBytes_], slotBytes_}; }

  // Commits frame, which must lie inside backSlot(), with its release time.
  // Expects !full() and releaseNs >= back's release time (FIFO order).
  void push(std::span<uint8_t> frame, int64_t releaseNs) {
    entries_[tail_] = Entry{frame, releaseNs};
    lastReleaseNs_ = releaseNs;
    tail_ = (tail_ + 1) % entries_.size();
    ++size_;
  }

  // The oldest frame; expects !empty().
  const Entry& front() const { return entries_[head_]; }
  void pop() {
    head_ = (head_ + 1) % entries_.size();
    --size_;
  }

  // Release time of the newest frame ever pushed (0 before the first), so a
  // jittered release can be clamped to keep frames in order.
  int64_t lastReleaseNs() const { return lastReleaseNs_; }

 private:
  size_t slotBytes_;
  std::vector<uint8_t> storage_;
  std::vector<Entry> entries_;
  size_t head_ = 0;
  size_t tail_ = 0;
  size_t size_ = 0;
  int64_t lastReleaseNs_ = 0;
};

}  // namespace stamp::delayline
