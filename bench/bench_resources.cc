#include "bench_resources.h"

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>

#include <pthread.h>
#include <sched.h>

#include "strata/adapters/stats_resource.h"
#include "strata/adapters/synchronized_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/decay.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace strata::bench {
namespace {

std::optional<std::chrono::milliseconds> decay_override;

// Options structs that have a `decay` field (TODO(decay): once
// size_class_options, sync_pool_options and bounded_pool_options all have
// one, tuned() can set it unconditionally).
template <class Options>
concept has_decay = requires(Options options) {
  options.decay = decay_time(0);
};

// `options` with the decay override applied, if any: the one place
// --decay-ms reaches the resources. An options struct without a `decay`
// field yet keeps its default.
template <class Options>
Options tuned(Options options) {
  if constexpr (has_decay<Options>) {
    if (decay_override) options.decay = *decay_override;
  }
  return options;
}

// A resource that is its own instance: no upstream of ours beneath it.
std::unique_ptr<bench_instance> wrap(std::pmr::memory_resource* r) {
  auto instance = std::make_unique<bench_instance>();
  instance->resource = r;
  instance->uses_counting_upstream = false;
  return instance;
}

// An instance of R built over the instance's counting upstream.
template <class R>
std::unique_ptr<bench_instance> over_counting_upstream() {
  auto instance = std::make_unique<bench_instance>();
  instance->owned = std::make_unique<R>(&instance->upstream);
  instance->resource = instance->owned.get();
  return instance;
}

}  // namespace

std::unique_ptr<bench_instance> governed_sync_pool(
    const governor_options& options) {
  auto instance = std::make_unique<bench_instance>();
  instance->stack = std::make_unique<resource_stack>(
      resource_stack::builder(&instance->upstream)
          .sync_pool(tuned(sync_pool_options{}))
          .governor(options)
          .build());
  instance->resource = instance->stack->top();
  return instance;
}

std::unique_ptr<bench_instance> recommended_stack() {
  auto instance = std::make_unique<bench_instance>();
  instance->stack = std::make_unique<resource_stack>(
      resource_stack::builder(&instance->upstream)
          .sync_pool(tuned(sync_pool_options{}))
          .build());
  instance->resource = instance->stack->top();
  return instance;
}

void set_decay_override(std::optional<std::chrono::milliseconds> decay) {
  decay_override = decay;
}

std::string decay_support() {
  const auto has = [](bool yes) { return yes ? "yes" : "no"; };
  return std::string("size_class_options:") +
         has(has_decay<size_class_options>) +
         " sync_pool_options:" + has(has_decay<sync_pool_options>) +
         " bounded_pool_options:" + has(has_decay<bounded_pool_options>);
}

namespace {

// The "stack buffer" of the buffered variants: 64 KiB the instance owns.
constexpr std::size_t kUserBuffer = 64 << 10;

void release_monotonic(std::pmr::memory_resource* r) {
  static_cast<std::pmr::monotonic_buffer_resource*>(r)->release();
}

// A monotonic_buffer_resource, optionally over a 64 KiB user buffer; its
// cycle ends with release(), the only way it has to start over.
std::unique_ptr<bench_instance> std_monotonic(bool with_buffer) {
  auto instance = std::make_unique<bench_instance>();
  if (with_buffer) {
    instance->buffer = std::make_unique<std::byte[]>(kUserBuffer);
    instance->owned = std::make_unique<std::pmr::monotonic_buffer_resource>(
        instance->buffer.get(), kUserBuffer, &instance->upstream);
  } else {
    instance->owned = std::make_unique<std::pmr::monotonic_buffer_resource>(
        &instance->upstream);
  }
  instance->resource = instance->owned.get();
  instance->end_cycle = release_monotonic;
  return instance;
}

// A monotonic_arena, optionally over a 64 KiB user buffer; its cycle ends
// with reset(), which keeps the chunks for the next one.
std::unique_ptr<bench_instance> strata_arena(bool with_buffer) {
  auto instance = std::make_unique<bench_instance>();
  monotonic_arena_options options;
  if (with_buffer) {
    instance->buffer = std::make_unique<std::byte[]>(kUserBuffer);
    options.initial_buffer = {instance->buffer.get(), kUserBuffer};
  }
  instance->owned =
      std::make_unique<monotonic_arena>(options, &instance->upstream);
  instance->resource = instance->owned.get();
  instance->end_cycle = [](std::pmr::memory_resource* r) {
    static_cast<monotonic_arena*>(r)->reset();
  };
  return instance;
}

}  // namespace

void* counting_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* p = base_->allocate(bytes, alignment);
  held_.fetch_add(bytes, std::memory_order_relaxed);
  calls_.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void counting_resource::do_deallocate(void* p, std::size_t bytes,
                                      std::size_t alignment) {
  held_.fetch_sub(bytes, std::memory_order_relaxed);
  base_->deallocate(p, bytes, alignment);
}

