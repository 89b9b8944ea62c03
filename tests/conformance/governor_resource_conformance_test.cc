// governor_resource keeps the contracts every resource keeps: alone (a
// pass-through layer that charges its own calls) and as the top of the
// stacks resource_stack builds (a meter beneath the caches).

#include <memory>
#include <memory_resource>
#include <string_view>
#include <utility>

#include "strata/governor_resource.h"
#include "strata/resource_stack.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct governor_factory : conformance_traits {
  static constexpr std::string_view kName = "governor_resource";
  // A pass-through layer: it tracks no blocks.
  static constexpr bool kOwnsMemory = false;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<governor_resource>(
        governor_options{.hard_limit = std::size_t{4} << 30}, upstream);
  }
};

// A built stack, as one resource; it may own the governor it is built on
// (destroyed after the stack).
class owned_stack final : public std::pmr::memory_resource {
 public:
  explicit owned_stack(resource_stack stack,
                       std::unique_ptr<governor_resource> base = nullptr)
      : base_(std::move(base)), stack_(std::move(stack)) {}

 private:
  void* do_allocate(std::size_t n, std::size_t a) override {
    return stack_.top()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    stack_.top()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override {
    return this == &o;
  }

  std::unique_ptr<governor_resource> base_;
  resource_stack stack_;
};

// The tcmalloc shape under a budget: thread caches over size classes, a
// governor on top, its meter at the bottom.
struct governed_stack_factory : conformance_traits {
  static constexpr std::string_view kName = "governed stack";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<owned_stack>(
        resource_stack::builder(upstream)
            .size_classes()
            .sync_pool()
            .governor({.hard_limit = std::size_t{4} << 30})
            .build());
  }
};

// A subsystem's stack built on a process governor.
struct subsystem_factory : conformance_traits {
  static constexpr std::string_view kName = "subsystem stack";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    auto process = std::make_unique<governor_resource>(
        governor_options{.hard_limit = std::size_t{4} << 30}, upstream);
    resource_stack stack = resource_stack::builder(process.get())
                               .sync_pool()
                               .governor({.hard_limit = std::size_t{2} << 30})
                               .build();
    return std::make_unique<owned_stack>(std::move(stack), std::move(process));
  }
};

using governor_factories =
    ::testing::Types<governor_factory, governed_stack_factory,
                     subsystem_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Governor, ConformanceTest, governor_factories);

}  // namespace strata::testing
