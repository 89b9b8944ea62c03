// Build and tear down: 1.6 million live blocks of 16-512 B (two thirds of
// them up to 128 B), allocated one after another and then freed in the
// order they came, as a large container's build and destruction would. It
// measures what a pool costs when its caches are cold: every block is a
// miss, so a pool that asks its upstream once per block pays for it here.
//
// Strata rows sit on system pages (strata::system_pages() beneath the
// counting upstream), as the recommended stacks do, so held/live is the
// memory mapped for the resource; new_delete's is what malloc has handed out.
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"

#include "strata/page_resource.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

#ifdef NDEBUG
constexpr std::size_t kBlocks = 1600000;
#else
// Debug and sanitizer builds run it only as a smoke test: a hundredth.
constexpr std::size_t kBlocks = 16000;
#endif

const std::vector<std::uint16_t>& block_sizes() {
  static const std::vector<std::uint16_t> sizes = [] {
    std::vector<std::uint16_t> v(kBlocks);
    std::mt19937 rng(26);
    for (std::uint16_t& size : v) {
      const bool small = rng() % 3 != 0;
      size = static_cast<std::uint16_t>(small ? 16 + rng() % 113
                                              : 129 + rng() % 384);
    }
    return v;
  }();
  return sizes;
}

void many_live_blocks(benchmark::State& state, const resource_entry& entry) {
  const std::vector<std::uint16_t>& sizes = block_sizes();
  std::size_t live = 0;
  for (const std::uint16_t size : sizes) live += size;
  auto instance = entry.make();
  if (!entry.peer.empty()) instance->upstream.set_base(system_pages());
  std::pmr::memory_resource* r = instance->resource;
  std::vector<void*> blocks(kBlocks);
  double held_per_live = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBlocks; ++i) {
      blocks[i] = r->allocate(sizes[i], alignof(std::max_align_t));
      *static_cast<volatile char*>(blocks[i]) = 1;
    }
    const std::size_t held = instance->has_upstream()
                                 ? instance->upstream.bytes_held()
                                 : malloc_bytes_in_use();
    held_per_live = static_cast<double>(held) / static_cast<double>(live);
    for (std::size_t i = 0; i < kBlocks; ++i) {
      r->deallocate(blocks[i], sizes[i], alignof(std::max_align_t));
    }
    instance->cycle();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kBlocks));
  state.counters["held_per_live"] = held_per_live;
}

const bool registered = [] {
  for (benchmark::internal::Benchmark* b :
       register_workload("ManyLiveBlocks", many_live_blocks, reuses_any_size)) {
    b->Iterations(3);
  }
  return true;
}();

}  // namespace
}  // namespace strata::bench
