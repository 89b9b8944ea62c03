// Two threads on one resource, each pinned to its own core: the mixed working
// set on both threads at once (SharedMixed), 64-byte allocate/free pairs on
// both (SharedFixed64), both also on one thread for the scaling ratio, and
// blocks allocated on one thread and freed on the other (CrossThreadFree),
// the producer/consumer shape of a pipeline.
//
// Times are wall-clock (UseRealTime); items count the operations of all
// threads, so time per item is the inverse of the process's throughput.

#include <array>
#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "benchmark/benchmark.h"

#include "bench_resources.h"
#include "working_set.h"

namespace strata::bench {
namespace {

// The instance the threads of one benchmark share, built by Setup before the
// threads start and destroyed by Teardown after they end. Setup is a plain
// function pointer, so each resource entry gets its own instantiation.
constexpr std::size_t kMaxResources = 32;
std::array<std::unique_ptr<bench_instance>, kMaxResources> shared_instances;

template <std::size_t I>
void setup_shared(const benchmark::State&) {
  shared_instances[I] = resources()[I].make();
}

template <std::size_t I>
void teardown_shared(const benchmark::State&) {
  shared_instances[I].reset();
}

using state_hook = void (*)(const benchmark::State&);

template <std::size_t... I>
constexpr std::array<std::pair<state_hook, state_hook>, sizeof...(I)>
make_hooks(std::index_sequence<I...>) {
  return {{{setup_shared<I>, teardown_shared<I>}...}};
}

constexpr auto kHooks = make_hooks(std::make_index_sequence<kMaxResources>());

// A single-producer single-consumer ring of pointers, for the hand-off.
class handoff_ring {
 public:
  void push(void* p) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    while (tail - head_.load(std::memory_order_acquire) == kCapacity) {
      std::this_thread::yield();
    }
    slots_[tail % kCapacity] = p;
    tail_.store(tail + 1, std::memory_order_release);
  }

  void* pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    while (tail_.load(std::memory_order_acquire) == head) {
      std::this_thread::yield();
    }
    void* p = slots_[head % kCapacity];
    head_.store(head + 1, std::memory_order_release);
    return p;
  }

 private:
  static constexpr std::size_t kCapacity = 4096;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) std::array<void*, kCapacity> slots_{};
};

handoff_ring ring;

constexpr std::size_t kHandoffBatch = 256;
constexpr std::size_t kHandoffBlock = 64;

void shared_mixed(benchmark::State& state, std::size_t index) {
  pin_to_cpu(state.thread_index());
  std::pmr::memory_resource* r = shared_instances[index]->resource;
  working_set blocks(static_cast<std::size_t>(state.thread_index()) *
                     (kSteps / 2));
  blocks.fill(r);
  for (auto _ : state) blocks.step(r);
  blocks.clear(r);
  state.SetItemsProcessed(state.iterations());
}

void shared_fixed_64(benchmark::State& state, std::size_t index) {
  pin_to_cpu(state.thread_index());
  std::pmr::memory_resource* r = shared_instances[index]->resource;
  for (auto _ : state) {
    void* p = r->allocate(kHandoffBlock, alignof(std::max_align_t));
    benchmark::DoNotOptimize(p);
    r->deallocate(p, kHandoffBlock, alignof(std::max_align_t));
  }
  state.SetItemsProcessed(state.iterations());
}

// Thread 0 allocates, thread 1 frees; both run the same number of
// iterations, so every block handed off is freed.
void cross_thread_free(benchmark::State& state, std::size_t index) {
  pin_to_cpu(state.thread_index());
  std::pmr::memory_resource* r = shared_instances[index]->resource;
  const bool producer = state.thread_index() == 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kHandoffBatch; ++i) {
      if (producer) {
        ring.push(r->allocate(kHandoffBlock, alignof(std::max_align_t)));
      } else {
        r->deallocate(ring.pop(), kHandoffBlock, alignof(std::max_align_t));
      }
    }
  }
  // Items are blocks handed over: count them once, on the producer.
  if (producer) {
    state.SetItemsProcessed(
        state.iterations() *
        static_cast<benchmark::IterationCount>(kHandoffBatch));
  }
}

// Registers BM_<workload>/<resource> over the shared instance of entry
// `index`, once for each thread count.
void register_shared(std::string_view workload,
                     void (*body)(benchmark::State&, std::size_t),
                     std::size_t index, std::initializer_list<int> threads) {
  const auto [setup, teardown] = kHooks[index];
  const std::string name =
      "BM_" + std::string(workload) + "/" + resources()[index].name;
  auto* benchmark = benchmark::RegisterBenchmark(
      name.c_str(),
      [body, index](benchmark::State& state) { body(state, index); });
  benchmark->Setup(setup)->Teardown(teardown)->UseRealTime();
  for (const int count : threads) benchmark->Threads(count);
}

const bool registered = [] {
  const auto& entries = resources();
  for (std::size_t i = 0; i < entries.size() && i < kMaxResources; ++i) {
    if (!entries[i].thread_safe) continue;
    if (reuses_any_size(entries[i])) {
      register_shared("SharedMixed", shared_mixed, i, {1, 2});
    }
    register_shared("SharedFixed64", shared_fixed_64, i, {1, 2});
    register_shared("CrossThreadFree", cross_thread_free, i, {2});
  }
  return true;
}();

}  // namespace
}  // namespace strata::bench
