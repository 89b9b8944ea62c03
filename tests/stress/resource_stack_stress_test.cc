// The stacks resource_stack builds, under threads: the two-thread hand-off
// through each thread-safe shape.
//
//   pool-fused governor   HandOffThroughAGovernedPoolKeepsEveryBlock,
//                         HandOffThroughAGovernedSlabStackKeepsEveryBlock
//   governor under governor
//                         HandOffThroughASubsystemStackKeepsEveryBlock
//   size router           HandOffThroughARoutedStackKeepsEveryBlock
// Single-threaded behaviour is in resource_stack_test.

#include <cstddef>
#include <memory_resource>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/governor_resource.h"
#include "strata/resource_stack.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class ResourceStackStressTest : public testing::UpstreamCheckedTest {};

TEST_F(ResourceStackStressTest, HandOffThroughAGovernedPoolKeepsEveryBlock) {
  {
    resource_stack stack = resource_stack::builder(&upstream_)
                               .sync_pool({.thread_cache_bytes = 16 << 10})
                               .governor({.hard_limit = std::size_t{64} << 20})
                               .build();
    testing::expect_clean_handoff(*stack.top(), {.max_size = 4096});
    EXPECT_EQ(stack.find<governor_resource>()->stats().live_bytes, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// The tcmalloc shape under a budget, with slabs the pool reaches under its
// lock.
TEST_F(ResourceStackStressTest,
       HandOffThroughAGovernedSlabStackKeepsEveryBlock) {
  {
    resource_stack stack = resource_stack::builder(&upstream_)
                               .size_classes()
                               .sync_pool({.thread_cache_bytes = 16 << 10})
                               .governor({.hard_limit = std::size_t{64} << 20})
                               .build();
    testing::expect_clean_handoff(*stack.top(), {.max_size = 4096});
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// A subsystem's pool-fused stack built on a process governor.
TEST_F(ResourceStackStressTest, HandOffThroughASubsystemStackKeepsEveryBlock) {
  {
    governor_resource process({.hard_limit = std::size_t{64} << 20},
                              &upstream_);
    {
      resource_stack stack =
          resource_stack::builder(&process)
              .sync_pool({.thread_cache_bytes = 16 << 10})
              .governor({.hard_limit = std::size_t{32} << 20})
              .build();
      testing::expect_clean_handoff(*stack.top(), {.max_size = 4096});
    }
    EXPECT_EQ(process.stats().live_bytes, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// Small blocks to a bounded pool, middle sizes to a sync pool, the rest to
// the layer beneath, all under a governor.
TEST_F(ResourceStackStressTest, HandOffThroughARoutedStackKeepsEveryBlock) {
  {
    bounded_pool_resource small({.block_size = 64, .max_pooled = 256},
                                &upstream_);
    sync_pool_resource middle({.thread_cache_bytes = 16 << 10}, &upstream_);
    {
      resource_stack stack =
          resource_stack::builder(&upstream_)
              .size_router({{64, &small}, {1024, &middle}})
              .governor({.hard_limit = std::size_t{64} << 20})
              .build();
      testing::expect_clean_handoff(*stack.top(), {.max_size = 4096});
    }
    EXPECT_EQ(small.stats().outstanding, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
