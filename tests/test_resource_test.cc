// Tests of strata::test_resource.
//
//   deallocate checks   DetectsUnknownPointer, DetectsDoubleFree,
//                       DetectsSizeMismatch, DetectsAlignmentMismatch,
//                       DetectsOverrun, DefectsAreFatalByDefault
//   expect_no_leaks     DetectsLeaks, LeakAtDestructionIsFatalByDefault,
//                       LeakAtDestructionInRecordModeIsFreed
//   fail_after          FailAfterThrowsOnTheNthAllocationOnce
//   stats               CountsBlocksBytesPeakAndLargest
//   options             ScribblesFreshMemory, RefusesBlocksOverMaxAllocation
//   the header example  HeaderExampleWorks
// The contracts every resource keeps are in the conformance suite; threads
// sharing one in stress/test_resource_stress_test.

#include "strata/adapters/test_resource.h"

#include <array>
#include <cstddef>
#include <cstring>
#include <memory_resource>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "testing/checker.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// Each test stacks the resource under test on a second, recording checker, to
// prove that a misuse caught at the top never reaches the upstream.
class TestResourceTest : public ::testing::Test {
 protected:
  test_resource upstream_{testing::recording_checker("upstream")};
  test_resource checker_{
      {.name = "under_test", .defects = defect_action::record}, &upstream_};

  ~TestResourceTest() override {
    EXPECT_TRUE(upstream_.defects().empty())
        << upstream_.defects().front().message;
  }

  void expect_one_defect(defect_kind kind, const void* p, const char* phrase) {
    const std::vector<defect> found = checker_.defects();
    ASSERT_THAT(found, SizeIs(1));
    EXPECT_EQ(found[0].kind, kind) << found[0].message;
    EXPECT_EQ(found[0].pointer, p);
    EXPECT_THAT(found[0].message, HasSubstr("under_test"));
    EXPECT_THAT(found[0].message, HasSubstr(phrase));
  }
};

TEST_F(TestResourceTest, DetectsUnknownPointer) {
  alignas(16) std::array<std::byte, 64> elsewhere{};
  checker_.deallocate(elsewhere.data(), 64, 16);
  ASSERT_NO_FATAL_FAILURE(expect_one_defect(
      defect_kind::unknown_pointer, elsewhere.data(), "never handed out"));
  EXPECT_EQ(checker_.stats().deallocations, 0u);
}

TEST_F(TestResourceTest, DetectsDoubleFree) {
  void* p = checker_.allocate(48, 8);
  checker_.deallocate(p, 48, 8);
  EXPECT_TRUE(checker_.defects().empty());
  checker_.deallocate(p, 48, 8);
  ASSERT_NO_FATAL_FAILURE(
      expect_one_defect(defect_kind::double_free, p, "double free"));
  EXPECT_EQ(upstream_.stats().deallocations, 1u);
}

