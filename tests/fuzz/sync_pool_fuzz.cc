// Operation sequences against a sync_pool_resource on one thread: buckets,
// magazines, the depot, aging by reclaim() and the large pass-through.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/sync_pool_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct sync_pool_target : target_base<sync_pool_target> {
  static sync_pool_options options(reader& setup) {
    static constexpr std::size_t kCacheBytes[] = {0, 256, 4096, 256 << 10};
    return {.largest_pooled = std::size_t{128} << (setup.u8() % 14),
            .thread_cache_bytes = setup.pick(kCacheBytes)};
  }

  sync_pool_target(reader& setup, context& ctx)
      : pool(options(setup), &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return pool; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    if (code % 2 == 0) reclaim_and_check(ctx, pool, in);
  }

  void check(context& ctx) {
    const sync_pool_stats s = pool.stats();
    STRATA_FUZZ_CHECK(s.blocks_in_use == ctx.model().size(),
                      "stats().blocks_in_use is %zu, %zu blocks are live",
                      s.blocks_in_use, ctx.model().size());
    STRATA_FUZZ_CHECK(pool.cached_bytes() <= ctx.upstream().bytes_in_use(),
                      "cached_bytes() %zu is more than the upstream holds, "
                      "%zu",
                      pool.cached_bytes(), ctx.upstream().bytes_in_use());
  }

  sync_pool_resource pool;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::sync_pool_target>(data, size);
}
