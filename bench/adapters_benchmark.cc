// Abseil's flat_hash_map on a polymorphic_allocator (strata::pmr::
// flat_hash_map) over size_class_resource, against absl::flat_hash_map on
// its default allocator: build a map of 1,000 ints and drop it.

#include <cstddef>
#include <memory_resource>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"

#include "strata/adapters/pmr_containers.h"
#include "strata/size_class_resource.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

constexpr int kElements = 1000;

void BM_FlatHashMap_default(benchmark::State& state) {
  for (auto _ : state) {
    absl::flat_hash_map<int, int> map;
    for (int i = 0; i < kElements; ++i) map[i * 7] = i;
    benchmark::DoNotOptimize(map.size());
  }
  state.SetItemsProcessed(state.iterations() * kElements);
}

void BM_FlatHashMap_size_class(benchmark::State& state) {
  counting_resource upstream;
  size_class_resource slabs({}, &upstream);
  for (auto _ : state) {
    pmr::flat_hash_map<int, int> map(&slabs);
    for (int i = 0; i < kElements; ++i) map[i * 7] = i;
    benchmark::DoNotOptimize(map.size());
  }
  state.SetItemsProcessed(state.iterations() * kElements);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_FlatHashMap/default_allocator",
                               BM_FlatHashMap_default);
  benchmark::RegisterBenchmark("BM_FlatHashMap/size_class",
                               BM_FlatHashMap_size_class);
  return true;
}();

}  // namespace
}  // namespace strata::bench
