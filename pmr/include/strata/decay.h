// Decay: cached memory that sits unused goes back to the upstream on its own.
//
// Every strata resource that keeps memory its users gave back (the sync
// pool's depot and thread caches, the size classes' empty spans, the page
// heaps, the bounded pool's rings) stamps what it caches with the time it
// became idle, and gives back what has been idle longer than its `decay`
// option. Nobody has to call anything, and no governor is needed:
//
//   - Thread-safe resources (sync_pool_resource, bounded_pool_resource)
//     register with the process-wide scavenger, one background thread that
//     walks them every decay / 8 (within a floor, so short decays do not
//     make it spin, and a ceiling); over time its walks take at most a
//     hundredth of a core (a long walk is paid for by the sleeps after it).
//   - A resource used by one thread at a time (size_class_resource) may not
//     be touched by another thread: it ages on its own slow paths (when a span
//     empties or a new one is taken), and a pool that owns one ages it under
//     its lock. Its `decay()` member gives back what is due now, for a thread
//     that goes idle.
//
// `decay` is how long memory may stay idle: 0 gives it back as soon as it is
// idle (a span at once when it empties; a depot batch when it is stashed),
// kNeverDecay never (only reclaim() then gives memory back). The default is
// 10 s, as jemalloc's dirty_decay_ms.
//
// Tests make time move by hand: every decaying resource reads the clock its
// options name (`clock`, the steady clock when null), so a manual_clock makes
// decay deterministic, and scavenger_run_once() runs a walk on the calling
// thread.
//
// Example:
//
//   strata::manual_clock clock;
//   strata::sync_pool_resource pool({.decay = std::chrono::seconds(1),
//                                    .clock = &clock});
//   // ... allocate and free ...
//   clock.advance(std::chrono::seconds(2));
//   strata::scavenger_run_once();  // the idle blocks go back upstream
#ifndef STRATA_DECAY_H_
#define STRATA_DECAY_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace strata {

/// How long cached memory may stay idle before it goes back upstream.
using decay_time = std::chrono::milliseconds;
/// The default: 10 seconds.
inline constexpr decay_time kDefaultDecay = std::chrono::seconds(10);
/// Never decay: cached memory goes back only through reclaim().
inline constexpr decay_time kNeverDecay = decay_time::max();

/// Where decaying resources read the time.
class decay_clock {
 public:
  /// Time since an arbitrary start; never goes back.
  [[nodiscard]] virtual std::chrono::nanoseconds now() const noexcept = 0;

  /// std::chrono::steady_clock: the default of every resource.
  [[nodiscard]] static const decay_clock* steady() noexcept;

 protected:
  decay_clock() = default;
  decay_clock(const decay_clock&) = default;
  decay_clock(decay_clock&&) = default;
  decay_clock& operator=(const decay_clock&) = default;
  decay_clock& operator=(decay_clock&&) = default;
  ~decay_clock() = default;
};

/// A clock that moves only when told to: makes decay deterministic in tests.
/// Thread-safe.
class manual_clock final : public decay_clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    return std::chrono::nanoseconds(now_.load(std::memory_order_acquire));
  }
  /// Moves the clock forward by `by`.
  void advance(std::chrono::nanoseconds by) noexcept {
    now_.fetch_add(by.count(), std::memory_order_acq_rel);
  }

 private:
  std::atomic<std::int64_t> now_{0};
};

/// What the scavenger has done since the process started.
struct scavenger_stats {
  /// Walks over the registered resources (background and run_once).
  std::size_t passes = 0;
  /// Bytes the walks gave back to upstreams.
  std::size_t bytes_released = 0;
  /// Wall time spent walking.
  std::chrono::nanoseconds busy{0};
  /// Resources registered now.
  std::size_t resources = 0;
};

/// Runs one walk over every registered resource on the calling thread (the
/// background thread does this on its own) and returns the bytes given back.
std::size_t scavenger_run_once() noexcept;

/// A snapshot of the scavenger's counters.
[[nodiscard]] scavenger_stats get_scavenger_stats() noexcept;

}  // namespace strata

#endif  // STRATA_DECAY_H_
