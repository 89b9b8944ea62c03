// Tests of strata::monotonic_arena.
//
//   allocate            BumpsWithinOneChunk, UsesTheInitialBufferFirst,
//                       GrowsChunksByTheFactorUpToTheMaximum,
//                       HonoursLargeAlignments,
//                       LargeRequestsGetBlocksOfTheirOwn
//   deallocate          LifoDeallocateTakesBackTheLastBlock,
//                       OwnBlocksGoBackOnDeallocate,
//                       LargeRequestFittingTheInitialBufferIsAnOwnBlock
//   reset               ResetKeepsChunksSoASteadyLoopStopsCallingUpstream,
//                       ResetRetainsUpToRetainBytesLargestFirst
//   release             ReleaseReturnsEverythingButTheInitialBuffer
//   mark, rewind        RewindDropsWhatCameAfterTheMark, MarksNest,
//                       RewindToADroppedMarkThrows, StaleMarkAfterResetThrows,
//                       RewindToAMarkDroppedInTheSameChunkThrows,
//                       MarksOfALoopStayValid,
//                       RewindThatCannotRecordChangesNothing
//   reclaim             ReclaimGivesBackRetainedChunksSmallestFirst
//   stats, options      StatsCountUsedAndReservedBytes, InvalidOptionsThrow
//   checked builds      CheckedBuildsAbortOnDoubleFree,
//                       CheckedBuildsAbortOnSizeMismatch
//   AddressSanitizer    UseAfterResetIsReported, UseAfterRewindIsReported
//   the header example  HeaderExampleWorks
// The contracts every resource keeps are in monotonic_arena_conformance_test.

#include "strata/monotonic_arena.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

class MonotonicArenaTest : public testing::UpstreamCheckedTest {};

bool inside(const void* p, std::span<std::byte> buffer) {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= buffer.data() && b < buffer.data() + buffer.size();
}

TEST_F(MonotonicArenaTest, BumpsWithinOneChunk) {
  monotonic_arena arena({.initial_size = 4096}, &upstream_);
  auto* first = static_cast<std::byte*>(arena.allocate(64, 8));
  auto* second = static_cast<std::byte*>(arena.allocate(64, 8));
  EXPECT_EQ(second, first + 64);
  for (int i = 0; i < 40; ++i) static_cast<void>(arena.allocate(64, 8));
  EXPECT_EQ(arena.stats().upstream_allocations, 1u);
  EXPECT_EQ(upstream_.stats().largest_block, 4096u);
}

TEST_F(MonotonicArenaTest, UsesTheInitialBufferFirst) {
  alignas(16) std::array<std::byte, 1024> buffer{};
  monotonic_arena arena({.initial_buffer = buffer}, &upstream_);
  for (int i = 0; i < 15; ++i) {
    EXPECT_TRUE(inside(arena.allocate(64, 16), buffer)) << i;
  }
  EXPECT_EQ(upstream_.stats().allocations, 0u);
  EXPECT_FALSE(inside(arena.allocate(128, 16), buffer));
  EXPECT_EQ(upstream_.stats().allocations, 1u);
}

TEST_F(MonotonicArenaTest, GrowsChunksByTheFactorUpToTheMaximum) {
  monotonic_arena arena(
      {.initial_size = 1024, .growth_factor = 2.0, .max_chunk_size = 4096},
      &upstream_);
  std::vector<std::size_t> chunk_sizes;
  std::size_t reserved = 0;
  for (int i = 0; i < 200; ++i) {
    static_cast<void>(arena.allocate(100, 8));
    if (arena.stats().bytes_reserved != reserved) {
      chunk_sizes.push_back(arena.stats().bytes_reserved - reserved);
      reserved = arena.stats().bytes_reserved;
    }
  }
  ASSERT_GE(chunk_sizes.size(), 4u);
  EXPECT_EQ(chunk_sizes[0], 1024u);
  EXPECT_EQ(chunk_sizes[1], 2048u);
  EXPECT_EQ(chunk_sizes[2], 4096u);
  EXPECT_EQ(chunk_sizes[3], 4096u);
}

