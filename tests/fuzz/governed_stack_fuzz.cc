// Operation sequences against the stack resource_stack builds for
// `.sync_pool().governor(...)`: the governor fused with the pool's inline
// fast paths, its meter beneath the pool charging the footprint, the pool
// registered as an inside cache.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/governor_resource.h"
#include "strata/resource_stack.h"
#include "strata/sync_pool_resource.h"

#include "fuzz_driver.h"
#include "governor_ops.h"

namespace strata::fuzz {
namespace {

resource_stack build_stack(reader& setup, context& ctx) {
  static constexpr std::size_t kCacheBytes[] = {0, 4096, 256 << 10};
  const sync_pool_options pool{
      .largest_pooled = std::size_t{128} << (setup.u8() % 10),
      .thread_cache_bytes = setup.pick(kCacheBytes)};
  return resource_stack::builder(&ctx.upstream())
      .sync_pool(pool)
      .governor(decode_governor_options(setup))
      .build();
}

struct governed_stack_target : target_base<governed_stack_target> {
  static constexpr bool kOwnsMemory = false;

  governed_stack_target(reader& setup, context& ctx)
      : stack(build_stack(setup, ctx)),
        governor(*stack.find<governor_resource>()),
        pool(*stack.find<sync_pool_resource>()),
        ops(governor, ctx, "stack governor") {}
  ~governed_stack_target() { ops.close(); }

  std::pmr::memory_resource& resource() { return *stack.top(); }

  void op(std::uint8_t code, reader& in, context& ctx) {
    if (code % 5 == 4) {
      reclaim_and_check(ctx, pool, in);
    } else {
      ops.op(code, in, ctx);
    }
  }

  void check(context& ctx) { ops.check_footprint(ctx); }

  resource_stack stack;
  governor_resource& governor;
  sync_pool_resource& pool;
  governed ops;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::governed_stack_target>(data, size);
}
