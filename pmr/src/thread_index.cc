#include "strata/internal/thread_index.h"

#include <functional>
#include <mutex>
#include <queue>
#include <vector>

namespace strata::internal {
namespace {

// Indices of live threads: the next never-used one, and the ones that exited
// threads gave back (smallest first, to keep indices dense).
struct index_registry {
  std::mutex mu;
  std::uint32_t next = 0;
  std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, std::greater<>>
      returned;
};

// Never destroyed: threads may exit after static destruction has begun.
index_registry& registry() {
  static auto* r = new index_registry;
  return *r;
}

// Gives the thread's index back when the thread exits.
struct index_holder {
  index_holder() = default;
  index_holder(const index_holder&) = delete;
  index_holder& operator=(const index_holder&) = delete;
  ~index_holder() {
    if (tls_thread_index == UINT32_MAX) return;
    index_registry& r = registry();
    std::lock_guard lock(r.mu);
    try {
      r.returned.push(tls_thread_index);
    } catch (...) {
      // Out of memory at thread exit: the index is not reused, which only
      // makes a later thread's index larger.
    }
    tls_thread_index = UINT32_MAX;
  }
};

}  // namespace

std::uint32_t assign_thread_index() noexcept {
  static thread_local index_holder holder;  // registers the exit hook
  static_cast<void>(&holder);
  index_registry& r = registry();
  std::lock_guard lock(r.mu);
  std::uint32_t index = 0;
  if (r.returned.empty()) {
    index = r.next++;
  } else {
    index = r.returned.top();
    r.returned.pop();
  }
  tls_thread_index = index;
  return index;
}

}  // namespace strata::internal
