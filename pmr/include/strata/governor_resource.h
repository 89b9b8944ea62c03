// strata::governor_resource: a memory budget and a pause policy over a whole
// stack of resources, the way a garbage-collected runtime holds its heap
// growth target (GOGC), its memory limit (GOMEMLIMIT) and its pause budget.
//
// The governor sits on top of a stack and counts the bytes its users hold
// (live bytes). The footprint it limits is what the stack holds from beneath:
// live bytes plus what the pools in between cache, plus their rounding. That
// is charged where memory enters the stack, by a governor_meter placed
// beneath the caching layers:
//
//   users --> governor_resource      counts live bytes and calls (below)
//               |
//             sync_pool / size classes / arenas   (reclaimable caches)
//               |
//             governor_meter         charges the footprint: exact, one atomic
//               |                    per call, and calls are rare because the
//             upstream               caches above absorb the common case
//
// so the hard limit holds exactly, for any number of threads, while the
// common allocation touches only the calling thread's counters. The limit
// needs no per-thread credit and never strands any in idle threads: it is
// charged where every byte enters the stack, and the pools above make that
// rare. Live bytes (for the growth target and the stats) are counted three
// ways, cheapest first:
//   - over a sync_pool_resource with a meter (what resource_stack builds),
//     the pool's inline fast paths are the governor's and it counts nothing
//     of its own on them: live bytes and calls are the pool's own counts
//     (live bytes in the pool's block sizes);
//   - over any other upstream with a meter, in per-thread counters flushed
//     in batches of `count_batch`, batches that shrink near the growth
//     target so the cycle starts at the allocation that reaches it;
//   - without a meter, the governor charges its own calls (one shared
//     atomic per call), and live bytes are the footprint.
//
// When a charge would pass `hard_limit`, the meter refuses; the refusal
// unwinds to the governor on top, outside every lock of the layers in
// between, and the pause policy decides: `fail` throws strata::limit_exceeded
// at once; `reclaim` first asks the registered caches (strata::reclaimable)
// to give memory back, bounded by `max_pause` per step, then retries;
// `wait` also blocks up to `max_wait` for other threads to free. Time spent
// reclaiming is capped at `reclaim_share` of wall time (a leaky bucket with
// `reclaim_burst` of headroom), and after a step that freed less than it was
// asked, the governor does not try again until the caches have grown by as
// much: a budget that cannot be met fails fast instead of spinning in
// reclaim (the GOMEMLIMIT death spiral).
//
// A thread inside `critical_section()` never pauses: it runs no reclaim,
// never waits, and may pass the hard limit by `critical_reserve` bytes.
// When live bytes grow by `growth_percent` over what was live after the last
// reclaim cycle, a cycle runs (a step at a time). An optional background
// thread trims caches whenever the footprint passes `soft_mark` of the hard
// limit, so allocating threads rarely pause at all.
//
// A governor can be the upstream of another stack (through that stack's
// meter): the outer one then counts everything beneath it, which gives
// per-subsystem budgets under a process budget. A refusal from an outer
// governor unwinds to the top of the inner stack like its own.
//
// Thread safety: thread-safe; the upstream must be too. Upstream: every
// request passed through unchanged. A pass-through layer: checked builds
// report live bytes still outstanding when it is destroyed.
//
// Example:
//
//   strata::governor_meter meter;                    // over the default
//   strata::sync_pool_resource pool({}, &meter);
//   strata::governor_resource governor(
//       {.hard_limit = 256 << 20, .policy = strata::pause_policy::wait},
//       &pool, &meter);
//   governor.add_reclaimable(pool);
//   std::pmr::vector<char> v(1 << 20, &governor);   // counted, capped
//   {
//     auto guard = governor.critical_section();     // no pauses in here
//   }
#ifndef STRATA_GOVERNOR_RESOURCE_H_
#define STRATA_GOVERNOR_RESOURCE_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/cgroup_memory.h"
#include "strata/internal/alignment.h"
#include "strata/internal/config.h"
#include "strata/internal/owner_counter.h"
#include "strata/internal/resource_base.h"
#include "strata/internal/scavenger.h"
#include "strata/internal/thread_slots.h"
#include "strata/reclaimable.h"
#include "strata/sync_pool_resource.h"

