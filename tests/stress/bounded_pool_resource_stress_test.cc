// strata::bounded_pool_resource under threads: both bounds held while two
// threads hammer a pool, and the two-thread hand-off.
//
//   bounds        StressKeepsBothBounds,
//                 StressKeepsThePooledBoundWithThreadStacks
//   hand-off      HandOffBetweenTwoThreadsKeepsEveryBlock,
//                 HandOffUnderACapKeepsEveryBlock
// Single-behaviour tests with a helper thread are in
// bounded_pool_resource_test.

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/limit_exceeded.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class BoundedPoolStressTest : public testing::UpstreamCheckedTest {};

// Makes `peak` at least `now`, from any thread.
void raise_peak(std::atomic<std::size_t>& peak, std::size_t now) {
  std::size_t seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}

// Both cores allocate and free in bursts against a pool with both bounds,
// while the test thread samples the stats. The upstream's high-water mark
// proves the bounds held at every instant: blocks held from it never pass
// max_outstanding + max_pooled.
TEST_F(BoundedPoolStressTest, StressKeepsBothBounds) {
  constexpr std::size_t kCap = 24;
  bounded_pool_resource pool(
      {.block_size = 48, .max_pooled = 8, .max_outstanding = kCap, .shards = 2},
      &upstream_);
  const std::size_t max_pooled = pool.options().max_pooled;
  std::atomic<std::size_t> held{0};       // incremented after allocate returns,
  std::atomic<std::size_t> peak_held{0};  // decremented before deallocate
  std::atomic<int> running{2};
  std::atomic<std::size_t> refusals{0};
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<void*> mine;
    for (int round = 0; round < 4000; ++round) {
      const std::size_t want = 1 + rng() % 16;
      while (mine.size() < want) {
        try {
          mine.push_back(pool.allocate(48, 8));
        } catch (const limit_exceeded&) {
          refusals.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        const std::size_t now = held.fetch_add(1) + 1;
        raise_peak(peak_held, now);
      }
      while (!mine.empty() && (mine.size() > want / 2 || rng() % 2)) {
        held.fetch_sub(1);
        pool.deallocate(mine.back(), 48, 8);
        mine.pop_back();
      }
    }
    for (void* p : mine) {
      held.fetch_sub(1);
      pool.deallocate(p, 48, 8);
    }
    running.fetch_sub(1);
  };
  std::thread a(worker, 1);
  std::thread b(worker, 2);
  // `outstanding` is one counter, so every sample must respect the cap;
  // `pooled` sums the rings one after another, so a block popped from one
  // ring after it was read and freed into the other before it is read counts
  // twice (see bounded_pool_stats::pooled): the pooled bound is checked
  // exactly below, from the upstream's high-water mark.
  std::size_t samples = 0;
  do {  // once at least: in a fast build the workers may be done already
    EXPECT_LE(pool.stats().outstanding, kCap);
    ++samples;
  } while (running.load() != 0);
  a.join();
  b.join();
  EXPECT_GT(samples, 0u);
  EXPECT_LE(peak_held.load(), kCap);
  EXPECT_LE(pool.stats().peak_outstanding, kCap);
  EXPECT_LE(upstream_.stats().peak_bytes_in_use, (kCap + max_pooled) * 48);
  EXPECT_EQ(pool.stats().outstanding, 0u);
  EXPECT_LE(pool.stats().pooled, max_pooled);
}

