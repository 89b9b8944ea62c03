// Lets another thread take a thread's private cache while the thread is not
// using it, with no read-modify-write and no fence on the owner's fast path:
// Dekker's handshake with one side's fence moved into the kernel (the shape
// of folly's asymmetric thread fence and liburcu's membarrier flavour).
//
//   owner, each call:              taker, under the owner's lock:
//     busy = 1                       taken = 1
//     taken? go to the lock          heavy_fence()
//     ...use the cache...            busy? taken = 0, try later
//     busy = 0                       else take the cache (taken stays 1)
//
// heavy_fence() puts a full barrier on every running thread, so either the
// taker reads busy = 1, or the owner's read of `taken` comes after the mark
// and sends it to the lock, where it clears `taken` and sees what the taker
// wrote.
#ifndef STRATA_INTERNAL_CACHE_HANDSHAKE_H_
#define STRATA_INTERNAL_CACHE_HANDSHAKE_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"

namespace strata::internal {

/// A full memory barrier on every running thread of the process. False when
/// the platform offers none (then no cache may be taken).
bool heavy_fence() noexcept;

/// The two words of the handshake for one thread's cache.
class cache_handshake {
 public:
  // The owner.

  /// Before the first touch of the cache; false if it was taken (then
  /// leave() and go to the lock).
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE bool enter() noexcept {
    busy_.store(1, std::memory_order_relaxed);
    // Keeps the compiler from reading `taken` first; the CPU may still do
    // so, which heavy_fence() is for.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return taken_.load(std::memory_order_relaxed) == 0;
  }
  /// After the last touch: a taker that reads this sees every write before.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void leave() noexcept {
    busy_.store(0, std::memory_order_release);
  }
  /// Under the lock: whether the cache was taken, and making it the owner's
  /// again.
  [[nodiscard]] bool taken() const noexcept {
    return taken_.load(std::memory_order_relaxed) != 0;
  }
  void give_back() noexcept { taken_.store(0, std::memory_order_relaxed); }

  // The taker, under the lock: mark() every cache it wants, heavy_fence()
  // once, then owner_away() on each; a cache whose owner is not away is
  // unmarked with give_back().

  void mark() noexcept { taken_.store(1, std::memory_order_relaxed); }
  [[nodiscard]] bool owner_away() const noexcept {
    return busy_.load(std::memory_order_acquire) == 0;
  }

 private:
  std::atomic<std::uint32_t> busy_{0};
  std::atomic<std::uint32_t> taken_{0};
};

/// The owner's enter() and leave() over a scope of a slow path (where a
/// taken cache is found by the check under the lock instead).
class cache_scope {
 public:
  explicit cache_scope(cache_handshake& handshake) noexcept
      : handshake_(handshake) {
    static_cast<void>(handshake_.enter());
  }
  ~cache_scope() { handshake_.leave(); }
  cache_scope(const cache_scope&) = delete;
  cache_scope& operator=(const cache_scope&) = delete;

 private:
  cache_handshake& handshake_;
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_CACHE_HANDSHAKE_H_
