#include "strata/size_router_resource.h"

#include <cstdio>
#include <stdexcept>

#include "absl/strings/str_format.h"

namespace strata {

size_router_resource::size_router_resource(std::span<const size_route> routes,
                                           std::pmr::memory_resource* upstream)
    : routes_(routes.begin(), routes.end()), upstream_(upstream) {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].resource == nullptr) {
      throw std::invalid_argument(absl::StrFormat(
          "strata: size_router_resource: route %u has no resource", i));
    }
    if (i > 0 && routes_[i].max_size <= routes_[i - 1].max_size) {
      throw std::invalid_argument(absl::StrFormat(
          "strata: size_router_resource: routes must be sorted and not "
          "overlap: route %u (up to %u bytes) follows one up to %u bytes",
          i, routes_[i].max_size, routes_[i - 1].max_size));
    }
  }
}

size_router_resource::~size_router_resource() {
  if constexpr (internal::kChecked) {
    const std::size_t left = outstanding_.load(std::memory_order_relaxed);
    if (left != 0) {
      std::fprintf(stderr,
                   "strata: size_router_resource: destroyed with %zu bytes "
                   "still outstanding\n",
                   left);
    }
  }
}

}  // namespace strata
