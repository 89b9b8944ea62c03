// strata::sync_pool_resource: a thread-safe pool with a private cache per
// thread, for services with many threads.
//
// Blocks are kept in size buckets. A block a thread frees goes into that
// thread's own cache for this pool and comes back to it without a lock. Each
// bucket of a cache holds two magazines (lists of free blocks, after
// Bonwick's magazine layer): only when both are empty or full does a whole
// magazine move between the thread and the shared depot (one splice under
// the pool's mutex), and only when the depot is empty does the pool ask its
// upstream. Blocks freed by a thread other than the one that
// allocated them simply join the freeing thread's cache.
//
// Cached blocks decay: a batch that has sat in the depot for options.decay
// (10 s by default) goes back, with no call from anyone (the process-wide
// scavenger of strata/decay.h walks the pool every decay / 8). So does a
// bucket of a thread's cache that no call has touched for the decay (the
// scavenger reads its count word), whether its thread sleeps or keeps
// calling for other sizes: the scavenger checks that the thread is not
// inside a call (a handshake with a process-wide fence, membarrier on Linux;
// see internal/cache_handshake.h) and moves the bucket into the depot, due
// at once. Where the platform has no such fence, an idle bucket instead
// makes each thread move its cache into the depot on its next call, and a
// thread that sleeps keeps its cache until it exits.
//
// Like Go's sync.Pool, cached blocks also age out by cycles: each reclaim()
// cycle gives the depot's victim generation back and turns the primary
// generation into the victim, so a pool reclaimed twice returns its memory. A
// reclaim never touches another thread's cache: it raises the pool's epoch, and
// each thread moves its cache into the depot's victim generation on its next
// call. What an idle thread can keep is bounded by the cache limits; stats()
// says how much the thread caches hold. The one cache a reclaim may empty at
// once is the calling thread's own (its owner is the caller): when the victims
// do not meet the request, that cache's blocks are freed too, so a governor
// reclaiming for a refused allocation reaches what the same thread just freed.
//
//   thread A cache: bucket 64 loaded [blk->blk->blk] spare [blk->blk]
//   thread B cache: bucket 64 loaded [blk]            spare []
//        | whole magazines (mutex)
//   depot: bucket 64  primary [mag][mag]  victim [mag]
//        | misses: a magazine's worth of blocks (mutex)
//   upstream
//
// Unlike std::pmr::synchronized_pool_resource, which takes a reader-writer
// lock on every call, the common path takes no lock and no atomic
// read-modify-write: one thread-local compare against a key that names the
// pool and its epoch (so a thread whose cache must age misses there), one
// pop or push.
//
// Thread safety: thread-safe. Threads and pools may come and go in any
// order: a thread that exits gives its caches to the depot, and a pool
// destroyed while threads that used it still run leaves nothing dangling in
// them. The upstream is only called under the pool's mutex, so it need not
// be thread-safe (a size_class_resource beneath makes the tcmalloc shape).
//
// Upstream: pooled blocks are carved from spans of the pool's own slabs (a
// size_class_resource under the pool's lock), so a miss takes a magazine's
// worth of blocks for one upstream request of a span, or none, and a span
// goes back whole once every block of it has come back and decayed.
// Requests above largest_cached (8 KiB), up to largest_pooled, are not cached
// per thread: they are runs of pages of one page heap of the pool's, under
// its mutex, where a freed run merges with its free neighbours and serves
// any size (a large size has few blocks in use, and a cache per size would
// hold several idle for each). Such a request aligned beyond the heap's
// pages (128 B or more) is served from a bucket as the smaller ones are.
// Requests above largest_pooled go to the upstream as asked.
// Destruction gives every span and block back, including blocks in use.
//
// Example:
//
//   strata::sync_pool_resource pool({}, strata::system_pages());
//   std::pmr::vector<int> v(1000, 0, &pool);       // from any thread
//   pool.reclaim({});                              // age the caches
#ifndef STRATA_SYNC_POOL_RESOURCE_H_
#define STRATA_SYNC_POOL_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/decay.h"
#include "strata/internal/cache_count.h"
#include "strata/internal/cache_handshake.h"
#include "strata/internal/checked_blocks.h"
#include "strata/internal/config.h"
#include "strata/internal/deadline.h"
#include "strata/internal/hardening.h"
#include "strata/internal/passthrough_blocks.h"
#include "strata/internal/resource_base.h"
#include "strata/internal/scavenger.h"
#include "strata/internal/thread_slots.h"
#include "strata/reclaimable.h"
#include "strata/size_class_resource.h"

