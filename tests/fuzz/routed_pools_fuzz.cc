// Operation sequences against a size router over pools, the central memory
// manager shape: up to 256 bytes to a sync_pool_resource, up to 1 KiB to a
// bounded_pool_resource, up to 32 KiB to a size_class_resource, larger to
// the upstream; all of them over the same upstream.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/bounded_pool_resource.h"
#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"
#include "strata/sync_pool_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct routed_pools_target : target_base<routed_pools_target> {
  static constexpr bool kOwnsMemory = false;

  static bounded_pool_options bounded_options(reader& setup) {
    static constexpr std::size_t kMaxPooled[] = {2, 16, 1024};
    return {.block_size = 1024,
            .max_pooled = setup.pick(kMaxPooled),
            .prewarm = std::size_t{setup.u8()} % 3,
            .shards = 1};
  }

  routed_pools_target(reader& setup, context& ctx)
      : small({.thread_cache_bytes = std::size_t{1} << (setup.u8() % 19)},
              &ctx.upstream()),
        medium(bounded_options(setup), &ctx.upstream()),
        slabs({}, &ctx.upstream()),
        router(routes, &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return router; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    switch (code % 3) {
      case 0:
        reclaim_and_check(ctx, small, in);
        break;
      case 1:
        reclaim_and_check(ctx, medium, in);
        break;
      case 2:
        reclaim_and_check(ctx, slabs, in);
        break;
    }
  }

  void check(context& ctx) {
    // stats() sums the page heap's free runs for every class: costlier than
    // the operations, so every 16th.
    if (!ctx.every(16)) return;
    std::size_t small_blocks = 0;
    std::size_t slab_bytes = 0;
    for (std::size_t i = 0; i < ctx.model().size(); ++i) {
      const live_block& b = ctx.model().at(i);
      if (b.size <= 256) {
        ++small_blocks;
      } else if (b.size > 1024 && b.size <= (32 << 10)) {
        slab_bytes += b.size;
      }
    }
    STRATA_FUZZ_CHECK(small.stats().blocks_in_use == small_blocks,
                      "the sync pool has %zu blocks in use, %zu were routed "
                      "to it",
                      small.stats().blocks_in_use, small_blocks);
    STRATA_FUZZ_CHECK(slabs.stats().bytes_in_use == slab_bytes,
                      "the size classes hold %zu bytes in use, %zu were "
                      "routed to them",
                      slabs.stats().bytes_in_use, slab_bytes);
  }

  sync_pool_resource small;
  bounded_pool_resource medium;
  size_class_resource slabs;
  const size_route routes[3] = {
      {256, &small}, {1024, &medium}, {32 << 10, &slabs}};
  size_router_resource router;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::routed_pools_target>(data, size);
}