namespace strata {

class governor_resource;

/// What a thread that would pass the hard limit does.
enum class pause_policy {
  fail,     ///< throw strata::limit_exceeded at once
  reclaim,  ///< reclaim caches, then throw if still over
  wait,     ///< reclaim, then wait up to max_wait for frees, then throw
};

/// Where a registered cache sits relative to a governor.
enum class cache_placement {
  /// Between the governor and its meter: its cached bytes are part of the
  /// governor's footprint (and of stats().cached_bytes).
  inside,
  /// Elsewhere, typically in a stack built on the governor: reclaiming it
  /// frees the governor's live bytes. It must reach the governor through a
  /// governor_meter (resource_stack puts one there), so the governor knows
  /// when it is called from inside that cache and does not reclaim it then.
  outside,
};

/// Options of a governor_resource.
struct governor_options {
  /// Bytes the footprint may reach; never passed (except by critical
  /// sections, up to critical_reserve). Like GOMEMLIMIT.
  std::size_t hard_limit = SIZE_MAX;
  /// Run a reclaim cycle when live bytes grow by this percentage over what
  /// was live after the last cycle (like GOGC); negative: never on growth.
  int growth_percent = 100;
  /// No cycle on growth below this many live bytes (Go's 4 MiB minimum heap).
  std::size_t growth_floor = 4 << 20;
  /// What an allocation that would pass hard_limit does.
  pause_policy policy = pause_policy::reclaim;
  /// The longest one reclaim step may run (positive); a cycle with more to
  /// do carries on at the next step.
  std::chrono::nanoseconds max_pause = std::chrono::milliseconds(1);
  /// The longest a `wait` allocation blocks before it fails (0 or more); a
  /// request larger than the whole limit fails at once.
  std::chrono::nanoseconds max_wait = std::chrono::milliseconds(100);
  /// The share of wall time reclaim may take (foreground and background),
  /// in [0, 1], as a leaky bucket that drains at this rate (0: the burst,
  /// once)...
  double reclaim_share = 0.10;
  /// ...and holds this much reclaim time (positive) before it overflows.
  std::chrono::nanoseconds reclaim_burst = std::chrono::milliseconds(10);
  /// Bytes a critical section may go past hard_limit; at most hard_limit.
  std::size_t critical_reserve = 0;
  /// Start a background thread that trims caches when the footprint passes
  /// soft_mark * hard_limit (soft_mark in (0, 1]); it stops with the
  /// governor.
  bool background_reclaimer = false;
  double soft_mark = 0.8;
  /// Live bytes a thread counts locally before it adds them to the shared
  /// total (1 or more); nearer the growth target, batches shrink so the
  /// target is hit to within a few allocations.
  std::size_t count_batch = 64 << 10;
  /// For a service in a container: when positive (at most 1), hard_limit is
  /// at most this fraction of the memory limit of the process's cgroup
  /// (memory.max), and the background reclaimer's soft mark at most this
  /// fraction of its soft limit (memory.high). Read at construction and by
  /// refresh_cgroup_limits(); see strata/cgroup_memory.h.
  double cgroup_fraction = 0;
  /// Where the cgroup is read from (tests point it at fixture files); its
  /// strings must outlive the governor.
  cgroup_paths cgroup = {};
};

/// Durations of one kind of time an allocating thread spent in the
/// governor: reclaim pauses, waits, or refused calls.
struct pause_stats {
  /// Upper bounds of the histogram buckets; the last bucket has none.
  static constexpr std::array<std::chrono::nanoseconds, 5> kBounds = {
      std::chrono::microseconds(1), std::chrono::microseconds(10),
      std::chrono::microseconds(100), std::chrono::milliseconds(1),
      std::chrono::milliseconds(10)};

  /// Short names of the histogram buckets, for monitors and reports.
  static constexpr std::array<std::string_view, kBounds.size() + 1>
      kBucketNames = {"lt_1us", "lt_10us", "lt_100us",
                      "lt_1ms", "lt_10ms", "ge_10ms"};

  std::size_t count = 0;
  std::chrono::nanoseconds total{0};
  std::chrono::nanoseconds longest{0};
  /// Durations under each of kBounds in turn, then those above them all.
  std::array<std::size_t, kBounds.size() + 1> histogram{};

