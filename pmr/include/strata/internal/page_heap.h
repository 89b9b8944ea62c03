// strata::internal::page_heap: blocks as runs of pages in spans from the
// upstream, with free runs merged. size_class_resource serves its classes
// above the slab classes from it.
//
// Why not slabs for those sizes: a slab of a large class holds few blocks,
// and blocks of one class are freed at random, so a class holds slabs for
// its recent peak, most of them part empty; with a few dozen classes that
// is a third of the heap again on a mixed working set. Here a free run
// serves any size, and neighbouring free runs merge, so the memory held
// follows the bytes in use.
//
// A span is 2^k bytes aligned to 2^k, cut into 256 pages (fewer, of 128
// bytes, in spans under 32 KiB: kMinPageSize says why); its header is one
// cache line in the last pages, on one of a few lines chosen by the span's
// address (the headers of spans aligned alike would otherwise share one
// cache set): a line per 8 KiB of span, from one to eight, set aside in
// whole pages, at most 1/128 of a span of 16 KiB or more. The header is a
// bitmap of the free pages: the page after a freed block is free exactly
// when it starts a free run, and the page before exactly when it ends one,
// whose first page the bitmap finds; so freeing merges with both
// neighbours. A block's own length is never stored: deallocation is told
// its size.
//
// Free runs are on one list per length, with a bitmap of the lengths that
// have runs, so allocation takes the shortest run that fits (best fit) with
// a few word operations and no search. The list nodes live in one dense
// array, not in the free pages, so list operations touch no cold memory; a
// free run keeps only its node's index, in its first page, read when a
// freed neighbour merges with it. A block is cut from the end of its run,
// so what stays free keeps its first page and that index: allocation writes
// nothing into free pages. Whole empty spans stay listed, up to
// max_empty_spans; beyond that they go back to the upstream at once.
//
// Under AddressSanitizer, free pages are poisoned but for a node index while
// it is read or written, and so are the header lines a span does not use.
//
// Thread safety: none; its owner's.
#ifndef STRATA_INTERNAL_PAGE_HEAP_H_
#define STRATA_INTERNAL_PAGE_HEAP_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "strata/decay.h"
#include "strata/internal/deadline.h"
#include "strata/internal/owner_counter.h"
#include "strata/reclaimable.h"

namespace strata::internal {

class page_heap {
 public:
  static constexpr std::size_t kPagesPerSpan = 256;  // at most
  // Pages are no smaller: a 16 KiB span then has 128 pages, whose bitmap
  // is two words, worked on as one 128-bit value with no branch on which
  // words a block covers. With 64-byte pages (four words) cachegrind counted
  // 0.07M more mispredicts per 700k steps of the mixed working set, and the
  // memory held was the same (size_class_resource's classes there step by
  // 128 bytes).
  static constexpr std::size_t kMinPageSize = 128;

  struct stats_snapshot {
    std::size_t spans = 0;
    std::size_t spans_taken = 0;  // from the upstream, ever
    std::size_t pages_in_use = 0;
    std::size_t pages_free = 0;                     // in held spans
    std::array<std::size_t, kPagesPerSpan> runs{};  // free runs by length
  };

  // `span_size` is a power of two from 4 KiB; pages are span_size / 256,
  // and at least kMinPageSize. No more than max_empty_spans empty spans are
  // ever kept, so a larger keep_empty_spans keeps them all. The node array
  // comes from `upstream`, like the spans. An empty span beyond
  // keep_empty_spans goes back once it has been empty for `decay` on
  // `clock` (see decay()); with decay 0, as soon as it empties.
  page_heap(std::size_t span_size, std::size_t max_empty_spans,
            std::size_t keep_empty_spans, std::pmr::memory_resource* upstream,
            decay_time decay = kNeverDecay,
            const decay_clock* clock = nullptr) noexcept;
  page_heap(const page_heap&) = delete;
  page_heap& operator=(const page_heap&) = delete;
  ~page_heap() = default;  // release() gives the spans back

  [[nodiscard]] std::size_t page_size() const noexcept { return page_size_; }
  // Pages a block can take: a span's pages but its header's.
  [[nodiscard]] std::size_t max_pages() const noexcept { return usable_; }
  [[nodiscard]] std::size_t pages_for(std::size_t bytes) const noexcept {
    return (bytes + page_size_ - 1) >> page_shift_;
  }

  // A run of `pages` pages (1 .. max_pages()), aligned to page_size(); a new
  // span from the upstream when no free run is long enough. Throws what the
  // upstream throws, with nothing changed.
  void* allocate(std::size_t pages);
  // Frees the run at `p` of `pages` pages, merging it with free neighbours.
  void deallocate(void* p, std::size_t pages) noexcept;

