// Tests of strata::size_router_resource and strata::scoped_default_resource.
//
//   size_router_resource     RoutesEachSizeToItsResource,
//                            FreesTakeTheSameRouteBySize,
//                            RoutesMustBeSortedAndNotOverlap,
//                            HeaderExampleWorks
//   scoped_default_resource  InstallsAndRestoresTheDefault, ScopesNest,
//                            HeaderExampleWorks
// The contracts every resource keeps are in
// size_router_resource_conformance_test.

#include "strata/size_router_resource.h"

#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/scoped_default_resource.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

class SizeRouterTest : public testing::UpstreamCheckedTest {
 protected:
  test_resource small_{testing::recording_checker("small")};
  test_resource middle_{testing::recording_checker("middle")};
};

TEST_F(SizeRouterTest, RoutesEachSizeToItsResource) {
  const size_route routes[] = {{256, &small_}, {4096, &middle_}};
  size_router_resource router(routes, &upstream_);
  void* a = router.allocate(0, 8);
  void* b = router.allocate(256, 8);
  void* c = router.allocate(257, 8);
  void* d = router.allocate(4096, 64);
  void* e = router.allocate(4097, 8);
  EXPECT_EQ(small_.blocks_in_use(), 2u);
  EXPECT_EQ(middle_.blocks_in_use(), 2u);
  EXPECT_EQ(upstream_.blocks_in_use(), 1u);
  EXPECT_EQ(router.route_for(300), &middle_);
  for (auto [p, n, al] : {std::tuple{a, 0, 8},
                          {b, 256, 8},
                          {c, 257, 8},
                          {d, 4096, 64},
                          {e, 4097, 8}}) {
    router.deallocate(p, static_cast<std::size_t>(n),
                      static_cast<std::size_t>(al));
  }
  EXPECT_EQ(small_.bytes_in_use() + middle_.bytes_in_use(), 0u);
  EXPECT_TRUE(small_.defects().empty());
  EXPECT_TRUE(middle_.defects().empty());
}

TEST_F(SizeRouterTest, FreesTakeTheSameRouteBySize) {
  const size_route routes[] = {{64, &small_}};
  size_router_resource router(routes, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    blocks.push_back(router.allocate(static_cast<std::size_t>(i), 8));
  }
  for (int i = 0; i < 100; ++i) {
    router.deallocate(blocks[static_cast<std::size_t>(i)],
                      static_cast<std::size_t>(i), 8);
  }
  // Each checker saw only its own blocks come back: no defects anywhere.
  EXPECT_TRUE(small_.defects().empty());
  EXPECT_EQ(small_.stats().allocations, 65u);
  EXPECT_EQ(upstream_.stats().allocations, 35u);
}

TEST_F(SizeRouterTest, RoutesMustBeSortedAndNotOverlap) {
  const size_route unsorted[] = {{4096, &middle_}, {256, &small_}};
  try {
    size_router_resource router(unsorted, &upstream_);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sorted and not overlap"),
              std::string::npos);
  }
  const size_route same[] = {{256, &small_}, {256, &middle_}};
  EXPECT_THROW(size_router_resource(same, &upstream_), std::invalid_argument);
  const size_route missing[] = {{256, nullptr}};
  EXPECT_THROW(size_router_resource(missing, &upstream_),
               std::invalid_argument);
}

TEST_F(SizeRouterTest, HeaderExampleWorks) {
  strata::sync_pool_resource small_blocks({}, &upstream_);
  strata::size_class_resource middle({}, &upstream_);
  const strata::size_route routes[] = {{256, &small_blocks},
                                       {32 << 10, &middle}};
  strata::size_router_resource router(routes, &upstream_);
  {
    std::pmr::vector<char> big(1 << 20, &router);  // to the upstream
    EXPECT_EQ(upstream_.stats().largest_block, 1u << 20);
  }
}

TEST(ScopedDefaultResourceTest, InstallsAndRestoresTheDefault) {
  std::pmr::memory_resource* before = std::pmr::get_default_resource();
  test_resource checker(testing::recording_checker("default"));
  {
    scoped_default_resource use(&checker);
    EXPECT_EQ(std::pmr::get_default_resource(), &checker);
    EXPECT_EQ(use.previous(), before);
    std::pmr::vector<int> v(10);
    EXPECT_EQ(checker.stats().allocations, 1u);
  }
  EXPECT_EQ(std::pmr::get_default_resource(), before);
}

TEST(ScopedDefaultResourceTest, ScopesNest) {
  std::pmr::memory_resource* before = std::pmr::get_default_resource();
  test_resource outer(testing::recording_checker("outer"));
  test_resource inner(testing::recording_checker("inner"));
  {
    scoped_default_resource a(&outer);
    {
      scoped_default_resource b(&inner);
      EXPECT_EQ(std::pmr::get_default_resource(), &inner);
    }
    EXPECT_EQ(std::pmr::get_default_resource(), &outer);
  }
  EXPECT_EQ(std::pmr::get_default_resource(), before);
}

TEST(ScopedDefaultResourceTest, HeaderExampleWorks) {
  strata::size_class_resource slabs;
  {
    strata::scoped_default_resource use(&slabs);
    std::pmr::vector<int> v(100);  // from slabs: the default now
    EXPECT_EQ(slabs.stats().bytes_in_use, 400u);
  }  // the previous default is back
  EXPECT_NE(std::pmr::get_default_resource(), &slabs);
}

}  // namespace
}  // namespace strata
