// strata::limit_resource under threads: the limit held while two threads
// hammer it, and the two-thread hand-off through a limit over a
// thread-safe pool.
//
//   limit         StressNeverPassesTheLimit
//   hand-off      HandOffThroughALimitOverAPoolKeepsEveryBlock
// Single-threaded behaviour is in limit_resource_test.

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/limit_exceeded.h"
#include "strata/limit_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class LimitResourceStressTest : public testing::UpstreamCheckedTest {};

// Both cores allocate and free random sizes against a tight limit. The
// upstream is the checker, whose high-water mark of bytes in use proves the
// limit held at every instant; at the end everything is accounted back.
TEST_F(LimitResourceStressTest, StressNeverPassesTheLimit) {
  constexpr std::size_t kLimit = 64 << 10;
  limit_resource capped({.limit = kLimit}, &upstream_);
  std::atomic<std::size_t> refusals{0};
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<void*, std::size_t>> mine;
    for (int i = 0; i < 20000; ++i) {
      if (mine.empty() || rng() % 2 == 0) {
        const std::size_t n = 1 + rng() % 4096;
        try {
          mine.emplace_back(capped.allocate(n, 8), n);
        } catch (const limit_exceeded&) {
          refusals.fetch_add(1, std::memory_order_relaxed);
        }
      } else {
        const std::size_t victim = rng() % mine.size();
        capped.deallocate(mine[victim].first, mine[victim].second, 8);
        mine[victim] = mine.back();
        mine.pop_back();
      }
    }
    for (auto [p, n] : mine) capped.deallocate(p, n, 8);
  };
  std::thread other(worker, 1);
  worker(2);
  other.join();
  EXPECT_GT(refusals.load(), 0u) << "the limit was never reached";
  EXPECT_LE(upstream_.stats().peak_bytes_in_use, kLimit);
  EXPECT_LE(capped.stats().peak, kLimit);
  EXPECT_EQ(capped.in_use(), 0u);
}

// The limit charges on one thread and refunds on the other; the queues hold
// far less than the limit, so nothing is refused.
TEST_F(LimitResourceStressTest, HandOffThroughALimitOverAPoolKeepsEveryBlock) {
  {
    sync_pool_resource pool({.thread_cache_bytes = 16 << 10}, &upstream_);
    limit_resource capped({.limit = 4 << 20}, &pool);
    testing::expect_clean_handoff(capped, {.max_size = 4096});
    EXPECT_EQ(capped.in_use(), 0u);
    EXPECT_EQ(capped.stats().limit_hits, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
