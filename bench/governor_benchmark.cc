// The governor's own costs, beyond the fast paths the shared workloads
// measure on "governor(sync_pool)":
//
//   ReclaimCycle64MiB  one reclaim cycle over a sync pool caching 64 MiB of
//                      1 KiB blocks (the time of the cycle; the refill
//                      between cycles is not timed).
//   MixedUnderBudget   the mixed working set on a governed sync pool whose
//                      hard limit is 80% of the footprint the same workload
//                      reaches without one; counters give the pauses (count,
//                      longest, histogram), limit hits and failures, which
//                      the report lists under "Governor pauses".

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

#include "strata/governor_resource.h"
#include "strata/limit_exceeded.h"

#include "bench_resources.h"
#include "working_set.h"

namespace strata::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kCachedBytes = std::size_t{64} << 20;
constexpr std::size_t kCachedBlock = 1024;

void reclaim_cycle_64mib(benchmark::State& state) {
  // One step does the whole cycle: no pause bound, no time share.
  auto instance = governed_sync_pool({.growth_percent = -1,
                                      .max_pause = 10s,
                                      .reclaim_share = 1.0,
                                      .reclaim_burst = 1h});
  auto* governor = instance->stack->find<governor_resource>();
  std::vector<void*> blocks(kCachedBytes / kCachedBlock);
  for (auto _ : state) {
    state.PauseTiming();
    for (void*& p : blocks) p = governor->allocate(kCachedBlock);
    for (void* p : blocks) governor->deallocate(p, kCachedBlock);
    state.ResumeTiming();
    const reclaim_result r = governor->reclaim_step();
    if (r.bytes_freed < kCachedBytes) {
      state.SkipWithError("the cycle did not free the cached 64 MiB");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Runs the mixed plan's steps over `r`, skipping a replacement that the
// budget refuses (its slot stays empty until a later step refills it).
class budgeted_working_set {
 public:
  explicit budgeted_working_set(std::pmr::memory_resource* r)
      : r_(r), plan_(mixed_plan()), live_(plan_.initial.size()) {
    for (std::size_t i = 0; i < live_.size(); ++i) {
      replace(i, plan_.initial[i]);
    }
  }
  budgeted_working_set(const budgeted_working_set&) = delete;
  budgeted_working_set& operator=(const budgeted_working_set&) = delete;
  ~budgeted_working_set() {
    for (std::size_t i = 0; i < live_.size(); ++i) release(i);
  }

  void step() {
    const struct step& s = plan_.steps[next_++ % kSteps];
    release(s.victim);
    replace(s.victim, s.size);
  }
  [[nodiscard]] std::size_t refused() const { return refused_; }

 private:
  struct block {
    void* p = nullptr;
    std::size_t size = 0;
  };
  void release(std::size_t i) {
    if (live_[i].p != nullptr) r_->deallocate(live_[i].p, live_[i].size);
    live_[i] = {};
  }
  void replace(std::size_t i, std::size_t size) {
    try {
      live_[i] = {r_->allocate(size), size};
      *static_cast<volatile char*>(live_[i].p) = 1;
    } catch (const limit_exceeded&) {
      ++refused_;
    }
  }

  std::pmr::memory_resource* r_;
  const working_set_plan& plan_;
  std::vector<block> live_;
  std::size_t next_ = 0;
  std::size_t refused_ = 0;
};

void mixed_under_budget(benchmark::State& state) {
  auto instance = governed_sync_pool(
      {.growth_percent = -1, .policy = pause_policy::reclaim});
  auto* governor = instance->stack->find<governor_resource>();
  // The footprint the workload reaches without a budget...
  {
    budgeted_working_set unbounded(instance->resource);
    for (std::size_t i = 0; i < kSteps; ++i) unbounded.step();
  }
  const std::size_t peak = governor->stats().peak_footprint_bytes;
  // ...and the same workload under 80% of it, from a cold pool.
  while (governor->reclaim_step().bytes_freed != 0) {
  }
  governor->set_hard_limit(peak / 10 * 8);
  const governor_stats before = governor->stats();
  std::size_t refused = 0;
  {
    budgeted_working_set budgeted(instance->resource);
    for (auto _ : state) budgeted.step();
    refused = budgeted.refused();
    state.counters["live_mib"] =
        static_cast<double>(governor->stats().live_bytes) / (1 << 20);
  }
  const governor_stats after = governor->stats();
  state.SetItemsProcessed(state.iterations());
  const pause_stats& p = after.pauses;
  state.counters["peak_unbounded_mib"] = static_cast<double>(peak) / (1 << 20);
  state.counters["limit_mib"] =
      static_cast<double>(governor->hard_limit()) / (1 << 20);
  state.counters["pauses"] = static_cast<double>(p.count - before.pauses.count);
  state.counters["pause_max_us"] =
      std::chrono::duration<double, std::micro>(p.longest).count();
  for (std::size_t b = 0; b < p.histogram.size(); ++b) {
    state.counters["pause_" + std::string(pause_stats::kBucketNames[b])] =
        static_cast<double>(p.histogram[b] - before.pauses.histogram[b]);
  }
  state.counters["limit_hits"] =
      static_cast<double>(after.limit_hits - before.limit_hits);
  state.counters["refused"] = static_cast<double>(refused);
  state.counters["reclaimed_mib"] =
      static_cast<double>(after.bytes_reclaimed - before.bytes_reclaimed) /
      (1 << 20);
}

// What a refused allocation costs its caller under `fail`: the pool
// misses, the meter refuses the span or block it asks for, and
// limit_exceeded reaches the caller.
void refused_allocation(benchmark::State& state) {
  auto instance =
      governed_sync_pool({.growth_percent = -1, .policy = pause_policy::fail});
  auto* governor = instance->stack->find<governor_resource>();
  void* held = instance->resource->allocate(1 << 20);
  governor->set_hard_limit(governor->footprint());
  std::size_t refused = 0;
  for (auto _ : state) {
    try {
      benchmark::DoNotOptimize(instance->resource->allocate(20000));
    } catch (const limit_exceeded&) {
      ++refused;
    }
  }
  if (static_cast<benchmark::IterationCount>(refused) != state.iterations()) {
    state.SkipWithError("not refused");
  }
  instance->resource->deallocate(held, 1 << 20);
  state.SetItemsProcessed(state.iterations());
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_RefusedAllocation/governor(sync_pool)",
                               refused_allocation);
  benchmark::RegisterBenchmark("BM_ReclaimCycle64MiB/governor(sync_pool)",
                               reclaim_cycle_64mib)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_MixedUnderBudget/governor(sync_pool)",
                               mixed_under_budget);
  return true;
}();

}  // namespace
}  // namespace strata::bench
