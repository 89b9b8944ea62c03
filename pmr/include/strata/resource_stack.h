// strata::resource_stack: the layers of one allocation stack, owned together,
// built bottom to top with a small fluent builder over an upstream.
//
// A service typically builds one stack per subsystem over one process-wide
// governor, and hands out each stack's top():
//
//   strata::governor_resource process({.hard_limit = 1 << 30},
//                                     strata::system_pages());
//   auto cache = strata::resource_stack::builder(&process)
//                    .size_classes()
//                    .governor({.hard_limit = 256 << 20})
//                    .build();
//   std::pmr::unordered_map<int, std::pmr::string> m(cache.top());
//
// What the builder arranges, so that a hand-built stack need not:
//   - Beneath the caching layers under each governor it puts that
//     governor's governor_meter, so the governor charges the footprint
//     exactly where memory enters the stack (see governor_resource.h).
//   - Every layer that implements strata::reclaimable is registered with
//     each governor above it in the stack (`inside` when it sits between
//     that governor and its meter) and with the governor the stack is built
//     on, if its upstream is one (`outside`); a meter at the bottom then
//     marks calls into that governor as coming from inside this stack. A
//     layer used by one thread at a time (size classes, an arena) is
//     registered only with a governor right above it.
//   - Above every governor but the top goes an unattached meter: a governor
//     called by a pool under its lock refuses at once and leaves the pause
//     to the governor on top, which runs outside every lock.
//   - Destruction unregisters them all, then destroys the layers top to
//     bottom, so each layer gives its memory back to a layer still alive.
//
// Thread safety: building is not; the stack is as thread-safe as its top
// layer (and the layers it reaches). The stack is movable; top() and the
// layers keep their addresses.
#ifndef STRATA_RESOURCE_STACK_H_
#define STRATA_RESOURCE_STACK_H_

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <vector>

#include "absl/functional/any_invocable.h"

#include "strata/bounded_pool_resource.h"
#include "strata/governor_resource.h"
#include "strata/limit_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/page_resource.h"
#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"
#include "strata/sync_pool_resource.h"

namespace strata {

class resource_stack {
 public:
  /// Makes a layer over the resource beneath it.
  using layer_factory =
      absl::AnyInvocable<std::unique_ptr<std::pmr::memory_resource>(
          std::pmr::memory_resource* upstream)>;

  class builder;

  resource_stack(resource_stack&& other) noexcept;
  resource_stack& operator=(resource_stack&& other) noexcept;
  resource_stack(const resource_stack&) = delete;
  resource_stack& operator=(const resource_stack&) = delete;
  /// Unregisters the caches from the governors, then destroys the layers
  /// top to bottom.
  ~resource_stack();

  /// The resource to hand out: the top layer (the upstream if none).
  [[nodiscard]] std::pmr::memory_resource* top() const noexcept {
    return layers_.empty() ? upstream_ : layers_.back().get();
  }
  /// The resource the stack is built on.
  [[nodiscard]] std::pmr::memory_resource* upstream() const noexcept {
    return upstream_;
  }
  /// Layers, bottom (0) to top, meters included.
  [[nodiscard]] std::size_t size() const noexcept { return layers_.size(); }
  [[nodiscard]] std::pmr::memory_resource* layer(std::size_t i) const {
    return layers_.at(i).get();
  }
  /// The topmost layer of type T (to read its stats), or nullptr.
  template <class T>
  [[nodiscard]] T* find() const noexcept {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
      if (auto* found = dynamic_cast<T*>(it->get())) return found;
    }
    return nullptr;
  }

 private:
  struct registration {
    governor_resource* governor;
    reclaimable* cache;
  };

  resource_stack() = default;
  void release() noexcept;

  std::pmr::memory_resource* upstream_ = nullptr;
  std::vector<std::unique_ptr<std::pmr::memory_resource>> layers_;
  std::vector<registration> registrations_;
};

/// Describes a stack bottom to top; build() makes it.
class resource_stack::builder {
 public:
  /// A stack over `upstream`, which must outlive it. The default takes
  /// pages from the OS and gives them back (system_pages()), so a governor's
  /// meter counts what the process holds; it suits stacks whose bottom layer
  /// asks for spans (size classes, a sync pool, an arena). A stack without
  /// one passes every request down whole: give it an upstream for small
  /// blocks, such as std::pmr::new_delete_resource().
  explicit builder(std::pmr::memory_resource* upstream = system_pages());

  builder& arena(const monotonic_arena_options& options = {});
  builder& size_classes(const size_class_options& options = {});
  builder& sync_pool(const sync_pool_options& options = {});
  builder& bounded_pool(const bounded_pool_options& options = {});
  builder& limit(limit_resource_options options = {});
  builder& governor(const governor_options& options = {});
  /// A size_router_resource: requests up to each route's max_size go to its
  /// resource (which must outlive the stack), larger ones to the layer
  /// beneath. Throws std::invalid_argument (at build()) for bad routes.
  builder& size_router(std::vector<size_route> routes);
  /// Any resource, made over the layer beneath when the stack is built. If
  /// it implements strata::reclaimable it is registered like a pool.
  builder& layer(layer_factory make);

  /// Builds the layers bottom to top. Throws what a layer's constructor
  /// throws; the layers built so far are then destroyed, top to bottom.
  [[nodiscard]] resource_stack build();

 private:
  struct spec {
    layer_factory make;  // empty for a governor
    bool is_governor = false;
    governor_options governor;
  };

  std::pmr::memory_resource* upstream_;
  std::vector<spec> specs_;
};

}  // namespace strata

#endif  // STRATA_RESOURCE_STACK_H_
