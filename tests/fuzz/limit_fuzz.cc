// Operation sequences against a limit_resource: the cap, limit changes at
// run time (also below what is in use), and an on_limit handler that frees a
// live block and asks for a retry.

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/limit_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

constexpr std::size_t kLimits[] = {0,       100,     4096,    65536,
                                   1 << 20, 4 << 20, SIZE_MAX};

struct limit_target : target_base<limit_target> {
  static constexpr bool kOwnsMemory = false;

  limit_resource_options options(reader& setup, context& ctx) {
    limit_resource_options o;
    o.limit = setup.pick(kLimits);
    o.max_retries = setup.u8() % 3;
    if (setup.u8() % 2 == 0) {
      // Frees the oldest live block and retries, as a cache trim would.
      o.on_limit = [this, &ctx](const limit_event& e) {
        STRATA_FUZZ_CHECK(e.attempt >= 1 && e.in_use == capped.in_use(),
                          "on_limit told attempt %d, in_use %zu (in_use() "
                          "is %zu)",
                          e.attempt, e.in_use, capped.in_use());
        if (ctx.model().empty()) return false;
        free_live(ctx, capped, 0);
        return true;
      };
    }
    return o;
  }

  limit_target(reader& setup, context& ctx)
      : capped(options(setup, ctx), &ctx.upstream()) {
    ctx.limits().push_back({"limit_resource", capped.limit()});
  }

  std::pmr::memory_resource& resource() { return capped; }

  void op(std::uint8_t, reader& in, context& ctx) {
    capped.set_limit(in.pick(kLimits));
    ctx.limits()[0].limit = capped.limit();
  }

  void check(context& ctx) {
    STRATA_FUZZ_CHECK(capped.in_use() == ctx.model().live_bytes(),
                      "in_use() is %zu, %zu bytes are live", capped.in_use(),
                      ctx.model().live_bytes());
    const limit_resource_stats s = capped.stats();
    STRATA_FUZZ_CHECK(s.in_use == capped.in_use() && s.peak >= s.in_use,
                      "stats() in_use %zu, peak %zu; in_use() %zu", s.in_use,
                      s.peak, capped.in_use());
  }

  limit_resource capped;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::limit_target>(data, size);
}