TEST_F(TestResourceTest, DetectsSizeMismatch) {
  void* p = checker_.allocate(100, 8);
  checker_.deallocate(p, 96, 8);
  ASSERT_NO_FATAL_FAILURE(
      expect_one_defect(defect_kind::size_mismatch, p, "size 96"));
  EXPECT_EQ(checker_.defects()[0].allocated_size, 100u);
  // The block went back with the size it really has.
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, DetectsAlignmentMismatch) {
  void* p = checker_.allocate(64, 64);
  checker_.deallocate(p, 64, 16);
  ASSERT_NO_FATAL_FAILURE(
      expect_one_defect(defect_kind::alignment_mismatch, p, "alignment 16"));
  EXPECT_EQ(checker_.defects()[0].allocated_alignment, 64u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, DetectsOverrun) {
  auto* p = static_cast<unsigned char*>(checker_.allocate(10, 1));
  std::memset(p, 0, 10);  // in bounds: no defect
  p[10] = 0;              // one past the end
  checker_.deallocate(p, 10, 1);
  ASSERT_NO_FATAL_FAILURE(
      expect_one_defect(defect_kind::overrun, p, "past the end"));
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, DetectsLeaks) {
  void* kept = checker_.allocate(32, 8);
  void* freed = checker_.allocate(16, 8);
  checker_.deallocate(freed, 16, 8);
  EXPECT_FALSE(checker_.expect_no_leaks());
  ASSERT_NO_FATAL_FAILURE(
      expect_one_defect(defect_kind::leak, kept, "still live"));
  checker_.clear_defects();
  checker_.deallocate(kept, 32, 8);
  EXPECT_TRUE(checker_.expect_no_leaks());
  EXPECT_TRUE(checker_.defects().empty());
}

TEST(TestResourceDeathTest, DefectsAreFatalByDefault) {
  EXPECT_DEATH(
      {
        test_resource checker({.name = "fatal_checker"});
        void* p = checker.allocate(8, 8);
        checker.deallocate(p, 8, 8);
        checker.deallocate(p, 8, 8);
      },
      "fatal_checker: double free");
}

TEST(TestResourceDeathTest, LeakAtDestructionIsFatalByDefault) {
  EXPECT_DEATH(
      {
        test_resource checker({.name = "leaky"});
        static_cast<void>(checker.allocate(24, 8));
      },
      "leaky: leak: 1 blocks \\(24 bytes\\)");
}

TEST(TestResourceStandaloneTest, LeakAtDestructionInRecordModeIsFreed) {
  test_resource upstream(testing::recording_checker("upstream"));
  {
    test_resource checker({.defects = defect_action::record}, &upstream);
    static_cast<void>(checker.allocate(24, 8));
  }
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, FailAfterThrowsOnTheNthAllocationOnce) {
  checker_.fail_after(3);
  void* a = checker_.allocate(8, 8);
  void* b = checker_.allocate(8, 8);
  EXPECT_THROW(static_cast<void>(checker_.allocate(8, 8)), std::bad_alloc);
  void* c = checker_.allocate(8, 8);  // the failure fired once
  EXPECT_EQ(checker_.stats().failed_allocations, 1u);
  EXPECT_EQ(checker_.blocks_in_use(), 3u);
  checker_.fail_after(1);
  checker_.fail_after(0);  // disarmed
  void* d = checker_.allocate(8, 8);
  for (void* p : {a, b, c, d}) checker_.deallocate(p, 8, 8);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, CountsBlocksBytesPeakAndLargest) {
  void* a = checker_.allocate(100, 8);
  void* b = checker_.allocate(300, 16);
  checker_.deallocate(a, 100, 8);
  void* c = checker_.allocate(50, 8);
  const test_resource_stats s = checker_.stats();
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.deallocations, 1u);
  EXPECT_EQ(s.blocks_in_use, 2u);
  EXPECT_EQ(s.bytes_in_use, 350u);
  EXPECT_EQ(s.peak_bytes_in_use, 400u);
  EXPECT_EQ(s.largest_block, 300u);
  EXPECT_EQ(s.defects, 0u);
  checker_.deallocate(b, 300, 16);
  checker_.deallocate(c, 50, 8);
  EXPECT_EQ(checker_.bytes_in_use(), 0u);
}

TEST_F(TestResourceTest, ScribblesFreshMemory) {
  auto* p = static_cast<unsigned char*>(checker_.allocate(16, 8));
  for (int i = 0; i < 16; ++i) EXPECT_EQ(p[i], 0xA5) << "byte " << i;
  checker_.deallocate(p, 16, 8);
}

TEST_F(TestResourceTest, RefusesBlocksOverMaxAllocation) {
  test_resource capped({.defects = defect_action::record, .max_allocation = 64},
                       &upstream_);
  EXPECT_THROW(static_cast<void>(capped.allocate(65, 8)), std::bad_alloc);
  void* p = capped.allocate(64, 8);
  capped.deallocate(p, 64, 8);
  EXPECT_EQ(upstream_.stats().allocations, 1u);
}

TEST(TestResourceStandaloneTest, HeaderExampleWorks) {
  strata::test_resource checker({.defects = strata::defect_action::record});
  {
    std::pmr::vector<int> v({1, 2, 3}, &checker);
    v.push_back(4);
  }
  EXPECT_TRUE(checker.expect_no_leaks());
  checker.fail_after(1);  // the next allocation throws std::bad_alloc
  try {
    std::pmr::vector<int> w(100, &checker);
    ADD_FAILURE() << "no exception";
  } catch (const std::bad_alloc&) {
  }
  EXPECT_TRUE(checker.defects().empty());
}

}  // namespace
}  // namespace strata