  /// Counts one duration.
  void add(std::chrono::nanoseconds d) noexcept {
    ++count;
    total += d;
    longest = std::max(longest, d);
    std::size_t bucket = 0;
    while (bucket < kBounds.size() && d >= kBounds[bucket]) ++bucket;
    ++histogram[bucket];
  }
};

/// A snapshot of a governor's counters.
struct governor_stats {
  std::size_t live_bytes = 0;  ///< held by users now (see the header)
  std::size_t peak_live_bytes = 0;
  std::size_t footprint_bytes = 0;  ///< held from beneath the stack now
  std::size_t peak_footprint_bytes = 0;
  std::size_t cached_bytes = 0;  ///< in the inside caches now
  std::size_t hard_limit = 0;
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t limit_hits = 0;      ///< allocations refused at least once
  std::size_t failures = 0;        ///< allocations that threw limit_exceeded
  std::size_t reclaim_cycles = 0;  ///< completed passes over the caches
  std::size_t bytes_reclaimed = 0;
  std::size_t background_steps = 0;
  /// Reclaim steps allocating threads ran (not the background's).
  pause_stats pauses;
  /// Waits of the `wait` policy, each until room was made or max_wait.
  pause_stats waits;
  /// Allocations that threw limit_exceeded: each from its first refusal to
  /// the throw, its pauses and waits included.
  pause_stats refused;
};

/// The gate beneath a stack's caches that charges its governor's footprint;
/// see the comment at the top of this file. Until a governor attaches (its
/// constructor does), it passes requests through and counts them.
/// Thread-safe; the upstream must be too.
class governor_meter final : public internal::resource_base<governor_meter> {
 public:
  explicit governor_meter(
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource())
      : upstream_(upstream) {}
  governor_meter(const governor_meter&) = delete;
  governor_meter& operator=(const governor_meter&) = delete;
  /// In checked builds, reports bytes still outstanding on stderr.
  ~governor_meter() override;

