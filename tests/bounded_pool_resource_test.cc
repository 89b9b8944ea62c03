// Tests of strata::bounded_pool_resource.
//
//   allocate/deallocate  ReusesFreedBlocks,
//   LargerOrStricterRequestsPassThrough,
//                        TakesBlocksFromOtherShardsBeforeTheUpstream
//   max_pooled           PooledNeverExceedsMaxPooled
//   prewarm              PrewarmFillsThePool, PrewarmFailureLeaksNothing
//   max_outstanding      CapFailsWithLimitExceeded,
//                        CapCanOverflowToTheUpstream
//   reclaim              ReclaimDrainsTheRings
//   stats, options       OptionsAreNormalised, InvalidOptionsThrow,
//                        TinyPoolsKeepTheirBlocksAndNeverHang
//   thread stacks        FreedBlocksWaitOnTheThreadsStack,
//                        AnExitingThreadsStackGoesToTheRings,
//                        PoolDestroyedWhileAThreadWithAStackRuns,
//                        ReclaimEmptiesTheCallersStack
//   AddressSanitizer     UseOfAPooledBlockIsReported
//   the header example   HeaderExampleWorks
// The contracts every resource keeps are in
// bounded_pool_resource_conformance_test; threads hammering a pool in
// stress/bounded_pool_resource_stress_test.

#include "strata/bounded_pool_resource.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/limit_exceeded.h"

#include "testing/checker.h"

namespace strata {
namespace {

class BoundedPoolTest : public testing::UpstreamCheckedTest {};

TEST_F(BoundedPoolTest, ReusesFreedBlocks) {
  bounded_pool_resource pool({.block_size = 64, .shards = 1}, &upstream_);
  void* a = pool.allocate(64, 8);
  pool.deallocate(a, 64, 8);
  void* b = pool.allocate(40, 16);
  EXPECT_EQ(a, b);
  pool.deallocate(b, 40, 16);
  const bounded_pool_stats s = pool.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.pooled, 1u);
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_EQ(upstream_.stats().allocations, 1u);
}

TEST_F(BoundedPoolTest, LargerOrStricterRequestsPassThrough) {
  bounded_pool_resource pool({.block_size = 64, .block_alignment = 16},
                             &upstream_);
  void* big = pool.allocate(65, 8);
  void* strict = pool.allocate(32, 64);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(strict) % 64, 0u);
  EXPECT_EQ(pool.stats().unpooled, 2u);
  EXPECT_EQ(pool.stats().misses, 0u);
  pool.deallocate(strict, 32, 64);
  pool.deallocate(big, 65, 8);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.stats().pooled, 0u);
}

