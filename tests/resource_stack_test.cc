// Tests of strata::resource_stack: the builder makes the layers bottom to
// top with a meter beneath each governor's caches, registers reclaimable
// layers with the governors above them (and the one the stack is built on),
// and the stack tears down top to bottom.
//
//   layout        BuildsBottomToTopTearsDownTopToBottom,
//                 PutsAMeterBeneathEachGovernorsCaches, NamedLayers,
//                 SizeRouterLayerRoutesBySize, MovedStackKeepsItsLayers
//   registration  RegistersCachesWithTheGovernorsAbove,
//                 RegistersWithTheGovernorItIsBuiltOn,
//                 ASingleThreadedCacheIsLeftToTheGovernorAboveIt
//   failure       AFailedBuildDestroysWhatItBuilt
//   default       InstallsAStackAsTheDefault

#include "strata/resource_stack.h"

#include <memory>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/limit_exceeded.h"
#include "strata/scoped_default_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

// A pass-through layer that logs its construction and destruction, and is
// a cache of `cached` bytes that records reclaim calls.
class logging_layer final : public std::pmr::memory_resource,
                            public reclaimable {
 public:
  logging_layer(std::string name, std::vector<std::string>* log,
                std::pmr::memory_resource* upstream)
      : name_(std::move(name)), log_(log), upstream_(upstream) {
    log_->push_back("make " + name_);
  }
  ~logging_layer() override { log_->push_back("destroy " + name_); }

  std::size_t cached_bytes() const noexcept override { return cached; }
  reclaim_result reclaim(const reclaim_request&) noexcept override {
    ++reclaims;
    return {};
  }
  bool reclaim_is_thread_safe() const noexcept override { return thread_safe; }

  std::size_t cached = 100;
  int reclaims = 0;
  bool thread_safe = true;
  std::pmr::memory_resource* upstream() const { return upstream_; }

 private:
  void* do_allocate(std::size_t n, std::size_t a) override {
    return upstream_->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    upstream_->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override {
    return this == &o;
  }

  std::string name_;
  std::vector<std::string>* log_;
  std::pmr::memory_resource* upstream_;
};

resource_stack::layer_factory logging(std::string name,
                                      std::vector<std::string>* log) {
  return [name = std::move(name), log](std::pmr::memory_resource* upstream)
             -> std::unique_ptr<std::pmr::memory_resource> {
    return std::make_unique<logging_layer>(name, log, upstream);
  };
}

class ResourceStackTest : public testing::UpstreamCheckedTest {};

TEST_F(ResourceStackTest, BuildsBottomToTopTearsDownTopToBottom) {
  std::vector<std::string> log;
  {
    resource_stack stack = resource_stack::builder(&upstream_)
                               .layer(logging("a", &log))
                               .layer(logging("b", &log))
                               .layer(logging("c", &log))
                               .build();
    ASSERT_EQ(stack.size(), 3u);
    auto* c = dynamic_cast<logging_layer*>(stack.top());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->upstream(), stack.layer(1));
    EXPECT_EQ(dynamic_cast<logging_layer*>(stack.layer(0))->upstream(),
              &upstream_);
    void* p = stack.top()->allocate(64);
    stack.top()->deallocate(p, 64);
  }
  EXPECT_EQ(log,
            (std::vector<std::string>{"make a", "make b", "make c", "destroy c",
                                      "destroy b", "destroy a"}));
}

TEST_F(ResourceStackTest, PutsAMeterBeneathEachGovernorsCaches) {
  resource_stack stack = resource_stack::builder(&upstream_)
                             .size_classes()
                             .governor({.growth_percent = -1})
                             .sync_pool()
                             .governor({.growth_percent = -1})
                             .build();
  // meter, size classes, governor, meter, sync pool, governor
  ASSERT_EQ(stack.size(), 6u);
  EXPECT_NE(dynamic_cast<governor_meter*>(stack.layer(0)), nullptr);
  EXPECT_NE(dynamic_cast<size_class_resource*>(stack.layer(1)), nullptr);
  EXPECT_NE(dynamic_cast<governor_resource*>(stack.layer(2)), nullptr);
  EXPECT_NE(dynamic_cast<governor_meter*>(stack.layer(3)), nullptr);
  EXPECT_NE(dynamic_cast<sync_pool_resource*>(stack.layer(4)), nullptr);
  EXPECT_EQ(stack.find<governor_resource>(), stack.top());
  void* p = stack.top()->allocate(1000);
  auto* outer = dynamic_cast<governor_resource*>(stack.layer(2));
  // The outer governor's footprint is what left its size classes' span.
  EXPECT_EQ(outer->footprint(), upstream_.bytes_in_use());
  EXPECT_EQ(stack.find<governor_resource>()->footprint(),
            outer->stats().live_bytes);
  stack.top()->deallocate(p, 1000);
}

TEST_F(ResourceStackTest, NamedLayers) {
  bounded_pool_options pool;
  pool.block_size = 256;
  resource_stack stack = resource_stack::builder(&upstream_)
                             .limit({.limit = 1 << 20})
                             .arena()
                             .build();
  EXPECT_NE(stack.find<limit_resource>(), nullptr);
  EXPECT_NE(stack.find<monotonic_arena>(), nullptr);
  resource_stack pooled =
      resource_stack::builder(&upstream_).bounded_pool(pool).build();
  void* p = pooled.top()->allocate(256);
  pooled.top()->deallocate(p, 256);
  EXPECT_NE(pooled.find<bounded_pool_resource>(), nullptr);
}

