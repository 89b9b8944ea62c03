// Tests of strata::reclaimable: the defaults of a request ask for everything
// with no time limit, and the interface is usable through a reference, which
// is how the governor drives it.
//
//   reclaim_request     DefaultRequestAsksForEverythingUnbounded
//   reclaim_result      DefaultResultFreedNothing
//   reclaimable         DrivenThroughTheInterface, HeaderExampleWorks

#include "strata/reclaimable.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>

#include "gtest/gtest.h"

namespace strata {
namespace {

// A cache of `held` bytes that frees them in 100-byte units.
class fake_cache final : public reclaimable {
 public:
  explicit fake_cache(std::size_t held) : held_(held) {}
  std::size_t cached_bytes() const noexcept override { return held_; }
  reclaim_result reclaim(const reclaim_request& request) noexcept override {
    reclaim_result result;
    while (held_ > 0 && result.bytes_freed < request.bytes) {
      const std::size_t unit = std::min<std::size_t>(100, held_);
      held_ -= unit;
      result.bytes_freed += unit;
    }
    result.more_remains = held_ > 0;
    return result;
  }

 private:
  std::size_t held_;
};

// The example of reclaimable.h, as it stands there.
void trim(strata::reclaimable& pool) {
  using namespace std::chrono_literals;
  strata::reclaim_result r =
      pool.reclaim({.bytes = 1 << 20, .time_budget = 50us});
  // r.bytes_freed went back to the pool's upstream; if r.more_remains,
  // call again later to give up the rest.
  static_cast<void>(r);
}

TEST(ReclaimableTest, HeaderExampleWorks) {
  fake_cache cache((3 << 20) / 2);
  trim(cache);
  EXPECT_EQ(cache.cached_bytes(), (3u << 20) / 2 - (1u << 20) - 24u);
}

TEST(ReclaimableTest, DefaultRequestAsksForEverythingUnbounded) {
  const reclaim_request request;
  EXPECT_EQ(request.bytes, std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(request.time_budget, std::chrono::nanoseconds::max());
}

TEST(ReclaimableTest, DefaultResultFreedNothing) {
  const reclaim_result result;
  EXPECT_EQ(result.bytes_freed, 0u);
  EXPECT_FALSE(result.more_remains);
}

TEST(ReclaimableTest, DrivenThroughTheInterface) {
  fake_cache cache(1000);
  reclaimable& r = cache;
  const reclaim_result some = r.reclaim({.bytes = 250});
  EXPECT_EQ(some.bytes_freed, 300u);  // whole units: may free a little more
  EXPECT_TRUE(some.more_remains);
  EXPECT_EQ(r.cached_bytes(), 700u);
  const reclaim_result rest = r.reclaim({});
  EXPECT_EQ(rest.bytes_freed, 700u);
  EXPECT_FALSE(rest.more_remains);
  EXPECT_EQ(r.cached_bytes(), 0u);
}

}  // namespace
}  // namespace strata
