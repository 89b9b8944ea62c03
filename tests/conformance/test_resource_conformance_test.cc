// test_resource is itself a memory resource that users put in their stacks,
// so it keeps the same contracts as every other resource.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/adapters/test_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct test_resource_factory : conformance_traits {
  static constexpr std::string_view kName = "test_resource";
  // A checker that passes blocks through owns none of them.
  static constexpr bool kOwnsMemory = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<test_resource>(test_resource_options{}, upstream);
  }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(TestResource, ConformanceTest,
                               ::testing::Types<test_resource_factory>);

}  // namespace strata::testing
