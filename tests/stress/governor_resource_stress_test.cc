// strata::governor_resource under threads: the hard limit held while two
// threads hammer a governed pool, and the two-thread hand-off through a
// counted pass-through governor and through a governor under a governor.
//
//   hard limit    FootprintNeverPassesHardLimitUnderTwoThreads
//   hand-off      HandOffThroughAPassThroughGovernorKeepsEveryBlock,
//                 HandOffThroughAGovernorUnderAGovernorKeepsEveryBlock
// The stacks resource_stack builds are in resource_stack_stress_test;
// single-behaviour tests with a helper thread in governor_resource_test.

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/governor_resource.h"
#include "strata/limit_exceeded.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class GovernorStressTest : public testing::UpstreamCheckedTest {};

TEST_F(GovernorStressTest, FootprintNeverPassesHardLimitUnderTwoThreads) {
  constexpr std::size_t kLimit = 1 << 20;
  std::atomic<std::size_t> refused{0};
  {
    governor_meter meter(&upstream_);
    sync_pool_resource pool({.thread_cache_bytes = 64 << 10}, &meter);
    governor_resource g({.hard_limit = kLimit,
                         .growth_percent = -1,
                         .policy = pause_policy::reclaim},
                        &pool, &meter);
    g.add_reclaimable(pool);
    // Each thread alone holds up to 1,600 blocks of 908 bytes on average,
    // past the limit, so the stress reaches it however the threads
    // interleave (under TSan one may finish before the other starts).
    auto work = [&](unsigned seed) {
      std::mt19937 rng(seed);
      std::vector<std::pair<void*, std::size_t>> held;
      for (int i = 0; i < 20000; ++i) {
        if (held.size() < 1600 && (rng() % 3 != 0 || held.empty())) {
          const std::size_t size = std::size_t{16} << (rng() % 9);  // to 4 KiB
          try {
            held.emplace_back(g.allocate(size), size);
          } catch (const limit_exceeded&) {
            refused.fetch_add(1, std::memory_order_relaxed);
            for (std::size_t k = 0; k < held.size() / 2; ++k) {
              g.deallocate(held.back().first, held.back().second);
              held.pop_back();
            }
          }
        } else {
          const std::size_t k = rng() % held.size();
          g.deallocate(held[k].first, held[k].second);
          held[k] = held.back();
          held.pop_back();
        }
      }
      for (const auto& [p, size] : held) g.deallocate(p, size);
    };
    std::thread other(work, 1u);
    work(2u);
    other.join();
    const governor_stats s = g.stats();
    EXPECT_EQ(s.live_bytes, 0u) << "every byte accounted back";
    EXPECT_EQ(s.allocations, s.deallocations);
    EXPECT_LE(s.peak_footprint_bytes, kLimit);
    EXPECT_GE(s.limit_hits, refused.load());
    EXPECT_EQ(s.failures, refused.load());
    EXPECT_GT(s.limit_hits, 0u) << "the stress reached the limit";
  }
  EXPECT_LE(upstream_.stats().peak_bytes_in_use, kLimit)
      << "the upstream's high-water mark";
}

TEST_F(GovernorStressTest, HandOffThroughAPassThroughGovernorKeepsEveryBlock) {
  {
    governor_resource g({.hard_limit = std::size_t{64} << 20}, &upstream_);
    testing::expect_clean_handoff(g, {.max_size = 4096});
    const governor_stats s = g.stats();
    EXPECT_EQ(s.live_bytes, 0u) << "every byte accounted back";
    EXPECT_EQ(s.allocations, s.deallocations);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// A subsystem budget under a process budget: the outer one counts what the
// inner one passes down.
TEST_F(GovernorStressTest,
       HandOffThroughAGovernorUnderAGovernorKeepsEveryBlock) {
  {
    governor_resource process({.hard_limit = std::size_t{64} << 20},
                              &upstream_);
    governor_resource subsystem({.hard_limit = std::size_t{32} << 20},
                                &process);
    testing::expect_clean_handoff(subsystem, {.max_size = 4096});
    EXPECT_EQ(subsystem.stats().live_bytes, 0u);
    EXPECT_EQ(process.stats().live_bytes, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
