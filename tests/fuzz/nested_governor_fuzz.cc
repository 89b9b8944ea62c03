// Operation sequences against a subsystem stack under a process governor:
// `resource_stack::builder(&process).sync_pool().governor(...)`, the inner
// governor's meter beneath the pool, the outer one a counted pass-through
// over the upstream. Both hard limits hold at the upstream.

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

struct nested_governor_target : target_base<nested_governor_target> {
  static constexpr bool kOwnsMemory = false;

  static resource_stack build_stack(reader& setup, governor_resource& outer) {
    static constexpr std::size_t kCacheBytes[] = {0, 4096, 256 << 10};
    const sync_pool_options pool{
        .largest_pooled = std::size_t{128} << (setup.u8() % 10),
        .thread_cache_bytes = setup.pick(kCacheBytes)};
    return resource_stack::builder(&outer)
        .sync_pool(pool)
        .governor(decode_governor_options(setup))
        .build();
  }

  nested_governor_target(reader& setup, context& ctx)
      : process(decode_governor_options(setup), &ctx.upstream()),
        stack(build_stack(setup, process)),
        subsystem(*stack.find<governor_resource>()),
        pool(*stack.find<sync_pool_resource>()),
        process_ops(process, ctx, "process governor"),
        subsystem_ops(subsystem, ctx, "subsystem governor") {}
  ~nested_governor_target() {
    subsystem_ops.close();
    process_ops.close();
  }

  std::pmr::memory_resource& resource() { return *stack.top(); }

  void op(std::uint8_t code, reader& in, context& ctx) {
    switch (code % 3) {
      case 0:
        process_ops.op(code / 3, in, ctx);
        break;
      case 1:
        subsystem_ops.op(code / 3, in, ctx);
        break;
      case 2:
        reclaim_and_check(ctx, pool, in);
        break;
    }
  }

  void check(context& ctx) {
    process_ops.check_footprint(ctx);
    subsystem_ops.check_footprint(ctx);
  }

  governor_resource process;
  resource_stack stack;
  governor_resource& subsystem;
  sync_pool_resource& pool;
  governed process_ops;
  governed subsystem_ops;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::nested_governor_target>(data, size);
}
