// The adapters that share a resource among threads, under threads:
// synchronized_resource over resources that are not thread-safe, and
// stats_resource, whose counters are per thread.
//
//   synchronized_resource  ThreadsShareAResourceThatIsNotThreadSafe,
//                          HandOffOverSizeClassesKeepsEveryBlock,
//                          HandOffOverAnArenaKeepsEveryBlock
//   stats_resource         HandOffThroughStatsKeepsEveryBlock
//                          HandOffThroughStatsOverAPoolKeepsEveryBlock
// Single-threaded behaviour is in adapters_test.

#include <cstddef>
#include <memory_resource>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/stats_resource.h"
#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class SynchronizedResourceStressTest : public testing::UpstreamCheckedTest {};
class StatsResourceStressTest : public testing::UpstreamCheckedTest {};

TEST(SynchronizedResourceTest, ThreadsShareAResourceThatIsNotThreadSafe) {
  test_resource upstream(testing::recording_checker("upstream"));
  {
    synchronized_resource<size_class_resource> shared(size_class_options{},
                                                      &upstream);
    auto work = [&shared](int seed) {
      std::vector<std::pair<void*, std::size_t>> mine;
      for (int i = 0; i < 20000; ++i) {
        const std::size_t n =
            8 + static_cast<std::size_t>((i * 37 + seed) % 900);
        mine.emplace_back(shared.allocate(n, 8), n);
        if (mine.size() > 50) {
          shared.deallocate(mine.front().first, mine.front().second, 8);
          mine.erase(mine.begin());
        }
      }
      for (auto [p, n] : mine) shared.deallocate(p, n, 8);
    };
    std::thread other(work, 1);
    work(2);
    other.join();
    auto lock = shared.lock();
    EXPECT_EQ(shared.get().stats().bytes_in_use, 0u);
  }
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
  EXPECT_TRUE(upstream.defects().empty());
}

TEST_F(SynchronizedResourceStressTest, HandOffOverSizeClassesKeepsEveryBlock) {
  {
    synchronized_resource<size_class_resource> shared(size_class_options{},
                                                      &upstream_);
    testing::expect_clean_handoff(shared, {.max_size = 4096});
    auto lock = shared.lock();
    EXPECT_EQ(shared.get().stats().bytes_in_use, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// The arena frees in bulk: every block handed over stays valid until the
// end, and destruction gives every chunk back.
TEST_F(SynchronizedResourceStressTest, HandOffOverAnArenaKeepsEveryBlock) {
  {
    synchronized_resource<monotonic_arena> shared(
        monotonic_arena_options{.max_chunk_size = 64 << 10}, &upstream_);
    testing::expect_clean_handoff(shared, {.max_size = 4096});
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(StatsResourceStressTest, HandOffThroughStatsKeepsEveryBlock) {
  {
    stats_resource counted(&upstream_);
    testing::expect_clean_handoff(counted, {.max_size = 4096});
    const stats_resource_stats s = counted.stats();
    EXPECT_EQ(s.bytes_in_use, 0u);
    EXPECT_EQ(s.allocations, s.deallocations);
    EXPECT_EQ(s.allocations, 2 * testing::handoff_options{}.blocks);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(StatsResourceStressTest, HandOffThroughStatsOverAPoolKeepsEveryBlock) {
  {
    sync_pool_resource pool({.thread_cache_bytes = 16 << 10}, &upstream_);
    stats_resource counted(&pool);
    testing::expect_clean_handoff(counted, {.max_size = 4096});
    EXPECT_EQ(counted.stats().bytes_in_use, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
