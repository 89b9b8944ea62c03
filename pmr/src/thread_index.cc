#include "strata/internal/thread_index.h"

#include <atomic>

namespace strata::internal {

std::uint32_t assign_thread_index() noexcept {
  static std::atomic<std::uint32_t> next{0};
  // UINT32_MAX means "unassigned"; skip it when the counter wraps.
  std::uint32_t index = next.fetch_add(1, std::memory_order_relaxed);
  if (index == UINT32_MAX) index = next.fetch_add(1, std::memory_order_relaxed);
  tls_thread_index = index;
  return index;
}

}  // namespace strata::internal
