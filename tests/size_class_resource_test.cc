// Tests of strata::size_class_resource.
//
//   class table          DefaultTableWastesAtMostAQuarterAbove32Bytes,
//                        DefaultClassesAbove1KiBAreWholePages,
//                        EveryDefaultClassAbove1KiBTakesMorePages,
//                        CustomClassesAreUsed,
//                        EveryRequestLandsInTheClassItIsToldOf,
//                        InvalidClassListsThrowNamingTheProblem,
//                        AnyTableGoesBackAsACustomList
//   allocate/deallocate  ReusesFreedBlocksLastInFirstOut,
//                        LargeRequestsGoToTheUpstream,
//                        SpansAreAlignedSoBlocksKeepTheirAlignment,
//                        StricterAlignmentTakesALargerClass,
//                        AWarmClassStillRejectsABadAlignment
//   above 1 KiB          ClassesAbove1KiBShareMergingPages,
//                        ThePageHeapKeepsItsOwnEmptySpans,
//                        CustomClassesAbove1KiBRoundToTheClass
//   spans                FullSpansBecomePartialAgain,
//                        EveryAlignmentFollowsItsClassToANewSpan,
//                        AnEmptiedSpanCarvesFromItsStartAgain,
//                        EveryBlockGoesBackToItsOwnSpan
//   empty spans          EmptySpansBeyondMaxGoBackAtOnce,
//                        AClassWhosePeakComesBackKeepsItsSpans,
//                        EmptySpansGrowthBoundsTheGrowth,
//                        HeldMemoryFollowsTheBlocksInUse
//   reclaim              ReclaimGivesBackEmptySpansKeepingAFew,
//                        ReclaimGivesBackAnEmptyCurrentSpan
//   stats                StatsCountClassesBytesAndWaste,
//                        StatsKeepThePeakOfBytesHeld,
//                        StatsCountTheAllocationsThatWentUpstream
//   checked builds       CheckedBuildsAbortOnSizeMismatch
//   AddressSanitizer     UseAfterFreeIsReported,
//                        OnlyTheBytesAskedForAreAddressable
//   the header example   HeaderExampleWorks
// The contracts every resource keeps are in
// size_class_resource_conformance_test.

#include "strata/size_class_resource.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

class SizeClassResourceTest : public testing::UpstreamCheckedTest {};

// Whether AddressSanitizer has the byte at `address` poisoned; false in
// builds without it (config.h includes its interface when it is there).
bool is_poisoned([[maybe_unused]] std::uintptr_t address) {
#if STRATA_HAS_ASAN
  return __asan_address_is_poisoned(reinterpret_cast<void*>(address)) != 0;
#else
  return false;
#endif
}

TEST_F(SizeClassResourceTest, DefaultTableWastesAtMostAQuarterAbove32Bytes) {
  size_class_resource slabs({}, &upstream_);
  const std::vector<std::size_t> sizes = slabs.class_sizes();
  EXPECT_EQ(sizes.front(), 8u);
  EXPECT_EQ(sizes.back(), 32u << 10);
  for (std::size_t bytes = 1; bytes <= (32u << 10); ++bytes) {
    const std::size_t block = slabs.class_size_for(bytes, 8);
    ASSERT_GE(block, bytes);
    if (bytes > 32) {
      ASSERT_LE(4 * (block - bytes), block) << bytes << " -> " << block;
    }
  }
  EXPECT_EQ(slabs.class_size_for((32u << 10) + 1), 0u);
  // At 16-byte alignment, 33 bytes skips the 8-aligned class 40.
  EXPECT_EQ(slabs.class_size_for(33, 16), 48u);
}

// Above 1 KiB the default classes step by the page heap's page, which
// grows with span_size (span_size / 256): every such class is whole pages,
// and largest_class stays the last class whatever the page.
TEST_F(SizeClassResourceTest, DefaultClassesAbove1KiBAreWholePages) {
  for (const std::size_t span :
       {std::size_t{16} << 10, std::size_t{128} << 10, std::size_t{512} << 10,
        std::size_t{4} << 20, std::size_t{16} << 20}) {
    const size_class_resource slabs({.span_size = span}, &upstream_);
    const std::size_t step = std::max<std::size_t>(span / 256, 128);
    const std::vector<std::size_t> sizes = slabs.class_sizes();
    EXPECT_EQ(sizes.back(), std::size_t{32} << 10) << span;
    EXPECT_EQ(slabs.options().largest_class, std::size_t{32} << 10) << span;
    for (const std::size_t size : sizes) {
      if (size > 1024 && size < sizes.back()) {
        EXPECT_EQ(size % step, 0u) << size << " at span_size " << span;
      }
    }
    // The largest request the table names is served by a class.
    EXPECT_EQ(slabs.class_size_for(32 << 10, 8), std::size_t{32} << 10) << span;
  }
}

// No two default classes take the same pages: a block of each class above
// 1 KiB takes more of the page heaps than one of the class below it (which
// a 128-byte step did not, above 16 KiB in the big heap's 256-byte pages).
TEST_F(SizeClassResourceTest, EveryDefaultClassAbove1KiBTakesMorePages) {
  for (const std::size_t span :
       {std::size_t{16} << 10, std::size_t{64} << 10, std::size_t{512} << 10}) {
    size_class_resource slabs(
        {.largest_class = std::size_t{64} << 10, .span_size = span},
        &upstream_);
    std::size_t below = 0;
    std::size_t classes = 0;
    for (const std::size_t size : slabs.class_sizes()) {
      if (size <= 1024 || slabs.class_size_for(size, 8) != size) continue;
      void* p = slabs.allocate(size, 8);
      const std::size_t pages = slabs.stats().pages_in_use;
      slabs.deallocate(p, size, 8);
      EXPECT_GT(pages, below) << size << " at span_size " << span;
      below = pages;
      ++classes;
    }
    EXPECT_GT(classes, 1u) << span;
  }
}