  /// Charges the governor's footprint (throws its refusal when the charge
  /// would pass its limit), then asks the upstream.
  [[nodiscard]] void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t));
  /// Gives the block back, then refunds it.
  void deallocate(void* p, std::size_t bytes,
                  std::size_t alignment = alignof(std::max_align_t)) noexcept;

  /// Bytes outstanding through the meter: the footprint it charges.
  [[nodiscard]] std::size_t in_use() const noexcept {
    return in_use_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t peak() const noexcept {
    return peak_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  friend class governor_resource;

  // Refunds bytes given back (or never taken from the upstream).
  void deallocate_uncharged(std::size_t bytes) noexcept;

  std::pmr::memory_resource* const upstream_;
  std::atomic<governor_resource*> governor_{nullptr};
  alignas(internal::kCacheLine) std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
};

/// A budget and a pause policy over a stack; see the top of this file.
class governor_resource final
    : public internal::resource_base<governor_resource>,
      private internal::decay_target {
 public:
  /// Passes requests to `upstream` (which must outlive it). With `meter`
  /// (beneath the upstream's caches, not yet attached to a governor), the
  /// footprint is charged there; without, on this governor's own calls.
  /// Throws std::invalid_argument, naming the option and its value, for an
  /// option outside the range its comment gives.
  explicit governor_resource(
      const governor_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource(),
      governor_meter* meter = nullptr);
  governor_resource(const governor_resource&) = delete;
  governor_resource& operator=(const governor_resource&) = delete;
  /// Stops the background reclaimer and detaches the meter. In checked
  /// builds, reports live bytes still outstanding on stderr.
  ~governor_resource() override;

  /// Counts the allocation and asks the upstream. Throws
  /// std::invalid_argument for an alignment that is not a power of two,
  /// strata::limit_exceeded when the pause policy gives up, and what the
  /// upstream throws. Over a sync_pool_resource with a meter (the shape
  /// resource_stack builds), the common case is the pool's own inline fast
  /// path and nothing more: the pool's counters are the governor's.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    if (ABSL_PREDICT_TRUE(pool_ != nullptr)) {
      if (void* p = pool_->allocate_cached(bytes, alignment)) return p;
      return allocate_slow(bytes, alignment);
    }
    auto* s = static_cast<slot*>(internal::cached_thread_slot(id_));
    if (ABSL_PREDICT_TRUE(s != nullptr && (alignment & (alignment - 1)) == 0 &&
                          alignment != 0 && bytes <= internal::kMaxRequest)) {
      const std::int64_t pending = s->pending.load(std::memory_order_relaxed) +
                                   static_cast<std::int64_t>(bytes);
      if (ABSL_PREDICT_TRUE(pending <= s->flush_above)) {
        return allocate_counted_here(s, pending, bytes, alignment);
      }
    }
    return allocate_slow(bytes, alignment);
  }

  /// Gives the block back and counts it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    if (ABSL_PREDICT_TRUE(pool_ != nullptr)) {
      if (!pool_->deallocate_cached(p, bytes, alignment)) {
        deallocate_slow(p, bytes, alignment);
      }
      return;
    }
    auto* s = static_cast<slot*>(internal::cached_thread_slot(id_));
    if (ABSL_PREDICT_TRUE(s != nullptr)) {
      // Modular arithmetic: a size no allocation had (misuse) cannot
      // overflow; it fails the test below and goes to the slow path.
      const auto pending =
          static_cast<std::int64_t>(static_cast<std::uint64_t>(s->pending.load(
                                        std::memory_order_relaxed)) -
                                    bytes);
      if (ABSL_PREDICT_TRUE(pending >= s->flush_below)) {
        s->pending.store(pending, std::memory_order_relaxed);
        s->deallocations += 1;
        upstream_->deallocate(p, bytes, alignment);
        return;
      }
    }
    deallocate_slow(p, bytes, alignment);
  }

  /// Marks the calling thread as one that must not pause while the guard
  /// lives; guards nest. Destroy it on the thread that made it, before the
  /// governor.
  class critical_guard {
   public:
    critical_guard(const critical_guard&) = delete;
    critical_guard& operator=(const critical_guard&) = delete;
    ~critical_guard();

   private:
    friend class governor_resource;
    explicit critical_guard(governor_resource* governor);
    void* slot_;  // the thread's slot, or nullptr on an exiting thread
  };
  [[nodiscard]] critical_guard critical_section() {
    return critical_guard(this);
  }

  /// Registers a cache the governor may reclaim (and, `inside`, counts in
  /// the footprint). It must stay alive until removed. A cache whose
  /// reclaim_is_thread_safe() is false is reclaimed only in this governor's
  /// own allocation path, so register it only with a governor whose users
  /// are the cache's (one directly above it).
  void add_reclaimable(reclaimable& cache,
                       cache_placement placement = cache_placement::inside);
  /// Forgets a cache; waits for a reclaim step that uses it to end.
  void remove_reclaimable(reclaimable& cache) noexcept;

  /// Runs one reclaim step now (bounded by max_pause), as the background
  /// reclaimer does, and reports what it freed. Not counted as a pause.
  /// From any thread: caches that must be reclaimed on their own thread are
  /// skipped.
  reclaim_result reclaim_step(std::size_t bytes = SIZE_MAX);

  /// Budget changes at run time; lowering the limit below the footprint is
  /// allowed (allocations are then refused until enough is freed), below
  /// critical_reserve is not (std::invalid_argument).
  void set_hard_limit(std::size_t bytes);
  void set_growth_percent(int percent) noexcept;
  /// Reads the process's cgroup limits again (a container resized) and
  /// returns them. With options().cgroup_fraction, the hard limit becomes
  /// the smaller of options().hard_limit and that share of the cgroup's
  /// limit, but not below critical_reserve (replacing a limit set by
  /// set_hard_limit()), and the soft target follows memory.high.
  cgroup_memory refresh_cgroup_limits();
  [[nodiscard]] std::size_t hard_limit() const noexcept {
    return hard_limit_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] int growth_percent() const noexcept {
    return growth_percent_.load(std::memory_order_relaxed);
  }

  /// The footprint now: bytes held through the meter (or through the
  /// governor, without one). Exact.
  [[nodiscard]] std::size_t footprint() const noexcept {
    return meter_->in_use();
  }
  /// Sum of the inside caches' cached_bytes().
  [[nodiscard]] std::size_t cached_bytes() const;

  /// A snapshot of the counters.
  [[nodiscard]] governor_stats stats() const;
  [[nodiscard]] const governor_options& options() const noexcept {
    return options_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  friend class governor_meter;

  // The calling thread's counters for this governor. Only its thread writes
  // them; stats() may read them from another.
  // Cache-line aligned: two threads' slots never share a line.
  struct alignas(internal::kCacheLine) slot {
    std::atomic<std::int64_t> pending{0};  // live bytes not yet in live_
    std::int64_t flush_above = 0;          // fast path while pending <= this
    std::int64_t flush_below = 0;          // ... and >= this
    internal::owner_counter allocations;
    internal::owner_counter deallocations;
    int critical_depth = 0;
  };

  // One request's progress through the pause policy.
  struct attempt;

  // Folds the counters of a thread that exits into the totals.
  void thread_exited(slot& s) noexcept;
  // The calling thread's slot, made on first use; nullptr on an exiting
  // thread, or under a meter when the thread has none yet.
  slot* thread_slot();
  // Live bytes: counted by the threads, or over a pool the footprint less
  // the inside caches (the _locked form needs reclaim_mu_).
  [[nodiscard]] std::size_t counted_live() const noexcept;
  [[nodiscard]] std::size_t live_locked() const;
  [[nodiscard]] std::size_t live_now() const;
  [[nodiscard]] std::size_t inside_cached_locked() const;
  // Over a pool, after the pool's slow path served an allocation.
  void after_pool_miss() noexcept;

  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  // The common case over an upstream that is not a pool: one virtual call,
  // counted in the slot when it returns (`pending` includes `bytes`).
  ABSL_ATTRIBUTE_NOINLINE void* allocate_counted_here(slot* s,
                                                      std::int64_t pending,
                                                      std::size_t bytes,
                                                      std::size_t alignment);
  void* allocate_retrying(slot* s, std::size_t bytes, std::size_t alignment,
                          attempt& a);
  void* allocate_counted(slot* s, std::size_t bytes, std::size_t alignment);
  ABSL_ATTRIBUTE_NOINLINE void deallocate_slow(void* p, std::size_t bytes,
                                               std::size_t alignment) noexcept;
  // Adds the slot's pending bytes and `delta` to live_, resets its
  // thresholds, wakes waiters on frees, starts a growth cycle when due.
  void flush(slot* s, std::int64_t delta) noexcept;
  void set_thresholds(slot* s, std::size_t live) const noexcept;

  // The footprint charge, made by the meter (or by allocate without one).
  // Throws this governor's refusal when it would pass the limit.
  void charge(std::size_t bytes, bool critical);
  [[nodiscard]] bool calling_thread_is_critical() const noexcept;
  [[nodiscard]] bool has_waiters() const noexcept {
    return waiters_.load(std::memory_order_seq_cst) != 0;
  }
  void wake_waiters() noexcept;
  void record_wait(std::chrono::nanoseconds waited) noexcept;
  void record_refused(std::chrono::nanoseconds refused) noexcept;

  // The pause policy, run at the top of the stack after a refusal: returns
  // to retry, throws to give up.
  void handle_refusal(attempt& a);
  // Blocks until the footprint drops below `footprint_seen` or frees are
  // counted, or `until`; false when the deadline passed.
  bool wait_for_change(std::size_t footprint_seen,
                       std::chrono::steady_clock::time_point until);
  // A foreground reclaim step for a refused request that needed `needed`
  // bytes; true if it freed any. `on_allocating_thread`: see step_locked.
  bool reclaim_for(std::size_t needed, bool on_allocating_thread);
  // A step if the leaky bucket has room (nullopt if not), its time charged
  // to the bucket and, for a `pause`, to the pause stats. Needs reclaim_mu_.
  std::optional<reclaim_result> bucketed_step_locked(std::size_t bytes,
                                                     bool on_allocating_thread,
                                                     bool pause);
  // The leaky bucket: drains it to `now`; true while it has room.
  [[nodiscard]] bool reclaim_allowed(std::chrono::steady_clock::time_point now);
  // One step over the caches, from where the last one stopped, within
  // max_pause. Caches that must be reclaimed on their own thread are skipped
  // unless `on_allocating_thread` (the step runs in this governor's own
  // allocation path). Needs reclaim_mu_.
  reclaim_result step_locked(std::size_t bytes, bool on_allocating_thread);
  [[nodiscard]] std::size_t all_cached_locked() const;
  void record_pause(std::chrono::nanoseconds pause) noexcept;
  void update_cycle_target(std::size_t live) noexcept;
  // Where the background reclaimer starts: soft_mark of the limit, or the
  // cgroup's soft limit share if lower.
  [[nodiscard]] std::size_t soft_target() const noexcept;
  // Applies cgroup_fraction of `m`; at start, a share below
  // critical_reserve throws, as the option check would.
  void apply_cgroup(const cgroup_memory& m, bool at_start);
  void run_growth_cycle(slot* s) noexcept;
  void kick_background() noexcept;
  // The background reclaimer's turn on the scavenger's thread.
  std::size_t decay_idle() noexcept override;
  std::size_t trim_in_background();

  const governor_options options_;
  std::pmr::memory_resource* const upstream_;
  // The upstream when it is a sync_pool_resource and a meter is given (the
  // shape resource_stack builds); nullptr otherwise. Its inline fast paths
  // are the governor's, and the governor counts nothing of its own on them:
  // live bytes are the footprint less what the inside caches hold, and the
  // calls are the pool's (see stats()).
  sync_pool_resource* const pool_;
  governor_meter own_meter_;  // charged by allocate when no meter is given
  governor_meter* const meter_;
  const bool metered_;
  std::uint64_t id_;

  std::atomic<std::size_t> hard_limit_;
  // cgroup_fraction of the cgroup's memory.high, or SIZE_MAX.
  std::atomic<std::size_t> cgroup_soft_target_{SIZE_MAX};
  std::atomic<int> growth_percent_;
  std::atomic<std::size_t> next_cycle_at_;  // live bytes that start a cycle
  std::atomic<std::size_t> live_after_cycle_{0};
  // Over a pool: the footprint when live bytes were last compared with the
  // target.
  std::atomic<std::size_t> growth_checked_at_{0};

  // Flushed live bytes; signed, since a thread may free what another has
  // not flushed yet.
  alignas(internal::kCacheLine) std::atomic<std::int64_t> live_{0};
  std::atomic<std::size_t> peak_live_{0};
  std::atomic<std::size_t> waiters_{0};

  alignas(internal::kCacheLine) std::atomic<std::size_t> limit_hits_{0};
  std::atomic<std::size_t> failures_{0};
  std::atomic<std::size_t> exited_allocations_{0};
  std::atomic<std::size_t> exited_deallocations_{0};

  // Every thread's counters.
  internal::thread_slots<slot> slots_{
      [this](slot& s) noexcept { thread_exited(s); }};

  // Waiters sleep here; change_ counts frees they may be waiting for.
  mutable std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::uint64_t change_ = 0;
  pause_stats waits_;
  pause_stats refused_;

  // Reclaim: one step at a time. Guards everything below.
  struct registered {
    reclaimable* cache;
    cache_placement placement;
    bool any_thread;  // reclaim_is_thread_safe(), read once
    // Whether a step may reclaim it: on the allocating thread, or any
    // thread if its reclaim is thread-safe.
    [[nodiscard]] bool reachable(bool on_allocating_thread) const noexcept {
      return any_thread || on_allocating_thread;
    }
  };
  mutable std::mutex reclaim_mu_;
  std::vector<registered> caches_;
  std::size_t cursor_ = 0;  // where the current cycle goes on
  std::size_t cycles_ = 0;
  std::size_t bytes_reclaimed_ = 0;
  std::size_t background_steps_ = 0;
  std::chrono::nanoseconds bucket_level_{0};
  std::chrono::steady_clock::time_point bucket_time_;
  bool futile_ = false;  // the last step on a refusal freed too little
  std::size_t futile_cached_ = 0;
  pause_stats pauses_;
};

}  // namespace strata

#endif  // STRATA_GOVERNOR_RESOURCE_H_
