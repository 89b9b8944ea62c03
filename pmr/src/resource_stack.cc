#include "strata/resource_stack.h"

#include <utility>

namespace strata {

resource_stack::resource_stack(resource_stack&& other) noexcept
    : upstream_(other.upstream_),
      layers_(std::move(other.layers_)),
      registrations_(std::move(other.registrations_)) {
  other.layers_.clear();
  other.registrations_.clear();
}

resource_stack& resource_stack::operator=(resource_stack&& other) noexcept {
  if (this != &other) {
    release();
    upstream_ = other.upstream_;
    layers_ = std::move(other.layers_);
    registrations_ = std::move(other.registrations_);
    other.layers_.clear();
    other.registrations_.clear();
  }
  return *this;
}

resource_stack::~resource_stack() { release(); }

void resource_stack::release() noexcept {
  for (const registration& r : registrations_) {
    r.governor->remove_reclaimable(*r.cache);
  }
  registrations_.clear();
  while (!layers_.empty()) layers_.pop_back();  // top to bottom
}

resource_stack::builder::builder(std::pmr::memory_resource* upstream)
    : upstream_(upstream) {}

namespace {

template <class Resource, class Options>
resource_stack::layer_factory factory_of(Options options) {
  return [options =
              std::move(options)](std::pmr::memory_resource* upstream) mutable
         -> std::unique_ptr<std::pmr::memory_resource> {
    return std::make_unique<Resource>(std::move(options), upstream);
  };
}

}  // namespace

resource_stack::builder& resource_stack::builder::arena(
    const monotonic_arena_options& options) {
  return layer(factory_of<monotonic_arena>(options));
}

resource_stack::builder& resource_stack::builder::size_classes(
    const size_class_options& options) {
  return layer(factory_of<size_class_resource>(options));
}

resource_stack::builder& resource_stack::builder::sync_pool(
    const sync_pool_options& options) {
  return layer(factory_of<sync_pool_resource>(options));
}

resource_stack::builder& resource_stack::builder::bounded_pool(
    const bounded_pool_options& options) {
  return layer(factory_of<bounded_pool_resource>(options));
}

resource_stack::builder& resource_stack::builder::limit(
    limit_resource_options options) {
  return layer(factory_of<limit_resource>(std::move(options)));
}

resource_stack::builder& resource_stack::builder::size_router(
    std::vector<size_route> routes) {
  return layer([routes = std::move(routes)](std::pmr::memory_resource* upstream)
                   -> std::unique_ptr<std::pmr::memory_resource> {
    return std::make_unique<size_router_resource>(routes, upstream);
  });
}

resource_stack::builder& resource_stack::builder::governor(
    const governor_options& options) {
  specs_.push_back({.make = nullptr, .is_governor = true, .governor = options});
  return *this;
}

resource_stack::builder& resource_stack::builder::layer(layer_factory make) {
  specs_.push_back(
      {.make = std::move(make), .is_governor = false, .governor = {}});
  return *this;
}

resource_stack resource_stack::builder::build() {
  resource_stack stack;
  stack.upstream_ = upstream_;
  auto* base_governor = dynamic_cast<governor_resource*>(upstream_);

  // A meter goes beneath the caches under each governor: just above the
  // governor below it, or at the bottom. Every governor but the top has one
  // right above it (unattached if no governor follows), which marks calls
  // from the layers above: a governor called from there (by a pool, under
  // its lock) refuses instead of pausing. A stack built on a governor gets
  // one at the bottom for the same reason.
  std::vector<bool> meter_before(specs_.size(), false);
  std::size_t first_above_governor = 0;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].is_governor) {
      meter_before[first_above_governor] = true;
      first_above_governor = i + 1;
      if (i + 1 < specs_.size()) meter_before[i + 1] = true;
    }
  }
  if (base_governor != nullptr && !specs_.empty()) meter_before[0] = true;

  struct placed_governor {
    governor_resource* governor;
    std::size_t index;        // in layers_
    std::size_t meter_index;  // in layers_
  };
  std::vector<placed_governor> governors;
  try {
    governor_meter* meter = nullptr;
    std::size_t meter_index = 0;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (meter_before[i]) {
        auto made = std::make_unique<governor_meter>(stack.top());
        meter = made.get();
        meter_index = stack.layers_.size();
        stack.layers_.push_back(std::move(made));
      }
      spec& s = specs_[i];
      if (s.is_governor) {
        auto made =
            std::make_unique<governor_resource>(s.governor, stack.top(), meter);
        governors.push_back({made.get(), stack.layers_.size(), meter_index});
        stack.layers_.push_back(std::move(made));
        meter = nullptr;
      } else {
        stack.layers_.push_back(s.make(stack.top()));
      }
    }
    for (std::size_t i = 0; i < stack.layers_.size(); ++i) {
      auto* cache = dynamic_cast<reclaimable*>(stack.layers_[i].get());
      if (cache == nullptr) continue;
      // A cache used by one thread at a time is reclaimed only by the
      // governor right above it, whose callers are the cache's.
      const bool any_thread = cache->reclaim_is_thread_safe();
      for (const placed_governor& g : governors) {
        if (g.index < i || (!any_thread && g.index != i + 1)) continue;
        // Recorded first: removing a cache never added is harmless.
        stack.registrations_.push_back({g.governor, cache});
        g.governor->add_reclaimable(*cache, g.meter_index < i
                                                ? cache_placement::inside
                                                : cache_placement::outside);
      }
      if (base_governor != nullptr && any_thread) {
        stack.registrations_.push_back({base_governor, cache});
        base_governor->add_reclaimable(*cache, cache_placement::outside);
      }
    }
  } catch (...) {
    stack.release();
    throw;
  }
  specs_.clear();
  return stack;
}

}  // namespace strata
