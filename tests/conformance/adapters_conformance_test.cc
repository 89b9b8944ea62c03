// The adapters that are memory resources keep the contracts every resource
// keeps.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/adapters/resource_adaptor.h"
#include "strata/adapters/stats_resource.h"
#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/system_resources.h"
#include "strata/size_class_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

// Over a polymorphic_allocator on the checker, so the checker sees every
// byte: a standard allocator like any other, from the adaptor's view.
struct resource_adaptor_factory : conformance_traits {
  static constexpr std::string_view kName = "resource_adaptor";
  static constexpr bool kOwnsMemory = false;  // the allocator's blocks
  using adaptor = resource_adaptor<std::pmr::polymorphic_allocator<std::byte>>;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<adaptor>(
        std::pmr::polymorphic_allocator<std::byte>(upstream));
  }
};

struct synchronized_size_class_factory : conformance_traits {
  static constexpr std::string_view kName =
      "synchronized_resource<size_class_resource>";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<synchronized_resource<size_class_resource>>(
        size_class_options{}, upstream);
  }
};

struct stats_resource_factory : conformance_traits {
  static constexpr std::string_view kName = "stats_resource";
  static constexpr bool kOwnsMemory = false;  // a pass-through layer
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<stats_resource>(upstream);
  }
};

// The system upstreams take nothing from the checker; the suite still holds
// them to every contract it can see.
struct malloc_resource_factory : conformance_traits {
  static constexpr std::string_view kName = "malloc_resource";
  static constexpr bool kOwnsMemory = false;
  static constexpr bool kUsesUpstream = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource*) {
    return std::make_unique<malloc_resource>();
  }
};

struct page_resource_factory : conformance_traits {
  static constexpr std::string_view kName = "page_resource";
  static constexpr bool kOwnsMemory = false;
  static constexpr bool kUsesUpstream = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource*) {
    return std::make_unique<page_resource>();
  }
};

using Adapters =
    ::testing::Types<resource_adaptor_factory, synchronized_size_class_factory,
                     stats_resource_factory, malloc_resource_factory,
                     page_resource_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Adapters, ConformanceTest, Adapters);

}  // namespace strata::testing
