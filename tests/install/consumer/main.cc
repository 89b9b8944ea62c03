// A program outside the strata tree, built against an installed strata.

#include <cstdio>
#include <memory_resource>
#include <vector>

#include "strata/adapters/test_resource.h"
#include "strata/reclaimable.h"

int main() {
  strata::test_resource checker({.defects = strata::defect_action::record});
  {
    std::pmr::vector<int> v(&checker);
    for (int i = 0; i < 1000; ++i) v.push_back(i);
  }
  const strata::reclaim_request everything;
  if (!checker.expect_no_leaks() || !checker.defects().empty() ||
      checker.stats().allocations == 0 || everything.bytes == 0) {
    std::puts("consumer: FAILED");
    return 1;
  }
  std::puts("consumer: strata found, built and working");
  return 0;
}