TEST_F(ResourceStackTest, SizeRouterLayerRoutesBySize) {
  test_resource small(testing::recording_checker("small"), &upstream_);
  {
    resource_stack stack =
        resource_stack::builder(&upstream_)
            .size_router({{.max_size = 256, .resource = &small}})
            .build();
    void* a = stack.top()->allocate(100);
    void* b = stack.top()->allocate(1000);
    EXPECT_EQ(small.stats().allocations, 1u);
    stack.top()->deallocate(a, 100);
    stack.top()->deallocate(b, 1000);
  }
  EXPECT_THROW(static_cast<void>(
                   resource_stack::builder(&upstream_)
                       .size_router({{.max_size = 256, .resource = nullptr}})
                       .build()),
               std::invalid_argument);
}

TEST_F(ResourceStackTest, MovedStackKeepsItsLayers) {
  resource_stack first =
      resource_stack::builder(&upstream_).sync_pool().governor().build();
  std::pmr::memory_resource* top = first.top();
  resource_stack second = std::move(first);
  EXPECT_EQ(second.top(), top);
  void* p = second.top()->allocate(64);
  second.top()->deallocate(p, 64);
  first = std::move(second);
  EXPECT_EQ(first.top(), top);
}

TEST_F(ResourceStackTest, RegistersCachesWithTheGovernorsAbove) {
  std::vector<std::string> log;
  resource_stack stack = resource_stack::builder(&upstream_)
                             .layer(logging("inside", &log))
                             .governor({.growth_percent = -1})
                             .layer(logging("above", &log))
                             .build();
  auto* inside = dynamic_cast<logging_layer*>(stack.layer(1));
  auto* above = dynamic_cast<logging_layer*>(stack.top());
  auto* g = stack.find<governor_resource>();
  ASSERT_NE(inside, nullptr);
  EXPECT_EQ(g->cached_bytes(), 100u) << "only the cache beneath counts";
  static_cast<void>(g->reclaim_step());
  EXPECT_EQ(inside->reclaims, 1);
  EXPECT_EQ(above->reclaims, 0) << "a cache above is not the governor's";
}

TEST_F(ResourceStackTest, RegistersWithTheGovernorItIsBuiltOn) {
  governor_resource process({.growth_percent = -1}, &upstream_);
  std::vector<std::string> log;
  {
    resource_stack stack =
        resource_stack::builder(&process).layer(logging("cache", &log)).build();
    EXPECT_NE(dynamic_cast<governor_meter*>(stack.layer(0)), nullptr)
        << "marks calls into the process governor";
    auto* cache = dynamic_cast<logging_layer*>(stack.top());
    EXPECT_EQ(process.cached_bytes(), 0u) << "outside: its bytes are live";
    static_cast<void>(process.reclaim_step());
    EXPECT_EQ(cache->reclaims, 1);
  }
  // Unregistered with the stack: a step no longer reaches the cache (under
  // AddressSanitizer, a stale registration would be a use after free).
  static_cast<void>(process.reclaim_step());
}

TEST_F(ResourceStackTest, ASingleThreadedCacheIsLeftToTheGovernorAboveIt) {
  governor_resource process({.growth_percent = -1}, &upstream_);
  std::vector<std::string> log;
  auto single_threaded = [&log](std::pmr::memory_resource* upstream)
      -> std::unique_ptr<std::pmr::memory_resource> {
    auto made = std::make_unique<logging_layer>("slabs", &log, upstream);
    made->thread_safe = false;
    return made;
  };
  resource_stack stack = resource_stack::builder(&process)
                             .layer(single_threaded)
                             .governor({.hard_limit = 1000,
                                        .growth_percent = -1,
                                        .policy = pause_policy::reclaim})
                             .build();
  auto* slabs = dynamic_cast<logging_layer*>(stack.layer(1));
  ASSERT_NE(slabs, nullptr);
  // Not from the process governor (another thread's), not from a step
  // anyone may call...
  static_cast<void>(process.reclaim_step());
  static_cast<void>(stack.find<governor_resource>()->reclaim_step());
  EXPECT_EQ(slabs->reclaims, 0);
  // ...but by the governor above it, on its own allocation path.
  void* held = stack.top()->allocate(1000);
  EXPECT_THROW(static_cast<void>(stack.top()->allocate(100)), limit_exceeded);
  EXPECT_EQ(slabs->reclaims, 1);
  stack.top()->deallocate(held, 1000);
}

TEST_F(ResourceStackTest, AFailedBuildDestroysWhatItBuilt) {
  std::vector<std::string> log;
  auto failing = [](std::pmr::memory_resource*)
      -> std::unique_ptr<std::pmr::memory_resource> {
    throw std::runtime_error("no");
  };
  EXPECT_THROW(static_cast<void>(resource_stack::builder(&upstream_)
                                     .layer(logging("a", &log))
                                     .layer(logging("b", &log))
                                     .layer(failing)
                                     .build()),
               std::runtime_error);
  EXPECT_EQ(log, (std::vector<std::string>{"make a", "make b", "destroy b",
                                           "destroy a"}));
}

TEST_F(ResourceStackTest, InstallsAStackAsTheDefault) {
  std::pmr::memory_resource* before = std::pmr::get_default_resource();
  {
    resource_stack stack =
        resource_stack::builder(&upstream_).sync_pool().governor().build();
    const scoped_default_resource installed(stack.top());
    EXPECT_EQ(std::pmr::get_default_resource(), stack.top());
    std::pmr::vector<int> v(100);
    // Over a pool, live bytes are counted in the pool's block sizes.
    const std::size_t live =
        stack.find<governor_resource>()->stats().live_bytes;
    EXPECT_GE(live, 100 * sizeof(int));
    EXPECT_LE(live, 128 * sizeof(int));
  }
  EXPECT_EQ(std::pmr::get_default_resource(), before);
}

}  // namespace
}  // namespace strata
