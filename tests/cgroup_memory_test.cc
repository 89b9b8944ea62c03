// strata::read_cgroup_memory and governor_options::cgroup_fraction, on
// fixture cgroup trees written to a temporary directory (the machine's own
// cgroup is only read, never assumed).
//
//   cgroup v2        TheSmallestLimitOnThePathCounts,
//                    AContainerSeesItsCgroupAtTheRoot, NoLimitIsEmpty
//   cgroup v1        TheMemoryControllersHierarchyIsRead
//   the governor     TheHardLimitIsAShareOfTheCgroupLimit,
//                    ALimitBelowTheReserveIsRefusedAndLeavesTheMeter,
//                    AShrunkContainerLowersTheLimitDownToTheReserve,
//                    ABadFractionIsRefused
#include "strata/cgroup_memory.h"

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/governor_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

// A cgroup tree of its own for each test, removed after it.
class CgroupMemoryTest : public testing::UpstreamCheckedTest {
 protected:
  CgroupMemoryTest()
      : dir_(fs::temp_directory_path() /
             ("strata_cgroup_" + std::string(::testing::UnitTest::GetInstance()
                                                 ->current_test_info()
                                                 ->name()))),
        self_((dir_ / "self").string()),
        root_((dir_ / "root").string()) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "root");
  }
  ~CgroupMemoryTest() override { fs::remove_all(dir_); }

  // Writes `text` to `relative` under the fixture (directories made).
  void write(const std::string& relative, const std::string& text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  [[nodiscard]] cgroup_paths paths() const {
    return {.self = self_, .root = root_};
  }

 private:
  fs::path dir_;
  std::string self_;
  std::string root_;
};

TEST_F(CgroupMemoryTest, TheSmallestLimitOnThePathCounts) {
  write("self", "0::/svc/app\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/svc/memory.max", "1000000\n");
  write("root/svc/memory.high", "max\n");
  write("root/svc/app/cgroup.controllers", "memory\n");
  write("root/svc/app/memory.max", "max\n");
  write("root/svc/app/memory.high", "800000\n");
  const cgroup_memory m = read_cgroup_memory(paths());
  EXPECT_EQ(m.limit, 1000000u);
  EXPECT_EQ(m.soft_limit, 800000u);
}

TEST_F(CgroupMemoryTest, AContainerSeesItsCgroupAtTheRoot) {
  // The path names a cgroup outside the container's view of the tree.
  write("self", "0::/kubepods/pod1/c1\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/memory.max", "2000000\n");
  EXPECT_EQ(read_cgroup_memory(paths()).limit, 2000000u);
}

TEST_F(CgroupMemoryTest, NoLimitIsEmpty) {
  write("self", "0::/\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/memory.max", "max\n");
  cgroup_memory m = read_cgroup_memory(paths());
  EXPECT_FALSE(m.limit);
  EXPECT_FALSE(m.soft_limit);
  write("root/memory.max", "not a number\n");
  EXPECT_FALSE(read_cgroup_memory(paths()).limit);
  // No membership file at all (not Linux, or no /proc).
  const std::string missing = std::string(paths().self) + ".missing";
  m = read_cgroup_memory({.self = missing, .root = paths().root});
  EXPECT_FALSE(m.limit);
  // The machine's own cgroup: read, whatever it says.
  static_cast<void>(read_cgroup_memory());
}

TEST_F(CgroupMemoryTest, TheMemoryControllersHierarchyIsRead) {
  write("self", "5:cpu,cpuacct:/svc\n4:memory:/svc\n0::/\n");
  write("root/memory/svc/memory.limit_in_bytes", "3000000\n");
  // v1's "no limit".
  write("root/memory/svc/memory.soft_limit_in_bytes", "9223372036854771712\n");
  const cgroup_memory m = read_cgroup_memory(paths());
  EXPECT_EQ(m.limit, 3000000u);
  EXPECT_FALSE(m.soft_limit);
}

TEST_F(CgroupMemoryTest, TheHardLimitIsAShareOfTheCgroupLimit) {
  write("self", "0::/\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/memory.max", "1000000\n");
  governor_resource g(
      {.growth_percent = -1, .cgroup_fraction = 0.5, .cgroup = paths()},
      &upstream_);
  EXPECT_EQ(g.hard_limit(), 500000u);
  // The container grows: read again on demand.
  write("root/memory.max", "3000000\n");
  EXPECT_EQ(g.refresh_cgroup_limits().limit, 3000000u);
  EXPECT_EQ(g.hard_limit(), 1500000u);
  // The limit given is the upper bound.
  governor_resource lower({.hard_limit = 700000,
                           .growth_percent = -1,
                           .cgroup_fraction = 0.5,
                           .cgroup = paths()},
                          &upstream_);
  EXPECT_EQ(lower.hard_limit(), 700000u);
  // With no cgroup limit, the limit given stands.
  write("root/memory.max", "max\n");
  static_cast<void>(lower.refresh_cgroup_limits());
  EXPECT_EQ(lower.hard_limit(), 700000u);
}

TEST_F(CgroupMemoryTest, AShrunkContainerLowersTheLimitDownToTheReserve) {
  write("self", "0::/\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/memory.max", "1000000\n");
  governor_resource g({.growth_percent = -1,
                       .critical_reserve = 100000,
                       .cgroup_fraction = 0.5,
                       .cgroup = paths()},
                      &upstream_);
  EXPECT_EQ(g.hard_limit(), 500000u);
  write("root/memory.max", "100000\n");  // a share of 50,000
  EXPECT_NO_THROW(static_cast<void>(g.refresh_cgroup_limits()));
  EXPECT_EQ(g.hard_limit(), 100000u);
}

TEST_F(CgroupMemoryTest, ALimitBelowTheReserveIsRefusedAndLeavesTheMeter) {
  write("self", "0::/\n");
  write("root/cgroup.controllers", "memory\n");
  write("root/memory.max", "1000000\n");
  governor_meter meter(&upstream_);
  EXPECT_THROW(governor_resource({.growth_percent = -1,
                                  .critical_reserve = 600000,
                                  .cgroup_fraction = 0.5,
                                  .cgroup = paths()},
                                 &meter, &meter),
               std::invalid_argument);
  // The meter is free for another governor.
  governor_resource g(
      {.growth_percent = -1, .cgroup_fraction = 0.5, .cgroup = paths()}, &meter,
      &meter);
  EXPECT_EQ(g.hard_limit(), 500000u);
}

TEST_F(CgroupMemoryTest, ABadFractionIsRefused) {
  EXPECT_THROW(governor_resource({.cgroup_fraction = 1.5}, &upstream_),
               std::invalid_argument);
  EXPECT_THROW(governor_resource({.cgroup_fraction = -0.5}, &upstream_),
               std::invalid_argument);
}

}  // namespace
}  // namespace strata
