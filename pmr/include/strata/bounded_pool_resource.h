// strata::bounded_pool_resource: a thread-safe pool of fixed-size blocks with
// hard bounds, for when predictable memory matters more than hit rate.
//
// Freed blocks wait in lock-free rings for the next allocation; at most
// `max_pooled` wait at once, and a block freed while the rings are full goes
// straight back to the upstream. `max_outstanding` caps the blocks in
// circulation: past it an allocation fails at once (or, if asked, is served
// from the upstream unpooled), like a buffered channel used as a pool.
// `prewarm` fills the pool up front so the first requests never wait on the
// upstream. Requests larger than the block size, or more strictly aligned,
// pass through to the upstream.
//
// Unlike std::pmr::synchronized_pool_resource it takes no lock on the common
// path. Without a cap on outstanding blocks, each thread keeps a small stack
// of free blocks of its own (at most 32) in front of the rings: the common
// allocation and deallocation touch only that thread's cache lines, with no
// atomic read-modify-write, and blocks move between a thread's stack and the
// rings half a stack at a time. The rings are sharded, one per hardware
// thread by default, and each thread uses its own shard first, so threads on
// different cores do not fight over one cache line; a thread whose shard is
// empty takes blocks from the others before it asks the upstream.
//
//   thread 0 stack: [blk|blk|   ]  (no atomics)
//   thread 1 stack: [blk|   |   ]
//     | half a stack at a time, one compare-and-swap a block
//   shard 0: [blk|blk|blk|   |   ]  (lock-free rings of pointers)
//   shard 1: [blk|   |   |   |   ]
//   miss (all empty) -> upstream (under a mutex)   full -> upstream
//
// max_pooled bounds the blocks in the rings and in every thread's stack
// together, at every instant: a stack holds places under the bound (taken
// from a shared count when the thread first frees a block, given back when
// the thread exits), and blocks move to the rings only into places that are
// free. An idle thread keeps at most its stack's blocks, until decay moves
// them (below); reclaim() drains
// the rings and the calling thread's stack, and stats() counts the stacks
// in `pooled`.
//
// The bound on outstanding blocks costs a shared counter (one atomic add per
// allocation and per deallocation), and a capped pool keeps no per-thread
// stacks: every block goes through the rings, so the cap is exact.
//
// Blocks that wait in a ring for options.decay (10 s by default) without
// being taken go back to the upstream with no call from anyone: the
// process-wide scavenger (strata/decay.h) notes each ring's size and pop count
// every decay / 8, and since a ring hands out its oldest block first, the
// blocks a ring held a decay ago less the pops since are the ones that sat
// there all along. prewarm blocks stay. A stack no call has touched for the
// decay (its thread sleeps) is moved into the rings by the scavenger, where
// its blocks decay with the rest; the move needs no lock on the owner's side
// (see internal/cache_handshake.h) and, where the platform has no
// process-wide fence, does not happen.
//
// Under AddressSanitizer, pooled blocks are poisoned.
//
// Thread safety: thread-safe. The upstream is only called under the pool's
// mutex, so it need not be thread-safe.
//
// Upstream: one block of block_size at block_alignment per pooled block, and
// the requests it does not pool, as asked. Every block goes back by the time
// the pool is destroyed, including blocks still outstanding.
//
// Example:
//
//   // Network buffers: 16 KiB each, at most 256 kept, at most 1024 in flight.
//   strata::bounded_pool_resource buffers({.block_size = 16 << 10,
//                                          .max_pooled = 256,
//                                          .max_outstanding = 1024,
//                                          .prewarm = 64});
//   void* b = buffers.allocate(16 << 10);   // from the pool, no lock
//   buffers.deallocate(b, 16 << 10);        // back to this thread's ring
//   // The 1025th buffer in flight throws strata::limit_exceeded.
#ifndef STRATA_BOUNDED_POOL_RESOURCE_H_
#define STRATA_BOUNDED_POOL_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/decay.h"
#include "strata/internal/cache_count.h"
#include "strata/internal/cache_handshake.h"
#include "strata/internal/checked_blocks.h"
#include "strata/internal/config.h"
#include "strata/internal/hardening.h"
#include "strata/internal/mpmc_ring.h"
#include "strata/internal/passthrough_blocks.h"
#include "strata/internal/resource_base.h"
#include "strata/internal/scavenger.h"
#include "strata/internal/thread_index.h"
#include "strata/internal/thread_slots.h"
#include "strata/reclaimable.h"

