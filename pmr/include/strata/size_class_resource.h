// strata::size_class_resource: a slab allocator. Requests are rounded up to a
// size class; the classes up to 1 KiB are served from free lists carved out
// of spans (slabs), so finding free memory costs a table lookup and a pointer
// pop; the classes above 1 KiB are runs of pages in a coalescing page heap.
//
// It is the strata answer to std::pmr::unsynchronized_pool_resource:
//
//   - Allocation up to 1 KiB reaches the span that serves it in one table
//     lookup, with no search and no division: a table by size in 8-byte
//     steps, with a row for alignments up to 8 and one for 16 (max_align_t's,
//     the pmr default), names the current span of the class that serves the
//     request, so a request aligned more strictly than its size's class
//     finds the class that serves it in the same lookup. The slow paths map
//     a size to its class the same way (8-byte steps up to 1 KiB; 128-byte
//     steps above, with at most a few steps forward for a custom table).
//     Deallocation, told the size, uses the class table, but a slab block
//     up to 1 KiB needs none (below).
//   - A block's span is found from its address alone: spans have a
//     power-of-two size and are aligned to it, and a slab span's header is
//     on a line that the span's address picks (likewise, at a fixed offset,
//     for page heap spans). No lookup table.
//   - Every block of a class up to 1 KiB is aligned to the largest power of
//     two that divides its size; a more strictly aligned request is served
//     from the next class that satisfies it, or from the upstream. Blocks
//     above 1 KiB are aligned to the page (128 bytes with the default
//     span_size, 256 for the classes above 16 KiB); a request aligned more
//     strictly goes to the upstream.
//     libstdc++'s pools return under-aligned blocks for allocate(20, 16);
//     this never does.
//   - Each span counts its live blocks. A span that empties starts afresh
//     (blocks are carved from its start again, in address order, so a
//     container built and dropped over and over gets the same sequential
//     blocks each time) and goes to a short list of empty spans
//     (max_empty_spans per class) or straight back to the upstream. The
//     memory held follows the blocks in use, not their peak, until a class
//     shows that its peak comes back: each span it takes from the upstream
//     after giving one back lets it keep one more empty span, up to
//     empty_spans_growth times max_empty_spans, so a request cycle whose peak
//     needs more spans than the list keeps stops taking them anew each cycle
//     (the RequestCycle benchmark: 5-6 upstream calls a cycle before, none
//     after its second cycle). reclaim() gives back the empty spans (all but
//     keep_empty_spans per class, a current span with no block in use among
//     them, and for the page heap) and shrinks each list it reaches to
//     max_empty_spans again; it is reclaimable, and cached_bytes() counts
//     the empty spans kept beyond keep_empty_spans, the grown lists' too.
//   - Slab spans are 16 KiB by default (slab_span_size), for every class up
//     to 1 KiB: a class holds a part-empty span or two whatever its
//     population, and on the mixed working set 64 KiB slabs held 0.08 byte
//     more per byte live.
//   - Classes above 1 KiB (the default table has one every 128 bytes there,
//     every 256 above 16 KiB: one per page) are served from
//     internal::page_heap: a block is a run of pages (128 bytes with the
//     default 16 KiB span), taken best fit from any span, and a freed run
//     merges with free neighbours. Slabs for those sizes would hold few blocks
//     each, and blocks freed at random leave most of a class's slabs part
//     empty: on the benchmarks' mixed working set, slabs for every class
//     held 1.40-1.55 bytes upstream per byte live, this 1.17-1.23. It costs a
//     call out of line and about 200 instructions (slab blocks: 30, inline), on
//     sizes where the caller writes a kilobyte or more.
//   - Page heap spans are small (span_size, 16 KiB) for the same reason as
//     slab spans: a span goes back only when all its pages are free, and
//     small spans empty more often, so the memory held follows the bytes in
//     use more closely (on the mixed working set, 0.04 less per byte live
//     than 64 KiB spans, at one upstream call per 1,500 steps, and 3-7%
//     more time per step in alternated runs, in the page heap's bitmap work
//     on twice as many pages a block; span headers kept off the spans,
//     tried, changed nothing).
//     Classes too large for such a span (above 16,256 bytes by default)
//     come from a second page heap with spans four times as large.
//   - Requests above the largest class, or too large for a big page heap
//     span, go straight to the upstream.
//
// Memory layout of a span (blocks first, so they keep the span's alignment):
//
//   span (2^k bytes, aligned to 2^k)
//   [blk|blk|blk|blk|.......................|header|..]
//    ^ free list threads through freed blocks ^ live count, free list,
//      (the first 8 bytes of each)              carve point, list links
//
// The header starts on one of eight cache lines near the end of the span,
// chosen by the span's address: at one fixed offset, the headers of every
// span in use would share one set of a set-associative cache and evict one
// another. As the address alone places it, deallocation of a block whose
// class has slab_span_size spans (every class up to 1 KiB by default) finds
// the header with no class lookup, in three operations on the address and
// no load: the UnorderedMapString benchmark's teardown, which frees a node
// and a string per element, took 4.9 rather than 6.3 ns per element, the
// fixed 64 B loop and the mixed working set the same time as through the
// class table. deallocate() does this inline with the default
// slab_span_size, whose mask and shift it knows as constants, and out of
// line with another.
//
// Each class has a current span that serves allocations, a list of partial
// spans with free blocks, a list of empty spans, and the full spans, which
// join the back of the partial list when one of their blocks is freed. When
// the current span fills, the partial span at the front takes over: listed
// longest ago, it has gathered the most frees, so the next switch comes
// later (3.5 times fewer switches than taking the last listed, with the
// same memory held).
//
// Under AddressSanitizer, all of a span but its header and the bytes asked
// for in blocks in use is poisoned: free blocks, the uncarved part, the
// tail of each block past the size asked for, and the room left below and
// above the header.
//
// Thread safety: none; one thread at a time. For many threads, put a
// sync_pool_resource on top (the tcmalloc shape) or a synchronized_resource
// around it.
//
// Upstream: slab spans of slab_span_size bytes (larger for classes that
// would not fit 8 blocks), page heap spans of span_size bytes and four
// times that, each aligned to its size; the page heaps' node arrays; and
// the requests above the largest class, as asked. Destruction gives
// everything back, including blocks still in use.
//
// Example:
//
//   strata::size_class_resource slabs;  // default classes: 8 B .. 32 KiB
//   std::pmr::unordered_map<std::pmr::string, int> index(&slabs);
//   index["alpha"] = 1;                 // nodes and strings from slabs
//   slabs.reclaim({});                  // later: give empty spans back
#ifndef STRATA_SIZE_CLASS_RESOURCE_H_
#define STRATA_SIZE_CLASS_RESOURCE_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/decay.h"
#include "strata/internal/checked_blocks.h"
#include "strata/internal/config.h"
#include "strata/internal/hardening.h"
#include "strata/internal/owner_counter.h"
#include "strata/internal/page_heap.h"
#include "strata/internal/passthrough_blocks.h"
#include "strata/internal/resource_base.h"
#include "strata/reclaimable.h"