TEST_F(MonotonicArenaTest, HonoursLargeAlignments) {
  monotonic_arena arena({}, &upstream_);
  static_cast<void>(arena.allocate(3, 1));
  for (std::size_t alignment = 1; alignment <= 8192; alignment <<= 1) {
    void* p = arena.allocate(24, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
  }
}

TEST_F(MonotonicArenaTest, LargeRequestsGetBlocksOfTheirOwn) {
  monotonic_arena arena({.max_chunk_size = 64 << 10}, &upstream_);
  auto* small = static_cast<std::byte*>(arena.allocate(64, 8));
  void* big = arena.allocate(100 << 10, 64);
  EXPECT_EQ(arena.stats().own_blocks, 1u);
  // The current chunk carries on after the big block.
  EXPECT_EQ(arena.allocate(64, 8), small + 64);
  std::memset(big, 1, 100 << 10);
}

TEST_F(MonotonicArenaTest, LifoDeallocateTakesBackTheLastBlock) {
  monotonic_arena arena({}, &upstream_);
  void* a = arena.allocate(64, 8);
  void* b = arena.allocate(64, 8);
  arena.deallocate(b, 64, 8);
  EXPECT_EQ(arena.allocate(64, 8), b);  // reused
  arena.deallocate(a, 64, 8);           // not the last: stays used
  EXPECT_NE(arena.allocate(64, 8), a);
  void* z1 = arena.allocate(0, 1);
  arena.deallocate(z1, 0, 1);
  EXPECT_EQ(arena.allocate(0, 1), z1);
}

TEST_F(MonotonicArenaTest, OwnBlocksGoBackOnDeallocate) {
  monotonic_arena arena({.max_chunk_size = 4096}, &upstream_);
  void* first = arena.allocate(10000, 16);
  void* second = arena.allocate(20000, 16);
  const std::size_t held = upstream_.bytes_in_use();
  arena.deallocate(first, 10000, 16);  // not the newest: freed all the same
  EXPECT_LT(upstream_.bytes_in_use(), held - 10000 + 1);
  arena.deallocate(second, 20000, 16);
  EXPECT_EQ(arena.stats().own_blocks, 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// A request loop: build a few containers per request, then reset.
void serve_one_request(monotonic_arena& arena, int request) {
  std::pmr::vector<std::pmr::string> words(&arena);
  for (int i = 0; i < 300; ++i) {
    words.emplace_back("word number " + std::to_string(i + request % 3));
  }
  std::pmr::vector<int> numbers(5000, request, &arena);
}

TEST_F(MonotonicArenaTest, ResetKeepsChunksSoASteadyLoopStopsCallingUpstream) {
  monotonic_arena arena({.initial_size = 1024}, &upstream_);
  serve_one_request(arena, 0);
  arena.reset();
  serve_one_request(arena, 1);
  arena.reset();
  const std::size_t warm = arena.stats().upstream_allocations;
  for (int request = 2; request < 50; ++request) {
    serve_one_request(arena, request);
    arena.reset();
  }
  EXPECT_EQ(arena.stats().upstream_allocations, warm);
  EXPECT_EQ(arena.stats().resets, 50u);
}

TEST_F(MonotonicArenaTest, ResetRetainsUpToRetainBytesLargestFirst) {
  monotonic_arena arena(
      {.initial_size = 1024, .growth_factor = 2.0, .retain_bytes = 5000},
      &upstream_);
  for (int i = 0; i < 60; ++i) static_cast<void>(arena.allocate(100, 8));
  // Chunks of 1024, 2048 and 4096 bytes are in use.
  ASSERT_EQ(arena.stats().chunks, 3u);
  arena.reset();
  // 4096 is the largest that fits in 5000; 4096 + 1024 would not.
  EXPECT_EQ(arena.stats().retained_chunks, 1u);
  EXPECT_EQ(arena.cached_bytes(), 4096u);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
}

TEST_F(MonotonicArenaTest, ReleaseReturnsEverythingButTheInitialBuffer) {
  alignas(16) std::array<std::byte, 256> buffer{};
  monotonic_arena arena({.initial_buffer = buffer}, &upstream_);
  for (int i = 0; i < 100; ++i) static_cast<void>(arena.allocate(100, 8));
  static_cast<void>(arena.allocate(2 << 20, 8));
  arena.release();
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(arena.stats().bytes_reserved, 0u);
  EXPECT_TRUE(inside(arena.allocate(16, 16), buffer));
}

TEST_F(MonotonicArenaTest, LargeRequestFittingTheInitialBufferIsAnOwnBlock) {
  // Freeing it once read an own-block header that was not there and gave the
  // upstream a pointer it never handed out.
  alignas(64) std::array<std::byte, 16384> buffer{};
  monotonic_arena arena(
      {.initial_buffer = buffer, .initial_size = 1024, .max_chunk_size = 4096},
      &upstream_);
  void* p = arena.allocate(8192, 8);
  EXPECT_FALSE(p >= buffer.data() && p < buffer.data() + buffer.size());
  EXPECT_EQ(arena.stats().own_blocks, 1u);
  arena.deallocate(p, 8192, 8);
  EXPECT_EQ(arena.stats().own_blocks, 0u);
  // A large alignment that the buffer could satisfy is an own block as well.
  void* q = arena.allocate(64, 4096);
  EXPECT_EQ(arena.stats().own_blocks, 1u);
  arena.deallocate(q, 64, 4096);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(MonotonicArenaTest, RewindDropsWhatCameAfterTheMark) {
  monotonic_arena arena({.initial_size = 1024, .max_chunk_size = 8192},
                        &upstream_);
  static_cast<void>(arena.allocate(100, 8));
  const arena_mark before = arena.mark();
  void* next = arena.allocate(40, 8);
  arena.deallocate(next, 40, 8);  // LIFO: next is where the mark points
  for (int i = 0; i < 100; ++i) static_cast<void>(arena.allocate(200, 8));
  static_cast<void>(arena.allocate(100000, 8));  // an own block
  EXPECT_GT(arena.stats().chunks, 1u);
  arena.rewind(before);
  EXPECT_EQ(arena.stats().own_blocks, 0u);
  EXPECT_EQ(arena.stats().bytes_used, 100u);
  EXPECT_EQ(arena.stats().retained_chunks, arena.stats().chunks - 1);
  EXPECT_EQ(arena.allocate(40, 8), next);
}

TEST_F(MonotonicArenaTest, MarksNest) {
  monotonic_arena arena({.initial_size = 1024}, &upstream_);
  const arena_mark outer = arena.mark();
  static_cast<void>(arena.allocate(500, 8));
  const arena_mark inner = arena.mark();
  for (int i = 0; i < 20; ++i) static_cast<void>(arena.allocate(500, 8));
  arena.rewind(inner);
  EXPECT_EQ(arena.stats().bytes_used, 500u);
  arena.rewind(outer);
  EXPECT_EQ(arena.stats().bytes_used, 0u);
  // The space is reused: the retained chunks serve without the upstream.
  const std::size_t calls = upstream_.stats().allocations;
  for (int i = 0; i < 21; ++i) static_cast<void>(arena.allocate(500, 8));
  EXPECT_EQ(upstream_.stats().allocations, calls);
}

TEST_F(MonotonicArenaTest, RewindToADroppedMarkThrows) {
  monotonic_arena arena({.initial_size = 1024}, &upstream_);
  const arena_mark outer = arena.mark();
  for (int i = 0; i < 10; ++i) static_cast<void>(arena.allocate(500, 8));
  const arena_mark inner = arena.mark();
  arena.rewind(outer);
  EXPECT_THROW(arena.rewind(inner), std::invalid_argument);
}

TEST_F(MonotonicArenaTest, RewindToAMarkDroppedInTheSameChunkThrows) {
  monotonic_arena arena({.initial_size = 4096}, &upstream_);
  const arena_mark outer = arena.mark();
  static_cast<void>(arena.allocate(16, 8));
  const arena_mark inner = arena.mark();
  static_cast<void>(arena.allocate(16, 8));
  arena.rewind(outer);
  // A live block now covers the inner mark's position.
  auto* live = static_cast<std::byte*>(arena.allocate(64, 8));
  std::memset(live, 0x5A, 64);
  EXPECT_THROW(arena.rewind(inner), std::invalid_argument);
  auto* next = static_cast<std::byte*>(arena.allocate(8, 8));
  EXPECT_GE(next, live + 64) << "the failed rewind moved the bump pointer";
  EXPECT_EQ(live[0], std::byte{0x5A});
}

TEST_F(MonotonicArenaTest, MarksOfALoopStayValid) {
  monotonic_arena arena({.initial_size = 1024}, &upstream_);
  const arena_mark start = arena.mark();
  arena_mark first_scratch;
  for (int i = 0; i < 100; ++i) {
    static_cast<void>(arena.allocate(24, 8));  // kept across iterations
    const arena_mark scratch = arena.mark();
    if (i == 0) first_scratch = scratch;
    const arena_mark nested = arena.mark();
    static_cast<void>(arena.allocate(200, 8));
    arena.rewind(nested);
    arena.rewind(scratch);
    arena.rewind(scratch);  // twice is fine: nothing after it
  }
  EXPECT_EQ(arena.stats().bytes_used, 2400u);
  arena.rewind(first_scratch);  // earlier, but never dropped
  EXPECT_EQ(arena.stats().bytes_used, 24u);
  arena.rewind(start);
  EXPECT_EQ(arena.stats().bytes_used, 0u);
}

TEST_F(MonotonicArenaTest, RewindThatCannotRecordChangesNothing) {
  monotonic_arena arena({.initial_size = 1024}, &upstream_);
  const arena_mark outer = arena.mark();
  static_cast<void>(arena.allocate(16, 8));
  const arena_mark inner = arena.mark();
  static_cast<void>(arena.allocate(16, 8));
  upstream_.fail_after(1);  // the record of dropped marks
  EXPECT_THROW(arena.rewind(outer), std::bad_alloc);
  EXPECT_EQ(arena.stats().bytes_used, 32u);
  arena.rewind(inner);  // still valid: the failed rewind dropped nothing
  EXPECT_EQ(arena.stats().bytes_used, 16u);
  arena.rewind(outer);
  EXPECT_EQ(arena.stats().bytes_used, 0u);
  EXPECT_THROW(arena.rewind(inner), std::invalid_argument);
}

TEST_F(MonotonicArenaTest, StaleMarkAfterResetThrows) {
  monotonic_arena arena({}, &upstream_);
  const arena_mark m = arena.mark();
  arena.reset();
  try {
    arena.rewind(m);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("reset"), std::string::npos);
  }
}

TEST_F(MonotonicArenaTest, ReclaimGivesBackRetainedChunksSmallestFirst) {
  monotonic_arena arena({.initial_size = 1024, .growth_factor = 2.0},
                        &upstream_);
  for (int i = 0; i < 60; ++i) static_cast<void>(arena.allocate(100, 8));
  arena.reset();
  ASSERT_EQ(arena.cached_bytes(), 1024u + 2048u + 4096u);
  reclaimable& r = arena;
  const reclaim_result some = r.reclaim({.bytes = 1500});
  EXPECT_EQ(some.bytes_freed, 1024u + 2048u);
  EXPECT_TRUE(some.more_remains);
  EXPECT_EQ(arena.cached_bytes(), 4096u);
  const reclaim_result rest = r.reclaim({});
  EXPECT_EQ(rest.bytes_freed, 4096u);
  EXPECT_FALSE(rest.more_remains);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(MonotonicArenaTest, StatsCountUsedAndReservedBytes) {
  monotonic_arena arena({.initial_size = 4096}, &upstream_);
  static_cast<void>(arena.allocate(100, 8));
  static_cast<void>(arena.allocate(28, 4));
  monotonic_arena_stats s = arena.stats();
  EXPECT_EQ(s.bytes_used, 128u);
  EXPECT_EQ(s.bytes_reserved, 4096u);
  EXPECT_EQ(s.chunks, 1u);
  EXPECT_EQ(s.upstream_allocations, 1u);
  arena.reset();
  s = arena.stats();
  EXPECT_EQ(s.bytes_used, 0u);
  EXPECT_EQ(s.resets, 1u);
  EXPECT_EQ(s.retained_chunks, 1u);
  EXPECT_EQ(s.upstream_deallocations, 0u);
}

TEST_F(MonotonicArenaTest, InvalidOptionsThrow) {
  EXPECT_THROW(monotonic_arena({.initial_size = 0}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(monotonic_arena({.growth_factor = 0.5}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(monotonic_arena({.initial_size = 8192, .max_chunk_size = 4096},
                               &upstream_),
               std::invalid_argument);
  monotonic_arena normalised({.initial_size = 100}, &upstream_);
  EXPECT_EQ(normalised.options().initial_size, 112u);
}

TEST(MonotonicArenaDeathTest, CheckedBuildsAbortOnDoubleFree) {
  if (!internal::kChecked) GTEST_SKIP() << "not a checked build";
  EXPECT_DEATH(
      {
        monotonic_arena arena;
        void* p = arena.allocate(64, 8);
        static_cast<void>(arena.allocate(64, 8));
        arena.deallocate(p, 64, 8);
        arena.deallocate(p, 64, 8);
      },
      "monotonic_arena: double free");
}

TEST(MonotonicArenaDeathTest, CheckedBuildsAbortOnSizeMismatch) {
  if (!internal::kChecked) GTEST_SKIP() << "not a checked build";
  EXPECT_DEATH(
      {
        monotonic_arena arena;
        void* p = arena.allocate(64, 8);
        arena.deallocate(p, 32, 8);
      },
      "monotonic_arena: deallocate with size 32, but the block was allocated "
      "with size 64");
}

TEST(MonotonicArenaDeathTest, UseAfterResetIsReported) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        monotonic_arena arena;
        auto* p = static_cast<volatile char*>(arena.allocate(64, 8));
        arena.reset();
        p[0] = 1;
      },
      "use-after-poison");
}

TEST(MonotonicArenaDeathTest, UseAfterRewindIsReported) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        monotonic_arena arena;
        const arena_mark m = arena.mark();
        auto* p = static_cast<volatile char*>(arena.allocate(64, 8));
        arena.rewind(m);
        p[10] = 1;
      },
      "use-after-poison");
}

// The example of monotonic_arena.h, with its helpers filled in.
struct request {
  std::string text;
};
void parse(const request& r, std::pmr::vector<std::pmr::string>& words) {
  words.emplace_back(r.text);
  words.emplace_back(r.text + " again, long enough to leave the SSO buffer");
}
std::size_t respond(const std::pmr::vector<std::pmr::string>& words) {
  return words.size();
}
void scratch(monotonic_arena& arena) {
  std::pmr::vector<int> v(1000, 7, &arena);
}

TEST_F(MonotonicArenaTest, HeaderExampleWorks) {
  const std::vector<request> requests = {{"one"}, {"two"}, {"three"}};
  {
    strata::monotonic_arena arena({.initial_size = 64 << 10}, &upstream_);
    for (const request& r : requests) {
      {
        std::pmr::vector<std::pmr::string> words(&arena);
        parse(r, words);  // allocates freely from the arena
        EXPECT_EQ(respond(words), 2u);
      }               // the containers die first,
      arena.reset();  // then every block goes at once
    }
    auto before = arena.mark();  // nested scope
    scratch(arena);
    arena.rewind(before);  // drops what scratch() allocated
    EXPECT_EQ(arena.stats().bytes_used, 0u);
    EXPECT_EQ(arena.stats().upstream_allocations, 1u);
  }
}

}  // namespace
}  // namespace strata
