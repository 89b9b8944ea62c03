// bounded_pool_resource keeps the contracts every resource keeps.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/bounded_pool_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct bounded_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "bounded_pool_resource";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<bounded_pool_resource>(bounded_pool_options{},
                                                   upstream);
  }
};

// A tiny ring that overflows at once, prewarmed, with one shard: every path
// (hits, drops, misses) runs in every scenario.
struct tiny_bounded_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "bounded_pool_resource(tiny)";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<bounded_pool_resource>(
        bounded_pool_options{.block_size = 24,
                             .block_alignment = 8,
                             .max_pooled = 4,
                             .prewarm = 2,
                             .shards = 1},
        upstream);
  }
};

using BoundedPools =
    ::testing::Types<bounded_pool_factory, tiny_bounded_pool_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(BoundedPool, ConformanceTest, BoundedPools);

}  // namespace strata::testing