namespace strata {

/// What a bounded_pool_resource does with an allocation past max_outstanding.
enum class exhausted_policy {
  fail,          ///< throw strata::limit_exceeded (a std::bad_alloc)
  use_upstream,  ///< serve it from the upstream, outside the pool's bounds
};

/// Options of a bounded_pool_resource.
struct bounded_pool_options {
  /// Bytes of every pooled block (rounded up to block_alignment).
  std::size_t block_size = 64;
  /// Alignment of every pooled block: a power of two.
  std::size_t block_alignment = alignof(std::max_align_t);
  /// Blocks kept when returned; more go back to the upstream. Rounded up so
  /// that each shard's ring holds a power of two, and at least two blocks.
  std::size_t max_pooled = 1024;
  /// Blocks handed out and not yet returned, at most; 0 is no cap.
  std::size_t max_outstanding = 0;
  /// Blocks allocated at construction and pooled (at most max_pooled).
  std::size_t prewarm = 0;
  /// What an allocation past max_outstanding does.
  exhausted_policy when_exhausted = exhausted_policy::fail;
  /// Rings the pool is split into (a power of two, at most half of
  /// max_pooled); 0 picks one per hardware thread.
  std::size_t shards = 0;
  /// How long a block may wait in a ring before it goes back upstream (down
  /// to prewarm blocks); 0 as soon as the scavenger sees it, kNeverDecay
  /// never (only reclaim()). See strata/decay.h.
  decay_time decay = kDefaultDecay;
  /// Where decay reads the time; null is the steady clock. Must outlive the
  /// pool.
  const decay_clock* clock = nullptr;
};

/// A snapshot of a bounded_pool_resource's counters.
struct bounded_pool_stats {
  /// Allocations served from a ring.
  std::size_t hits = 0;
  /// Allocations of a pooled size that had to ask the upstream.
  std::size_t misses = 0;
  /// Blocks given back to the upstream because the rings were full.
  std::size_t drops = 0;
  /// Pooled-size blocks handed out and not returned.
  std::size_t outstanding = 0;
  /// Blocks waiting in the rings and the threads' stacks. Summed while
  /// other threads run, it is not a snapshot: blocks that move between the
  /// rings and the stacks meanwhile may count twice or not at all. The bound
  /// itself holds at every instant; a quiescent pool reads exactly.
  std::size_t pooled = 0;
  /// The highest `outstanding` seen. Exact with max_outstanding set (its
  /// counter tracks it); without a cap, the highest number of pooled-size
  /// blocks held from the upstream, which bounds it from above.
  std::size_t peak_outstanding = 0;
  /// Allocations past max_outstanding served from the upstream
  /// (exhausted_policy::use_upstream).
  std::size_t overflows = 0;
  /// Requests larger or more aligned than a block, passed to the upstream.
  std::size_t unpooled = 0;
  /// Stacks of threads that stopped calling the pool (idle for the decay)
  /// that decay moved into the rings, ever.
  std::size_t stacks_moved = 0;
};

/// A bounded pool of fixed-size blocks; see the comment at the top.
class bounded_pool_resource final
    : public internal::resource_base<bounded_pool_resource>,
      public reclaimable,
      private internal::decay_target {
 public:
  /// Builds the pool over `upstream` (which must outlive it) and allocates
  /// `prewarm` blocks. Throws std::invalid_argument for options it cannot
  /// honour (a zero block size or max_pooled, an alignment that is not a
  /// power of two, prewarm above max_pooled), and what the upstream throws
  /// while prewarming (having given back what it got).
  explicit bounded_pool_resource(
      const bounded_pool_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  bounded_pool_resource(const bounded_pool_resource&) = delete;
  bounded_pool_resource& operator=(const bounded_pool_resource&) = delete;
  /// Gives every block back to the upstream, outstanding ones included.
  ~bounded_pool_resource() override;

  /// A block from this thread's stack when there is one and no cap: a
  /// thread-local compare and a pop. Otherwise out of line: the rings (own
  /// shard first), then the upstream. Throws std::invalid_argument for an
  /// alignment that is not a power of two, strata::limit_exceeded past
  /// max_outstanding (with exhausted_policy::fail), and what the upstream
  /// throws.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    if (thread_stack* c = fast_stack(bytes, alignment)) {
      if (ABSL_PREDICT_TRUE(c->handshake.enter())) {
        const std::uint64_t held = c->held.word();
        const std::size_t count = internal::cache_count::count_of(held);
        if (ABSL_PREDICT_TRUE(count != 0)) {
          void* p = c->blocks[count - 1];
          c->held.after_take(held);
          c->handshake.leave();
          STRATA_UNPOISON(p, block_size_);
          if constexpr (internal::kHardened) clear_freed_tag(p);
          checked_.on_allocate(p, bytes, alignment);
          return p;
        }
      }
      c->handshake.leave();
    }
    return allocate_slow(bytes, alignment);
  }

