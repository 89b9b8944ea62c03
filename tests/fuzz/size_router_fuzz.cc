// Operation sequences against a size_router_resource routing small sizes to
// a size_class_resource and the rest to the upstream: a free must take the
// route its allocation took.

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <span>

#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct size_router_target : target_base<size_router_target> {
  static constexpr bool kOwnsMemory = false;

  std::span<const size_route> routes(reader& setup) {
    static constexpr std::size_t kMax[] = {0, 64, 256, 1024, 32 << 10};
    route[0] = {setup.pick(kMax), &slabs};
    return route;
  }

  size_router_target(reader& setup, context& ctx)
      : slabs({}, &ctx.upstream()), router(routes(setup), &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return router; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    if (code % 2 == 0) reclaim_and_check(ctx, slabs, in);
  }

  void check(context& ctx) {
    // stats() sums the page heap's free runs for every class: costlier than
    // the operations, so every 16th.
    if (!ctx.every(16)) return;
    std::size_t routed = 0;
    for (std::size_t i = 0; i < ctx.model().size(); ++i) {
      const live_block& b = ctx.model().at(i);
      if (b.size <= route[0].max_size) routed += b.size;
    }
    const std::size_t in_use = slabs.stats().bytes_in_use;
    STRATA_FUZZ_CHECK(in_use == routed,
                      "the routed size_class_resource holds %zu bytes in "
                      "use, %zu were routed to it",
                      in_use, routed);
  }

  size_class_resource slabs;
  size_route route[1];
  size_router_resource router;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::size_router_target>(data, size);
}