TEST_F(SizeClassResourceTest, CustomClassesAreUsed) {
  const std::array<std::size_t, 4> classes = {16, 48, 96, 4096};
  size_class_resource slabs({.classes = classes}, &upstream_);
  EXPECT_EQ(slabs.class_sizes(),
            std::vector<std::size_t>(classes.begin(), classes.end()));
  EXPECT_EQ(slabs.class_size_for(17), 48u);
  EXPECT_EQ(slabs.class_size_for(97), 4096u);
  EXPECT_EQ(slabs.class_size_for(4097), 0u);
  EXPECT_EQ(slabs.options().largest_class, 4096u);
}

// Allocation finds a class's span in a table with a row for alignments up
// to 8 and one for 16, and deallocation and the slow paths in a table with a
// row per alignment; class_size_for() searches from the size. Every request
// must land in the class class_size_for() names (or go to the upstream when
// it names none), warm or cold, for the default table, a custom one with
// classes aligned to 8 only, and one with every slab class there can be
// (each multiple of 8 up to 1 KiB: 128).
TEST_F(SizeClassResourceTest, EveryRequestLandsInTheClassItIsToldOf) {
  const std::array<std::size_t, 6> odd = {24, 40, 96, 1000, 1160, 3000};
  std::vector<std::size_t> every;
  for (std::size_t size = 8; size <= 1024; size += 8) every.push_back(size);
  const std::array<std::pair<const char*, size_class_options>, 3> tables = {{
      {"default", {}},
      {"odd", {.classes = odd}},
      {"every", {.classes = every}},
  }};
  for (const auto& [table, options] : tables) {
    size_class_resource slabs(options, &upstream_);
    const std::vector<std::size_t> sizes = slabs.class_sizes();
    for (std::size_t bytes = 0; bytes <= 3100; ++bytes) {
      for (std::size_t alignment = 1; alignment <= 64; alignment *= 2) {
        const std::size_t expected = slabs.class_size_for(bytes, alignment);
        for (int warm = 0; warm < 2; ++warm) {
          void* p = slabs.allocate(bytes, alignment);
          ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
          const size_class_resource_stats s = slabs.stats();
          std::size_t landed = 0;
          for (const size_class_stats& c : s.classes) {
            if (c.blocks_in_use != 0) landed = c.block_size;
          }
          ASSERT_EQ(landed, expected)
              << table << ": " << bytes << " bytes at " << alignment;
          ASSERT_EQ(s.large_blocks, expected == 0 ? 1u : 0u);
          slabs.deallocate(p, bytes, alignment);
        }
      }
    }
    EXPECT_EQ(slabs.stats().bytes_in_use, 0u);
  }
}

