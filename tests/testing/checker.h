// Helpers shared by the test suites: a checking upstream configured the way
// every test wants it, and the exception-safety loop.
#ifndef STRATA_TESTS_TESTING_CHECKER_H_
#define STRATA_TESTS_TESTING_CHECKER_H_

#include <cstddef>
#include <string_view>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"

namespace strata::testing {

/// The largest block the checking upstream of a test will ask the heap for;
/// larger requests throw std::bad_alloc as a refusing heap would (and as the
/// sanitizers' operator new, which aborts on absurd sizes, would not).
inline constexpr std::size_t kLargestUpstreamBlock = std::size_t{1} << 30;

/// Options for a test_resource that records defects instead of aborting, so
/// that a test can assert on them.
inline test_resource_options recording_checker(
    std::string_view name = "checker") {
  return {.name = name,
          .defects = defect_action::record,
          .max_allocation = kLargestUpstreamBlock};
}

/// A test fixture whose resource under test sits on `upstream_`, a recording
/// checker: when the test ends, the resource must have given back every
/// byte it took and never misused the upstream.
class UpstreamCheckedTest : public ::testing::Test {
 protected:
  ~UpstreamCheckedTest() override {
    EXPECT_EQ(upstream_.bytes_in_use(), 0u) << "left with the upstream";
    for (const defect& d : upstream_.defects()) ADD_FAILURE() << d.message;
  }

  test_resource upstream_{recording_checker("upstream")};
};

/// Runs `attempt(n)` for n = 1, 2, ... until it returns true, which it does
/// once the scenario completes with the n-th upstream allocation failing
/// never being reached. `attempt` builds a fresh checker and resource, calls
/// checker.fail_after(n), runs the scenario and checks what a failure left.
/// Stops with a test failure after `max_attempts`.
template <class Attempt>
std::size_t for_each_upstream_failure(Attempt attempt,
                                      std::size_t max_attempts = 10000) {
  for (std::size_t n = 1; n <= max_attempts; ++n) {
    if (attempt(n)) return n;
  }
  ADD_FAILURE() << "scenario still failing after " << max_attempts
                << " injected failures";
  return max_attempts;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_CHECKER_H_
