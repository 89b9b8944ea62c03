// limit_resource keeps the contracts every resource keeps.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/limit_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct limit_resource_factory : conformance_traits {
  static constexpr std::string_view kName = "limit_resource";
  // A pass-through layer: it tracks no blocks.
  static constexpr bool kOwnsMemory = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<limit_resource>(
        limit_resource_options{.limit = std::size_t{4} << 30}, upstream);
  }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(LimitResource, ConformanceTest,
                               ::testing::Types<limit_resource_factory>);

}  // namespace strata::testing