TEST_F(SizeClassResourceTest, InvalidClassListsThrowNamingTheProblem) {
  auto message_for = [&](std::vector<std::size_t> classes) -> std::string {
    try {
      size_class_resource slabs({.classes = classes}, &upstream_);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  EXPECT_NE(message_for({16, 8}).find("strictly increasing"),
            std::string::npos);
  EXPECT_NE(message_for({16, 16}).find("strictly increasing"),
            std::string::npos);
  EXPECT_NE(message_for({0, 8}).find("is zero"), std::string::npos);
  EXPECT_NE(message_for({8, 20}).find("not a multiple of 8"),
            std::string::npos);
  EXPECT_NE(message_for({8, 1 << 20}).find("above"), std::string::npos);
  EXPECT_THROW(size_class_resource({.largest_class = 1000}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(size_class_resource({.span_size = 1000}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(size_class_resource({.slab_span_size = 2048}, &upstream_),
               std::invalid_argument);
}

// class_sizes() gives a table in the form `classes` takes, so a user can
// copy the default table and change one class: the default tables (208
// classes with the default largest_class, 1,104 at 256 KiB), and the largest
// table there can be, every multiple of 8 up to 256 KiB, are valid lists.
TEST_F(SizeClassResourceTest, AnyTableGoesBackAsACustomList) {
  for (const std::size_t largest :
       {std::size_t{1} << 10, std::size_t{32} << 10, std::size_t{256} << 10}) {
    const size_class_resource defaults({.largest_class = largest}, &upstream_);
    const std::vector<std::size_t> sizes = defaults.class_sizes();
    const size_class_resource copy({.classes = sizes}, &upstream_);
    EXPECT_EQ(copy.class_sizes(), sizes);
    for (std::size_t bytes = 1; bytes <= largest + 1; bytes += 61) {
      ASSERT_EQ(copy.class_size_for(bytes), defaults.class_size_for(bytes))
          << bytes << " bytes, largest_class " << largest;
    }
  }
  std::vector<std::size_t> every;
  for (std::size_t size = 8; size <= (256 << 10); size += 8) {
    every.push_back(size);
  }
  size_class_resource all({.classes = every}, &upstream_);
  EXPECT_EQ(all.class_sizes().size(), 32768u);
  // Up to the big page heap's largest block (65,024 bytes with the default
  // span_size) a class every 8 bytes serves (at alignment 8: a class of an
  // odd multiple of 8 is aligned to 8 only); the upstream serves above.
  const std::array<std::size_t, 6> requests = {1,     1025,  16385,
                                               65024, 65025, 262144};
  for (const std::size_t bytes : requests) {
    const std::size_t expected = bytes <= 65024 ? (bytes + 7) / 8 * 8 : 0;
    EXPECT_EQ(all.class_size_for(bytes, 8), expected) << bytes;
    void* p = all.allocate(bytes, 8);
    all.deallocate(p, bytes, 8);
  }
  EXPECT_EQ(all.stats().bytes_in_use, 0u);
}

TEST_F(SizeClassResourceTest, ReusesFreedBlocksLastInFirstOut) {
  size_class_resource slabs({}, &upstream_);
  void* a = slabs.allocate(40, 8);
  void* b = slabs.allocate(40, 8);
  slabs.deallocate(a, 40, 8);
  EXPECT_EQ(slabs.allocate(33, 8), a);  // same class (40), freed last
  slabs.deallocate(b, 40, 8);
  slabs.deallocate(a, 33, 8);
  EXPECT_EQ(upstream_.stats().allocations, 1u);  // one span
}

TEST_F(SizeClassResourceTest, LargeRequestsGoToTheUpstream) {
  size_class_resource slabs({}, &upstream_);
  void* big = slabs.allocate(100000, 64);
  EXPECT_EQ(upstream_.stats().largest_block, 100000u);
  EXPECT_EQ(slabs.stats().large_blocks, 1u);
  slabs.deallocate(big, 100000, 64);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  static_cast<void>(slabs.allocate(200000, 8));  // freed by the destructor
}

// Slab blocks (up to 1 KiB) are aligned to the largest power of two that
// divides their size; page heap blocks to the page: 128 bytes here, 256 in
// the big heap (classes above 16,256 bytes).
TEST_F(SizeClassResourceTest, SpansAreAlignedSoBlocksKeepTheirAlignment) {
  size_class_resource slabs({}, &upstream_);
  for (std::size_t size : slabs.class_sizes()) {
    const std::size_t page = size > 16256 ? 256 : 128;
    const std::size_t natural = std::min<std::size_t>(
        std::size_t{1} << std::countr_zero(size), size > 1024 ? page : size);
    std::vector<void*> blocks;
    for (int i = 0; i < 20; ++i) {
      void* p = slabs.allocate(size, 1);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % natural, 0u)
          << "class " << size;
      blocks.push_back(p);
    }
    for (void* p : blocks) slabs.deallocate(p, size, 1);
  }
}

TEST_F(SizeClassResourceTest, StricterAlignmentTakesALargerClass) {
  size_class_resource slabs({}, &upstream_);
  // 20 bytes is class 24, whose blocks are only 8-aligned: 16 takes class 32.
  for (int i = 0; i < 50; ++i) {
    void* p = slabs.allocate(20, 16);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
  }
  EXPECT_EQ(slabs.stats().classes[3].blocks_in_use, 50u);  // class 32
  void* page = slabs.allocate(100, 4096);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(page) % 4096, 0u);
  slabs.deallocate(page, 100, 4096);
  // Beyond every class's alignment: the upstream serves it.
  void* huge = slabs.allocate(64, 1 << 20);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(huge) % (1 << 20), 0u);
  EXPECT_EQ(slabs.stats().large_blocks, 1u);
  slabs.deallocate(huge, 64, 1 << 20);
  // Above 1 KiB, the page heaps serve alignments up to their page: 128
  // bytes, and 256 in the big heap.
  void* paged = slabs.allocate(2000, 128);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(paged) % 128, 0u);
  EXPECT_EQ(slabs.stats().large_blocks, 0u);
  void* stricter = slabs.allocate(2000, 256);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(stricter) % 256, 0u);
  EXPECT_EQ(slabs.stats().large_blocks, 1u);
  EXPECT_EQ(slabs.class_size_for(2000, 256), 0u);
  void* big = slabs.allocate(20000, 256);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big) % 256, 0u);
  EXPECT_EQ(slabs.stats().large_blocks, 1u) << "the big heap serves it";
  EXPECT_EQ(slabs.class_size_for(20000, 512), 0u);
  slabs.deallocate(big, 20000, 256);
  slabs.deallocate(stricter, 2000, 256);
  slabs.deallocate(paged, 2000, 128);
}