namespace strata {

/// Options of a sync_pool_resource.
struct sync_pool_options {
  /// Requests up to this size are pooled (a power of two, 128 B to 1 MiB);
  /// larger ones go to the upstream.
  std::size_t largest_pooled = 64 << 10;
  /// Requests up to this size (a power of two, 128 B or more; at most
  /// largest_pooled takes effect) are cached per thread. Larger pooled ones are
  /// runs of pages of one page heap that every thread shares, under the pool's
  /// lock: a large size has few blocks in use, and caches kept per size would
  /// hold several of them idle for each one in use, where freed pages merge and
  /// serve any size.
  std::size_t largest_cached = 8 << 10;
  /// Bytes one thread may cache per bucket, in two magazines of half that
  /// each: a full magazine is swapped for the spare or handed to the depot
  /// whole, so a thread never walks its cache. At least 2 and at most 1024
  /// blocks a magazine whatever the size. Magazines start small and grow
  /// to this bound only for buckets that keep coming back to the depot
  /// soon after their last trip; they shrink again when a bucket stays
  /// away (see docs/design.md). The default keeps a busy bucket off the
  /// depot's lock nearly always, and a quiet bucket keeps little.
  std::size_t thread_cache_bytes = 256 << 10;
  /// How long a batch of blocks may sit in the depot, or a bucket of a
  /// thread's cache go untouched, before its blocks go back to the pool's
  /// slabs, and from there, once their spans are empty, to the upstream.
  /// 0: a batch goes back as soon as it reaches the depot. kNeverDecay: only
  /// reclaim() gives memory back. See strata/decay.h.
  decay_time decay = kDefaultDecay;
  /// Where decay reads the time; null is the steady clock. Must outlive the
  /// pool.
  const decay_clock* clock = nullptr;
};

/// A snapshot of a sync_pool_resource's counters.
struct sync_pool_stats {
  /// Allocations served from the calling thread's cache.
  std::size_t thread_cache_hits = 0;
  /// Blocks moved from the depot into a thread cache.
  std::size_t depot_hits = 0;
  /// Blocks carved from the pool's slabs: allocations that neither a thread
  /// cache nor the depot could serve (the slabs ask the upstream for a span
  /// only when theirs are full).
  std::size_t upstream_misses = 0;
  /// Bytes cached in the depot, in every thread's cache, and in the empty
  /// spans of the shared pages.
  std::size_t cached_bytes = 0;
  /// Of those, bytes in thread caches (what idle threads can keep).
  std::size_t thread_cached_bytes = 0;
  /// reclaim() calls.
  std::size_t reclaim_cycles = 0;
  /// Bytes of blocks that decayed out of the depot, ever.
  std::size_t decayed_bytes = 0;
  /// Buckets of thread caches that decay took into the depot, ever: idle
  /// for the decay while their thread slept or called for other sizes.
  std::size_t idle_buckets_taken = 0;
  /// Bytes held from the upstream now: slab spans and blocks above the
  /// largest bucket.
  std::size_t upstream_bytes = 0;
  /// Threads with a cache for this pool now.
  std::size_t threads = 0;
  /// Every allocation the pool served, and the blocks its users hold now
  /// (so deallocations = allocations - blocks_in_use); both counted off the
  /// fast paths.
  std::size_t allocations = 0;
  std::size_t blocks_in_use = 0;
};

/// A thread-caching pool; see the comment at the top of this file.
class sync_pool_resource final
    : public internal::resource_base<sync_pool_resource>,
      public reclaimable,
      private internal::decay_target {
 public:
  // A governor over a pool runs the pool's fast paths inline.
  friend class governor_resource;

  /// Builds the buckets and registers with the scavenger; takes nothing
  /// from `upstream` (which must outlive it) until the first allocation.
  /// Throws std::invalid_argument for options it cannot honour.
  explicit sync_pool_resource(
      const sync_pool_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  sync_pool_resource(const sync_pool_resource&) = delete;
  sync_pool_resource& operator=(const sync_pool_resource&) = delete;
  /// Empties every thread's cache and gives every block back to the
  /// upstream. Requires: no other thread is using the pool.
  ~sync_pool_resource() override;

  /// A block from the calling thread's cache: one table lookup, one
  /// thread-local compare, one pop. Otherwise out of line: the depot, then
  /// the upstream.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    if (void* p = allocate_cached(bytes, alignment)) return p;
    return allocate_slow(bytes, alignment);
  }

  /// Puts the block in the calling thread's cache: one table lookup, one
  /// thread-local compare, one push. A full magazine goes out of line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    if (!deallocate_cached(p, bytes, alignment)) {
      deallocate_slow(p, bytes, alignment);
    }
  }

  [[nodiscard]] std::size_t cached_bytes() const noexcept override;
  /// One aging cycle: the depot's victim generation and the shared pages'
  /// empty spans go back to the upstream (within the request; if it falls
  /// short, the calling thread's own cache too), the primary becomes the
  /// victim, and every thread is asked to move its cache into the depot on
  /// its next call.
  reclaim_result reclaim(const reclaim_request& request) noexcept override;

  /// A snapshot of the counters.
  [[nodiscard]] sync_pool_stats stats() const;
  /// The block sizes of the buckets, smallest first.
  [[nodiscard]] const std::vector<std::size_t>& bucket_sizes() const noexcept {
    return bucket_size_;
  }
  [[nodiscard]] const sync_pool_options& options() const noexcept {
    return options_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  // A list of free blocks threaded through their first word.
  struct batch {
    void* head = nullptr;
    std::size_t count = 0;
    std::int64_t idle_since = 0;  // when it reached the depot (decay's clock)
  };

  // One bucket of one thread's cache: the loaded magazine, which the fast
  // paths use, and a spare. Only its thread writes them; `held` (the loaded
  // magazine's blocks, with the hits it served) and `spare_count` are
  // atomics so that stats() may read them from another thread.
  struct bucket_cache {
    void* head = nullptr;
    internal::cache_count held;
    void* spare_head = nullptr;
    std::atomic<std::uint32_t> spare_count{0};
    std::uint32_t limit = 0;     // blocks a magazine holds, beside the count
    std::int64_t last_trip = 0;  // when it last went to the depot (steady)
  };

  // One thread's cache for this pool.
  // What decay last saw of one bucket of a thread's cache: its count word
  // (which every allocation and free from it changes) and since when it has
  // not changed. Written and read under mu_.
  struct bucket_watch {
    std::uint64_t word = 0;
    std::int64_t idle_since = 0;
    bool due = false;  // holds blocks, idle for the decay: decay takes it
  };

  struct slot {
    slot(const std::vector<std::uint32_t>& limits, std::uint64_t epoch_now,
         std::int64_t now)
        : caches(std::make_unique<bucket_cache[]>(limits.size())),
          watch(std::make_unique<bucket_watch[]>(limits.size())),
          epoch(epoch_now) {
      for (std::size_t b = 0; b < limits.size(); ++b) {
        caches[b].limit = limits[b];
        watch[b].idle_since = now;
      }
    }
    std::unique_ptr<bucket_cache[]> caches;
    // Lets decay take the cache of a thread that sleeps.
    internal::cache_handshake handshake;
    std::unique_ptr<bucket_watch[]> watch;
    // The pool epoch this cache has aged to; written by its thread, read by
    // decay.
    std::atomic<std::uint64_t> epoch;
    // Some bucket is due (see bucket_watch). Guarded by mu_.
    bool due = false;
    // Allocations served by this cache's loaded magazines (summed from
    // the buckets' states).
    [[nodiscard]] std::size_t hits(std::size_t buckets) const noexcept {
      std::size_t sum = 0;
      for (std::size_t b = 0; b < buckets; ++b) sum += caches[b].held.hits();
      return sum;
    }
  };

  // One bucket of the depot: two generations of batches.
  struct depot_bucket {
    std::vector<batch> primary;
    std::vector<batch> victim;
  };

  static constexpr std::size_t kNoBucket = 0xff;
  // aligned_bucket()'s answer for a request the shared pages serve.
  static constexpr std::size_t kPaged = 0xfe;
  // Every bucket's blocks are 16-aligned, so an alignment that is a power of
  // two up to 16 fits any bucket with no table lookup. Anything else
  // (stricter, or not a power of two, which must throw) goes out of line.
  static constexpr std::size_t kFastAlign = 16;
  [[nodiscard]] static constexpr bool fast_alignment(
      std::size_t alignment) noexcept {
    // Bit a is set for a = 1, 2, 4, 8 and 16.
    constexpr std::uint32_t kPowersOfTwo = 0x10116;
    return alignment <= kFastAlign && ((kPowersOfTwo >> alignment) & 1) != 0;
  }
  static constexpr std::size_t kSmallLimit = 1024;  // 16-byte steps to here

  [[nodiscard]] std::size_t bucket_of(std::size_t bytes) const noexcept {
    if (ABSL_PREDICT_TRUE(bytes <= kSmallLimit)) {
      return small_index_[(bytes + 15) >> 4];
    }
    if (bytes <= options_.largest_cached) {
      return large_index_[(bytes + 127) >> 7];
    }
    return kNoBucket;
  }

  // The fast paths, which the governor above a pool also calls inline
  // (a friend): a block from the calling thread's cache, or nullptr...
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate_cached(
      std::size_t bytes, std::size_t alignment) {
    const std::size_t b = bucket_of(bytes);
    if (ABSL_PREDICT_TRUE(b != kNoBucket && fast_alignment(alignment))) {
      // The key names this pool and its epoch: a thread whose cache has
      // not aged to the current epoch misses here and ages out of line.
      // (Written out in both fast paths: a shared helper costs a register
      // move per call, as the compiler keeps `b` alive across it.)
      auto* s = static_cast<slot*>(internal::keyed_thread_slot(
          id_, key_.load(std::memory_order_relaxed)));
      if (ABSL_PREDICT_TRUE(s != nullptr)) {
        if (ABSL_PREDICT_TRUE(s->handshake.enter())) {
          bucket_cache& c = s->caches[b];
          void* p = c.head;
          if (ABSL_PREDICT_TRUE(p != nullptr)) {
            STRATA_UNPOISON(p, bucket_size_[b]);
            c.head = *static_cast<void**>(p);
            c.held.take();
            s->handshake.leave();
            if constexpr (internal::kHardened) clear_freed_tag(p);
            checked_.on_allocate(p, bytes, alignment);
            return p;
          }
        }
        s->handshake.leave();
      }
    }
    return nullptr;
  }

  // ...and the block checked and put in that cache, or false (then
  // deallocate_slow, which does not check it again).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool deallocate_cached(
      void* p, std::size_t bytes, std::size_t alignment) noexcept {
    checked_.on_deallocate(p, bytes, alignment);
    const std::size_t b = bucket_of(bytes);
    if (ABSL_PREDICT_TRUE(b != kNoBucket && fast_alignment(alignment))) {
      if constexpr (internal::kHardened) {
        internal::tag_freed(kHardenedName, p, freed_tag_word(p),
                            hardening_key_);
      }
      auto* s = static_cast<slot*>(internal::keyed_thread_slot(
          id_, key_.load(std::memory_order_relaxed)));
      if (ABSL_PREDICT_TRUE(s != nullptr)) {
        if (ABSL_PREDICT_TRUE(s->handshake.enter())) {
          bucket_cache& c = s->caches[b];
          const std::uint64_t held = c.held.word();
          if (ABSL_PREDICT_TRUE(internal::cache_count::count_of(held) <
                                c.limit)) {
            STRATA_UNPOISON(p, sizeof(void*));  // a caller may have poisoned
            *static_cast<void**>(p) = c.head;
            c.head = p;
            c.held.after_put(held);
            s->handshake.leave();
            STRATA_POISON(p, bucket_size_[b]);
            return true;
          }
        }
        s->handshake.leave();
      }
    }
    return false;
  }

  // Folds the cache of a thread that exits into the depot and the totals.
  void thread_exited(slot& s) noexcept;
  std::size_t decay_idle() noexcept override;
  // Gives the blocks of `magazine` back to the slabs. Needs mu_.
  void free_batch(std::size_t b, batch magazine) noexcept;
  // Asks every thread to move its cache into the depot on its next call.
  // Needs mu_.
  void raise_epoch() noexcept;
  // Gives the slabs' empty spans back to the upstream. Needs mu_.
  void give_back_empty_spans() noexcept;

  // Hardened builds: a freed block carries a tag in its second word (the
  // first holds the free-list link; every bucket is 16 bytes or more).
  static constexpr std::string_view kHardenedName = "sync_pool_resource";
  static std::uintptr_t* freed_tag_word(void* p) noexcept {
    return static_cast<std::uintptr_t*>(p) + 1;
  }
  static void clear_freed_tag(void* p) noexcept { *freed_tag_word(p) = 0; }

  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  ABSL_ATTRIBUTE_NOINLINE void deallocate_slow(void* p, std::size_t bytes,
                                               std::size_t alignment) noexcept;
  // The bucket that serves (bytes, alignment); kPaged for the shared pages,
  // kNoBucket for the upstream.
  [[nodiscard]] std::size_t aligned_bucket(
      std::size_t bytes, std::size_t alignment) const noexcept;
  slot* thread_slot();
  // Ages `s` (the calling thread's) to the current epoch if it is behind
  // or was taken by decay (then what decay wrote is seen under mu_), and
  // keys the thread's entry with that epoch so the fast paths find it.
  void catch_up(slot* s) noexcept;
  void age(slot* s) noexcept;
  void flush(slot* s, bool to_victim) noexcept;
  // flush() with mu_ held.
  void flush_locked(slot& s, bool to_victim, std::int64_t now) noexcept;
  // Moves one bucket of `s` (both magazines) into `to`. Needs mu_.
  void flush_bucket(slot& s, std::size_t b, std::vector<batch>& to,
                    std::int64_t now) noexcept;
  // Moves the due buckets of every thread's cache into the depot, where the
  // thread is not inside a call; false if the platform has no heavy fence
  // (then nothing is taken). Needs mu_.
  bool take_idle_buckets() noexcept;
  void swap_magazines(bucket_cache& c) noexcept;
  // Grows or shrinks the magazines of a bucket of the calling thread's
  // cache by how soon it came back to the depot.
  void note_depot_trip(bucket_cache& c, std::size_t b) noexcept;
  // Bytes in both magazines of every bucket of `s` (a racy snapshot).
  [[nodiscard]] std::size_t cached_in(const slot& s) const noexcept;
  // Allocations served and blocks held by users (for stats() and for a
  // governor above, which reads them instead of counting on the fast path).
  [[nodiscard]] std::size_t allocation_count() const;
  [[nodiscard]] std::size_t blocks_in_use() const;
  // Bytes users hold now, in block sizes (and large requests as asked).
  [[nodiscard]] std::size_t bytes_in_use() const;
  [[nodiscard]] std::size_t hits_locked() const noexcept;
  [[nodiscard]] std::size_t blocks_in_use_locked() const noexcept;
  // Frees the depot's victim batches until `bytes` or `until`. Needs mu_.
  void free_victims(std::size_t bytes, const internal::deadline& until,
                    reclaim_result& result) noexcept;
  void* refill(slot* s, std::size_t b);
  void* take_from_depot(std::size_t b);
  void put_in_depot(std::size_t b, void* p) noexcept;
  // Lists `magazine` in `to` (a generation of bucket b's depot), idle since
  // `idle_since` on the decay clock. Needs mu_.
  void stash(std::size_t b, std::vector<batch>& to, batch magazine,
             std::int64_t idle_since) noexcept;
  // The decay clock's time, for a stamp (0 when nothing decays).
  [[nodiscard]] std::int64_t stamp_now() const noexcept {
    return options_.decay == kNeverDecay ? 0 : clock_->now().count();
  }
  void* new_block(std::size_t b);
  // Publishes pages_.cached_bytes() after pages_ changed. Needs mu_.
  void note_pages_cached() noexcept;
  void free_block(std::size_t b, void* p) noexcept;

  sync_pool_options options_;
  std::pmr::memory_resource* upstream_;
  std::vector<std::size_t> bucket_size_;
  std::vector<std::size_t> bucket_align_;
  std::vector<std::uint32_t> bucket_limit_;        // most blocks a magazine
  std::vector<std::uint32_t> bucket_first_limit_;  // and where it starts
  std::uint8_t small_index_[kSmallLimit / 16 + 1] = {};
  std::vector<std::uint8_t> large_index_;
  std::uint64_t id_;
  const decay_clock* clock_;
  std::uintptr_t hardening_key_ =
      internal::kHardened ? internal::new_hardening_key(this) : 0;
  // Raised by reclaim(); threads age their caches when they see it change.
  alignas(internal::kCacheLine) std::atomic<std::uint64_t> epoch_{1};
  // internal::slot_key(id_, epoch_), what the fast paths compare.
  std::atomic<std::uint64_t> key_{0};

  // Everything below is guarded by mu_.
  alignas(internal::kCacheLine) mutable std::mutex mu_;
  std::vector<depot_bucket> depot_;
  // Where pooled blocks come from and go back to: spans from the upstream,
  // whose empty ones go back at once (blocks only come back here once they
  // have decayed or been reclaimed). Its destruction frees every span.
  size_class_resource slabs_;
  // Requests above the largest bucket, up to largest_pooled: best-fit runs
  // of pages, whose empty spans stay for the decay.
  size_class_resource pages_;
  std::size_t paged_blocks_ = 0;  // taken from pages_, not given back
  std::size_t paged_bytes_ = 0;   // their sizes as asked
  // pages_.cached_bytes(), for cached_bytes() on any thread.
  std::atomic<std::size_t> pages_cached_{0};
  std::size_t pooled_blocks_ = 0;  // taken from slabs_, not given back
  std::size_t pooled_bytes_ = 0;   // their bucket sizes
  internal::passthrough_blocks large_;
  // Every thread's cache; its list has a lock of its own (taken after mu_).
  internal::thread_slots<slot> slots_{
      [this](slot& s) noexcept { thread_exited(s); }};
  std::atomic<std::size_t> depot_bytes_{0};
  std::size_t exited_hits_ = 0;
  std::size_t slow_allocations_ = 0;  // served off the fast path, not hits
  std::size_t depot_hits_ = 0;
  std::size_t upstream_misses_ = 0;
  std::size_t reclaim_cycles_ = 0;
  std::size_t decayed_bytes_ = 0;
  std::size_t idle_buckets_taken_ = 0;

  [[no_unique_address]] internal::block_checker checked_{"sync_pool_resource"};
};

}  // namespace strata

#endif  // STRATA_SYNC_POOL_RESOURCE_H_
