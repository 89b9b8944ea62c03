// strata::sync_pool_resource under threads: several threads hammering one
// pool, pools and threads that come and go, and the two-thread hand-off.
//
//   lifetimes     ManyPoolsAndThreadsComeAndGo, StressWithThreadChurn
//   upstream      UpstreamIsOnlyCalledUnderTheLock
//   hand-off      HandOffBetweenTwoThreadsKeepsEveryBlock,
//                 HandOffOverSynchronizedSlabsKeepsEveryBlock
// Single-behaviour tests with a helper thread are in sync_pool_resource_test.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/handoff.h"

namespace strata {
namespace {

class SyncPoolStressTest : public testing::UpstreamCheckedTest {};

TEST_F(SyncPoolStressTest, ManyPoolsAndThreadsComeAndGo) {
  std::mt19937 rng(9);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::unique_ptr<sync_pool_resource>> pools;
    for (int i = 0; i < 3; ++i) {
      // Small caches: a refill takes a magazine from the upstream block by
      // block, which the default cache size makes the whole cost of the test.
      pools.push_back(std::make_unique<sync_pool_resource>(
          sync_pool_options{.thread_cache_bytes = 16 << 10}, &upstream_));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&pools, seed = rng()] {
        std::mt19937 local(seed);
        for (int i = 0; i < 200; ++i) {
          sync_pool_resource& pool = *pools[local() % pools.size()];
          const std::size_t n = 8 + local() % 2000;
          void* p = pool.allocate(n, 8);
          pool.deallocate(p, n, 8);
        }
      });
    }
    // Half the rounds destroy a pool before the threads end... after they
    // are done with it: join first, then destroy in a shuffled order.
    for (std::thread& t : threads) t.join();
    std::shuffle(pools.begin(), pools.end(), rng);
    pools.clear();
    EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  }
}

// An upstream that is not thread-safe and says so if two threads enter it.
class single_threaded_upstream final : public std::pmr::memory_resource {
 public:
  explicit single_threaded_upstream(std::pmr::memory_resource* next)
      : next_(next) {}
  int overlaps() const { return overlaps_.load(); }

 private:
  struct entry {
    explicit entry(single_threaded_upstream* u) : u_(u) {
      if (u_->inside_.exchange(true)) u_->overlaps_.fetch_add(1);
    }
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;
    ~entry() { u_->inside_.store(false); }
    single_threaded_upstream* u_;
  };
  void* do_allocate(std::size_t n, std::size_t a) override {
    entry e(this);
    return next_->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    entry e(this);
    next_->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override {
    return this == &o;
  }
  std::pmr::memory_resource* next_;
  std::atomic<bool> inside_{false};
  std::atomic<int> overlaps_{0};
};

TEST_F(SyncPoolStressTest, UpstreamIsOnlyCalledUnderTheLock) {
  single_threaded_upstream guarded(&upstream_);
  {
    size_class_resource slabs({}, &guarded);  // not thread-safe either
    sync_pool_resource pool({.thread_cache_bytes = 512}, &slabs);
    auto work = [&pool](unsigned seed) {
      std::mt19937 rng(seed);
      std::vector<std::pair<void*, std::size_t>> mine;
      for (int i = 0; i < 20000; ++i) {
        if (mine.size() < 64 && (mine.empty() || rng() % 2)) {
          const std::size_t n = 8 + rng() % 3000;
          mine.emplace_back(pool.allocate(n, 8), n);
        } else {
          pool.deallocate(mine.back().first, mine.back().second, 8);
          mine.pop_back();
        }
        if (i % 5000 == 0) pool.reclaim({});
      }
      for (auto [p, n] : mine) pool.deallocate(p, n, 8);
    };
    std::thread other(work, 1);
    work(2);
    other.join();
  }
  EXPECT_EQ(guarded.overlaps(), 0);
}

TEST_F(SyncPoolStressTest, StressWithThreadChurn) {
  sync_pool_resource pool({.thread_cache_bytes = 4096}, &upstream_);
  std::mutex handoff_mu;
  std::vector<std::pair<void*, std::size_t>> handoff;  // freed by anyone
  for (int round = 0; round < 30; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, seed = static_cast<unsigned>(round * 2 + t)] {
        std::mt19937 rng(seed);
        for (int i = 0; i < 2000; ++i) {
          const std::size_t n = 1 + rng() % 1500;
          void* p = pool.allocate(n, 8);
          std::lock_guard lock(handoff_mu);
          handoff.emplace_back(p, n);
          if (handoff.size() > 100) {
            const auto [q, m] = handoff[rng() % handoff.size()];
            std::erase(handoff, std::pair(q, m));
            pool.deallocate(q, m, 8);
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    if (round % 10 == 9) pool.reclaim({});
  }
  // The rest is freed by one more thread, which exits: every cache is then
  // in the depot, and two cycles give it all back.
  std::thread([&] {
    for (auto [p, n] : handoff) pool.deallocate(p, n, 8);
  }).join();
  EXPECT_EQ(pool.stats().threads, 0u);
  pool.reclaim({});
  pool.reclaim({});
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST_F(SyncPoolStressTest, HandOffBetweenTwoThreadsKeepsEveryBlock) {
  {
    sync_pool_resource pool({.thread_cache_bytes = 16 << 10}, &upstream_);
    testing::expect_clean_handoff(pool, {.max_size = 4096});
    EXPECT_EQ(pool.stats().threads, 0u) << "both threads handed back";
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// The tcmalloc shape: thread caches over slabs behind a mutex.
TEST_F(SyncPoolStressTest, HandOffOverSynchronizedSlabsKeepsEveryBlock) {
  {
    synchronized_resource<size_class_resource> slabs(size_class_options{},
                                                     &upstream_);
    sync_pool_resource pool({.thread_cache_bytes = 8 << 10}, &slabs);
    testing::expect_clean_handoff(pool, {.max_size = 4096});
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace strata