const std::vector<resource_entry>& resources() {
  static const std::vector<resource_entry> entries = [] {
    std::vector<resource_entry> v;
    v.push_back({.name = "new_delete", .thread_safe = true, .make = [] {
                   return wrap(std::pmr::new_delete_resource());
                 }});
    v.push_back(
        {.name = "std_unsync_pool",
         .make =
             over_counting_upstream<std::pmr::unsynchronized_pool_resource>});
    v.push_back(
        {.name = "std_sync_pool",
         .thread_safe = true,
         .make = over_counting_upstream<std::pmr::synchronized_pool_resource>});
    v.push_back({.name = "std_monotonic", .reuses_memory = false, .make = [] {
                   return std_monotonic(false);
                 }});
    v.push_back({.name = "std_monotonic_buf64k",
                 .reuses_memory = false,
                 .make = [] { return std_monotonic(true); }});
    // strata resources, each naming its standard peer.
    v.push_back({.name = "arena",
                 .peer = "std_monotonic",
                 .reuses_memory = false,
                 .make = [] { return strata_arena(false); }});
    v.push_back({.name = "arena_buf64k",
                 .peer = "std_monotonic_buf64k",
                 .reuses_memory = false,
                 .make = [] { return strata_arena(true); }});
    v.push_back({.name = "bounded_pool",
                 .peer = "std_sync_pool",
                 .thread_safe = true,
                 .fixed_size = true,
                 .make = [] {
                   auto instance = std::make_unique<bench_instance>();
                   instance->owned = std::make_unique<bounded_pool_resource>(
                       tuned(bounded_pool_options{.block_size = 64,
                                                  .max_pooled = 4096}),
                       &instance->upstream);
                   instance->resource = instance->owned.get();
                   return instance;
                 }});
    v.push_back({.name = "size_class", .peer = "std_unsync_pool", .make = [] {
                   auto instance = std::make_unique<bench_instance>();
                   instance->owned = std::make_unique<size_class_resource>(
                       tuned(size_class_options{}), &instance->upstream);
                   instance->resource = instance->owned.get();
                   return instance;
                 }});
    v.push_back({.name = "sync_pool",
                 .peer = "std_sync_pool",
                 .thread_safe = true,
                 .make = [] {
                   auto instance = std::make_unique<bench_instance>();
                   instance->owned = std::make_unique<sync_pool_resource>(
                       tuned(sync_pool_options{}), &instance->upstream);
                   instance->resource = instance->owned.get();
                   return instance;
                 }});
    // The governor over the sync pool, as resource_stack builds it (its
    // meter beneath the pool): what a budget costs on the fast paths.
    v.push_back({.name = "governor(sync_pool)",
                 .peer = "sync_pool",
                 .thread_safe = true,
                 .make = [] { return governed_sync_pool({}); }});
    // Adapters on hot paths: what counting costs over the heap, and a
    // mutex around the slab allocator as the simplest shared resource.
    v.push_back({.name = "stats(new_delete)",
                 .peer = "new_delete",
                 .thread_safe = true,
                 .make = [] {
                   auto instance = std::make_unique<bench_instance>();
                   instance->owned = std::make_unique<stats_resource>(
                       std::pmr::new_delete_resource());
                   instance->uses_counting_upstream = false;
                   instance->resource = instance->owned.get();
                   return instance;
                 }});
    v.push_back(
        {.name = "synchronized(size_class)",
         .peer = "std_sync_pool",
         .thread_safe = true,
         .make = [] {
           auto instance = std::make_unique<bench_instance>();
           instance->owned =
               std::make_unique<synchronized_resource<size_class_resource>>(
                   tuned(size_class_options{}), &instance->upstream);
           instance->resource = instance->owned.get();
           return instance;
         }});
    return v;
  }();
  return entries;
}

void pin_to_cpu(int index) {
  // The CPUs the process may use, read once: a pinned thread's own mask (the
  // main thread runs thread 0 of a multi-threaded benchmark) must not shrink
  // the choice of the threads that come after it.
  static const cpu_set_t allowed = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) CPU_ZERO(&set);
    return set;
  }();
  const int count = CPU_COUNT(&allowed);
  if (count < 2) return;
  int seen = 0;
  for (std::size_t cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (seen++ == index % count) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
      return;
    }
  }
}

std::vector<benchmark::internal::Benchmark*> register_workload(
    std::string_view workload, workload_fn fn,
    bool (*fits)(const resource_entry&)) {
  std::vector<benchmark::internal::Benchmark*> registered;
  for (const resource_entry& entry : resources()) {
    if (fits != nullptr && !fits(entry)) continue;
    const std::string name = "BM_" + std::string(workload) + "/" + entry.name;
    registered.push_back(benchmark::RegisterBenchmark(
        name.c_str(),
        [fn, &entry](benchmark::State& state) { fn(state, entry); }));
  }
  return registered;
}

std::size_t malloc_bytes_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  return mallinfo2().uordblks;
#else
  return 0;
#endif
}

}  // namespace strata::bench
