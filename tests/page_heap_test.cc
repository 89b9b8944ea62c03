// Tests of strata::internal::page_heap, the coalescing page heap that serves
// size_class_resource's classes above 1 KiB.
//
//   pages and spans    RunsArePagesAlignedToAPage
//   best fit           TheShortestRunThatFitsIsTaken
//   merging            FreedNeighboursMergeIntoOneRun,
//                      AnEmptiedSpanServesTheLongestRequestAgain
//   empty spans        EmptySpansBeyondMaxGoBackAtOnce
//   reclaim            ReclaimGivesBackEmptySpansKeepingAFew
//   upstream failure   AFailedAllocationLeavesTheUpstreamAsItWas
//   against a model    RandomRunsNeverOverlapAndAllMerge
//   AddressSanitizer   FreePagesArePoisoned
// size_class_resource_test checks it through the resource.

#include "strata/internal/page_heap.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/internal/config.h"

#include "testing/checker.h"

namespace strata::internal {
namespace {

constexpr std::size_t kSpan = 64 << 10;

class PageHeapTest : public testing::UpstreamCheckedTest {
 protected:
  page_heap make(std::size_t max_empty = 1, std::size_t keep = 0) {
    return page_heap(kSpan, max_empty, keep, &upstream_);
  }
  static std::uintptr_t address(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p);
  }
};

// The header's line is one of a line per 8 KiB of span (one to eight), set
// aside in whole pages of at least 128 bytes: at most 1/128 of a span of
// 16 KiB or more. A span's free pages serve a whole-span block at every
// size.
TEST_F(PageHeapTest, TheHeaderSetsAsideALinePer8KiBOfSpan) {
  const std::pair<std::size_t, std::size_t> cases[] = {
      {4 << 10, 31},    // 32 pages of 128 bytes, one line: 1 page
      {16 << 10, 127},  // 128 pages of 128 bytes, two lines: 1 page
      {64 << 10, 254},  // 256-byte pages, eight lines
      {1 << 20, 255},   // 4 KiB pages, eight lines: one page
  };
  for (const auto& [span, usable] : cases) {
    page_heap heap(span, 0, 0, &upstream_);
    EXPECT_EQ(heap.max_pages(), usable) << span;
    void* whole = heap.allocate(usable);
    EXPECT_EQ(address(whole) % span, 0u);
    std::memset(whole, 1, usable * heap.page_size());
    heap.deallocate(whole, usable);
    EXPECT_EQ(heap.stats().spans, 0u) << "given back at once";
    heap.release();
  }
}

TEST_F(PageHeapTest, RunsArePagesAlignedToAPage) {
  page_heap heap = make();
  EXPECT_EQ(heap.page_size(), kSpan / 256);
  EXPECT_EQ(heap.pages_for(1), 1u);
  EXPECT_EQ(heap.pages_for(256), 1u);
  EXPECT_EQ(heap.pages_for(257), 2u);
  ASSERT_GT(heap.max_pages(), 240u);
  ASSERT_LT(heap.max_pages(), 256u);  // the header takes the last pages

  void* a = heap.allocate(1);
  void* b = heap.allocate(3);
  EXPECT_EQ(address(a) % heap.page_size(), 0u);
  // Blocks are cut from the end of a free run, so what stays free keeps
  // its first page: the second block ends where the first begins.
  EXPECT_EQ(address(b) + 3 * heap.page_size(), address(a)) << "the run before";
  std::memset(a, 1, heap.page_size());
  std::memset(b, 2, 3 * heap.page_size());
  void* whole = heap.allocate(heap.max_pages());  // a span of its own
  EXPECT_EQ(address(whole) % kSpan, 0u);
  EXPECT_EQ(heap.stats().spans, 2u);
  EXPECT_EQ(heap.held_bytes(), upstream_.bytes_in_use());

  heap.deallocate(whole, heap.max_pages());  // kept: one empty span
  heap.deallocate(b, 3);
  heap.deallocate(a, 1);  // empties a second span: beyond max_empty_spans
  EXPECT_EQ(heap.stats().spans, 1u);
  heap.release();
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(PageHeapTest, TheShortestRunThatFitsIsTaken) {
  page_heap heap = make();
  std::vector<void*> runs;
  for (int i = 0; i < 10; ++i) runs.push_back(heap.allocate(4));
  heap.deallocate(runs[6], 4);  // an 8-page hole
  heap.deallocate(runs[7], 4);
  heap.deallocate(runs[2], 4);  // a 4-page hole
  // Blocks go down from the span's end: the rest of the span, below
  // runs[9], is the longest run of all; the 8-page hole starts at runs[7].
  EXPECT_EQ(heap.allocate(4), runs[2]) << "exact fit first";
  void* five = heap.allocate(5);
  EXPECT_EQ(address(five), address(runs[7]) + 3 * heap.page_size())
      << "then the end of the 8-page hole";
  void* three = heap.allocate(3);
  EXPECT_EQ(three, runs[7]) << "what the 8-page hole had left";
  heap.deallocate(three, 3);
  heap.deallocate(five, 5);
  heap.deallocate(runs[2], 4);
  for (const std::size_t i : {0u, 1u, 3u, 4u, 5u, 8u, 9u}) {
    heap.deallocate(runs[i], 4);
  }
  const page_heap::stats_snapshot s = heap.stats();
  EXPECT_EQ(s.pages_in_use, 0u);
  EXPECT_EQ(s.runs[heap.max_pages()], 1u) << "one whole free run";
  heap.release();
}

TEST_F(PageHeapTest, FreedNeighboursMergeIntoOneRun) {
  page_heap heap = make();
  void* a = heap.allocate(5);
  void* b = heap.allocate(5);
  void* c = heap.allocate(5);
  void* d = heap.allocate(5);  // keeps the span from emptying
  heap.deallocate(a, 5);
  heap.deallocate(c, 5);
  page_heap::stats_snapshot s = heap.stats();
  EXPECT_EQ(s.runs[5], 2u);
  heap.deallocate(b, 5);  // merges with both
  s = heap.stats();
  EXPECT_EQ(s.runs[5], 0u);
  EXPECT_EQ(s.runs[15], 1u);
  EXPECT_EQ(s.pages_in_use, 5u);
  // Blocks go down from the span's end, so c is the lowest of the three.
  EXPECT_EQ(heap.allocate(15), c) << "the merged run serves a longer block";
  EXPECT_EQ(heap.stats().spans, 1u);
  heap.deallocate(c, 15);
  heap.deallocate(d, 5);
  heap.release();
}

TEST_F(PageHeapTest, AnEmptiedSpanServesTheLongestRequestAgain) {
  page_heap heap = make();
  struct run {
    void* p;
    std::size_t pages;
  };
  std::vector<run> runs;
  std::size_t pages = 0;
  std::mt19937 rng(7);
  while (pages + 10 <= heap.max_pages()) {
    const std::size_t n = 1 + rng() % 10;
    runs.push_back({heap.allocate(n), n});
    pages += n;
    std::memset(runs.back().p, 3, n * heap.page_size());
  }
  ASSERT_EQ(heap.stats().spans, 1u);
  const std::uintptr_t span_start = address(runs.front().p) & ~(kSpan - 1);
  // Free in a shuffled order: every order must merge back to one run.
  std::shuffle(runs.begin(), runs.end(), rng);
  for (const run& r : runs) heap.deallocate(r.p, r.pages);
  const std::size_t calls = upstream_.stats().allocations;
  void* whole = heap.allocate(heap.max_pages());
  EXPECT_EQ(address(whole), span_start);
  EXPECT_EQ(upstream_.stats().allocations, calls) << "no new span";
  heap.deallocate(whole, heap.max_pages());
  heap.release();
}

TEST_F(PageHeapTest, EmptySpansBeyondMaxGoBackAtOnce) {
  page_heap heap = make(/*max_empty=*/2);
  std::vector<void*> spans;
  for (int i = 0; i < 5; ++i) spans.push_back(heap.allocate(heap.max_pages()));
  for (void* p : spans) heap.deallocate(p, heap.max_pages());
  EXPECT_EQ(heap.stats().spans, 2u);
  EXPECT_EQ(upstream_.bytes_in_use() - heap.held_bytes(), 0u);
  EXPECT_EQ(heap.cached_bytes(), 2 * kSpan) << "keep_empty_spans is 0";
  reclaim_result result;
  heap.reclaim({}, deadline(std::chrono::seconds(10)), result);
  EXPECT_EQ(result.bytes_freed, 2 * kSpan);
  EXPECT_EQ(heap.stats().spans, 0u);
  EXPECT_EQ(heap.cached_bytes(), 0u);
  heap.release();
}

TEST_F(PageHeapTest, ReclaimGivesBackEmptySpansKeepingAFew) {
  page_heap heap = make(/*max_empty=*/4, /*keep=*/1);
  std::vector<void*> spans;
  for (int i = 0; i < 4; ++i) spans.push_back(heap.allocate(heap.max_pages()));
  for (void* p : spans) heap.deallocate(p, heap.max_pages());
  EXPECT_EQ(heap.cached_bytes(), 3 * kSpan);
  reclaim_result some;
  heap.reclaim({.bytes = 1}, deadline(std::chrono::seconds(10)), some);
  EXPECT_EQ(some.bytes_freed, kSpan);
  EXPECT_TRUE(some.more_remains);
  reclaim_result rest;
  heap.reclaim({}, deadline(std::chrono::seconds(10)), rest);
  EXPECT_EQ(rest.bytes_freed, 2 * kSpan);
  EXPECT_FALSE(rest.more_remains);
  EXPECT_EQ(heap.stats().spans, 1u);
  EXPECT_EQ(heap.cached_bytes(), 0u);
  // The kept span serves without a call upstream.
  const std::size_t calls = upstream_.stats().allocations;
  void* p = heap.allocate(7);
  EXPECT_EQ(upstream_.stats().allocations, calls);
  heap.deallocate(p, 7);
  heap.release();
}

TEST_F(PageHeapTest, AFailedAllocationLeavesTheUpstreamAsItWas) {
  // The first call upstream is a span, the second the node array.
  for (std::size_t fail = 1; fail <= 2; ++fail) {
    page_heap heap = make();
    upstream_.fail_after(fail);
    EXPECT_THROW((void)heap.allocate(4), std::bad_alloc) << fail;
    EXPECT_EQ(upstream_.bytes_in_use(), 0u) << fail;
    EXPECT_EQ(heap.held_bytes(), 0u) << fail;
    upstream_.fail_after(0);
    void* p = heap.allocate(4);  // and it still works
    heap.deallocate(p, 4);
    heap.release();
  }
}

// Random runs against a byte-per-page model of who owns which page: runs
// never overlap, the counts match, and freeing everything merges each span
// back into one run.
TEST_F(PageHeapTest, RandomRunsNeverOverlapAndAllMerge) {
  page_heap heap = make(/*max_empty=*/100);
  struct run {
    std::byte* p;
    std::size_t pages;
  };
  std::vector<run> live;
  std::mt19937 rng(11);
  std::size_t pages_in_use = 0;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      const std::size_t n =
          1 + rng() % (rng() % 8 == 0 ? heap.max_pages() : 20);
      auto* p = static_cast<std::byte*>(heap.allocate(n));
      std::memset(p, static_cast<int>(live.size() % 251), n * heap.page_size());
      live.push_back({p, n});
      pages_in_use += n;
    } else {
      const std::size_t i = rng() % live.size();
      const run r = live[i];
      const auto mark = static_cast<std::byte>(i % 251);
      // Nobody wrote over it while it was live.
      for (std::size_t b = 0; b < r.pages * heap.page_size(); b += 97) {
        ASSERT_EQ(r.p[b], mark) << "step " << step;
      }
      heap.deallocate(r.p, r.pages);
      pages_in_use -= r.pages;
      live[i] = live.back();
      live.pop_back();
      // Re-mark the block that moved into slot i.
      if (i < live.size()) {
        std::memset(live[i].p, static_cast<int>(i % 251),
                    live[i].pages * heap.page_size());
      }
    }
    if (step % 1000 == 0) {
      ASSERT_EQ(heap.stats().pages_in_use, pages_in_use) << "step " << step;
    }
  }
  for (const run& r : live) heap.deallocate(r.p, r.pages);
  const page_heap::stats_snapshot s = heap.stats();
  EXPECT_EQ(s.pages_in_use, 0u);
  EXPECT_EQ(s.runs[heap.max_pages()], s.spans) << "each span one run again";
  EXPECT_EQ(heap.held_bytes(), upstream_.bytes_in_use());
  heap.release();
}

TEST(PageHeapDeathTest, FreePagesArePoisoned) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        page_heap heap(kSpan, 1, 0, std::pmr::new_delete_resource());
        auto* p = static_cast<volatile char*>(heap.allocate(2));
        void* keep = heap.allocate(1);  // the span stays
        heap.deallocate(const_cast<char*>(p), 2);
        p[300] = 1;
        heap.deallocate(keep, 1);
      },
      "use-after-poison");
}

}  // namespace
}  // namespace strata::internal