  /// Puts the block on this thread's stack: a thread-local compare and a
  /// push. A full stack, a cap, or a block the pool does not pool go out of
  /// line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    checked_.on_deallocate(p, bytes, alignment);
    if constexpr (internal::kHardened) check_freed_tag(p, bytes, alignment);
    if (thread_stack* c = fast_stack(bytes, alignment)) {
      if (ABSL_PREDICT_TRUE(c->handshake.enter())) {
        const std::uint64_t held = c->held.word();
        const std::size_t count = internal::cache_count::count_of(held);
        if (ABSL_PREDICT_TRUE(count < c->places)) {
          STRATA_POISON(p, block_size_);
          c->blocks[count] = p;
          c->held.after_put(held);
          c->handshake.leave();
          return;
        }
      }
      c->handshake.leave();
    }
    deallocate_slow(p, bytes, alignment);
  }

  /// Bytes of the blocks waiting in the rings and the threads' stacks.
  [[nodiscard]] std::size_t cached_bytes() const noexcept override;
  /// Drains the rings, then the calling thread's stack, to the upstream,
  /// within the request. Other threads' stacks (at most 32 blocks each) stay.
  reclaim_result reclaim(const reclaim_request& request) noexcept override;

  /// A snapshot of the counters.
  [[nodiscard]] bounded_pool_stats stats() const;
  /// The options, normalised (block_size a multiple of block_alignment,
  /// max_pooled and shards as built).
  [[nodiscard]] const bounded_pool_options& options() const noexcept {
    return options_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  // One thread's stack of free blocks. Only its thread touches `blocks` and
  // `places`; `held` (the blocks on the stack, with the hits it served) may
  // be read by stats() from another thread.
  struct thread_stack {
    static constexpr std::size_t kMaxBlocks = 32;
    static_assert(kMaxBlocks <= internal::cache_count::kMaxCount);

    // Lets decay move the stack of a thread that sleeps into the rings
    // (beside `held`: the fast paths touch one cache line).
    internal::cache_handshake handshake;
    internal::cache_count held;
    std::size_t places = 0;  // places under max_pooled this stack holds
    void* blocks[kMaxBlocks] = {};
    // What decay last saw of `held`, since when, and whether the stack is
    // due; guarded by take_mu_.
    std::uint64_t seen = 0;
    std::int64_t idle_since = 0;
    bool due = false;
  };

  // True for a request a block serves (alignment a power of two no stricter
  // than the block's) when no cap needs counting.
  [[nodiscard]] bool fast_path_fits(std::size_t bytes,
                                    std::size_t alignment) const noexcept {
    return bytes <= block_size_ && alignment - 1 < block_alignment_ &&
           (alignment & (alignment - 1)) == 0 && !capped_;
  }
  // The calling thread's stack, if the fast paths may use it: the request
  // fits a block, no cap needs counting, and the thread has a stack.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE thread_stack* fast_stack(
      std::size_t bytes, std::size_t alignment) const noexcept {
    if (ABSL_PREDICT_FALSE(!fast_path_fits(bytes, alignment))) return nullptr;
    return static_cast<thread_stack*>(internal::cached_thread_slot(id_));
  }
  [[nodiscard]] bool poolable(std::size_t bytes,
                              std::size_t alignment) const noexcept {
    return bytes <= block_size_ && alignment - 1 < block_alignment_;
  }

  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  ABSL_ATTRIBUTE_NOINLINE void deallocate_slow(void* p, std::size_t bytes,
                                               std::size_t alignment) noexcept;
  // Moves the stack of a thread that exits into the rings and its counts
  // into the totals.
  void thread_exited(thread_stack& stack) noexcept;
  std::size_t decay_idle() noexcept override;

  // Hardened builds: a freed pooled block of a word or more carries a tag in
  // its first word.
  [[nodiscard]] bool tagged(std::size_t bytes,
                            std::size_t alignment) const noexcept {
    return block_size_ >= sizeof(std::uintptr_t) && poolable(bytes, alignment);
  }
  void check_freed_tag(void* p, std::size_t bytes,
                       std::size_t alignment) const noexcept {
    if (ABSL_PREDICT_TRUE(tagged(bytes, alignment))) {
      internal::tag_freed("bounded_pool_resource", p,
                          static_cast<std::uintptr_t*>(p), hardening_key_);
    }
  }
  void clear_freed_tag(void* p) const noexcept {
    if (block_size_ >= sizeof(std::uintptr_t)) {
      *static_cast<std::uintptr_t*>(p) = 0;
    }
  }
  // The calling thread's stack, made on first use; nullptr for a capped
  // pool, stacks too small to be worth it, or a thread that is exiting.
  thread_stack* own_stack();
  // Inside the owner's scope of `c`: if decay moved the stack, sees what it
  // wrote (under take_mu_) and makes the stack its own again.
  void take_back(thread_stack* c) noexcept;
  // Moves the stacks idle for the decay into the rings, where their
  // threads are not inside a call (see internal/cache_handshake.h).
  void move_idle_stacks(std::int64_t now, std::int64_t due) noexcept;
  void* refill(thread_stack* c);
  void spill(thread_stack* c, void* p) noexcept;
  void* take_block();
  void* pop_any() noexcept;
  void put_block(void* p) noexcept;
  // Pops up to `n` blocks from the rings into out[0..n), own shard first;
  // returns how many came.
  std::size_t pop_from_rings(void** out, std::size_t n) noexcept;
  // Pushes blocks[0..n) into the rings, shard `first` first, until they
  // are full; returns how many went in (in order).
  std::size_t push_to_rings(void* const* blocks, std::size_t n,
                            std::size_t first) noexcept;
  // Takes up to `n` free places under max_pooled; returns how many.
  std::size_t take_places(std::size_t n) noexcept;
  void give_places(std::size_t n) noexcept;

  void* new_block(bool overflow);
  // Gives a pooled-size block back to the upstream; `tally` (guarded by
  // mu_, like the counters it points at) counts it.
  void free_block(void* p, std::size_t* tally = nullptr) noexcept;
  void note_outstanding(std::size_t now) noexcept;

  bounded_pool_options options_;
  std::size_t block_size_;
  std::size_t block_alignment_;
  std::size_t shard_mask_;
  bool capped_;
  std::size_t stack_size_;  // blocks a thread's stack holds; 0 for none
  std::pmr::memory_resource* upstream_;
  std::vector<std::unique_ptr<internal::mpmc_ring>> shards_;
  std::uint64_t id_;
  std::uintptr_t hardening_key_ =
      internal::kHardened ? internal::new_hardening_key(this) : 0;

  // The cap's counter, touched only when max_outstanding is set.
  alignas(internal::kCacheLine) std::atomic<std::size_t> outstanding_{0};
  std::atomic<std::size_t> peak_outstanding_{0};
  // With stacks: max_pooled - blocks in the rings - places the stacks hold.
  // Taken before a block enters a ring, given back when one leaves; off the
  // fast paths.
  alignas(internal::kCacheLine) std::atomic<std::size_t> free_places_{0};
  std::atomic<std::size_t> refilled_{0};  // ring pops that went to a stack

  // Everything below is guarded by mu_ and used off the fast path.
  alignas(internal::kCacheLine) mutable std::mutex mu_;
  // Pooled-size blocks from upstream. Node-based, so that a record that
  // cannot be made leaves the set as it was (absl's flat tables are left
  // unusable by a resize that throws).
  std::unordered_set<void*> blocks_;
  // Held while decay moves stacks, while a thread that exits empties its
  // own, and by an owner that finds its stack moved (taken before mu_ and
  // the list's lock).
  std::mutex take_mu_;
  // Every thread's stack; its list has a lock of its own (taken after mu_).
  internal::thread_slots<thread_stack> stacks_{
      [this](thread_stack& s) noexcept { thread_exited(s); }};
  std::size_t exited_hits_ = 0;
  internal::passthrough_blocks unpooled_;
  std::size_t peak_blocks_ = 0;
  std::size_t misses_ = 0;
  std::size_t drops_ = 0;
  std::size_t drained_ = 0;  // pops that were not allocations
  std::atomic<std::size_t> stacks_moved_{0};

  // Decay's notes on a ring, taken every decay / 8 by the scavenger (whose
  // walks never overlap, so they need no lock).
  struct ring_note {
    std::int64_t at;
    std::size_t size;
    std::size_t pops;
  };
  const decay_clock* clock_;
  std::vector<std::vector<ring_note>> notes_;  // per shard, oldest first
  std::size_t overflows_ = 0;
  std::size_t unpooled_total_ = 0;

  [[no_unique_address]] internal::block_checker checked_{
      "bounded_pool_resource"};
};

}  // namespace strata

#endif  // STRATA_BOUNDED_POOL_RESOURCE_H_
