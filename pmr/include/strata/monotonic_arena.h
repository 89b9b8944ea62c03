// strata::monotonic_arena: a region allocator. A burst of objects that die
// together is carved out of chunks by bumping a pointer, then dropped at once.
//
// Like std::pmr::monotonic_buffer_resource it never frees single blocks, but
// it is built for loops that run for weeks:
//
//   - reset() drops every block and keeps the chunks (up to retain_bytes,
//     largest first) for the next round, so a steady request loop makes no
//     upstream call after warm-up; release() gives everything back.
//   - mark() and rewind(mark) drop what was allocated after a checkpoint, for
//     nested scopes.
//   - deallocate() of the most recent block takes it back (LIFO), so a
//     scratch buffer freed at once costs nothing.
//   - The allocation fast path is inline: through the concrete type it is a
//     pointer bump the compiler can see; through memory_resource* one virtual
//     call and the same bump.
//   - Requests too large for a chunk get a block of their own from the
//     upstream, freed on deallocate, rewind, reset or release.
//   - It is reclaimable: retained chunks that hold nothing go back on demand.
//
// Memory layout (chunks come from the upstream, newest first):
//
//   initial buffer (the user's)   chunk            chunk (current)
//   [blocks.......|wasted]   <-   [hdr|blocks...]  <- [hdr|blocks..|free....]
//                                                              ^cur_     ^end_
//   retained: [hdr|.........] -> [hdr|.....]     (largest first, for reuse)
//   own blocks: [hdr|block] <-> [hdr|block]       (one upstream block each)
//
// Under AddressSanitizer the free part of every chunk, and everything behind a
// reset() or rewind(), is poisoned: touching it is reported like a use after
// free.
//
// Thread safety: none. One thread at a time (stack a synchronized_resource on
// it to share it).
//
// Upstream: chunks of initial_size, growing by growth_factor up to
// max_chunk_size, at alignment alignof(std::max_align_t); own blocks of the
// size asked (plus a 32-byte header) at the alignment asked. Everything is
// given back by release() and the destructor.
//
// Example:
//
//   strata::monotonic_arena arena({.initial_size = 64 << 10});
//   for (const request& r : requests) {
//     {
//       std::pmr::vector<std::pmr::string> words(&arena);
//       parse(r, words);            // allocates freely from the arena
//       respond(words);
//     }                             // the containers die first,
//     arena.reset();                // then every block goes at once
//   }
//
//   auto before = arena.mark();     // nested scope
//   scratch(arena);
//   arena.rewind(before);           // drops what scratch() allocated
#ifndef STRATA_MONOTONIC_ARENA_H_
#define STRATA_MONOTONIC_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <span>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/internal/checked_blocks.h"
#include "strata/internal/config.h"
#include "strata/internal/owner_counter.h"
#include "strata/internal/resource_base.h"
#include "strata/reclaimable.h"