// Without a cap the threads keep stacks in front of the rings, and blocks
// cross between threads through a mailbox. max_pooled bounds rings and
// stacks together at every instant: the upstream never holds more than the
// users had (counted before each allocation, uncounted after each free)
// plus max_pooled.
TEST_F(BoundedPoolStressTest, StressKeepsThePooledBoundWithThreadStacks) {
  bounded_pool_resource pool({.block_size = 48, .max_pooled = 64, .shards = 2},
                             &upstream_);
  const std::size_t max_pooled = pool.options().max_pooled;
  std::atomic<std::size_t> held{0};
  std::atomic<std::size_t> peak_held{0};
  std::atomic<int> running{2};
  std::mutex mailbox_mu;
  std::vector<void*> mailbox;
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<void*> mine;
    auto free_one = [&](void* p) {
      pool.deallocate(p, 48, 8);
      held.fetch_sub(1);
    };
    for (int round = 0; round < 4000; ++round) {
      const std::size_t want = 1 + rng() % 40;
      while (mine.size() < want) {
        const std::size_t now = held.fetch_add(1) + 1;
        raise_peak(peak_held, now);
        mine.push_back(pool.allocate(48, 8));
      }
      if (rng() % 4 == 0) {  // hand a few to the other thread
        std::lock_guard lock(mailbox_mu);
        for (int i = 0; i < 3 && !mine.empty(); ++i) {
          mailbox.push_back(mine.back());
          mine.pop_back();
        }
      }
      {
        std::vector<void*> got;
        {
          std::lock_guard lock(mailbox_mu);
          got.swap(mailbox);
        }
        for (void* p : got) free_one(p);
      }
      while (!mine.empty() && (mine.size() > want / 2 || rng() % 2)) {
        free_one(mine.back());
        mine.pop_back();
      }
    }
    for (void* p : mine) free_one(p);
    running.fetch_sub(1);
  };
  std::thread a(worker, 1);
  std::thread b(worker, 2);
  // stats() may be called while the threads run (TSan checks that), but
  // its sum is not a snapshot: blocks that move between the rings and the
  // stacks while it reads them count twice or not at all (see
  // bounded_pool_stats::pooled), by more than any fixed slack when the
  // sampling thread is descheduled mid-sum. The bound is checked exactly
  // below, from the upstream's high-water mark.
  std::size_t samples = 0;
  do {  // once at least: in a fast build the workers may be done already
    static_cast<void>(pool.stats());
    ++samples;
  } while (running.load() != 0);
  a.join();
  b.join();
  for (void* p : mailbox) pool.deallocate(p, 48, 8);
  EXPECT_GT(samples, 0u);
  EXPECT_LE(upstream_.stats().peak_bytes_in_use,
            (peak_held.load() + max_pooled) * 48);
  EXPECT_LE(pool.stats().pooled, max_pooled);
  EXPECT_EQ(pool.stats().outstanding, 0u);
  EXPECT_GT(pool.stats().hits, 0u);
}

// Three requests in four are the pool's block; the rest pass through. Freed
// blocks wait on the receiving thread's stack and spill to the rings.
TEST_F(BoundedPoolStressTest, HandOffBetweenTwoThreadsKeepsEveryBlock) {
  {
    bounded_pool_resource pool(
        {.block_size = 256, .max_pooled = 64, .prewarm = 16, .shards = 2},
        &upstream_);
    testing::expect_clean_handoff(
        pool, {.max_size = 1024, .fixed_size = 256, .fixed_alignment = 16});
    EXPECT_EQ(pool.stats().outstanding, 0u);
    EXPECT_LE(pool.stats().pooled, pool.options().max_pooled);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// With a cap the pool keeps no thread stacks: every block goes through the
// rings. The queues hold fewer blocks than the cap, so nothing is refused.
TEST_F(BoundedPoolStressTest, HandOffUnderACapKeepsEveryBlock) {
  {
    bounded_pool_resource pool({.block_size = 256,
                                .max_pooled = 32,
                                .max_outstanding = 256,
                                .prewarm = 8,
                                .shards = 2},
                               &upstream_);
    testing::expect_clean_handoff(pool, {.queue_capacity = 32,
                                         .max_size = 256,
                                         .max_alignment = 16,
                                         .fixed_size = 256,
                                         .fixed_alignment = 16});
    EXPECT_EQ(pool.stats().outstanding, 0u);
    EXPECT_LE(pool.stats().peak_outstanding, 256u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
