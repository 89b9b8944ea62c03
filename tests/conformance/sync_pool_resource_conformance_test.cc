// sync_pool_resource keeps the contracts every resource keeps.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/sync_pool_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct sync_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "sync_pool_resource";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<sync_pool_resource>(sync_pool_options{}, upstream);
  }
};

// Small caches and buckets: spills, refills and pass-through in every
// scenario.
struct small_sync_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "sync_pool_resource(small)";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<sync_pool_resource>(
        sync_pool_options{.largest_pooled = 1024, .thread_cache_bytes = 256},
        upstream);
  }
};

using SyncPools = ::testing::Types<sync_pool_factory, small_sync_pool_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(SyncPool, ConformanceTest, SyncPools);

}  // namespace strata::testing
