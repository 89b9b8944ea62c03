// What the governor targets share: options read from the input, and the
// governor's own operations (budget changes, critical sections, reclaim
// steps) with the hard limit kept in the driver's upstream limits.
#ifndef STRATA_TESTS_FUZZ_GOVERNOR_OPS_H_
#define STRATA_TESTS_FUZZ_GOVERNOR_OPS_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "strata/governor_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {

inline constexpr std::size_t kHardLimits[] = {
    0, 4096, 65536, 1 << 20, 4 << 20, 16 << 20, SIZE_MAX};

/// A governor's options, as the input says; no background thread (its
/// timing would make runs irreproducible) and short waits.
inline governor_options decode_governor_options(reader& setup) {
  static constexpr int kGrowth[] = {-1, 0, 50, 100};
  static constexpr std::size_t kFloors[] = {0, 4096, 4 << 20};
  static constexpr std::size_t kReserves[] = {0, 4096, 65536};
  static constexpr std::size_t kBatches[] = {1, 64, 64 << 10};
  static constexpr pause_policy kPolicies[] = {
      pause_policy::fail, pause_policy::reclaim, pause_policy::wait};
  governor_options o;
  o.hard_limit = setup.pick(kHardLimits);
  o.growth_percent = setup.pick(kGrowth);
  o.growth_floor = setup.pick(kFloors);
  o.policy = setup.pick(kPolicies);
  o.max_wait = std::chrono::microseconds(setup.u8() % 3);
  o.critical_reserve = std::min(setup.pick(kReserves), o.hard_limit);
  o.count_batch = setup.pick(kBatches);
  return o;
}

/// One governor under test, its critical sections, and its entry in the
/// driver's upstream limits (the hard limit, plus the critical reserve while
/// a critical section is open: the footprint is what the upstream holds).
class governed {
 public:
  governed(governor_resource& governor, context& ctx, const char* name)
      : governor_(governor), index_(ctx.limits().size()) {
    ctx.limits().push_back({name, 0});
    update(ctx);
  }

  /// Code 0..3: its own operations.
  void op(std::uint8_t code, reader& in, context& ctx) {
    switch (code % 4) {
      case 0:
        // A limit below the critical reserve is invalid.
        governor_.set_hard_limit(std::max(
            in.pick(kHardLimits), governor_.options().critical_reserve));
        break;
      case 1: {
        static constexpr int kGrowth[] = {-1, 0, 10, 100, 1000};
        governor_.set_growth_percent(in.pick(kGrowth));
        break;
      }
      case 2:
        // Guards nest; close them in the reverse order, as scopes would.
        if (in.u8() % 2 == 0 && guards_.size() < 4) {
          // The guard is neither copied nor moved: built in place.
          guards_.emplace_back(new governor_resource::critical_guard(
              governor_.critical_section()));
        } else if (!guards_.empty()) {
          guards_.pop_back();
        }
        break;
      case 3: {
        const std::size_t before = ctx.upstream().bytes_in_use();
        const reclaim_result r = governor_.reclaim_step(in.u32());
        STRATA_FUZZ_CHECK(ctx.upstream().bytes_in_use() <= before,
                          "reclaim_step() (freed %zu) grew the upstream from "
                          "%zu to %zu",
                          r.bytes_freed, before, ctx.upstream().bytes_in_use());
        break;
      }
    }
    update(ctx);
  }

  void update(context& ctx) {
    const std::size_t limit = governor_.hard_limit();
    const std::size_t reserve =
        guards_.empty() ? 0 : governor_.options().critical_reserve;
    ctx.limits()[index_].limit =
        limit > SIZE_MAX - reserve ? SIZE_MAX : limit + reserve;
  }

  /// The footprint is exactly what the upstream holds.
  void check_footprint(context& ctx) const {
    STRATA_FUZZ_CHECK(governor_.footprint() == ctx.upstream().bytes_in_use(),
                      "footprint() is %zu, the upstream holds %zu",
                      governor_.footprint(), ctx.upstream().bytes_in_use());
  }

  /// Closes the critical sections (before the governor goes).
  void close() { guards_.clear(); }

 private:
  governor_resource& governor_;
  std::size_t index_;
  std::vector<std::unique_ptr<governor_resource::critical_guard>> guards_;
};

}  // namespace strata::fuzz

#endif  // STRATA_TESTS_FUZZ_GOVERNOR_OPS_H_
