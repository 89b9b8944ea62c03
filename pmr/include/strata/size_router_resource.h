// strata::size_router_resource: sends each request to one of several
// resources by its size, the central memory manager of a runtime: small
// blocks to a pool, middle sizes to size classes, large ones straight to the
// upstream.
//
// Routes are given as (largest size, resource) pairs in increasing order; a
// request goes to the first route whose largest size holds it, and a request
// larger than every route to the upstream. Since deallocate is told the size,
// a free takes the same route with no lookup of the pointer.
//
//   size:  0 ......... 256 ............ 32 KiB ............... any
//          [ pool    ] [ size classes ] [ upstream            ]
//
// Thread safety: as thread-safe as the resources it routes to; it keeps no
// state of its own on the hot path (checked builds count the bytes
// outstanding, to report them at destruction).
//
// Example:
//
//   strata::sync_pool_resource small_blocks;
//   strata::size_class_resource middle;
//   const strata::size_route routes[] = {{256, &small_blocks},
//                                        {32 << 10, &middle}};
//   strata::size_router_resource router(routes);  // larger: the default
//   std::pmr::vector<char> big(1 << 20, &router); // to the upstream
#ifndef STRATA_SIZE_ROUTER_RESOURCE_H_
#define STRATA_SIZE_ROUTER_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <span>

#include "absl/base/attributes.h"
#include "absl/container/inlined_vector.h"

#include "strata/internal/alignment.h"
#include "strata/internal/checked_blocks.h"
#include "strata/internal/resource_base.h"

namespace strata {

/// One route: requests of at most `max_size` bytes go to `resource`.
struct size_route {
  std::size_t max_size = 0;
  std::pmr::memory_resource* resource = nullptr;
};

/// Routes requests by size; see the comment at the top of this file.
class size_router_resource final
    : public internal::resource_base<size_router_resource> {
 public:
  /// Copies `routes`. Throws std::invalid_argument unless their sizes are
  /// strictly increasing (routes may not overlap) and every resource is set.
  explicit size_router_resource(
      std::span<const size_route> routes,
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  size_router_resource(const size_router_resource&) = delete;
  size_router_resource& operator=(const size_router_resource&) = delete;
  /// In checked builds, reports bytes still outstanding on stderr.
  ~size_router_resource() override;

  /// The route's resource allocates. Cost: a compare per route passed.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    // The last route may be a heap that wraps absurd sizes or trusts the
    // alignment: both are checked here, once.
    internal::check_request("size_router_resource", bytes, alignment);
    void* p = route_for(bytes)->allocate(bytes, alignment);
    if constexpr (internal::kChecked) {
      outstanding_.fetch_add(bytes, std::memory_order_relaxed);
    }
    return p;
  }

  /// The same route's resource frees: the size picks it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void deallocate(
      void* p, std::size_t bytes,
      std::size_t alignment = alignof(std::max_align_t)) noexcept {
    route_for(bytes)->deallocate(p, bytes, alignment);
    if constexpr (internal::kChecked) {
      outstanding_.fetch_sub(bytes, std::memory_order_relaxed);
    }
  }

  /// The resource that serves requests of `bytes` bytes.
  [[nodiscard]] std::pmr::memory_resource* route_for(
      std::size_t bytes) const noexcept {
    for (const size_route& r : routes_) {
      if (bytes <= r.max_size) return r.resource;
    }
    return upstream_;
  }

  [[nodiscard]] std::span<const size_route> routes() const noexcept {
    return routes_;
  }
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }

 private:
  absl::InlinedVector<size_route, 4> routes_;
  std::pmr::memory_resource* upstream_;
  std::atomic<std::size_t> outstanding_{0};  // checked builds only
};

}  // namespace strata

#endif  // STRATA_SIZE_ROUTER_RESOURCE_H_
