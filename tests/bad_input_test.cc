// Bad input fails loudly in every build, release included: the requests no
// resource can serve and the frees that would wrap a counter.
//
//   sizes above PTRDIFF_MAX  AbsurdSizesThrowBeforeTheUpstream,
//                            GovernorRejectsSizesAboveInt64Max
//   bad alignments           StatsResourceRejectsABadAlignment
//   counters                 LimitCountStopsAtZeroOnAnOversizedFree,
//                            GovernorCountStopsAtZeroOnAnOversizedFree
// Misuse that checked builds report is in each resource's own test.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/stats_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/governor_resource.h"
#include "strata/internal/checked_blocks.h"
#include "strata/limit_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"
#include "strata/sync_pool_resource.h"

namespace strata {
namespace {

// An upstream that serves anything it is asked, as libstdc++ 12's
// new_delete_resource does for SIZE_MAX: reaching it with an absurd size is
// the defect.
class anything_goes final : public std::pmr::memory_resource {
 public:
  std::size_t calls = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++calls;
    if (bytes > (std::size_t{1} << 30)) return &dummy_;
    return ::operator new(bytes, std::align_val_t(alignment));
  }
  void do_deallocate(void* p, std::size_t, std::size_t alignment) override {
    if (p != &dummy_) ::operator delete(p, std::align_val_t(alignment));
  }
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  alignas(64) std::byte dummy_[64] = {};
};

using factory =
    std::function<std::unique_ptr<std::pmr::memory_resource>(anything_goes*)>;

struct subject {
  std::string name;
  factory make;
};

std::vector<subject> subjects() {
  return {
      {"size_class",
       [](anything_goes* up) {
         return std::make_unique<size_class_resource>(size_class_options{}, up);
       }},
      {"sync_pool",
       [](anything_goes* up) {
         return std::make_unique<sync_pool_resource>(sync_pool_options{}, up);
       }},
      {"bounded_pool",
       [](anything_goes* up) {
         return std::make_unique<bounded_pool_resource>(bounded_pool_options{},
                                                        up);
       }},
      {"monotonic_arena",
       [](anything_goes* up) {
         return std::make_unique<monotonic_arena>(monotonic_arena_options{},
                                                  up);
       }},
      {"limit",
       [](anything_goes* up) {
         return std::make_unique<limit_resource>(limit_resource_options{}, up);
       }},
      {"governor",
       [](anything_goes* up) {
         return std::make_unique<governor_resource>(governor_options{}, up);
       }},
      {"stats",
       [](anything_goes* up) { return std::make_unique<stats_resource>(up); }},
      {"test_resource",
       [](anything_goes* up) {
         return std::make_unique<test_resource>(test_resource_options{}, up);
       }},
  };
}

TEST(BadInputTest, AbsurdSizesThrowBeforeTheUpstream) {
  const std::size_t absurd[] = {SIZE_MAX, SIZE_MAX - 4095,
                                std::size_t{PTRDIFF_MAX} + 1};
  for (const subject& s : subjects()) {
    anything_goes upstream;
    const std::unique_ptr<std::pmr::memory_resource> r = s.make(&upstream);
    const std::size_t calls = upstream.calls;
    for (const std::size_t bytes : absurd) {
      for (const std::size_t alignment : {8u, 64u, 8192u}) {
        EXPECT_THROW(static_cast<void>(r->allocate(bytes, alignment)),
                     std::bad_alloc)
            << s.name << " " << bytes << " " << alignment;
      }
    }
    EXPECT_EQ(upstream.calls, calls) << s.name << " passed an absurd size on";
    void* p = r->allocate(64, 8);  // and it still works
    r->deallocate(p, 64, 8);
  }
  // The router checks before any route: its last route is a heap.
  anything_goes upstream;
  size_class_resource slabs({}, &upstream);
  const size_route routes[] = {{.max_size = 256, .resource = &slabs}};
  size_router_resource router(routes, &upstream);
  EXPECT_THROW(static_cast<void>(router.allocate(SIZE_MAX, 8)), std::bad_alloc);
  EXPECT_THROW(static_cast<void>(router.allocate(64, 3)),
               std::invalid_argument);
  EXPECT_EQ(upstream.calls, 0u);
}

TEST(BadInputTest, GovernorRejectsSizesAboveInt64Max) {
  // Its per-thread count is signed: such a size once overflowed it (when a
  // thread had freed more than it allocated) and reached the upstream.
  anything_goes upstream;
  governor_resource governor({.hard_limit = 1 << 20}, &upstream);
  void* elsewhere = nullptr;
  std::thread([&] { elsewhere = governor.allocate(64, 8); }).join();
  governor.deallocate(elsewhere, 64, 8);  // this thread's count goes below 0
  const std::size_t calls = upstream.calls;
  for (const std::size_t bytes :
       {std::size_t{INT64_MAX} + 1, SIZE_MAX, SIZE_MAX / 2 + 12345}) {
    EXPECT_THROW(static_cast<void>(governor.allocate(bytes, 8)),
                 std::bad_alloc);
  }
  EXPECT_EQ(upstream.calls, calls) << "an absurd size reached the upstream";
  EXPECT_EQ(governor.stats().live_bytes, 0u);
}

TEST(BadInputTest, StatsResourceRejectsABadAlignment) {
  anything_goes upstream;
  stats_resource stats(&upstream);
  // Hidden from the compiler, which rejects such a constant outright.
  const volatile std::size_t three = 3;
  const volatile std::size_t zero = 0;
  EXPECT_THROW(static_cast<void>(stats.allocate(64, three)),
               std::invalid_argument);
  EXPECT_THROW(static_cast<void>(stats.allocate(64, zero)),
               std::invalid_argument);
  EXPECT_EQ(upstream.calls, 0u) << "a bad alignment reached the upstream";
  EXPECT_EQ(stats.stats().allocations, 0u);
}

// A free of more bytes than are counted: clamped at zero in a release build
// (so later allocations still fit under the limit); checked builds abort.
template <class Resource, class Count>
void expect_oversized_free_clamps(Resource& r, Count count) {
  void* small = r.allocate(16, 8);
  if constexpr (internal::kChecked) {
    EXPECT_DEATH(r.deallocate(small, 4096, 8), "only 16 are counted");
    r.deallocate(small, 16, 8);
  } else {
    r.deallocate(small, 4096, 8);  // misuse: the wrong size
    EXPECT_EQ(count(), 0u);
    void* p = r.allocate(1000, 8);  // not refused by a wrapped count
    EXPECT_EQ(count(), 1000u);
    r.deallocate(p, 1000, 8);
  }
}

// The upstream ignores sizes, so that the count, not the heap (or a
// sanitizer's size check), meets the wrong size first.
TEST(BadInputTest, LimitCountStopsAtZeroOnAnOversizedFree) {
  anything_goes upstream;
  limit_resource limit({.limit = 1 << 20}, &upstream);
  expect_oversized_free_clamps(limit, [&] { return limit.in_use(); });
}

TEST(BadInputTest, GovernorCountStopsAtZeroOnAnOversizedFree) {
  anything_goes upstream;
  governor_resource governor({.hard_limit = 1 << 20}, &upstream);
  expect_oversized_free_clamps(
      governor, [&] { return governor.stats().footprint_bytes; });
}

}  // namespace
}  // namespace strata
