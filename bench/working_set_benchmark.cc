// A mixed-size working set: 10,000 live blocks, mostly small with some up to
// 8 KiB; each step frees a random block and allocates one of a new size. The
// closest of our workloads to a long-running service's heap. Also reports the
// bytes the resource holds from its upstream per byte its users hold.

#include <cstddef>

#include "benchmark/benchmark.h"

#include "bench_resources.h"
#include "working_set.h"

namespace strata::bench {
namespace {

void mixed_working_set(benchmark::State& state, const resource_entry& entry) {
  working_set blocks;
  auto instance = entry.make();
  std::pmr::memory_resource* r = instance->resource;
  const std::size_t malloc_before = malloc_bytes_in_use();
  blocks.fill(r);
  for (auto _ : state) blocks.step(r);
  // Resources wrapped as they are (new_delete_resource) have no upstream of
  // ours: malloc's own count of bytes in use stands in for it.
  const std::size_t held = instance->has_upstream()
                               ? instance->upstream.bytes_held()
                               : malloc_bytes_in_use() - malloc_before;
  state.counters["held_per_live"] =
      static_cast<double>(held) / static_cast<double>(blocks.live_bytes());
  blocks.clear(r);
  state.SetItemsProcessed(state.iterations());
}

const bool registered = [] {
  register_workload("MixedWorkingSet", mixed_working_set, reuses_any_size);
  return true;
}();

}  // namespace
}  // namespace strata::bench