TEST_F(BoundedPoolTest, TakesBlocksFromOtherShardsBeforeTheUpstream) {
  bounded_pool_resource pool({.block_size = 32, .max_pooled = 64, .shards = 4},
                             &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(pool.allocate(32, 8));
  // Freed on another thread: they land in that thread's shard.
  std::thread([&] {
    for (void* p : blocks) pool.deallocate(p, 32, 8);
  }).join();
  const std::size_t calls = upstream_.stats().allocations;
  for (void*& p : blocks) p = pool.allocate(32, 8);
  EXPECT_EQ(upstream_.stats().allocations, calls);
  EXPECT_EQ(pool.stats().hits, 8u);
  for (void* p : blocks) pool.deallocate(p, 32, 8);
}

TEST_F(BoundedPoolTest, PooledNeverExceedsMaxPooled) {
  bounded_pool_resource pool({.block_size = 64, .max_pooled = 4, .shards = 1},
                             &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(pool.allocate(64, 8));
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  const bounded_pool_stats s = pool.stats();
  EXPECT_EQ(s.pooled, 4u);
  EXPECT_EQ(s.drops, 6u);
  EXPECT_EQ(upstream_.blocks_in_use(), 4u);
  EXPECT_EQ(pool.cached_bytes(), 4u * 64u);
}

TEST_F(BoundedPoolTest, PrewarmFillsThePool) {
  bounded_pool_resource pool(
      {.block_size = 128, .max_pooled = 16, .prewarm = 8, .shards = 2},
      &upstream_);
  EXPECT_EQ(upstream_.stats().allocations, 8u);
  EXPECT_EQ(pool.stats().pooled, 8u);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(pool.allocate(128, 8));
  EXPECT_EQ(pool.stats().hits, 8u);
  EXPECT_EQ(pool.stats().misses, 0u);
  EXPECT_EQ(upstream_.stats().allocations, 8u);
  for (void* p : blocks) pool.deallocate(p, 128, 8);
}

TEST_F(BoundedPoolTest, PrewarmFailureLeaksNothing) {
  upstream_.fail_after(5);
  EXPECT_THROW(
      bounded_pool_resource({.block_size = 64, .prewarm = 10}, &upstream_),
      std::bad_alloc);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(BoundedPoolTest, CapFailsWithLimitExceeded) {
  bounded_pool_resource pool({.block_size = 64, .max_outstanding = 3},
                             &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(pool.allocate(64, 8));
  try {
    static_cast<void>(pool.allocate(64, 8));
    ADD_FAILURE() << "no exception";
  } catch (const limit_exceeded& e) {
    EXPECT_EQ(e.in_use(), 3u * 64u);
    EXPECT_EQ(e.limit(), 3u * 64u);
    EXPECT_NE(std::string(e.what()).find("bounded_pool_resource"),
              std::string::npos);
  }
  EXPECT_EQ(pool.stats().outstanding, 3u);
  pool.deallocate(blocks.back(), 64, 8);
  blocks.back() = pool.allocate(64, 8);  // room again
  EXPECT_EQ(pool.stats().peak_outstanding, 3u);
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  EXPECT_EQ(pool.stats().outstanding, 0u);
}

TEST_F(BoundedPoolTest, CapCanOverflowToTheUpstream) {
  bounded_pool_resource pool({.block_size = 64,
                              .max_outstanding = 2,
                              .when_exhausted = exhausted_policy::use_upstream,
                              .shards = 1},
                             &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(pool.allocate(64, 8));
  EXPECT_EQ(pool.stats().overflows, 3u);
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  // The three past the cap went back; the pool keeps what the cap allows.
  EXPECT_EQ(pool.stats().pooled, 2u);
  EXPECT_EQ(upstream_.blocks_in_use(), 2u);
}

TEST_F(BoundedPoolTest, ReclaimDrainsTheRings) {
  bounded_pool_resource pool({.block_size = 256, .prewarm = 20}, &upstream_);
  void* kept = pool.allocate(256, 8);
  EXPECT_EQ(pool.cached_bytes(), 19u * 256u);
  reclaimable& r = pool;
  const reclaim_result some = r.reclaim({.bytes = 1000});
  EXPECT_EQ(some.bytes_freed, 1024u);
  EXPECT_TRUE(some.more_remains);
  const reclaim_result rest = r.reclaim({});
  EXPECT_EQ(rest.bytes_freed, 15u * 256u);
  EXPECT_FALSE(rest.more_remains);
  EXPECT_EQ(upstream_.blocks_in_use(), 1u);
  EXPECT_EQ(pool.stats().hits, 1u);
  pool.deallocate(kept, 256, 8);
}

TEST_F(BoundedPoolTest, OptionsAreNormalised) {
  bounded_pool_resource pool({.block_size = 50,
                              .block_alignment = 16,
                              .max_pooled = 1000,
                              .shards = 2},
                             &upstream_);
  EXPECT_EQ(pool.options().block_size, 64u);
  EXPECT_EQ(pool.options().max_pooled, 1024u);
  EXPECT_EQ(pool.options().shards, 2u);
  // A ring holds two blocks at least.
  bounded_pool_resource tiny({.max_pooled = 1, .shards = 8}, &upstream_);
  EXPECT_EQ(tiny.options().shards, 1u);
  EXPECT_EQ(tiny.options().max_pooled, 2u);
  bounded_pool_resource few({.max_pooled = 4, .shards = 8}, &upstream_);
  EXPECT_EQ(few.options().shards, 2u);
  EXPECT_EQ(few.options().max_pooled, 4u);
}

TEST_F(BoundedPoolTest, TinyPoolsKeepTheirBlocksAndNeverHang) {
  // A shard's ring with one cell once overwrote the pooled block on a push
  // into the full ring, and pop() then spun forever.
  for (const std::size_t max_pooled : {1u, 2u, 3u, 8u}) {
    for (const std::size_t shards : {1u, 2u, 8u}) {
      bounded_pool_resource pool(
          {.block_size = 32, .max_pooled = max_pooled, .shards = shards},
          &upstream_);
      const std::size_t kept = pool.options().max_pooled;
      std::vector<void*> blocks;
      for (std::size_t i = 0; i < kept + 3; ++i) {
        blocks.push_back(pool.allocate(32, 8));
      }
      for (void* p : blocks) pool.deallocate(p, 32, 8);
      EXPECT_EQ(pool.stats().outstanding, 0u);
      EXPECT_LE(pool.stats().pooled, kept);
      EXPECT_EQ(upstream_.blocks_in_use(), pool.stats().pooled);
      for (void*& p : blocks) p = pool.allocate(32, 8);
      for (void* p : blocks) pool.deallocate(p, 32, 8);
      const reclaim_result r = pool.reclaim({.bytes = SIZE_MAX});
      EXPECT_FALSE(r.more_remains);
      EXPECT_EQ(upstream_.blocks_in_use(), pool.stats().pooled);
    }
  }
}

TEST_F(BoundedPoolTest, InvalidOptionsThrow) {
  EXPECT_THROW(bounded_pool_resource({.block_size = 0}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(bounded_pool_resource({.block_alignment = 24}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(bounded_pool_resource({.max_pooled = 0}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(
      bounded_pool_resource({.max_pooled = 4, .prewarm = 5}, &upstream_),
      std::invalid_argument);
  EXPECT_THROW(bounded_pool_resource({.shards = 3}, &upstream_),
               std::invalid_argument);
}

// Without a cap, a thread's freed blocks wait on its own stack (counted as
// pooled) and come back from it without touching the rings.
TEST_F(BoundedPoolTest, FreedBlocksWaitOnTheThreadsStack) {
  bounded_pool_resource pool({.block_size = 64, .max_pooled = 256}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(pool.allocate(64, 8));
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  EXPECT_EQ(pool.stats().pooled, 4u);
  EXPECT_EQ(pool.cached_bytes(), 4u * 64u);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    EXPECT_EQ(pool.allocate(64, 8), *it);  // last in, first out
  }
  const bounded_pool_stats s = pool.stats();
  EXPECT_EQ(s.hits, 4u);
  EXPECT_EQ(s.pooled, 0u);
  EXPECT_EQ(s.outstanding, 4u);
  for (void* p : blocks) pool.deallocate(p, 64, 8);
}

TEST_F(BoundedPoolTest, AnExitingThreadsStackGoesToTheRings) {
  bounded_pool_resource pool({.block_size = 64, .max_pooled = 256}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) blocks.push_back(pool.allocate(64, 8));
  std::thread([&] {
    for (void* p : blocks) pool.deallocate(p, 64, 8);
  }).join();
  EXPECT_EQ(pool.stats().pooled, 6u);
  const std::size_t calls = upstream_.stats().allocations;
  for (void*& p : blocks) p = pool.allocate(64, 8);
  EXPECT_EQ(upstream_.stats().allocations, calls);
  EXPECT_EQ(pool.stats().hits, 6u);
  for (void* p : blocks) pool.deallocate(p, 64, 8);
}

TEST_F(BoundedPoolTest, PoolDestroyedWhileAThreadWithAStackRuns) {
  auto pool = std::make_unique<bounded_pool_resource>(
      bounded_pool_options{.block_size = 64, .max_pooled = 256}, &upstream_);
  std::mutex mu;
  std::condition_variable cv;
  int stage = 0;  // 1: the thread has a stack; 2: the pool is gone
  std::thread user([&] {
    pool->deallocate(pool->allocate(64, 8), 64, 8);
    {
      std::lock_guard lock(mu);
      stage = 1;
    }
    cv.notify_all();
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return stage == 2; }));
    // The thread exits after the pool: nothing dangles in it.
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return stage == 1; }));
  }
  pool.reset();
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  {
    std::lock_guard lock(mu);
    stage = 2;
  }
  cv.notify_all();
  user.join();
}

TEST_F(BoundedPoolTest, ReclaimEmptiesTheCallersStack) {
  bounded_pool_resource pool({.block_size = 64, .max_pooled = 256}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) blocks.push_back(pool.allocate(64, 8));
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  reclaimable& r = pool;
  const reclaim_result some = r.reclaim({.bytes = 128});
  EXPECT_EQ(some.bytes_freed, 128u);
  EXPECT_TRUE(some.more_remains);
  const reclaim_result rest = r.reclaim({});
  EXPECT_EQ(rest.bytes_freed, 3u * 64u);
  EXPECT_FALSE(rest.more_remains);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.stats().pooled, 0u);
  pool.deallocate(pool.allocate(64, 8), 64, 8);  // it serves again
}

TEST(BoundedPoolDeathTest, UseOfAPooledBlockIsReported) {
  if (!STRATA_HAS_ASAN) GTEST_SKIP() << "needs AddressSanitizer";
  EXPECT_DEATH(
      {
        bounded_pool_resource pool;
        auto* p = static_cast<volatile char*>(pool.allocate(64, 8));
        pool.deallocate(const_cast<char*>(p), 64, 8);
        p[3] = 1;
      },
      "use-after-poison");
}

TEST_F(BoundedPoolTest, HeaderExampleWorks) {
  // Network buffers: 16 KiB each, at most 256 kept, at most 1024 in flight.
  strata::bounded_pool_resource buffers({.block_size = 16 << 10,
                                         .max_pooled = 256,
                                         .max_outstanding = 1024,
                                         .prewarm = 64},
                                        &upstream_);
  void* b = buffers.allocate(16 << 10);  // from the pool, no lock
  buffers.deallocate(b, 16 << 10);       // back to this thread's ring
  std::vector<void*> in_flight;
  for (int i = 0; i < 1024; ++i) {
    in_flight.push_back(buffers.allocate(16 << 10));
  }
  // The 1025th buffer in flight throws strata::limit_exceeded.
  EXPECT_THROW(static_cast<void>(buffers.allocate(16 << 10)), limit_exceeded);
  for (void* p : in_flight) buffers.deallocate(p, 16 << 10);
}

}  // namespace
}  // namespace strata
