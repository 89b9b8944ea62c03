// The arena through its concrete type, where `final` and the inline fast path
// let the compiler see the pointer bump, against monotonic_buffer_resource
// through its own type. Both start over every 4096 pairs, as in Fixed64: the
// arena with reset(), the standard one with release().
//
// Each resource is reached through a pointer the optimizer cannot trace back
// to the object, as in code that keeps a reference to its resource in a
// member or receives it as an argument. That is where `final` matters: the
// arena's calls still inline, while monotonic_buffer_resource, which is not
// final, may be a derived class there and pays its virtual calls.

#include <cstddef>
#include <memory_resource>

#include "benchmark/benchmark.h"

#include "strata/monotonic_arena.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

constexpr std::size_t kBlock = 64;
constexpr std::size_t kCycle = 4096;
constexpr std::size_t kAlign = alignof(std::max_align_t);

void BM_Fixed64Concrete_arena(benchmark::State& state) {
  counting_resource upstream;
  monotonic_arena object({}, &upstream);
  monotonic_arena* arena = &object;
  benchmark::DoNotOptimize(arena);  // hide where it points
  std::size_t n = 0;
  for (auto _ : state) {
    void* p = arena->allocate(kBlock, kAlign);
    benchmark::DoNotOptimize(p);
    arena->deallocate(p, kBlock, kAlign);
    if (++n % kCycle == 0) arena->reset();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Fixed64Concrete_std_monotonic(benchmark::State& state) {
  counting_resource upstream;
  std::pmr::monotonic_buffer_resource object(&upstream);
  std::pmr::monotonic_buffer_resource* monotonic = &object;
  benchmark::DoNotOptimize(monotonic);  // hide where it points
  std::size_t n = 0;
  for (auto _ : state) {
    void* p = monotonic->allocate(kBlock, kAlign);
    benchmark::DoNotOptimize(p);
    monotonic->deallocate(p, kBlock, kAlign);
    if (++n % kCycle == 0) monotonic->release();
  }
  state.SetItemsProcessed(state.iterations());
}

// Named so the report pairs them: BM_Fixed64Concrete/<resource>.
const bool registered = [] {
  benchmark::RegisterBenchmark("BM_Fixed64Concrete/std_monotonic",
                               BM_Fixed64Concrete_std_monotonic);
  benchmark::RegisterBenchmark("BM_Fixed64Concrete/arena",
                               BM_Fixed64Concrete_arena);
  return true;
}();

}  // namespace
}  // namespace strata::bench