// The classes above 1 KiB are runs of pages in shared spans: blocks of every
// size there come from one span, and a freed run merges with its free
// neighbours and serves a larger block. (64 KiB spans: 256-byte pages.)
TEST_F(SizeClassResourceTest, ClassesAbove1KiBShareMergingPages) {
  size_class_resource slabs({.span_size = 64 << 10}, &upstream_);
  EXPECT_EQ(slabs.class_size_for(1025), 1280u);  // a class every 256 bytes
  EXPECT_EQ(slabs.class_size_for(1281), 1536u);
  EXPECT_EQ(slabs.class_size_for(8000), 8192u);
  void* a = slabs.allocate(1100, 16);  // 5 pages
  void* b = slabs.allocate(3000, 16);  // 12 pages
  void* c = slabs.allocate(8000, 16);  // 32 pages
  const auto at = [](void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  EXPECT_EQ(at(b) + 3072, at(a)) << "cut from the end of the free pages";
  EXPECT_EQ(at(c) + 8192, at(b));
  size_class_resource_stats s = slabs.stats();
  EXPECT_EQ(s.page_size, 256u);
  EXPECT_EQ(s.page_spans, 1u);
  EXPECT_EQ(s.pages_in_use, 5u + 12u + 32u);
  EXPECT_EQ(s.bytes_in_use, 1100u + 3000u + 8000u);
  EXPECT_EQ(s.internal_waste, 180u + 72u + 192u);
  EXPECT_EQ(s.bytes_held, upstream_.bytes_in_use());
  slabs.deallocate(a, 1100, 16);
  slabs.deallocate(b, 3000, 16);
  void* merged = slabs.allocate(4000, 16);
  EXPECT_EQ(at(merged), at(b) + 256) << "16 of the 5 + 12 free pages merged";
  s = slabs.stats();
  EXPECT_EQ(s.page_spans, 1u);
  for (const size_class_stats& k : s.classes) {
    if (k.block_size == 4096 || k.block_size == 8192) {
      EXPECT_EQ(k.blocks_in_use, 1u) << k.block_size;
    } else {
      EXPECT_EQ(k.blocks_in_use, 0u) << k.block_size;
    }
  }
  slabs.deallocate(merged, 4000, 16);
  slabs.deallocate(c, 8000, 16);
}

// By default page heap spans are 16 KiB, of 128-byte pages, and the classes
// too large for them (above 16,256 bytes) share the 64 KiB spans of a big
// heap, whose 256-byte pages stats() counts as two pages each.
TEST_F(SizeClassResourceTest, ClassesAbove16KiBShareTheBigHeapsSpans) {
  size_class_resource slabs({}, &upstream_);
  EXPECT_EQ(slabs.class_size_for(1025), 1152u);  // a class every 128 bytes
  EXPECT_EQ(slabs.class_size_for(16256), 16256u);
  EXPECT_EQ(slabs.class_size_for(16257), 16384u);
  void* small = slabs.allocate(2000, 16);  // 16 pages
  void* big = slabs.allocate(20000, 16);   // class 20096: 79 big pages
  void* big2 = slabs.allocate(20000, 16);
  const auto at = [](void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  constexpr std::uintptr_t kBigBlock = 20224;  // 79 pages of 256
  EXPECT_EQ(at(big2) + kBigBlock, at(big)) << "the same big span";
  size_class_resource_stats s = slabs.stats();
  EXPECT_EQ(s.page_size, 128u);
  EXPECT_EQ(s.page_spans, 2u);
  EXPECT_EQ(s.pages_in_use, 16u + 2 * 2 * 79u);
  EXPECT_EQ(s.internal_waste, 48u + 2 * (79 * 256 - 20000u));
  EXPECT_EQ(s.large_blocks, 0u);
  EXPECT_EQ(s.bytes_held, upstream_.bytes_in_use());
  slabs.deallocate(big, 20000, 16);
  slabs.deallocate(big2, 20000, 16);
  slabs.deallocate(small, 2000, 16);
  s = slabs.stats();
  EXPECT_EQ(s.pages_in_use, 0u);
  EXPECT_EQ(s.page_spans, 2u) << "one empty span kept in each heap";
  EXPECT_EQ(slabs.cached_bytes(), (16u << 10) + (64u << 10));
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, (16u << 10) + (64u << 10));
  EXPECT_EQ(slabs.stats().bytes_held, upstream_.bytes_in_use());
}

// The page heap keeps its own count of empty spans (max_empty_page_spans),
// apart from the slab classes' max_empty_spans, and reclaim() gives them
// back too.
TEST_F(SizeClassResourceTest, ThePageHeapKeepsItsOwnEmptySpans) {
  size_class_resource slabs({.max_empty_spans = 0, .max_empty_page_spans = 2},
                            &upstream_);
  constexpr std::size_t kWhole = 32 << 10;  // 128 pages: one to a span
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(slabs.allocate(kWhole, 16));
  EXPECT_EQ(slabs.stats().page_spans, 8u);
  for (void* p : blocks) slabs.deallocate(p, kWhole, 16);
  EXPECT_EQ(slabs.stats().page_spans, 2u);
  EXPECT_EQ(slabs.cached_bytes(), 2u * (64u << 10));
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, 2u * (64u << 10));
  EXPECT_EQ(slabs.stats().page_spans, 0u);
  EXPECT_EQ(slabs.stats().bytes_held, upstream_.bytes_in_use());
}

// A custom class above 1 KiB rounds a request up to the class, then to
// pages; a class larger than a span's pages goes to the upstream.
TEST_F(SizeClassResourceTest, CustomClassesAbove1KiBRoundToTheClass) {
  const std::array<std::size_t, 4> classes = {64, 1160, 3000, 80000};
  size_class_resource slabs({.classes = classes}, &upstream_);
  EXPECT_EQ(slabs.class_size_for(100), 1160u) << "no slab class holds 100";
  EXPECT_EQ(slabs.class_size_for(1001), 1160u);
  EXPECT_EQ(slabs.class_size_for(1161), 3000u);
  EXPECT_EQ(slabs.class_size_for(5000), 0u) << "80000 is above a big span";
  void* a = slabs.allocate(1001, 16);
  void* b = slabs.allocate(100, 16);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) + 1280,
            reinterpret_cast<std::uintptr_t>(a))
      << "1160 bytes take 10 pages of 128";
  void* c = slabs.allocate(5000, 16);
  EXPECT_EQ(slabs.stats().large_blocks, 1u);
  slabs.deallocate(c, 5000, 16);
  slabs.deallocate(b, 100, 16);
  slabs.deallocate(a, 1001, 16);
}

// The fast path checks the alignment itself: a class whose blocks would
// satisfy it does not let a non-power-of-two alignment through.
TEST_F(SizeClassResourceTest, AWarmClassStillRejectsABadAlignment) {
  size_class_resource slabs({}, &upstream_);
  void* a = slabs.allocate(64, 8);
  slabs.deallocate(a, 64, 8);
  for (const std::size_t bad : {0u, 3u, 12u, 24u, 48u}) {
    EXPECT_THROW(static_cast<void>(slabs.allocate(64, bad)),
                 std::invalid_argument)
        << bad;
    EXPECT_EQ(slabs.class_size_for(64, bad), 0u) << "no class serves " << bad;
  }
  EXPECT_EQ(slabs.allocate(64, 8), a);  // nothing was lost
  slabs.deallocate(a, 64, 8);
  // Alignments of 64 and more take the out-of-line path to the same class.
  void* b = slabs.allocate(128, 128);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 128, 0u);
  slabs.deallocate(b, 128, 128);
  EXPECT_EQ(slabs.allocate(128, 8), b);
  slabs.deallocate(b, 128, 8);
}

