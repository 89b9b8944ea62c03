// Hardened builds (STRATA_HARDENED, the `hardened` preset): the pools catch
// double frees and foreign pointers without a checked build's registry.
// Skipped in other builds; checked builds report the same misuse through
// their registry, tested in each resource's own test.
//
//   double frees      SizeClassCatchesADoubleFree, SyncPoolCatchesADoubleFree,
//                     BoundedPoolCatchesADoubleFree,
//                     SizeClassCatchesADoubleFreeIntoAnEmptySpan
//   foreign pointers  SizeClassCatchesAPointerOfAnotherInstance
//   wrong sizes       SizeClassCatchesASizeLargerThanTheBlock
//   no false alarms   ReusedBlocksFreeCleanly

#include <cstddef>
#include <memory_resource>
#include <vector>

#include "gtest/gtest.h"

#include "strata/bounded_pool_resource.h"
#include "strata/internal/checked_blocks.h"
#include "strata/internal/hardening.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

namespace strata {
namespace {

class HardenedDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!internal::kHardened || internal::kChecked) {
      GTEST_SKIP() << "needs a hardened, unchecked build";
    }
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(HardenedDeathTest, SizeClassCatchesADoubleFree) {
  EXPECT_DEATH(
      {
        size_class_resource r;
        void* keep = r.allocate(64, 8);  // the span stays in use
        void* p = r.allocate(64, 8);
        r.deallocate(p, 64, 8);
        r.deallocate(p, 64, 8);
        r.deallocate(keep, 64, 8);
      },
      "size_class_resource: double free");
}

TEST_F(HardenedDeathTest, SizeClassCatchesADoubleFreeIntoAnEmptySpan) {
  EXPECT_DEATH(
      {
        size_class_resource r;
        void* p = r.allocate(8, 8);  // too small for a tag: the count says it
        r.deallocate(p, 8, 8);
        r.deallocate(p, 8, 8);
      },
      "size_class_resource: double free");
}

TEST_F(HardenedDeathTest, SizeClassCatchesAPointerOfAnotherInstance) {
  EXPECT_DEATH(
      {
        size_class_resource a;
        size_class_resource b;
        void* keep = b.allocate(64, 8);
        void* p = a.allocate(64, 8);
        b.deallocate(p, 64, 8);
        b.deallocate(keep, 64, 8);
      },
      "size_class_resource: a pointer this resource never handed out");
}

TEST_F(HardenedDeathTest, SizeClassCatchesASizeLargerThanTheBlock) {
  EXPECT_DEATH(
      {
        size_class_resource r;
        void* keep = r.allocate(48, 8);
        void* p = r.allocate(48, 8);
        r.deallocate(p, 56, 8);  // a class of its own in the default table
        r.deallocate(keep, 48, 8);
      },
      "size_class_resource: (freed with size 56|a pointer this resource)");
}

TEST_F(HardenedDeathTest, SyncPoolCatchesADoubleFree) {
  EXPECT_DEATH(
      {
        sync_pool_resource r;
        void* p = r.allocate(100, 8);
        r.deallocate(p, 100, 8);
        r.deallocate(p, 100, 8);
      },
      "sync_pool_resource: double free");
}

TEST_F(HardenedDeathTest, BoundedPoolCatchesADoubleFree) {
  EXPECT_DEATH(
      {
        bounded_pool_resource r({.block_size = 64});
        void* p = r.allocate(64, 8);
        r.deallocate(p, 64, 8);
        r.deallocate(p, 64, 8);
      },
      "bounded_pool_resource: double free");
}

TEST(HardenedTest, ReusedBlocksFreeCleanly) {
  // A block freed, handed out again and freed again is no double free: the
  // tag is cleared when a block is handed out, on every path.
  size_class_resource slabs;
  sync_pool_resource pool({}, &slabs);
  bounded_pool_resource bounded({.block_size = 64, .max_pooled = 4});
  std::pmr::memory_resource* resources[] = {&slabs, &pool, &bounded};
  for (std::pmr::memory_resource* r : resources) {
    for (int round = 0; round < 50; ++round) {
      std::vector<void*> blocks;
      for (int i = 0; i < 40; ++i) blocks.push_back(r->allocate(64, 8));
      for (void* p : blocks) r->deallocate(p, 64, 8);
    }
  }
}

}  // namespace
}  // namespace strata