namespace strata {

/// Options of a monotonic_arena.
struct monotonic_arena_options {
  /// A buffer the user owns, used before any chunk (say, on the stack). The
  /// arena never frees it. Empty by default.
  std::span<std::byte> initial_buffer = {};
  /// Bytes of the first chunk asked of the upstream.
  std::size_t initial_size = 4096;
  /// Each new chunk is this many times the previous one (at least 1).
  double growth_factor = 2.0;
  /// Chunks never grow past this; a request that does not fit in a chunk of
  /// this size gets a block of its own.
  std::size_t max_chunk_size = std::size_t{1} << 20;
  /// How many bytes of chunks reset() keeps for the next round (largest
  /// first); the rest go back to the upstream. Default: everything.
  std::size_t retain_bytes = SIZE_MAX;
};

/// A snapshot of a monotonic_arena's counters.
struct monotonic_arena_stats {
  /// Bytes handed out since the last reset (alignment padding included).
  std::size_t bytes_used = 0;
  /// Bytes held from the upstream: chunks in use and retained, own blocks.
  std::size_t bytes_reserved = 0;
  /// Chunks held, in use or retained.
  std::size_t chunks = 0;
  /// Of those, chunks retained for reuse and holding nothing.
  std::size_t retained_chunks = 0;
  /// Blocks too large for a chunk, each held from the upstream on its own.
  std::size_t own_blocks = 0;
  /// reset() calls.
  std::size_t resets = 0;
  /// Upstream allocate and deallocate calls.
  std::size_t upstream_allocations = 0;
  std::size_t upstream_deallocations = 0;
};

/// A checkpoint of a monotonic_arena; see mark() and rewind().
struct arena_mark {
  const void* chunk = nullptr;
  std::byte* position = nullptr;
  std::size_t closed_bytes = 0;
  std::uint64_t own_sequence = 0;
  std::uint64_t checked_sequence = 0;
  std::uint64_t epoch = 0;
  std::uint64_t id = 0;  // marks taken later have larger ids
};

/// A region allocator; see the comment at the top of this file.
class monotonic_arena final : public internal::resource_base<monotonic_arena>,
                              public reclaimable {
 public:
  /// Builds an arena over `upstream`, which must outlive it. Throws
  /// std::invalid_argument for options it cannot honour (a zero or larger
  /// than max_chunk_size initial_size, a growth_factor below 1).
  explicit monotonic_arena(
      const monotonic_arena_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  monotonic_arena(const monotonic_arena&) = delete;
  monotonic_arena& operator=(const monotonic_arena&) = delete;
  /// Gives every chunk and own block back to the upstream.
  ~monotonic_arena() override;

  /// Returns `bytes` bytes aligned to `alignment`. Cost when the current
  /// chunk has room: one alignment test, three compares, two adds; otherwise
  /// an out-of-line call that takes a retained chunk or a new one.
  /// Throws std::invalid_argument if `alignment` is not a power of two, and
  /// std::bad_alloc (or what the upstream throws) if no memory can be had.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    const std::size_t size = bytes + (bytes == 0);  // unique even when empty
    const std::size_t pad =
        (0 - reinterpret_cast<std::uintptr_t>(cur_)) & (alignment - 1);
    const auto room = static_cast<std::size_t>(end_ - cur_);
    // A request that gets a block of its own never takes the bump path, even
    // when it would fit (a large initial buffer, a lucky alignment), so that
    // deallocate() can tell own blocks by their size and alignment alone.
    if (ABSL_PREDICT_TRUE((alignment & (alignment - 1)) == 0 && pad <= room &&
                          size <= room - pad &&
                          bytes + alignment < max_chunk_payload_)) {
      std::byte* p = cur_ + pad;
      cur_ = p + size;
      STRATA_UNPOISON(p, size);
      checked_.on_allocate(p, bytes, alignment);
      return p;
    }
    return allocate_slow(bytes, alignment);
  }

  /// Takes the block back if it is the most recent one (LIFO) and gives an
  /// own block back to the upstream; does nothing otherwise, since the arena
  /// frees blocks only in bulk. Cost: one compare for an ordinary block.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    checked_.on_deallocate(p, bytes, alignment);
    const std::size_t size = bytes + (bytes == 0);
    auto* block = static_cast<std::byte*>(p);
    if (block + size == cur_) {
      cur_ = block;
      STRATA_POISON(block, size);
    } else if (ABSL_PREDICT_FALSE(is_own_block(bytes, alignment))) {
      free_own_block(p);
    }
  }

  /// Drops every block; keeps up to retain_bytes of chunks (largest first)
  /// for the next round and gives the rest, and every own block, back.
  void reset() noexcept;

  /// Gives every chunk, own block and the record of dropped marks back to the
  /// upstream; only the initial buffer stays.
  void release() noexcept;

  /// A checkpoint: rewind(mark) drops everything allocated after it.
  [[nodiscard]] arena_mark mark() const noexcept;

  /// Drops every block allocated after `m` was taken. Marks nest: rewinding
  /// to an outer mark drops the marks taken after it. Throws
  /// std::invalid_argument for a mark taken before the last reset() or
  /// release(), or one that a rewind to an earlier mark already dropped, and
  /// std::bad_alloc (or what the upstream throws) if it cannot record the
  /// marks it drops; the arena is then unchanged. The record is one 16-byte
  /// range of mark ids per rewind that drops marks, kept until reset(), and
  /// merged when ranges overlap.
  void rewind(const arena_mark& m);

