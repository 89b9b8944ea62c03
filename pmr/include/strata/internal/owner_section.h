// Lets another thread take a thread's private cache while the thread is not
// using it, with no read-modify-write and no fence on the thread's fast path
// (Dekker's handshake with one side's fence moved into the kernel: the shape
// of folly's asymmetric thread fence and liburcu's membarrier flavour).
//
//   owner, each call:              taker (the scavenger, under the pool lock):
//     section count += 1             make the cache not the owner's
//     read the key that says           (raise the pool's epoch)
//       whether the cache is its own heavy_fence()
//     ...use the cache...            read the owner's section count
//     section count -= 1             0: take the cache; else: next time
//
// heavy_fence() puts a full barrier on every running thread, so either the
// taker reads the raised count, or the owner's read of its key comes after
// the change and sends it to the pool's lock. The count (not a flag) lets a
// pool's slow path call a pool beneath it.
#ifndef STRATA_INTERNAL_OWNER_SECTION_H_
#define STRATA_INTERNAL_OWNER_SECTION_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"

namespace strata::internal {

// How many owner sections the thread is in now.
inline constinit thread_local std::atomic<std::uint32_t> tls_owner_sections{0};

/// Marks a span of the calling thread's use of its own cache (scoped).
class owner_section {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE owner_section() noexcept
      : outer_(tls_owner_sections.load(std::memory_order_relaxed)) {
    tls_owner_sections.store(outer_ + 1, std::memory_order_relaxed);
    // Keeps the compiler from reading the key before the count is stored;
    // the CPU may still do so, which heavy_fence() is for.
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~owner_section() {
    // Release: a taker that reads the count back at its old value sees
    // every write made inside.
    tls_owner_sections.store(outer_, std::memory_order_release);
  }
  owner_section(const owner_section&) = delete;
  owner_section& operator=(const owner_section&) = delete;

  /// The calling thread's count, for a taker to read (with acquire) while
  /// the thread lives.
  [[nodiscard]] static const std::atomic<std::uint32_t>*
  of_this_thread() noexcept {
    return &tls_owner_sections;
  }

 private:
  std::uint32_t outer_;
};

/// A full memory barrier on every running thread of the process. False when
/// the platform offers none (then no cache may be taken).
bool heavy_fence() noexcept;

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_OWNER_SECTION_H_
