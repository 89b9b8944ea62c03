// A request cycle: build a tree of 2,000 named nodes, as a request handler
// builds its parse tree or response, then drop all of it. The arena's home
// workload; pools must recycle the whole tree every time.

#include <cstddef>
#include <memory_resource>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

constexpr std::size_t kNodes = 2000;

struct node {
  node(std::string_view name_in, std::pmr::polymorphic_allocator<> alloc)
      : name(name_in, alloc), children(alloc) {}
  std::pmr::string name;
  std::pmr::vector<node*> children;
};

struct tree_plan {
  std::vector<std::string> names;    // 8 to 40 characters
  std::vector<std::size_t> parents;  // parents[i] < i
};

const tree_plan& plan() {
  static const tree_plan p = [] {
    std::mt19937 rng(3);
    tree_plan result;
    for (std::size_t i = 0; i < kNodes; ++i) {
      result.names.push_back("node-" + std::string(3 + rng() % 33, 'n') +
                             std::to_string(i));
      result.parents.push_back(i == 0 ? 0 : rng() % i);
    }
    return result;
  }();
  return p;
}

void request_cycle(benchmark::State& state, const resource_entry& entry) {
  const tree_plan& shape = plan();
  auto instance = entry.make();
  std::pmr::polymorphic_allocator<> alloc(instance->resource);
  std::vector<node*> nodes(kNodes);
  const std::size_t calls_before = instance->upstream.calls();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kNodes; ++i) {
      nodes[i] = alloc.new_object<node>(shape.names[i], alloc);
      if (i != 0) nodes[shape.parents[i]]->children.push_back(nodes[i]);
    }
    benchmark::DoNotOptimize(nodes.front()->children.data());
    for (std::size_t i = kNodes; i-- > 0;) alloc.delete_object(nodes[i]);
    instance->cycle();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kNodes));
  // Upstream calls per request: zero for a resource that keeps what it got.
  if (instance->has_upstream()) {
    state.counters["upstream_per_cycle"] =
        static_cast<double>(instance->upstream.calls() - calls_before) /
        static_cast<double>(state.iterations());
  }
}

const bool registered = [] {
  register_workload("RequestCycle", request_cycle, serves_any_size);
  return true;
}();

}  // namespace
}  // namespace strata::bench
