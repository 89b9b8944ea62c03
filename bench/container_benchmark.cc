// std::pmr containers over each resource: the way most users meet a memory
// resource. Each iteration builds a container of 1,000 elements and drops it.

#include <cstddef>
#include <list>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "benchmark/benchmark.h"

#include "bench_resources.h"

namespace strata::bench {
namespace {

constexpr int kElements = 1000;

// Keys past the small-string buffer (20 to 60 characters), seeded.
const std::vector<std::string>& words() {
  static const std::vector<std::string> w = [] {
    std::mt19937 rng(7);
    std::vector<std::string> result;
    for (int i = 0; i < kElements; ++i) {
      std::string s(20 + rng() % 41, 'x');
      for (char& c : s) c = static_cast<char>('a' + rng() % 26);
      result.push_back(s + std::to_string(i));
    }
    return result;
  }();
  return w;
}

// 0..kElements-1 shuffled, seeded.
const std::vector<int>& shuffled_keys() {
  static const std::vector<int> keys = [] {
    std::vector<int> k(kElements);
    std::iota(k.begin(), k.end(), 0);
    std::shuffle(k.begin(), k.end(), std::mt19937(11));
    return k;
  }();
  return keys;
}

void finish(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kElements);
}

void list_int(benchmark::State& state, const resource_entry& entry) {
  auto instance = entry.make();
  for (auto _ : state) {
    {
      std::pmr::list<int> list(instance->resource);
      for (int i = 0; i < kElements; ++i) list.push_back(i);
      benchmark::DoNotOptimize(list.back());
    }
    instance->cycle();
  }
  finish(state);
}

void map_int(benchmark::State& state, const resource_entry& entry) {
  auto instance = entry.make();
  const std::vector<int>& keys = shuffled_keys();
  for (auto _ : state) {
    {
      std::pmr::map<int, int> map(instance->resource);
      for (int k : keys) map.emplace(k, k);
      benchmark::DoNotOptimize(map.size());
    }
    instance->cycle();
  }
  finish(state);
}

void unordered_map_string(benchmark::State& state,
                          const resource_entry& entry) {
  auto instance = entry.make();
  const std::vector<std::string>& keys = words();
  for (auto _ : state) {
    {
      std::pmr::unordered_map<std::pmr::string, int> map(instance->resource);
      int i = 0;
      for (const std::string& k : keys) map.emplace(k, i++);
      benchmark::DoNotOptimize(map.size());
    }
    instance->cycle();
  }
  finish(state);
}

void vector_string(benchmark::State& state, const resource_entry& entry) {
  auto instance = entry.make();
  const std::vector<std::string>& strings = words();
  for (auto _ : state) {
    {
      std::pmr::vector<std::pmr::string> v(instance->resource);
      for (const std::string& s : strings) v.emplace_back(s);
      benchmark::DoNotOptimize(v.back().data());
    }
    instance->cycle();
  }
  finish(state);
}

const bool registered = [] {
  register_workload("ListInt", list_int);
  register_workload("MapInt", map_int);
  register_workload("UnorderedMapString", unordered_map_string,
                    serves_any_size);
  register_workload("VectorString", vector_string, serves_any_size);
  return true;
}();

}  // namespace
}  // namespace strata::bench