  /// Bytes of retained chunks, which reclaim() can give back.
  [[nodiscard]] std::size_t cached_bytes() const noexcept override {
    return retained_bytes_;
  }
  /// Gives retained chunks back, smallest first, within the request.
  reclaim_result reclaim(const reclaim_request& request) noexcept override;
  /// One thread at a time: only the thread using the arena may reclaim it.
  [[nodiscard]] bool reclaim_is_thread_safe() const noexcept override {
    return false;
  }

  /// A snapshot of the counters.
  [[nodiscard]] monotonic_arena_stats stats() const noexcept;
  /// The options, normalised (growth_factor at least 1, sizes rounded).
  [[nodiscard]] const monotonic_arena_options& options() const noexcept {
    return options_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  struct chunk;
  struct own_block;
  // Ids of marks dropped by a rewind, first..last; kept sorted and disjoint.
  struct dropped_marks {
    std::uint64_t first;
    std::uint64_t last;
  };

  // True for requests served by a block of their own: those whose worst-case
  // footprint in a fresh chunk (at least one byte, plus the padding to reach
  // the alignment) would not fit in the largest chunk. Allocation and
  // deallocation decide it the same way, from the size and alignment alone,
  // so no lookup is needed: the fast path's `bytes + alignment <
  // max_chunk_payload_` is its complement.
  [[nodiscard]] bool is_own_block(std::size_t bytes,
                                  std::size_t alignment) const noexcept {
    return bytes >= max_chunk_payload_ ||
           alignment >= max_chunk_payload_ - bytes;
  }

  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  void* allocate_own_block(std::size_t bytes, std::size_t alignment);
  void free_own_block(void* p) noexcept;
  void give_back(chunk* c) noexcept;
  void free_own_blocks_since(std::uint64_t sequence) noexcept;
  void retain(chunk* c) noexcept;
  void enter_initial_buffer() noexcept;
  void enter(chunk* c) noexcept;
  [[nodiscard]] bool was_dropped(std::uint64_t mark_id) const noexcept;
  void record_dropped_after(std::uint64_t mark_id);
  void forget_dropped_marks() noexcept;
  void free_dropped_marks() noexcept;

  // The current region: [region_begin_, end_), with [cur_, end_) free.
  std::byte* cur_ = nullptr;
  std::byte* end_ = nullptr;
  std::byte* region_begin_ = nullptr;
  std::size_t max_chunk_payload_ = 0;  // beside cur_: the fast path reads it

  monotonic_arena_options options_;
  std::pmr::memory_resource* upstream_;

  chunk* used_ = nullptr;      // newest first; the head is the current chunk
  chunk* retained_ = nullptr;  // largest first
  own_block* own_ = nullptr;   // newest first
  std::size_t next_chunk_size_;
  std::uint64_t next_own_sequence_ = 0;
  std::uint64_t epoch_ = 0;
  mutable std::uint64_t last_mark_id_ = 0;  // mark() hands out ids from 1

  // The ranges of dropped mark ids, in an array from the upstream.
  dropped_marks* dropped_ = nullptr;
  std::size_t dropped_size_ = 0;
  std::size_t dropped_capacity_ = 0;

  // Counters behind stats().
  std::size_t closed_bytes_ = 0;  // bytes used in regions left behind
  std::size_t own_bytes_ = 0;
  std::size_t reserved_bytes_ = 0;
  internal::owner_counter retained_bytes_;  // read by cached_bytes() anywhere
  std::size_t chunks_ = 0;
  std::size_t retained_chunks_ = 0;
  std::size_t own_blocks_ = 0;
  std::size_t resets_ = 0;
  std::size_t upstream_allocations_ = 0;
  std::size_t upstream_deallocations_ = 0;

  [[no_unique_address]] internal::block_checker checked_{"monotonic_arena"};
};

}  // namespace strata

#endif  // STRATA_MONOTONIC_ARENA_H_
