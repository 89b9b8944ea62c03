// strata::limit_resource: a hard cap on the bytes outstanding through it,
// like a runtime's memory limit (Go's SetMemoryLimit, a cgroup's memory.max),
// for one subsystem or a whole process.
//
// Every allocation is charged against the limit before the upstream is asked,
// and every deallocation refunds it, so the bytes held through the resource
// never pass the limit, not even for an instant, with any number of threads.
// An allocation that would pass it first calls the `on_limit` handler, which
// may free memory elsewhere (trim a cache, reclaim a pool) and ask for a
// retry; if the request still does not fit it throws strata::limit_exceeded,
// a std::bad_alloc whose what() names the request, the bytes in use and the
// limit. A refused or failed request is not charged.
//
// The limit counts the bytes users ask for; what the upstream spends on top
// (headers, rounding) is its own. It can be changed at run time, also below
// what is in use: allocations then fail until enough is freed.
//
// Thread safety: thread-safe; the upstream must be too, since it is called
// from the allocating threads directly. Cost on top of the upstream: one
// compare-and-swap per allocation and one atomic subtraction per
// deallocation, on one shared counter.
//
// Upstream: every request is passed through unchanged. The resource tracks no
// blocks (a pass-through layer); checked builds report bytes still
// outstanding when it is destroyed.
//
// Example:
//
//   strata::limit_resource capped(
//       {.limit = 64 << 20,
//        .on_limit = [&](const strata::limit_event& e) {
//          return cache.trim(e.requested) > 0;  // freed something: retry
//        }});
//   std::pmr::vector<char> v(&capped);
//   v.resize(1 << 20);   // charged: 1 MiB of 64 MiB
//   // Past 64 MiB, after the handler gives up: strata::limit_exceeded.
#ifndef STRATA_LIMIT_RESOURCE_H_
#define STRATA_LIMIT_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <memory_resource>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/functional/any_invocable.h"

#include "strata/internal/alignment.h"
#include "strata/internal/byte_counter.h"
#include "strata/internal/config.h"
#include "strata/internal/resource_base.h"

namespace strata {

/// What an on_limit handler is told.
struct limit_event {
  std::size_t requested = 0;  ///< bytes the refused allocation asked for
  std::size_t in_use = 0;     ///< bytes outstanding through the resource
  std::size_t limit = 0;      ///< the limit it would pass
  int attempt = 0;            ///< 1 on the first call for this request
};

/// Options of a limit_resource.
struct limit_resource_options {
  /// Bytes that may be outstanding through the resource at once.
  std::size_t limit = SIZE_MAX;
  /// Called when an allocation would pass the limit, possibly from several
  /// threads at once. Return true to retry the allocation (say, after
  /// freeing memory elsewhere), false to let it fail. Empty: fail at once.
  absl::AnyInvocable<bool(const limit_event&) const> on_limit = nullptr;
  /// How many times one request calls on_limit before it fails.
  int max_retries = 4;
};

/// A snapshot of a limit_resource's counters.
struct limit_resource_stats {
  std::size_t in_use = 0;      ///< bytes outstanding now
  std::size_t peak = 0;        ///< the highest in_use seen
  std::size_t limit = 0;       ///< the limit now
  std::size_t limit_hits = 0;  ///< allocations that found the limit in the way
  std::size_t failures = 0;    ///< allocations refused in the end
};

/// A hard cap on outstanding bytes; see the comment at the top of this file.
class limit_resource final : public internal::resource_base<limit_resource> {
 public:
  /// Passes requests to `upstream` (which must outlive it and be
  /// thread-safe) under `options.limit`.
  explicit limit_resource(
      limit_resource_options options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  limit_resource(const limit_resource&) = delete;
  limit_resource& operator=(const limit_resource&) = delete;
  /// In checked builds, reports bytes still outstanding on stderr.
  ~limit_resource() override;

  /// Charges `bytes` and asks the upstream. Cost: one compare-and-swap, one
  /// load for the peak, then the upstream. Throws std::invalid_argument for
  /// an alignment that is not a power of two, std::bad_alloc for a size
  /// above PTRDIFF_MAX, strata::limit_exceeded when the request does not
  /// fit, and what the upstream throws (uncharged).
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    if (ABSL_PREDICT_TRUE((alignment & (alignment - 1)) == 0 &&
                          alignment != 0 && bytes <= internal::kMaxRequest)) {
      std::size_t in_use = in_use_.load(std::memory_order_acquire);
      const std::size_t limit = limit_.load(std::memory_order_relaxed);
      if (ABSL_PREDICT_TRUE(
              bytes <= limit && in_use <= limit - bytes &&
              in_use_.compare_exchange_weak(in_use, in_use + bytes,
                                            std::memory_order_acq_rel,
                                            std::memory_order_acquire))) {
        return allocate_charged(bytes, alignment, in_use + bytes);
      }
    }
    return allocate_slow(bytes, alignment);
  }

  /// Refunds `bytes` and gives the block back to the upstream. A refund of
  /// more than is in use (a wrong size, a double free) is reported, and the
  /// count stops at zero: it aborts in checked builds.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    upstream_->deallocate(p, bytes, alignment);
    // Release: whoever is charged these bytes next sees the upstream's
    // deallocation done, so the upstream never holds more than the limit.
    internal::refund_clamped(in_use_, bytes, "limit_resource",
                             std::memory_order_release);
  }

  /// Changes the limit; lowering it below what is in use is allowed (then
  /// allocations fail until enough is freed).
  void set_limit(std::size_t limit) noexcept {
    limit_.store(limit, std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t limit() const noexcept {
    return limit_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t in_use() const noexcept {
    return in_use_.load(std::memory_order_relaxed);
  }

  /// A snapshot of the counters.
  [[nodiscard]] limit_resource_stats stats() const noexcept;
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  // Asks the upstream for bytes already charged; refunds them if it throws.
  void* allocate_charged(std::size_t bytes, std::size_t alignment,
                         std::size_t in_use_now) {
    void* p = nullptr;
    try {
      p = upstream_->allocate(bytes, alignment);
    } catch (...) {
      in_use_.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    if (ABSL_PREDICT_FALSE(in_use_now >
                           peak_.load(std::memory_order_relaxed))) {
      raise_peak(in_use_now);
    }
    return p;
  }

  // The limit is in the way, the CAS lost a race, or the alignment is bad.
  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  // True when `bytes` was charged.
  bool try_charge(std::size_t bytes, std::size_t* in_use_now) noexcept;
  void raise_peak(std::size_t in_use_now) noexcept;

  std::pmr::memory_resource* const upstream_;
  const absl::AnyInvocable<bool(const limit_event&) const> on_limit_;
  const int max_retries_;

  alignas(internal::kCacheLine) std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> peak_{0};
  alignas(internal::kCacheLine) std::atomic<std::size_t> limit_hits_{0};
  std::atomic<std::size_t> failures_{0};
};

}  // namespace strata

#endif  // STRATA_LIMIT_RESOURCE_H_