namespace strata {

/// Options of a size_class_resource.
struct size_class_options {
  /// The block sizes, strictly increasing multiples of 8, at most 256 KiB;
  /// any table class_sizes() returns is valid here. Empty: the default
  /// table: 8-byte steps to 64, four classes per power of two up to 1 KiB
  /// (at most 25% internal waste above 32 bytes), then one every page of
  /// the page heap that serves it, or every 128 bytes if pages are smaller
  /// (at most 12% with the default span_size), up to `largest_class`. The
  /// list is copied.
  std::span<const std::size_t> classes = {};
  /// The largest class of the default table (a power of two, 64 B to
  /// 256 KiB); requests above it go to the upstream.
  std::size_t largest_class = 32 << 10;
  /// Bytes of a page heap span (a power of two, 4 KiB to 16 MiB): 256 pages,
  /// one to eight lines of them its header. Classes above 1 KiB are runs of
  /// these pages; a class larger than a span's free pages (16,256 bytes at
  /// 16 KiB) takes pages of a second heap whose spans are four times as
  /// large, and one larger than those (65,024 bytes) goes to the upstream.
  /// A block above 1 KiB is whole pages, so it wastes less than a page:
  /// 12% at most with 128-byte pages, a third just above 1 KiB with the
  /// 512-byte pages of 128 KiB spans.
  /// Small spans go back to the upstream sooner: on the mixed working set,
  /// 16 KiB held 0.04 less per byte live than 64 KiB, and took 3-7% more
  /// time per step; 64 KiB is the faster choice where memory matters less.
  std::size_t span_size = 16 << 10;
  /// Bytes of a slab span, for the classes up to 1 KiB (a power of two,
  /// 4 KiB to 16 MiB). Classes too large to fit 8 blocks in it get
  /// proportionally larger spans. Small spans keep the part-empty spans of
  /// each class small: 64 KiB here held 0.08 more per byte live on the
  /// benchmarks' mixed working set. deallocate() knows this default as a
  /// constant; another size costs each slab block's deallocation a call.
  std::size_t slab_span_size = 16 << 10;
  /// Empty slab spans per class that deallocation keeps for reuse at first;
  /// a span that empties beyond these goes back to the upstream at once, so
  /// the memory held follows the blocks in use rather than their peak. Four
  /// 16 KiB spans keep what one 64 KiB span did: a container built and
  /// dropped over and over does not call the upstream each time.
  std::size_t max_empty_spans = 4;
  /// How far a class's list of empty slab spans grows once the class has
  /// shown that its peak comes back: each span it takes from the upstream
  /// after giving one back (a round trip) lets it keep one more, up to this
  /// many times max_empty_spans (1, or 0, turns the growth off; so does
  /// max_empty_spans 0). reclaim() sets a class it reaches back to
  /// max_empty_spans. Four times four 16 KiB spans (256 KiB a class) hold the
  /// peak of a request that builds and drops 2,000 72-byte nodes, ten spans.
  std::size_t empty_spans_growth = 4;
  /// Empty page heap spans that deallocation keeps for reuse, in each of
  /// the two page heaps. One kept absorbs a burst.
  std::size_t max_empty_page_spans = 1;
  /// Empty spans per class, and of each page heap, that reclaim() keeps (at
  /// most max_empty_spans and max_empty_page_spans). A class's current span
  /// counts among them when no block of it is in use, so with 0, reclaim()
  /// leaves no empty span at all.
  std::size_t keep_empty_spans = 0;
  /// How long an empty span (slab or page heap) stays for reuse before it
  /// goes back to the upstream; 0 gives it back when it empties (but for
  /// keep_empty_spans), kNeverDecay keeps it until reclaim(). A class whose
  /// empty span decays stops keeping the extra ones its list grew to. Checked
  /// on the slow paths and by decay(); see strata/decay.h.
  decay_time decay = kDefaultDecay;
  /// Where decay reads the time; null is the steady clock. Must outlive the
  /// resource.
  const decay_clock* clock = nullptr;
};

/// The counters of one size class.
struct size_class_stats {
  std::size_t block_size = 0;
  std::size_t blocks_in_use = 0;
  /// Slab classes: free or not yet carved, in held spans. Classes above
  /// 1 KiB: blocks of the class the page heap's free runs could hold now
  /// (the classes share those runs).
  std::size_t blocks_free = 0;
  /// Slab spans of the class; 0 above 1 KiB, where classes share the page
  /// heap's spans.
  std::size_t spans = 0;
};

/// A snapshot of a size_class_resource's counters.
struct size_class_resource_stats {
  /// One entry per class, smallest first.
  std::vector<size_class_stats> classes;
  /// Bytes users asked for and hold now (classes and large requests).
  std::size_t bytes_in_use = 0;
  /// Bytes held from the upstream: spans and large requests.
  std::size_t bytes_held = 0;
  /// The most bytes held from the upstream at once since construction,
  /// counted after each call that takes memory from it. While a page heap
  /// grows its node array the upstream briefly holds the old copy too,
  /// which this does not count (at most a few KiB).
  std::size_t peak_bytes_held = 0;
  /// Allocations that took a span or a block from the upstream since
  /// construction: each new slab or page heap span, and each block the
  /// upstream serves directly (see large_blocks); not the page heap's
  /// growth of its own node array (it doubles, so it is rare), nor a call
  /// that failed. Spans that thrash between the upstream and the resource
  /// show here; a larger max_empty_spans, empty_spans_growth or
  /// max_empty_page_spans keeps them. The allocations served from memory
  /// already held, the hits, are not counted: the count costs the fast path an
  /// add, which made a driver of the UnorderedMapString benchmark about 2%
  /// slower (61.3-62.7 rather than 60.4-61.3 ns per element, the six lowest of
  /// 14 alternated runs).
  std::size_t misses = 0;
  /// Bytes lost to rounding up to a class, in blocks in use.
  std::size_t internal_waste = 0;
  /// Blocks the upstream serves directly, live now: requests above the
  /// largest class or too large for a big page heap span, and requests
  /// aligned more strictly than any class that holds them. Their classes'
  /// entries do not count them.
  std::size_t large_blocks = 0;
  /// The page heaps that serve the classes above 1 KiB: spans of both,
  /// pages counted in the small heap's page_size (a big heap page is two
  /// with the default span_size).
  std::size_t page_size = 0;
  std::size_t page_spans = 0;
  std::size_t pages_in_use = 0;
  std::size_t pages_free = 0;  ///< in held page spans
};

/// A slab allocator; see the comment at the top of this file.
class size_class_resource final
    : public internal::resource_base<size_class_resource>,
      public reclaimable {
 public:
  /// Builds the class table and takes nothing from `upstream` (which must
  /// outlive it) until the first allocation. Throws std::invalid_argument
  /// naming the problem for an invalid class list or option.
  explicit size_class_resource(
      const size_class_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  size_class_resource(const size_class_resource&) = delete;
  size_class_resource& operator=(const size_class_resource&) = delete;
  /// Gives every span and large block back to the upstream.
  ~size_class_resource() override;

  /// A block of the class for (bytes, alignment). Cost when the class's
  /// current span has room: one table lookup and a pop from its free list or
  /// a bump of its carve point. Otherwise out of line: switch span, or a new
  /// span. (sentinel_, the span of a request no class serves, never has
  /// room, so those need no test of their own here.)
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    void* p = take_block(current_for(bytes, alignment), bytes);
    if (ABSL_PREDICT_FALSE(p == nullptr)) {
      return next_span_or_slow(bytes, alignment);
    }
    checked_.on_allocate(p, bytes, alignment);
    return p;
  }

  /// Puts the block on its span's free list. Cost, for a slab block whose
  /// class has slab_span_size spans (all up to 1 KiB by default): a mask
  /// and a shift of the address to find the span, one push; the first block
  /// freed into a full span goes out of line to list the span again, as do
  /// other classes' blocks (through the class table) and larger blocks.
  /// With a slab_span_size other than the default, those blocks also go out
  /// of line, to the same code with the span size read from the resource.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    checked_.on_deallocate(p, bytes, alignment);
    if (ABSL_PREDICT_TRUE(bytes - 1 < default_span_limit_ &&
                          alignment <= kSmallAlignment)) {
      push_free(p, bytes, kDefaultSlabMask, color_shift_for(kDefaultSlabMask));
      return;
    }
    deallocate_slow(p, bytes, alignment);
  }