TEST_F(SizeClassResourceTest, FullSpansBecomePartialAgain) {
  size_class_resource slabs({.slab_span_size = 4096}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(slabs.allocate(64, 8));
  const std::size_t spans = slabs.stats().classes[7].spans;
  ASSERT_GT(spans, 2u);
  // Free every other block: every full span becomes partial, and the next
  // allocations reuse those blocks instead of asking the upstream.
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    slabs.deallocate(blocks[i], 64, 8);
  }
  const std::size_t calls = upstream_.stats().allocations;
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    blocks[i] = slabs.allocate(64, 8);
  }
  EXPECT_EQ(upstream_.stats().allocations, calls);
  EXPECT_EQ(slabs.stats().classes[7].spans, spans);
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
}

// Allocation finds a class's current span through a table with a row for
// alignments up to 8 and one for 16; a span switch made through one row must
// reach the other, and a span given back must leave neither. With classes
// {24, 40, 96}, 50 bytes is class 96 in both rows, and 20 bytes at 16 too.
TEST_F(SizeClassResourceTest, EveryAlignmentFollowsItsClassToANewSpan) {
  const std::array<std::size_t, 3> classes = {24, 40, 96};
  size_class_resource slabs(
      {.classes = classes, .slab_span_size = 4096, .max_empty_spans = 0},
      &upstream_);
  struct request {
    std::size_t bytes;
    std::size_t alignment;
  };
  const std::array<request, 4> requests = {
      {{50, 8}, {50, 16}, {20, 16}, {90, 1}}};
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<void*, request>> blocks;
    for (int i = 0; i < 400; ++i) {
      const request r = requests[static_cast<std::size_t>(i) % 4];
      void* p = slabs.allocate(r.bytes, r.alignment);
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
      blocks.emplace_back(p, r);
    }
    const size_class_resource_stats s = slabs.stats();
    EXPECT_EQ(s.classes[2].blocks_in_use, 400u);
    EXPECT_GT(s.classes[2].spans, 4u) << "the test needs span switches";
    std::vector<void*> distinct;
    for (const auto& [p, r] : blocks) distinct.push_back(p);
    std::sort(distinct.begin(), distinct.end());
    EXPECT_EQ(std::adjacent_find(distinct.begin(), distinct.end()),
              distinct.end());
    // Every span empties and goes back (max_empty_spans 0), the current
    // one included once the next round switches away from it.
    std::shuffle(blocks.begin(), blocks.end(),
                 std::mt19937(static_cast<unsigned>(round)));
    for (const auto& [p, r] : blocks) {
      slabs.deallocate(p, r.bytes, r.alignment);
    }
    EXPECT_LE(slabs.stats().classes[2].spans, 1u);
  }
}

// A span whose blocks have all come back serves from its start again, in
// address order, whatever order the blocks came back in: a container built
// and dropped over and over gets sequential blocks, as from an arena. That
// holds for the current span and for an emptied one kept for reuse.
TEST_F(SizeClassResourceTest, AnEmptiedSpanCarvesFromItsStartAgain) {
  size_class_resource slabs({.slab_span_size = 4096, .max_empty_spans = 1},
                            &upstream_);
  constexpr std::size_t kBlock = 64;
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(slabs.allocate(kBlock, 8));
  ASSERT_GE(slabs.stats().classes[7].spans, 3u);
  std::vector<void*> shuffled = blocks;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(9));
  for (void* p : shuffled) slabs.deallocate(p, kBlock, 8);
  ASSERT_EQ(slabs.stats().classes[7].spans, 2u);  // current + one kept empty

  const std::size_t per_span = slabs.stats().classes[7].blocks_free / 2;
  std::vector<void*> again;
  for (std::size_t i = 0; i < 2 * per_span; ++i) {
    again.push_back(slabs.allocate(kBlock, 8));
  }
  std::size_t runs = 1;  // stretches of consecutive addresses
  for (std::size_t i = 1; i < again.size(); ++i) {
    if (static_cast<std::byte*>(again[i]) !=
        static_cast<std::byte*>(again[i - 1]) + kBlock) {
      ++runs;
    }
  }
  EXPECT_EQ(runs, 2u) << "one run per span";
  EXPECT_EQ(slabs.stats().classes[7].spans, 2u);
  for (void* p : again) slabs.deallocate(p, kBlock, 8);
}

// Deallocation finds a block's span header from its address alone for the
// sizes whose classes have slab_span_size spans (inline for the default
// span size, out of line for another), and through the class table for the
// others (larger spans under a small slab_span_size, custom tables,
// alignments above 16). Every way must reach the span the block came from:
// a wrong header would leave some class with blocks in use after
// everything has come back.
TEST_F(SizeClassResourceTest, EveryBlockGoesBackToItsOwnSpan) {
  const std::array<std::size_t, 4> aligned_classes = {16, 48, 256, 2048};
  const std::array<std::size_t, 3> unaligned_classes = {24, 200, 2048};
  const std::array<size_class_options, 5> configurations = {
      size_class_options{},
      size_class_options{.slab_span_size = 4096},
      size_class_options{.slab_span_size = 64 << 10},
      size_class_options{.classes = aligned_classes},
      size_class_options{.classes = unaligned_classes},
  };
  struct block {
    void* p;
    std::size_t bytes;
    std::size_t alignment;
  };
  for (const size_class_options& options : configurations) {
    size_class_resource slabs(options, &upstream_);
    std::vector<block> blocks;
    for (std::size_t bytes = 1; bytes <= 1100; bytes += 7) {
      for (std::size_t alignment = 1; alignment <= 64; alignment *= 2) {
        for (int i = 0; i < 20; ++i) {
          blocks.push_back(
              {slabs.allocate(bytes, alignment), bytes, alignment});
        }
      }
    }
    std::shuffle(blocks.begin(), blocks.end(), std::mt19937(5));
    for (const block& b : blocks) slabs.deallocate(b.p, b.bytes, b.alignment);
    const size_class_resource_stats stats = slabs.stats();
    EXPECT_EQ(stats.bytes_in_use, 0u);
    for (const size_class_stats& c : stats.classes) {
      EXPECT_EQ(c.blocks_in_use, 0u) << c.block_size << "-byte class";
    }
  }
}

