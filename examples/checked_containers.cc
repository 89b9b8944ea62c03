// A service's test harness wants to know that a subsystem frees what it
// allocates and never frees anything twice. It hands the subsystem's pmr
// containers a strata::test_resource, runs one request, and asks.

#include <cstdio>
#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include "strata/adapters/test_resource.h"

namespace {

// The subsystem under test: builds an index of the words of a request.
std::size_t index_words(std::pmr::memory_resource* memory) {
  std::pmr::map<std::pmr::string, std::pmr::vector<int>> index(memory);
  const char* words[] = {"alpha", "beta", "gamma", "alpha", "delta", "beta"};
  int position = 0;
  for (const char* w : words) {
    index[std::pmr::string(w, memory)].push_back(position++);
  }
  return index.size();
}

}  // namespace

int main() {
  strata::test_resource checker(
      {.name = "request", .defects = strata::defect_action::record});
  const std::size_t distinct = index_words(&checker);
  const strata::test_resource_stats stats = checker.stats();
  std::printf("distinct words: %zu\n", distinct);
  std::printf("allocations: %zu, peak bytes: %zu, largest block: %zu\n",
              stats.allocations, stats.peak_bytes_in_use, stats.largest_block);
  if (!checker.expect_no_leaks() || !checker.defects().empty()) {
    for (const strata::defect& d : checker.defects()) {
      std::printf("%s\n", d.message.c_str());
    }
    return 1;
  }
  std::printf("no leaks, no misuse\n");
  return 0;
}