  /// Bytes held from the upstream that reclaim() can give back: the empty
  /// spans kept for reuse (slab spans per class, and the page heap's), but
  /// for keep_empty_spans of each. Free blocks and pages in spans that still
  /// hold a block in use cannot go back and are not counted; stats() shows
  /// them. Nor is a current span with no block in use, which reclaim() gives
  /// back when keep_empty_spans is 0: knowing it is empty would cost the
  /// fast paths a write, so reclaim() may free up to one span per class more
  /// than this says.
  [[nodiscard]] std::size_t cached_bytes() const noexcept override;
  /// Gives empty spans back (all but keep_empty_spans per class, counting
  /// the current span when it is empty; it goes last, and only when none
  /// are kept), within the request.
  reclaim_result reclaim(const reclaim_request& request) noexcept override;
  /// One thread at a time: only the thread using the resource may reclaim.
  [[nodiscard]] bool reclaim_is_thread_safe() const noexcept override {
    return false;
  }
  /// Gives back the empty spans that have been empty longer than
  /// options().decay, but for keep_empty_spans of each class and heap, and
  /// returns the bytes given back. The slow paths call it every decay / 8;
  /// a thread that goes idle may call it, on the thread using the resource.
  std::size_t decay() noexcept;

  /// The block size of the class that serves (bytes, alignment); 0 when the
  /// upstream serves it, or when `alignment` is not a power of two (which
  /// allocate() rejects).
  [[nodiscard]] std::size_t class_size_for(
      std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) const noexcept;
  /// The block sizes, smallest first.
  [[nodiscard]] std::vector<std::size_t> class_sizes() const;

