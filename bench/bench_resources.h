// The resources every benchmark runs over, and the helpers the workloads share.
//
// Each workload registers one benchmark per entry of `resources()`, so that
// every strata row has its standard peer and new_delete_resource beside it in
// the same run. A strata resource joins every workload with one line in
// bench_resources.cc.
#ifndef STRATA_BENCH_BENCH_RESOURCES_H_
#define STRATA_BENCH_BENCH_RESOURCES_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"

#include "strata/resource_stack.h"

namespace strata::bench {

/// An upstream that counts the bytes it holds, so a workload can report the
/// bytes a resource keeps from its upstream per byte its users hold.
class counting_resource final : public std::pmr::memory_resource {
 public:
  [[nodiscard]] std::size_t bytes_held() const noexcept {
    return held_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t calls() const noexcept {
    return calls_.load(std::memory_order_relaxed);
  }
  /// Where the memory comes from: new_delete_resource() unless this is
  /// called, before the first allocation.
  void set_base(std::pmr::memory_resource* base) noexcept { base_ = base; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override;
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource* base_ = std::pmr::new_delete_resource();
  std::atomic<std::size_t> held_{0};
  std::atomic<std::size_t> calls_{0};
};

/// One resource under test, built over a counting upstream.
struct bench_instance {
  counting_resource upstream;
  /// A whole stack, for the entries built as one (destroyed before the
  /// upstream beneath it).
  std::unique_ptr<resource_stack> stack;
  /// A buffer the resource starts from, for the variants that have one.
  std::unique_ptr<std::byte[]> buffer;
  std::unique_ptr<std::pmr::memory_resource> owned;
  /// What the workloads allocate from.
  std::pmr::memory_resource* resource = nullptr;
  /// Called between cycles of a workload (monotonic resources release here,
  /// the way a request loop would); may be empty.
  std::function<void(std::pmr::memory_resource*)> end_cycle;

  void cycle() {
    if (end_cycle) end_cycle(resource);
  }

  /// False when the resource does not sit on `upstream` (new_delete_resource
  /// wrapped as it is, a counting layer straight over it): its footprint is
  /// then read from malloc.
  bool uses_counting_upstream = true;
  [[nodiscard]] bool has_upstream() const { return uses_counting_upstream; }
};

/// How to build one resource, and what it is fit for.
struct resource_entry {
  /// Row name in the report, e.g. "std_unsync_pool".
  std::string name{};
  /// The row this one is compared with in the report ("" for the peers).
  std::string peer{};
  /// May be shared by threads.
  bool thread_safe = false;
  /// Gives freed blocks back for reuse; workloads with a long-lived working
  /// set skip resources that do not (they would only grow).
  bool reuses_memory = true;
  /// Serves one block size well and passes the rest to its upstream (a
  /// fixed-size pool); workloads of mixed sizes skip it.
  bool fixed_size = false;
  /// Builds a fresh instance.
  std::function<std::unique_ptr<bench_instance>()> make{};
};

/// A governor_resource over a sync_pool_resource over the instance's
/// upstream, built by resource_stack.
std::unique_ptr<bench_instance> governed_sync_pool(
    const governor_options& options);

/// The recommended stack: resource_stack::builder(upstream).sync_pool(),
/// over the instance's counting upstream. Not a row of resources() (it is
/// the sync pool as the builder puts it); the phase-shift and latency tools
/// run it by name ("stack(sync_pool)").
std::unique_ptr<bench_instance> recommended_stack();

/// The decay (how long idle cached memory may stay; strata/decay.h) that the
/// strata resources of resources() and recommended_stack() are built with
/// from now on; nullopt (the default) leaves each resource's own default.
/// Set by strata_phase_shift's --decay-ms.
void set_decay_override(std::optional<std::chrono::milliseconds> decay);

/// Which strata options structs have a `decay` field in this build, e.g.
/// "size_class_options:yes sync_pool_options:no bounded_pool_options:no":
/// where set_decay_override() reaches.
std::string decay_support();

/// Every resource the benchmarks run over, peers first.
const std::vector<resource_entry>& resources();

/// Pins the calling thread to the `index`-th CPU this process may run on, so
/// the two threads of a cross-thread workload stay on different cores. Does
/// nothing when fewer than two CPUs are available.
void pin_to_cpu(int index);

/// The bytes malloc has handed out and not had back (glibc's mallinfo2), or 0
/// where that is unknown: how new_delete_resource's footprint is measured.
std::size_t malloc_bytes_in_use();

/// A workload body: runs `state` over a fresh instance of `entry`.
using workload_fn = void (*)(benchmark::State& state,
                             const resource_entry& entry);

/// Registers `BM_<workload>/<resource>` for every resource that `fits`
/// (every resource when `fits` is null) and returns the new benchmarks so the
/// caller can configure them.
std::vector<benchmark::internal::Benchmark*> register_workload(
    std::string_view workload, workload_fn fn,
    bool (*fits)(const resource_entry&) = nullptr);

/// Workloads of many sizes: every resource but the fixed-size pools.
inline bool serves_any_size(const resource_entry& entry) {
  return !entry.fixed_size;
}

/// A long-lived working set of many sizes: resources that reuse freed blocks
/// of any size.
inline bool reuses_any_size(const resource_entry& entry) {
  return entry.reuses_memory && !entry.fixed_size;
}

}  // namespace strata::bench

#endif  // STRATA_BENCH_BENCH_RESOURCES_H_
