// strata::stats_resource: counts what passes through it (allocations and
// bytes by size bucket, live and peak bytes), cheaply enough to leave on in
// production: every thread counts in its own slot, with no shared write on
// the common path; stats() adds the slots up.
//
// Buckets are powers of two: bucket k counts requests of 2^(k-1)+1 to 2^k
// bytes (bucket 0: empty requests). Live bytes are exact; the peak is
// tracked when a thread's unreported change passes 64 KiB, so it is exact to
// within 64 KiB per thread.
//
// Thread safety: thread-safe if the upstream is (calls pass straight to it).
//
// Example:
//
//   strata::stats_resource counted;                 // over the default
//   std::pmr::vector<int> v(1000, 0, &counted);
//   strata::stats_resource_stats s = counted.stats();
//   // s.allocations == 1, s.bytes_in_use == 4000, s.buckets[12].count == 1
#ifndef STRATA_ADAPTERS_STATS_RESOURCE_H_
#define STRATA_ADAPTERS_STATS_RESOURCE_H_

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <mutex>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/internal/thread_slots.h"

namespace strata {

/// Requests of one size bucket.
struct size_bucket_stats {
  std::size_t count = 0;  ///< allocations
  std::size_t bytes = 0;  ///< bytes asked for by them
};

/// A snapshot of a stats_resource's counters.
struct stats_resource_stats {
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t bytes_in_use = 0;
  /// The highest bytes_in_use seen (to within 64 KiB per thread).
  std::size_t peak_bytes = 0;
  /// By size: buckets[k] counts requests of 2^(k-1)+1 to 2^k bytes.
  std::array<size_bucket_stats, 65> buckets{};
};

/// A counting pass-through resource; see the comment at the top.
class stats_resource final : public std::pmr::memory_resource {
 public:
  explicit stats_resource(
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  stats_resource(const stats_resource&) = delete;
  stats_resource& operator=(const stats_resource&) = delete;
  ~stats_resource() override;

  /// A snapshot of the counters of every thread.
  [[nodiscard]] stats_resource_stats stats() const;
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  // One thread's counters; written by that thread only, read by stats().
  struct counters {
    std::atomic<std::size_t> allocations{0};
    std::atomic<std::size_t> deallocations{0};
    std::atomic<std::size_t> allocated_bytes{0};
    std::atomic<std::size_t> freed_bytes{0};
    std::array<std::atomic<std::size_t>, 65> bucket_count{};
    std::array<std::atomic<std::size_t>, 65> bucket_bytes{};
    std::int64_t unreported = 0;  // change not yet added to live_
  };

  static void bump(std::atomic<std::size_t>& counter, std::size_t by) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + by,
                  std::memory_order_relaxed);
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override;
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  // Folds the counters of a thread that exits into exited_ (under mu_) and
  // clears them.
  void thread_exited(counters& exiting) noexcept;
  static void clear(counters& c) noexcept;

  counters* thread_counters();
  // This thread's counters, or the shared ones (with `lock` then holding
  // mu_) when it has none.
  counters* counters_for_call(std::unique_lock<std::mutex>& lock) noexcept;
  void report(counters& c) noexcept;
  void add_to(stats_resource_stats& out, const counters& c) const;

  std::pmr::memory_resource* const upstream_;
  std::atomic<std::int64_t> live_{0};
  std::atomic<std::int64_t> peak_{0};
  mutable std::mutex mu_;
  counters exited_;  // totals of threads that exited (mu_)
  counters shared_;  // for threads that are exiting (mu_)
  // Every thread's counters; its list has a lock of its own (after mu_).
  internal::thread_slots<counters> threads_{
      [this](counters& c) noexcept { thread_exited(c); }};
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_STATS_RESOURCE_H_
