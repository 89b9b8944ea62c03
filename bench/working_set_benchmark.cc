// A mixed-size working set: 10,000 live blocks, mostly small with some up to
// 8 KiB; each step frees a random block and allocates one of a new size. The
// closest of our workloads to a long-running service's heap. Also reports the
// bytes the resource holds from its upstream per byte its users hold.
//
// That figure moves by a few percent from step to step, and the timed loop
// ends wherever Google Benchmark's iteration count puts it (the same step in
// every repetition of one run, another step in the next run): one sample
// there made a run's figure a draw (size_class read 1.18 in one run and 1.22
// in the next, each with a spread of 0.002 across its repetitions). So after
// the timed loop, untimed, the set takes one more pass of the plan and the
// figure is the mean of samples spread evenly over it, with their peak
// beside it.

#include <algorithm>
#include <cstddef>

#include "benchmark/benchmark.h"

#include "bench_resources.h"
#include "working_set.h"

namespace strata::bench {
namespace {

// Samples of held/live over one pass of the plan.
constexpr std::size_t kHeldSamples = 16;

void mixed_working_set(benchmark::State& state, const resource_entry& entry) {
  working_set blocks;
  auto instance = entry.make();
  std::pmr::memory_resource* r = instance->resource;
  const std::size_t malloc_before = malloc_bytes_in_use();
  blocks.fill(r);
  for (auto _ : state) blocks.step(r);
  // Resources wrapped as they are (new_delete_resource) have no upstream of
  // ours: malloc's own count of bytes in use stands in for it.
  const auto held_per_live = [&] {
    const std::size_t held = instance->has_upstream()
                                 ? instance->upstream.bytes_held()
                                 : malloc_bytes_in_use() - malloc_before;
    return static_cast<double>(held) / static_cast<double>(blocks.live_bytes());
  };
  double sum = 0;
  double peak = 0;
  for (std::size_t sample = 0; sample < kHeldSamples; ++sample) {
    for (std::size_t i = 0; i < kSteps / kHeldSamples; ++i) blocks.step(r);
    const double value = held_per_live();
    sum += value;
    peak = std::max(peak, value);
  }
  state.counters["held_per_live"] = sum / kHeldSamples;
  state.counters["held_per_live_peak"] = peak;
  blocks.clear(r);
  state.SetItemsProcessed(state.iterations());
}

const bool registered = [] {
  register_workload("MixedWorkingSet", mixed_working_set, reuses_any_size);
  return true;
}();

}  // namespace
}  // namespace strata::bench
