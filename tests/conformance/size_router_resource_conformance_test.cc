// size_router_resource keeps the contracts every resource keeps, routing to
// a size_class_resource and the upstream.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

// The router and the slab allocator it routes to, as one resource: small
// sizes to the slabs, the rest to the upstream.
class routed_slabs final : public std::pmr::memory_resource {
 public:
  explicit routed_slabs(std::pmr::memory_resource* upstream)
      : slabs_({}, upstream), router_(routes(), upstream) {}

 private:
  std::span<const size_route> routes() {
    routes_[0] = {1024, &slabs_};
    return routes_;
  }
  void* do_allocate(std::size_t n, std::size_t a) override {
    return router_.allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    router_.deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override {
    return this == &o;
  }

  size_class_resource slabs_;
  size_route routes_[1];
  size_router_resource router_;
};

struct size_router_factory : conformance_traits {
  static constexpr std::string_view kName = "size_router_resource";
  // Blocks routed to the upstream pass through: free them first.
  static constexpr bool kOwnsMemory = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<routed_slabs>(upstream);
  }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(SizeRouter, ConformanceTest,
                               ::testing::Types<size_router_factory>);

}  // namespace strata::testing
