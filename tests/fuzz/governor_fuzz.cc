// Operation sequences against a governor_resource alone: a counted
// pass-through that charges its own calls, under a hard limit that changes
// at run time, with critical sections and every pause policy.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/governor_resource.h"

#include "fuzz_driver.h"
#include "governor_ops.h"

namespace strata::fuzz {
namespace {

struct governor_target : target_base<governor_target> {
  static constexpr bool kOwnsMemory = false;

  governor_target(reader& setup, context& ctx)
      : governor(decode_governor_options(setup), &ctx.upstream()),
        ops(governor, ctx, "governor_resource") {}
  ~governor_target() { ops.close(); }

  std::pmr::memory_resource& resource() { return governor; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    ops.op(code, in, ctx);
  }

  void check(context& ctx) {
    ops.check_footprint(ctx);
    // Without a meter, live bytes are the footprint, counted exactly.
    const governor_stats s = governor.stats();
    STRATA_FUZZ_CHECK(s.live_bytes == ctx.model().live_bytes(),
                      "stats().live_bytes is %zu, %zu bytes are live",
                      s.live_bytes, ctx.model().live_bytes());
  }

  governor_resource governor;
  governed ops;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::governor_target>(data, size);
}
