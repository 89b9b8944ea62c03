// strata::test_resource under threads: two threads sharing one checker, and
// the two-thread hand-off through a checker over a checker.
//
//   sharing       ThreadsShareOneResource
//   hand-off      HandOffBetweenTwoThreadsKeepsEveryBlock
// Single-threaded behaviour is in test_resource_test.

#include <cstddef>
#include <memory_resource>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

// The resource under test sits on a second, recording checker.
class TestResourceStressTest : public testing::UpstreamCheckedTest {
 protected:
  test_resource checker_{{.name = "checker",
                          .defects = defect_action::record,
                          .max_allocation = testing::kLargestUpstreamBlock},
                         &upstream_};
};

TEST_F(TestResourceStressTest, ThreadsShareOneResource) {
  constexpr std::size_t kPerThread = 5000;
  // Each thread allocates kPerThread blocks, freeing every other one as it
  // goes, and hands back the half it still holds.
  auto work = [this] {
    std::vector<std::pair<void*, std::size_t>> held;
    for (std::size_t i = 0; i < kPerThread; ++i) {
      const std::size_t size = 8 + i % 64;
      void* p = checker_.allocate(size, 8);
      if (i % 2 == 0) {
        held.emplace_back(p, size);
      } else {
        checker_.deallocate(p, size, 8);
      }
    }
    return held;
  };
  std::vector<std::pair<void*, std::size_t>> left_other;
  std::thread other([&] { left_other = work(); });
  const std::vector<std::pair<void*, std::size_t>> left_main = work();
  other.join();
  EXPECT_EQ(checker_.stats().allocations, 2 * kPerThread);
  EXPECT_EQ(checker_.blocks_in_use(), kPerThread);
  for (const auto& held : {left_other, left_main}) {
    for (const auto& [p, size] : held) checker_.deallocate(p, size, 8);
  }
  EXPECT_TRUE(checker_.defects().empty());
  EXPECT_EQ(checker_.bytes_in_use(), 0u);
}

TEST_F(TestResourceStressTest, HandOffBetweenTwoThreadsKeepsEveryBlock) {
  testing::expect_clean_handoff(checker_, {.max_size = 4096});
  EXPECT_EQ(checker_.bytes_in_use(), 0u);
  EXPECT_TRUE(checker_.defects().empty());
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