TEST_F(SizeClassResourceTest, ReclaimGivesBackEmptySpansKeepingAFew) {
  size_class_resource slabs(
      {.slab_span_size = 4096, .max_empty_spans = 100, .keep_empty_spans = 1},
      &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 800; ++i) blocks.push_back(slabs.allocate(64, 8));
  const std::size_t spans = slabs.stats().classes[7].spans;
  ASSERT_GE(spans, 10u);
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
  // Every span but the current one is empty and listed. cached_bytes()
  // counts all the listed ones but the one kept; the current span, empty
  // too, is not counted.
  const std::size_t cached = slabs.cached_bytes();
  EXPECT_EQ(cached, slabs.stats().bytes_held - std::size_t{2} * 4096);
  reclaimable& r = slabs;
  const reclaim_result some = r.reclaim({.bytes = 4096});
  EXPECT_EQ(some.bytes_freed, 4096u);
  EXPECT_TRUE(some.more_remains);
  const reclaim_result rest = r.reclaim({});
  EXPECT_FALSE(rest.more_remains);
  // The empty current span is the one kept, so every listed span goes.
  EXPECT_EQ(some.bytes_freed + rest.bytes_freed, cached + 4096);
  EXPECT_EQ(slabs.stats().classes[7].spans, 1u);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
  EXPECT_EQ(slabs.cached_bytes(), 0u);
  // It serves again, from its start.
  void* p = slabs.allocate(64, 8);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
  slabs.deallocate(p, 64, 8);
  EXPECT_EQ(r.reclaim({}).bytes_freed, 0u) << "it is the one kept";
}

// With no empty span kept, reclaim() also gives back a current span with no
// block in use, so a resource whose users hold nothing holds nothing after
// it; the class takes a new span at its next allocation.
TEST_F(SizeClassResourceTest, ReclaimGivesBackAnEmptyCurrentSpan) {
  size_class_resource slabs({.slab_span_size = 4096}, &upstream_);
  void* small = slabs.allocate(64, 8);
  void* other = slabs.allocate(200, 8);
  slabs.deallocate(small, 64, 8);
  // The 64 B class's current span is empty; the 200 B class's is not.
  EXPECT_EQ(slabs.cached_bytes(), 0u);
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, 4096u);
  EXPECT_EQ(slabs.stats().classes[7].spans, 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
  slabs.deallocate(other, 200, 8);
  const reclaim_result all = slabs.reclaim({});
  EXPECT_EQ(all.bytes_freed, 4096u);
  EXPECT_FALSE(all.more_remains);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(slabs.stats().bytes_held, 0u);
  // Both classes serve again from new spans, in both alignment rows.
  void* p = slabs.allocate(64, 8);
  void* q = slabs.allocate(64, 16);
  EXPECT_EQ(slabs.stats().classes[7].blocks_in_use, 2u);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
  slabs.deallocate(p, 64, 8);
  slabs.deallocate(q, 64, 16);
  void* r = slabs.allocate(200, 8);
  slabs.deallocate(r, 200, 8);
  // Two empty current spans: a request for one byte takes one of them and
  // says that more remains.
  const reclaim_result one = slabs.reclaim({.bytes = 1});
  EXPECT_EQ(one.bytes_freed, 4096u);
  EXPECT_TRUE(one.more_remains);
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, 4096u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(SizeClassResourceTest, EmptySpansBeyondMaxGoBackAtOnce) {
  size_class_resource slabs({.slab_span_size = 4096, .max_empty_spans = 2},
                            &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 800; ++i) blocks.push_back(slabs.allocate(64, 8));
  ASSERT_GE(slabs.stats().classes[7].spans, 10u);
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
  // The current span and two empty ones are all that is left.
  EXPECT_EQ(slabs.stats().classes[7].spans, 3u);
  EXPECT_EQ(upstream_.bytes_in_use(), 3u * 4096u);
  // reclaim() keeps none, the empty current span included.
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, 3u * 4096u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// Builds `count` 64-byte blocks and drops them all, as a request does: what
// the class's peak takes from the upstream is what the next cycle needs.
void build_and_drop(size_class_resource& slabs, std::size_t count) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < count; ++i) {
    blocks.push_back(slabs.allocate(64, 8));
  }
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
}

// A class that takes from the upstream spans it gave back (a cycle whose
// peak needs more spans than max_empty_spans keeps) keeps one more empty
// span for each, so from its third cycle on it calls the upstream no more.
// reclaim() gives them all back and starts the class again from
// max_empty_spans.
TEST_F(SizeClassResourceTest, AClassWhosePeakComesBackKeepsItsSpans) {
  // The defaults: four empty spans kept at first, up to 16.
  size_class_resource slabs({.slab_span_size = 4096}, &upstream_);
  constexpr std::size_t kBlocks = 800;
  build_and_drop(slabs, kBlocks);
  const std::size_t peak = slabs.stats().misses;  // spans at the peak
  ASSERT_GE(peak, 10u);
  ASSERT_LE(peak, 17u) << "the growth stops at 16 empty spans";
  EXPECT_EQ(slabs.stats().classes[7].spans, 5u) << "current + four empty";

  // The second cycle takes back the peak - 5 spans given back: as many
  // round trips, so the class keeps 4 + (peak - 5) empty spans.
  build_and_drop(slabs, kBlocks);
  EXPECT_EQ(slabs.stats().misses, peak + (peak - 5));
  EXPECT_EQ(slabs.stats().classes[7].spans, peak);
  for (int cycle = 0; cycle < 3; ++cycle) {
    build_and_drop(slabs, kBlocks);
    EXPECT_EQ(slabs.stats().misses, peak + (peak - 5)) << "cycle " << cycle;
  }
  // The kept spans are cached memory, and reclaim() gives them back, the
  // empty current span too (keep_empty_spans is 0).
  EXPECT_EQ(slabs.cached_bytes(), (peak - 1) * 4096);
  EXPECT_EQ(slabs.reclaim({}).bytes_freed, peak * 4096);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  // After reclaim() the class keeps four empty spans again.
  build_and_drop(slabs, kBlocks);
  EXPECT_EQ(slabs.stats().classes[7].spans, 5u);
}