  /// A snapshot of the counters. It walks the spans: not for a hot loop, and
  /// only on the thread using the resource (cached_bytes() is the call that
  /// any thread may make).
  [[nodiscard]] size_class_resource_stats stats() const;
  /// Bytes held from the upstream now (spans and large blocks): a snapshot
  /// that any thread may take, unlike stats().
  [[nodiscard]] std::size_t bytes_held() const noexcept { return held_now(); }
  /// The options, normalised; `classes` is empty here (see class_sizes()).
  [[nodiscard]] const size_class_options& options() const noexcept {
    return options_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  // The header near the end of every span; what deallocation reads and
  // writes is on its first cache line.
  struct span {
    void* free;        // free list of this span's blocks
    std::byte* carve;  // blocks from here to `end` were never handed out
    std::byte* end;    // end of the block area, whole blocks from the start
    // Blocks in use (the low kLiveBits) and the bytes asked for in them
    // (above, for stats()): one add on each fast path, and no counter that
    // every call shares.
    std::uint64_t usage;
    span* prev;  // in the class's partial list (listed == true)
    span* next;
    std::uint32_t klass;
    std::uint32_t size;  // block size (the carve's step)
    bool current;        // its class's current span
    bool listed;         // on the partial list
    bool empty_listed;   // on the empty list
    // Who made the span (the low half of the resource's hardening key): in
    // the padding of the first line, which every free touches already.
    std::uint32_t owner;
    span* all_prev;  // in the class's list of every span
    span* all_next;
    std::int64_t idle_since;  // when it joined the empty list (decay's clock)
  };

  // What the slow paths need to know of a slab class, two to a cache line
  // (the alignment keeps an entry from straddling two).
  struct alignas(32) class_info {
    span* current;              // serves allocations; sentinel_ until used
    std::uint32_t size;         // block size
    std::uint32_t color_shift;  // color_shift_for(span_mask)
    std::size_t span_mask;      // span size - 1
  };
  static_assert(sizeof(class_info) == 32);

  // Per-class span lists, off the fast path.
  struct class_spans {
    span* partial = nullptr;       // spans with free blocks, not current: the
    span* partial_back = nullptr;  // first listed first
    span* empty = nullptr;         // spans with no block in use, not current
    std::size_t empties = 0;
    // Empty spans the list keeps: max_empty_spans, plus one for each round
    // trip (a span taken from the upstream after one was given back), up to
    // max_grown_empties(); reclaim() sets it back.
    std::size_t max_empties = 0;
    // Spans given back since the class last took one: round trips to come.
    std::size_t given_back = 0;
    span* all = nullptr;  // every span of the class
    std::size_t count = 0;
    std::size_t span_size = 0;
  };

  // Slab classes are those up to kSmallLimit (where the fast path's tables
  // end); the page heap serves the classes above. Measured on the mixed
  // working set: slabs only to 512 bytes held 0.01-0.03 less per byte live
  // but took 20% more time per step.
  static constexpr std::size_t kSmallLimit = 1024;    // 8-byte steps up to here
  static constexpr std::size_t kSmallAlignment = 16;  // rows for 0 .. this
  // The default slab span, which deallocate() knows inline.
  static constexpr std::size_t kDefaultSlabMask =
      size_class_options{}.slab_span_size - 1;
  static constexpr std::size_t kRowEntries = kSmallLimit / 8;
  // Bit a: alignment a takes the fast path (1, 2, 4, 8, 16).
  static constexpr std::uint32_t kFastAlignments = 0x10116;
  static constexpr std::size_t kLargeStep = 128;  // 128-byte steps above
  static constexpr std::size_t kNoHeapClass = ~std::size_t{0};
  // Span headers start on one of kColors lines below a span's last two.
  static constexpr std::size_t kColors = 8;
  static constexpr std::size_t kHeaderLine = 64;
  static_assert(sizeof(span) <= 2 * kHeaderLine, "a header fits its lines");
  static_assert(offsetof(span, current) < kHeaderLine,
                "what deallocation touches is on the header's first line");

  // The slab class that serves (bytes, alignment), or no_class_ when no
  // slab class does: sizes above 1 KiB (the page heap or the upstream),
  // alignments that are not powers of two (which throw) or above
  // kSmallAlignment. One lookup: small_index_ has a row per alignment
  // (those that are not powers of two name no_class_), so the row already
  // skips classes whose blocks are not aligned enough.
  [[nodiscard]] std::size_t class_of(std::size_t bytes,
                                     std::size_t alignment) const noexcept {
    if (ABSL_PREDICT_TRUE(bytes - 1 < kSmallLimit &&
                          alignment <= kSmallAlignment)) {
      return small_index_[alignment * kRowEntries + ((bytes - 1) >> 3)];
    }
    return no_class_;
  }
  // The current span of the slab class that serves (bytes, alignment), or
  // sentinel_ (no room) when the request goes out of line, as class_of()
  // would send it: one load, from current_'s row for the alignment.
  // Alignments up to 8 share a row (every class is a multiple of 8).
  [[nodiscard]] span* current_for(std::size_t bytes,
                                  std::size_t alignment) noexcept {
    if (ABSL_PREDICT_TRUE(bytes - 1 < kSmallLimit &&
                          alignment <= kSmallAlignment &&
                          ((kFastAlignments >> alignment) & 1) != 0)) {
      return current_[alignment / kSmallAlignment][(bytes - 1) >> 3];
    }
    return &sentinel_;
  }
  // The span holding `p` starts at `p` rounded down to the span size.
  // Pointer arithmetic from `p` (not an integer cast back to a pointer)
  // keeps the compiler's aliasing knowledge.
  [[nodiscard]] static std::byte* span_start(void* p,
                                             std::size_t mask) noexcept {
    return static_cast<std::byte*>(p) -
           (reinterpret_cast<std::uintptr_t>(p) & mask);
  }
  // The header of the span holding `p` (any address in it): on the line
  // that bits 1-3 of the span's number (its address over its size) pick,
  // below the span's last two lines. Neighbouring spans, and spans every
  // other one apart (glibc places 16 KiB aligned blocks 32 KiB apart), use
  // all eight lines. Three operations from `p`: a hash of the address (a
  // multiply) made the fixed 64 B loop, whose next allocation waits on
  // this address, 10% slower.
  [[nodiscard]] static span* header_of(void* p, std::size_t mask,
                                       unsigned color_shift) noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    const std::size_t color_bytes =
        (address >> color_shift) & ((kColors - 1) * kHeaderLine);
    // An integer back to a pointer: pointer arithmetic from `p` took two
    // operations more, which the compiler did not reorder away.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    return reinterpret_cast<span*>((address | mask) -
                                   (2 * kHeaderLine - 1 + color_bytes));
  }
  // A span's usage: blocks in use below kLiveBits (a span holds at most
  // 16 MiB / 8 bytes = 2^21 blocks), the bytes asked for above, where a
  // size given wrongly at deallocation skews the byte count (as a total of
  // bytes would) but cannot borrow from the block count.
  static constexpr unsigned kLiveBits = 24;
  static constexpr std::uint64_t kLiveMask =
      (std::uint64_t{1} << kLiveBits) - 1;
  [[nodiscard]] static std::uint64_t usage_of(std::size_t bytes) noexcept {
    return (std::uint64_t{bytes} << kLiveBits) + 1;
  }
  [[nodiscard]] static std::size_t live_of(const span* s) noexcept {
    return static_cast<std::size_t>(s->usage & kLiveMask);
  }
  // Blocks of `size` bytes that a span holds: those below its header.
  [[nodiscard]] static std::size_t capacity_of(const span* s, std::size_t mask,
                                               std::size_t size) noexcept {
    return (reinterpret_cast<std::uintptr_t>(s) & mask) / size;
  }
  // header_of()'s shift for spans of mask + 1 bytes: the span number's bit
  // 1 lands on the line size's bit.
  [[nodiscard]] static constexpr unsigned color_shift_for(
      std::size_t mask) noexcept {
    return static_cast<unsigned>(std::bit_width(mask)) + 1 -
           static_cast<unsigned>(std::countr_zero(kHeaderLine));
  }

  // A block of span `s` for `bytes`, counted in its usage: a pop from its
  // free list or a bump of its carve point; nullptr when it is full
  // (sentinel_ always is). The body of the fast path, and of the slow
  // path's loop over a class's spans. Under AddressSanitizer, exactly the
  // bytes asked for come out addressable (a free block's link only while
  // it is read), so a write past them is reported.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void* take_block(
      span* s, std::size_t bytes) noexcept {
    void* p = s->free;
    if (ABSL_PREDICT_TRUE(p != nullptr)) {
      STRATA_UNPOISON(p, sizeof(void*));
      s->free = *static_cast<void**>(p);
      STRATA_POISON(p, sizeof(void*));
    } else if (s->carve < s->end) {
      // A fresh span: bump, touching no block (`end` is a whole number of
      // blocks from the span's start, so any room left holds a block).
      p = s->carve;
      s->carve += s->size;
      // Spans are never at 0: the caller's null test folds away here.
      ABSL_ASSUME(p != nullptr);
    } else {
      return nullptr;
    }
    if constexpr (internal::kHardened) clear_freed_tag(s, p);
    STRATA_UNPOISON(p, bytes);
    s->usage += usage_of(bytes);
    return p;
  }

  // Hardened builds: a freed block of 16 bytes or more carries a tag in its
  // second word (the first holds the free-list link). Blocks are poisoned
  // beyond the bytes asked for, so the word is unpoisoned around each touch.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void clear_freed_tag(span* s,
                                                           void* p) noexcept {
    if (ABSL_PREDICT_TRUE(s->size >= 2 * sizeof(std::uintptr_t))) {
      auto* word = static_cast<std::uintptr_t*>(p) + 1;
      STRATA_UNPOISON(word, sizeof(*word));
      *word = 0;
      STRATA_POISON(word, sizeof(*word));
    }
  }
  // Reports a block the span's owner, its count or its size says cannot be
  // in use (foreign pointer, double free, wrong size), then tags it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void check_free(
      span* s, void* p, std::size_t bytes) const noexcept {
    if (ABSL_PREDICT_FALSE(s->owner != owner_tag() || live_of(s) == 0 ||
                           bytes > s->size)) {
      report_bad_free(s, p, bytes);
    }
    if (ABSL_PREDICT_TRUE(s->size >= 2 * sizeof(std::uintptr_t))) {
      auto* word = static_cast<std::uintptr_t*>(p) + 1;
      STRATA_UNPOISON(word, sizeof(*word));
      internal::tag_freed("size_class_resource", p, word, hardening_key_);
    }
  }
  [[nodiscard]] std::uint32_t owner_tag() const noexcept {
    return static_cast<std::uint32_t>(hardening_key_);
  }
  [[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void report_bad_free(
      const span* s, const void* p, std::size_t bytes) const noexcept;

  // Puts `p` back on its span's free list. A span whose last block in use
  // comes back starts afresh: its free list is dropped and blocks are carved
  // from its start again, so the next allocations are sequential and read no
  // stale link (a container built and dropped over and over then touches
  // memory like an arena). The current span does that inline; another span
  // that empties, or that was full (this is its first free block), moves
  // between lists out of line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void push_free(void* p, std::size_t bytes,
                                              std::size_t span_mask,
                                              unsigned color_shift) noexcept {
    span* s = header_of(p, span_mask, color_shift);
    if constexpr (internal::kHardened) check_free(s, p, bytes);
    s->usage -= usage_of(bytes);
    if (ABSL_PREDICT_FALSE(live_of(s) == 0)) {
      STRATA_POISON(p, s->size);
      if (s->current) {
        s->free = nullptr;
        s->carve = span_start(p, span_mask);
      } else {
        relist(s);
      }
      return;
    }
    void* old = s->free;
    STRATA_UNPOISON(p, sizeof(void*));  // a caller may have poisoned it
    *static_cast<void**>(p) = old;
    s->free = p;
    STRATA_POISON(p, s->size);
    if (ABSL_PREDICT_FALSE(old == nullptr)) {
      if (!s->current) relist(s);
    }
  }

  ABSL_ATTRIBUTE_NOINLINE void* allocate_slow(std::size_t bytes,
                                              std::size_t alignment);
  // The fast path's way out: the class's current span is full (a span
  // switch), or no slab class serves the request (allocate_slow).
  ABSL_ATTRIBUTE_NOINLINE void* next_span_or_slow(std::size_t bytes,
                                                  std::size_t alignment);
  ABSL_ATTRIBUTE_NOINLINE void deallocate_slow(void* p, std::size_t bytes,
                                               std::size_t alignment) noexcept;
  // Inline into the slow paths (defined in the .cc, used only there): as
  // calls, the mixed working set took about 3% more time per step (the
  // faster half of alternated runs: 23.4-23.8 vs 22.5-23.2 ns).
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t aligned_class(
      std::size_t bytes, std::size_t alignment) const noexcept;
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t heap_class(
      std::size_t bytes, std::size_t alignment) const noexcept;
  void* allocate_from_class(std::size_t c, std::size_t bytes);
  // max_empty_spans * empty_spans_growth, saturated: the most empty spans
  // a class's list grows to keep. Worked out when a class takes a span.
  [[nodiscard]] std::size_t max_grown_empties() const noexcept;
  void* allocate_large(std::size_t bytes, std::size_t alignment);
  // Bytes held from the upstream now: slab spans, large blocks and both
  // page heaps; note_held() raises peak_held_ to it.
  [[nodiscard]] std::size_t held_now() const noexcept;
  void note_held() noexcept;
  span* new_span(std::size_t c);
  void free_span(span* s) noexcept;
  ABSL_ATTRIBUTE_NOINLINE void relist(span* s) noexcept;
  void link_partial(span* s) noexcept;
  // Makes `s` class `c`'s current span, in classes_, current_ and both
  // spans' `current` flags.
  void set_current(std::size_t c, span* s) noexcept;
  void unlink_partial(span* s) noexcept;
  void unlink_empty(span* s) noexcept;
  // Runs decay() if decay / 8 has passed since it last ran; `now` is the
  // time on options_.clock.
  void decay_if_due(std::chrono::nanoseconds now) noexcept;
  std::size_t decay_at(std::chrono::nanoseconds now) noexcept;
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept {
    return clock_->now();
  }

  size_class_options options_;
  const decay_clock* clock_;
  std::chrono::nanoseconds decay_tick_{0};  // decay / 8
  std::chrono::nanoseconds last_decay_{0};
  std::pmr::memory_resource* upstream_;
  std::vector<std::size_t> sizes_;  // every class, slab and page heap
  std::size_t largest_ = 0;         // sizes_.back()
  // The slab classes (at most one per 8 bytes up to kSmallLimit).
  std::array<class_info, kRowEntries> classes_{};
  std::vector<class_spans> spans_;  // per slab class
  std::size_t no_class_ = 0;        // the number of slab classes: none
  // Every (bytes, alignment) with 1 <= bytes <= uniform_limit_ and a power
  // of two alignment up to kSmallAlignment is served by a slab class whose
  // spans are slab_span_size, slab_mask_ + 1: deallocation finds their
  // headers from the address alone.
  std::size_t uniform_limit_ = 0;
  std::size_t slab_mask_ = 0;
  unsigned slab_color_shift_ = 0;
  // uniform_limit_ when slab_span_size is the default, else 0: the sizes
  // whose span deallocate() finds inline, with the span size a constant.
  // Read from the resource, the mask and shift took the UnorderedMapString
  // teardown 6.1-6.2 rather than 5.7 ns per element (a driver of the
  // benchmark, alternated).
  std::size_t default_span_limit_ = 0;
  // Size to slab class for 1 .. kSmallLimit bytes in 8-byte steps: entry
  // a * kRowEntries + (bytes - 1) / 8 for alignment a. 2 KiB.
  std::uint8_t small_index_[(kSmallAlignment + 1) * kRowEntries] = {};
  // The fast path's allocation index: the current span of the class for
  // 1 .. kSmallLimit bytes in 8-byte steps, a row for alignments up to 8
  // and one for 16 (sentinel_ where no class serves), so allocation reaches
  // its span in one load rather than two (its class, then the class's
  // span). A span switch rewrites the class's entries: up to 16 a row with
  // the default table, up to the whole table for a custom one with few
  // classes. Measured against the two loads: UnorderedMapString 61.6 rather
  // than 62.6 ns per element (medians of 12 alternated runs); the fixed
  // 64 B loop about 0.25 ns slower (4.1-4.4 rather than 3.8-4.1 ns, at each
  // of 16 places of the object in its page), not for the alignment test
  // that this needs: a branch-free row choice measured the same. 2 KiB.
  span* current_[2][kRowEntries] = {};
  // The entries of each row of current_ that name each class.
  struct index_range {
    std::uint8_t first[2];
    std::uint8_t end[2];
  };
  std::array<index_range, kRowEntries> current_entries_{};
  // Size to page heap class (an index into sizes_), in kLargeStep steps:
  // entry i names the first class at or above (i - 1) * kLargeStep + 1, and
  // a few steps forward find the one for the size.
  std::vector<std::uint16_t> heap_index_;
  std::size_t first_heap_class_ = 0;  // in sizes_: the first above 1 KiB
  // A class of sizes_ above the slabs: its size, the page heap and pages
  // that serve it (no heap: the upstream does), and its blocks in use; all
  // that a page heap call needs, on one cache line.
  struct heap_class_info {
    internal::page_heap* heap = nullptr;
    std::uint32_t size = 0;
    std::uint32_t pages = 0;
    std::size_t blocks = 0;
  };
  std::vector<heap_class_info> heap_classes_;  // per class in sizes_
  // The current span of a class with none yet, and of requests no slab
  // class serves: it never has room.
  span sentinel_{};

  // Asked for, in page heap blocks (slab spans count their own).
  std::size_t heap_requested_bytes_ = 0;
  // The most held at once, raised by note_held() after each call that can
  // take memory from the upstream (all off the fast paths).
  std::size_t peak_held_ = 0;
  // Slab spans and large blocks taken from the upstream, ever (the page
  // heaps count their own spans): stats().misses.
  std::size_t upstream_taken_ = 0;
  // The one thread using the resource writes these; cached_bytes() reads
  // reclaimable_bytes_ from any thread (a governor's, a monitor's), and
  // stats() held_bytes_ on the owning thread.
  // Empty spans beyond keep_empty_spans per class: what reclaim() frees.
  internal::owner_counter reclaimable_bytes_;
  internal::owner_counter held_bytes_;  // slab spans and large blocks
  // Classes above 1 KiB: heap_ serves those that fit its span (span_size),
  // big_heap_ the larger ones, in spans four times as large.
  internal::page_heap heap_;
  internal::page_heap big_heap_;
  internal::passthrough_blocks large_;

  const std::uintptr_t hardening_key_ =
      internal::kHardened ? internal::new_hardening_key(this) : 0;
  [[no_unique_address]] internal::block_checker checked_{"size_class_resource"};
  // A pool's slabs: it checks its own callers.
  friend class sync_pool_resource;
};

}  // namespace strata

#endif  // STRATA_SIZE_CLASS_RESOURCE_H_
