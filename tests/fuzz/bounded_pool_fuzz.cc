// Operation sequences against a bounded_pool_resource on one thread: the
// thread's stack, the sharded rings, drops when full, the cap on outstanding
// blocks and the pass-through of larger or more aligned requests.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/bounded_pool_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct bounded_pool_target : target_base<bounded_pool_target> {
  static bounded_pool_options options(reader& setup) {
    static constexpr std::size_t kBlockSizes[] = {1,   8,    24,   64,
                                                  100, 1024, 4096, 16384};
    static constexpr std::size_t kMaxPooled[] = {1, 2, 3, 4, 8, 64, 1024};
    static constexpr std::size_t kMaxOutstanding[] = {0, 0, 1, 4, 32};
    static constexpr std::size_t kShards[] = {0, 1, 2, 4, 8};
    bounded_pool_options o;
    o.block_size = setup.pick(kBlockSizes);
    o.block_alignment = std::size_t{1} << (setup.u8() % 8);
    o.max_pooled = setup.pick(kMaxPooled);
    o.max_outstanding = setup.pick(kMaxOutstanding);
    o.prewarm = setup.u8() % 5;
    o.when_exhausted = setup.u8() % 2 == 0 ? exhausted_policy::fail
                                           : exhausted_policy::use_upstream;
    o.shards = setup.pick(kShards);
    return o;
  }

  bounded_pool_target(reader& setup, context& ctx)
      : pool(options(setup), &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return pool; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    if (code % 2 == 0) reclaim_and_check(ctx, pool, in);
  }

  // Blocks the pool serves from its rings rather than passing through.
  [[nodiscard]] std::size_t pooled_blocks_live(const context& ctx) const {
    const bounded_pool_options& o = pool.options();
    std::size_t n = 0;
    for (std::size_t i = 0; i < ctx.model().size(); ++i) {
      const live_block& b = ctx.model().at(i);
      n += b.size <= o.block_size && b.alignment <= o.block_alignment;
    }
    return n;
  }

  void check(context& ctx) {
    const bounded_pool_options& o = pool.options();
    const bounded_pool_stats s = pool.stats();
    STRATA_FUZZ_CHECK(s.pooled <= o.max_pooled,
                      "%zu blocks pooled, max_pooled is %zu", s.pooled,
                      o.max_pooled);
    if (o.when_exhausted == exhausted_policy::fail) {
      const std::size_t live = pooled_blocks_live(ctx);
      STRATA_FUZZ_CHECK(s.outstanding == live,
                        "stats().outstanding is %zu, %zu pooled-size blocks "
                        "are live",
                        s.outstanding, live);
      STRATA_FUZZ_CHECK(o.max_outstanding == 0 || live <= o.max_outstanding,
                        "%zu blocks outstanding, max_outstanding is %zu", live,
                        o.max_outstanding);
    }
  }

  bounded_pool_resource pool;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::bounded_pool_target>(data, size);
}