  // Empty spans beyond keep_empty_spans, which reclaim() gives back.
  [[nodiscard]] std::size_t cached_bytes() const noexcept {
    return reclaimable_bytes_;
  }
  // Spans and the node array.
  [[nodiscard]] std::size_t held_bytes() const noexcept { return held_bytes_; }
  // Gives empty spans back, all but keep_empty_spans, adding to `result`
  // until it holds request.bytes or `until` passes.
  void reclaim(const reclaim_request& request, const deadline& until,
               reclaim_result& result) noexcept;
  // Gives back the empty spans beyond keep_empty_spans that have been empty
  // since `due` or before; returns the bytes given back.
  std::size_t decay(std::chrono::nanoseconds due) noexcept;
  // Gives every span and the node array back, blocks in use or not.
  void release() noexcept;

  // Walks the free lists: not for a hot loop.
  [[nodiscard]] stats_snapshot stats() const noexcept;
  // Blocks of `pages` pages the free runs of `snapshot` could hold.
  [[nodiscard]] static std::size_t free_blocks_of(
      std::size_t pages, const stats_snapshot& snapshot) noexcept;

 private:
  static constexpr std::size_t kWords = kPagesPerSpan / 64;
  static constexpr std::size_t kMaxColors = 8;
  static constexpr std::size_t kSpanPerColor = 8 << 10;
  static constexpr std::size_t kLine = 64;
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  // The header: one cache line.
  struct alignas(kLine) span {
    std::uint64_t free[kWords];  // bit p: page p is free
    span* prev;                  // every span
    span* next;
    std::int64_t idle_since;  // when it last became empty (decay's clock)
  };
  static_assert(sizeof(span) == kLine);
  // A free run, on the list of its length.
  struct node {
    span* owner;
    std::uint32_t prev;
    std::uint32_t next;  // also links unused nodes
    std::uint32_t first;
    std::uint32_t length;
  };

  // Pointer arithmetic from the pointer given (not an integer cast back to
  // a pointer) keeps the compiler's aliasing knowledge.
  [[nodiscard]] std::byte* start_of(const void* p) const noexcept {
    auto* bytes = static_cast<std::byte*>(const_cast<void*>(p));
    return bytes - (reinterpret_cast<std::uintptr_t>(p) & span_mask_);
  }
  [[nodiscard]] span* span_of(const void* p) const noexcept {
    std::byte* start = start_of(p);
    const std::size_t color =
        (reinterpret_cast<std::uintptr_t>(start) >> span_shift_) & color_mask_;
    return reinterpret_cast<span*>(start + header_offset_ + color * kLine);
  }
  [[nodiscard]] std::byte* page_address(const span* s,
                                        std::size_t page) const noexcept {
    return start_of(s) + (page << page_shift_);
  }
  [[nodiscard]] std::size_t page_of(const void* p) const noexcept {
    return (reinterpret_cast<std::uintptr_t>(p) & span_mask_) >> page_shift_;
  }
  [[nodiscard]] std::size_t shortest_fit(std::size_t pages) const noexcept;
  // The node of the free run whose first page is `page`: its index is kept
  // in that page.
  [[nodiscard]] std::uint32_t node_at(const span* s,
                                      std::size_t page) const noexcept;
  void set_node_at(const span* s, std::size_t page,
                   std::uint32_t n) const noexcept;
  // Lists run `n` (owner, first, length set) under its length.
  void push(std::uint32_t n) noexcept;
  // Takes run `n` off its list.
  void unlink(std::uint32_t n) noexcept;
  void grow_nodes();
  [[nodiscard]] std::uint32_t take_node() noexcept;
  void drop_node(std::uint32_t n) noexcept;
  span* new_span();
  void free_span(span* s) noexcept;

  std::size_t span_size_;
  std::uintptr_t span_mask_;
  std::size_t span_shift_;
  std::size_t page_size_;
  std::size_t page_shift_;
  std::size_t color_mask_;     // header lines to choose from, less one
  std::size_t usable_;         // pages a block can take
  std::size_t header_offset_;  // of the first header offset from the start
  std::size_t max_empty_spans_;
  std::size_t keep_empty_spans_;
  decay_time decay_;
  const decay_clock* clock_;
  std::pmr::memory_resource* upstream_;

  std::uint32_t runs_[kPagesPerSpan] = {};  // list heads by length; kNone
  std::uint64_t has_runs_[kWords] = {};     // bit n: runs_[n] has a run
  std::pmr::vector<node> nodes_;            // from the upstream
  std::uint32_t unused_ = kNone;            // unused nodes
  std::size_t blocks_ = 0;                  // blocks in use
  std::size_t spans_ = 0;
  std::size_t spans_taken_ = 0;  // by allocate() calls that succeeded
  std::size_t empties_ = 0;      // whole free spans, listed in runs_[usable_]
  span* all_ = nullptr;
  owner_counter held_bytes_;
  owner_counter reclaimable_bytes_;
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_PAGE_HEAP_H_
