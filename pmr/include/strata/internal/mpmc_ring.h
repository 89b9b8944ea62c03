// A bounded lock-free multi-producer multi-consumer ring of pointers (after
// Dmitry Vyukov's bounded MPMC queue): each cell carries a sequence number
// that says whether it is ready for the next push or the next pop, so a push
// or pop is one compare-and-swap on the ring's tail or head and no lock.
//
// Capacity is a power of two, fixed at construction. head_ and tail_ count
// every pop and push ever made, which the owners use for statistics.
#ifndef STRATA_INTERNAL_MPMC_RING_H_
#define STRATA_INTERNAL_MPMC_RING_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/optimization.h"

#include "strata/internal/config.h"

namespace strata::internal {

class mpmc_ring {
 public:
  /// Requires: `capacity` is a power of two, at least 2. With one cell, the
  /// sequence a push expects of an empty cell is the one a full cell has, so
  /// a push would overwrite the value and a pop would spin.
  explicit mpmc_ring(std::size_t capacity)
      : mask_(capacity - 1), cells_(std::make_unique<cell[]>(capacity)) {
    STRATA_ASSERT(capacity >= 2 && (capacity & mask_) == 0);
    for (std::size_t i = 0; i < capacity; ++i) {
      cells_[i].sequence.store(i, std::memory_order_relaxed);
    }
  }

  /// Adds `p` and returns true, or returns false if the ring is full.
  bool push(void* p) noexcept {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      cell& c = cells_[pos & mask_];
      const std::size_t seq = c.sequence.load(std::memory_order_acquire);
      const auto lag = static_cast<std::intptr_t>(seq - pos);
      if (lag == 0) {
        if (ABSL_PREDICT_TRUE(tail_.compare_exchange_weak(
                pos, pos + 1, std::memory_order_relaxed))) {
          c.value = p;
          c.sequence.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (lag < 0) {
        return false;  // the cell still holds a value a lap behind: full
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Removes and returns a pointer, or returns nullptr if the ring is empty.
  void* pop() noexcept {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      cell& c = cells_[pos & mask_];
      const std::size_t seq = c.sequence.load(std::memory_order_acquire);
      const auto lag = static_cast<std::intptr_t>(seq - (pos + 1));
      if (lag == 0) {
        if (ABSL_PREDICT_TRUE(head_.compare_exchange_weak(
                pos, pos + 1, std::memory_order_relaxed))) {
          void* p = c.value;
          c.sequence.store(pos + mask_ + 1, std::memory_order_release);
          return p;
        }
      } else if (lag < 0) {
        return nullptr;  // nothing pushed into this cell yet: empty
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Pointers in the ring now: a snapshot, exact when no one is pushing or
  /// popping, and never above the capacity. The tail is read before the
  /// head, so pops between the two reads can only make it smaller.
  [[nodiscard]] std::size_t size() const noexcept {
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    const std::size_t head = head_.load(std::memory_order_acquire);
    return tail > head ? std::min(tail - head, mask_ + 1) : 0;
  }
  /// Pops ever made.
  [[nodiscard]] std::size_t pops() const noexcept {
    return head_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  struct cell {
    std::atomic<std::size_t> sequence;
    void* value = nullptr;
  };

  const std::size_t mask_;
  const std::unique_ptr<cell[]> cells_;
  alignas(kCacheLine) std::atomic<std::size_t> head_{0};
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_MPMC_RING_H_