// empty_spans_growth caps the growth at that many times max_empty_spans,
// and 1 (or 0, which counts as 1) turns it off.
TEST_F(SizeClassResourceTest, EmptySpansGrowthBoundsTheGrowth) {
  constexpr std::size_t kBlocks = 800;
  size_class_resource capped(
      {.slab_span_size = 4096, .max_empty_spans = 2, .empty_spans_growth = 3},
      &upstream_);
  for (int cycle = 0; cycle < 4; ++cycle) build_and_drop(capped, kBlocks);
  EXPECT_EQ(capped.stats().classes[7].spans, 7u) << "current + six empty";

  for (const std::size_t growth : {std::size_t{0}, std::size_t{1}}) {
    size_class_resource fixed({.slab_span_size = 4096,
                               .max_empty_spans = 2,
                               .empty_spans_growth = growth},
                              &upstream_);
    EXPECT_EQ(fixed.options().empty_spans_growth, 1u);
    build_and_drop(fixed, kBlocks);
    const std::size_t peak = fixed.stats().misses;
    for (std::size_t cycle = 1; cycle < 4; ++cycle) {
      build_and_drop(fixed, kBlocks);
      EXPECT_EQ(fixed.stats().misses, peak + cycle * (peak - 3));
      EXPECT_EQ(fixed.stats().classes[7].spans, 3u);
    }
  }
}

// A working set whose size classes drift (every block replaced by one of a
// random size, over and over) holds memory in proportion to what is live,
// not to the peak of each class: sparse spans drain and go back.
TEST_F(SizeClassResourceTest, HeldMemoryFollowsTheBlocksInUse) {
  size_class_resource slabs({}, &upstream_);
  std::mt19937 rng(5);
  struct block {
    void* p;
    std::size_t n;
  };
  std::vector<block> live(2000);
  auto draw = [&] { return std::size_t{1025} + rng() % 7168; };
  for (block& b : live) b = {slabs.allocate(b.n = draw(), 16), b.n};
  for (int step = 0; step < 200000; ++step) {
    block& b = live[rng() % live.size()];
    slabs.deallocate(b.p, b.n, 16);
    b.n = draw();
    b.p = slabs.allocate(b.n, 16);
  }
  std::size_t bytes = 0;
  for (const block& b : live) bytes += b.n;
  EXPECT_LT(static_cast<double>(slabs.stats().bytes_held),
            1.25 * static_cast<double>(bytes));
  for (const block& b : live) slabs.deallocate(b.p, b.n, 16);
}

TEST_F(SizeClassResourceTest, StatsCountClassesBytesAndWaste) {
  size_class_resource slabs({}, &upstream_);
  void* a = slabs.allocate(100, 8);  // class 112
  void* b = slabs.allocate(60, 8);   // class 64
  const size_class_resource_stats s = slabs.stats();
  EXPECT_EQ(s.bytes_in_use, 160u);
  EXPECT_EQ(s.internal_waste, 12u + 4u);
  EXPECT_EQ(s.bytes_held, upstream_.bytes_in_use());
  std::size_t in_use = 0;
  for (const size_class_stats& c : s.classes) in_use += c.blocks_in_use;
  EXPECT_EQ(in_use, 2u);
  slabs.deallocate(a, 100, 8);
  slabs.deallocate(b, 60, 8);
  EXPECT_EQ(slabs.stats().bytes_in_use, 0u);
}

// peak_bytes_held is the high-water mark of bytes_held, whatever takes the
// memory (slab spans, page heap spans, large blocks), and stays after the
// memory goes back. Each kind makes the peak on its own, and a later, smaller
// allocation of another kind must not lower it.
TEST_F(SizeClassResourceTest, StatsKeepThePeakOfBytesHeld) {
  EXPECT_EQ(size_class_resource({}, &upstream_).stats().peak_bytes_held, 0u);
  const std::array<std::size_t, 3> kinds = {900, 2000, 100000};
  for (const std::size_t bytes : kinds) {
    size_class_resource slabs({}, &upstream_);
    std::vector<void*> blocks;
    std::size_t peak = 0;
    for (int i = 0; i < 40; ++i) {
      blocks.push_back(slabs.allocate(bytes, 8));
      peak = std::max(peak, upstream_.bytes_in_use());
    }
    EXPECT_EQ(slabs.stats().peak_bytes_held, peak) << bytes;
    for (void* p : blocks) slabs.deallocate(p, bytes, 8);
    static_cast<void>(slabs.reclaim({}));
    void* small = slabs.allocate(64, 8);  // a new slab span, far below
    const size_class_resource_stats s = slabs.stats();
    EXPECT_LT(s.bytes_held, peak) << bytes;
    EXPECT_EQ(s.peak_bytes_held, peak) << bytes;
    slabs.deallocate(small, 64, 8);
  }
}

