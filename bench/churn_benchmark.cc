// Fixed-size churn: the cost of one allocate/deallocate pair when the block
// comes straight back (Fixed64), and of a burst freed in order (Batch1024).

#include <array>
#include <cstddef>

#include "benchmark/benchmark.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

constexpr std::size_t kBlock = 64;
// Monotonic resources release every this many pairs, as a loop would.
constexpr std::size_t kCycle = 4096;
constexpr std::size_t kBatch = 1024;

void fixed_64(benchmark::State& state, const resource_entry& entry) {
  auto instance = entry.make();
  std::pmr::memory_resource* r = instance->resource;
  std::size_t n = 0;
  for (auto _ : state) {
    void* p = r->allocate(kBlock, alignof(std::max_align_t));
    benchmark::DoNotOptimize(p);
    r->deallocate(p, kBlock, alignof(std::max_align_t));
    if (++n % kCycle == 0) instance->cycle();
  }
  state.SetItemsProcessed(state.iterations());
}

void batch_1024(benchmark::State& state, const resource_entry& entry) {
  auto instance = entry.make();
  std::pmr::memory_resource* r = instance->resource;
  std::array<void*, kBatch> blocks{};
  for (auto _ : state) {
    for (void*& p : blocks) {
      p = r->allocate(kBlock, alignof(std::max_align_t));
      benchmark::DoNotOptimize(p);
    }
    for (void* p : blocks) r->deallocate(p, kBlock, alignof(std::max_align_t));
    instance->cycle();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kBatch));
}

const bool registered = [] {
  register_workload("Fixed64", fixed_64);
  register_workload("Batch1024", batch_1024);
  return true;
}();

}  // namespace
}  // namespace strata::bench
