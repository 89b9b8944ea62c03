// size_class_resource keeps the contracts every resource keeps.

#include <array>
#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/size_class_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct size_class_factory : conformance_traits {
  static constexpr std::string_view kName = "size_class_resource";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<size_class_resource>(size_class_options{},
                                                 upstream);
  }
};

// Few classes and small spans: many spans per scenario, many requests
// between classes, and the largest class small enough that the upstream
// serves a good share.
struct coarse_size_class_factory : conformance_traits {
  static constexpr std::string_view kName = "size_class_resource(coarse)";
  static constexpr std::array<std::size_t, 5> kClasses = {24, 64, 200, 512,
                                                          2048};
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<size_class_resource>(
        size_class_options{.classes = kClasses, .span_size = 4096}, upstream);
  }
};

using SizeClasses =
    ::testing::Types<size_class_factory, coarse_size_class_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(SizeClass, ConformanceTest, SizeClasses);

}  // namespace strata::testing