// misses counts each allocation that took memory from the upstream: a new
// slab span, a new page heap span, a large block. An allocation that reuses
// an empty span kept from before is served from memory held, and is not one.
TEST_F(SizeClassResourceTest, StatsCountTheAllocationsThatWentUpstream) {
  size_class_resource slabs({}, &upstream_);
  EXPECT_EQ(slabs.stats().misses, 0u);
  // Spans and large blocks only grow while nothing is freed, so each
  // allocation's misses are what it added to them.
  const auto taken = [&] {
    const size_class_resource_stats s = slabs.stats();
    std::size_t count = s.page_spans + s.large_blocks;
    for (const size_class_stats& c : s.classes) count += c.spans;
    return count;
  };
  const std::array<std::size_t, 4> kinds = {64, 900, 2000, 100000};
  std::vector<std::pair<void*, std::size_t>> blocks;
  std::size_t expected = 0;
  for (int i = 0; i < 60; ++i) {
    for (const std::size_t bytes : kinds) {
      const std::size_t before = taken();
      blocks.emplace_back(slabs.allocate(bytes, 8), bytes);
      expected += taken() - before;
      ASSERT_EQ(slabs.stats().misses, expected) << bytes << " #" << i;
    }
  }
  // More than one span of 900 (in the 1 KiB class) and of 2000 bytes.
  const size_class_resource_stats full = slabs.stats();
  const std::vector<std::size_t> sizes = slabs.class_sizes();
  const auto class_900 = static_cast<std::size_t>(
      std::find(sizes.begin(), sizes.end(), slabs.class_size_for(900, 8)) -
      sizes.begin());
  EXPECT_GT(full.classes.at(class_900).spans, 1u);
  EXPECT_GT(full.page_spans, 1u);
  for (const auto& [p, bytes] : blocks) slabs.deallocate(p, bytes, 8);
  EXPECT_EQ(slabs.stats().misses, expected);
  // The kept empty spans serve these; only the large block is a miss.
  for (const std::size_t bytes : kinds) {
    void* p = slabs.allocate(bytes, 8);
    slabs.deallocate(p, bytes, 8);
  }
  EXPECT_EQ(slabs.stats().misses, expected + 1);

  // A call that fails counts nothing: here the page heap takes its first
  // span, then cannot grow its node array, and gives the span back.
  size_class_resource fresh({}, &upstream_);
  upstream_.fail_after(2);
  EXPECT_THROW(static_cast<void>(fresh.allocate(2000, 8)), std::bad_alloc);
  EXPECT_EQ(fresh.stats().misses, 0u);
  EXPECT_EQ(fresh.stats().bytes_held, 0u);
}

TEST(SizeClassResourceDeathTest, CheckedBuildsAbortOnSizeMismatch) {
  if (!internal::kChecked) GTEST_SKIP() << "not a checked build";
  EXPECT_DEATH(
      {
        size_class_resource slabs;
        void* p = slabs.allocate(64, 8);
        slabs.deallocate(p, 128, 8);
      },
      "size_class_resource: deallocate with size 128");
}

TEST(SizeClassResourceDeathTest, UseAfterFreeIsReported) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        size_class_resource slabs;
        auto* p = static_cast<volatile char*>(slabs.allocate(64, 8));
        slabs.deallocate(const_cast<char*>(p), 64, 8);
        p[20] = 1;
      },
      "use-after-poison");
}

// Under AddressSanitizer a block is addressable only as far as the bytes
// asked for, and what a span holds below and above its header is poisoned.
TEST(SizeClassResourceDeathTest, OnlyTheBytesAskedForAreAddressable) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  // A write into the granule a block shares with its tail is reported as
  // use-after-poison when the next granule is poisoned, and as an unknown
  // crash when the next block is in use.
  constexpr const char* kAsanReport =
      "AddressSanitizer: (use-after-poison|unknown-crash)";
  size_class_resource slabs;
  // A 24-byte block for 20 bytes, carved from a fresh span, then popped
  // from the free list (a second block keeps the span from starting afresh
  // when the first goes back).
  auto* small = static_cast<volatile char*>(slabs.allocate(20, 8));
  void* keep = slabs.allocate(20, 8);
  small[19] = 1;
  EXPECT_DEATH(small[20] = 1, kAsanReport);
  slabs.deallocate(const_cast<char*>(small), 20, 8);
  auto* reused = static_cast<volatile char*>(slabs.allocate(20, 8));
  ASSERT_EQ(reused, small) << "from the free list";
  reused[19] = 1;
  EXPECT_DEATH(reused[20] = 1, kAsanReport);
  slabs.deallocate(const_cast<char*>(reused), 20, 8);
  slabs.deallocate(keep, 20, 8);
  // A page heap block: 1,152 bytes of pages for 1,100.
  auto* pages = static_cast<volatile char*>(slabs.allocate(1100, 8));
  pages[1099] = 1;
  EXPECT_DEATH(pages[1100] = 1, kAsanReport);
  // A 1 KiB class's 16 KiB span holds 15 blocks; its header is at least
  // 448 bytes further up. The room between is poisoned.
  constexpr std::uintptr_t kSpan = 16 << 10;
  void* block = slabs.allocate(1024, 8);
  const std::uintptr_t slab_start =
      reinterpret_cast<std::uintptr_t>(block) & ~(kSpan - 1);
  EXPECT_TRUE(is_poisoned(slab_start + std::uintptr_t{15} * 1024));
  // A 16 KiB page heap span keeps its header on one of its last two lines;
  // the other is poisoned.
  const std::uintptr_t heap_start =
      reinterpret_cast<std::uintptr_t>(pages) & ~(kSpan - 1);
  EXPECT_NE(is_poisoned(heap_start + kSpan - 128),
            is_poisoned(heap_start + kSpan - 64));
  slabs.deallocate(block, 1024, 8);
  slabs.deallocate(const_cast<char*>(pages), 1100, 8);
}

TEST_F(SizeClassResourceTest, HeaderExampleWorks) {
  strata::size_class_resource slabs({}, &upstream_);  // default classes
  {
    std::pmr::unordered_map<std::pmr::string, int> index(&slabs);
    index["alpha"] = 1;  // nodes and strings from slabs
    EXPECT_GT(upstream_.stats().allocations, 0u);
  }
  slabs.reclaim({});  // later: give empty spans back
}

}  // namespace
}  // namespace strata
