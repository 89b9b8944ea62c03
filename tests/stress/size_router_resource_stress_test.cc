// strata::size_router_resource under threads: the two-thread hand-off
// through a router over thread-safe pools, whose frees route by size on the
// other thread.
//
//   hand-off      HandOffThroughARouterOverPoolsKeepsEveryBlock
// Single-threaded behaviour is in size_router_resource_test.

#include <cstddef>
#include <memory_resource>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/size_router_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class SizeRouterStressTest : public testing::UpstreamCheckedTest {};

TEST_F(SizeRouterStressTest, HandOffThroughARouterOverPoolsKeepsEveryBlock) {
  {
    bounded_pool_resource small({.block_size = 64, .max_pooled = 256},
                                &upstream_);
    sync_pool_resource middle({.thread_cache_bytes = 16 << 10}, &upstream_);
    const size_route routes[] = {{64, &small}, {1024, &middle}};
    size_router_resource router(routes, &upstream_);
    testing::expect_clean_handoff(router, {.max_size = 4096});
    EXPECT_EQ(small.stats().outstanding, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
