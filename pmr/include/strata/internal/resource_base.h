// The memory_resource glue every strata resource shares.
//
// A resource writes its fast paths as inline, non-virtual `allocate` and
// `deallocate` members (what callers holding the concrete type call), and
// derives from resource_base<itself>, which routes the virtual do_* members
// to them. A call through memory_resource* then pays one virtual call and
// runs the same inline code; do_is_equal is identity.
#ifndef STRATA_INTERNAL_RESOURCE_BASE_H_
#define STRATA_INTERNAL_RESOURCE_BASE_H_

#include <cstddef>
#include <memory_resource>

namespace strata::internal {

template <class Resource>
class resource_base : public std::pmr::memory_resource {
 protected:
  resource_base() = default;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) final {
    return static_cast<Resource*>(this)->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) final {
    static_cast<Resource*>(this)->deallocate(p, bytes, alignment);
  }
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept final {
    return this == &other;
  }
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_RESOURCE_BASE_H_
