// Tests of strata::sync_pool_resource.
//
//   thread caches        ReusesBlocksFromTheThreadCache,
//                        BlocksFreedByAnotherThreadJoinItsCache,
//                        FullMagazinesGoToTheDepot,
//                        SizesAboveTheCachedOnesShareFreedPages,
//                        LargeRequestsTheSharedPagesCannotAlignAreCached,
//                        LargeRequestsGoToTheUpstream,
//                        StrictAlignmentsComeFromTheCacheToo,
//                        AWarmCacheStillRejectsABadAlignment
//   lifetimes            ThreadExitGivesItsCacheToTheDepot,
//                        PoolDestroyedWhileAThreadThatUsedItRuns,
//                        APoolOverAPoolLetsAThreadExitWhileItRefills
//   reclaim              ReclaimAgesTheDepotOverTwoCycles,
//                        ReclaimSaysWhetherAnotherCallCouldFreeMore,
//                        ReclaimAsksEachThreadToAgeItsOwnCache,
//                        TheFirstCallAfterAReclaimAgesTheCache,
//                        ReclaimHandsTheCallersOwnCacheToTheDepot
//   stats                StatsShowWhatIdleThreadsKeep
//   the header example   HeaderExampleWorks
// The contracts every resource keeps are in
// sync_pool_resource_conformance_test; threads hammering a pool in
// stress/sync_pool_resource_stress_test.

#include "strata/sync_pool_resource.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/internal/thread_slots.h"
#include "strata/size_class_resource.h"

#include "testing/checker.h"

namespace strata {
namespace {

class SyncPoolTest : public testing::UpstreamCheckedTest {};

// A one-shot event a thread can wait on, with a deadline.
class event {
 public:
  void notify() {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [this] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

TEST_F(SyncPoolTest, ReusesBlocksFromTheThreadCache) {
  sync_pool_resource pool({}, &upstream_);
  void* a = pool.allocate(64, 8);
  pool.deallocate(a, 64, 8);
  EXPECT_EQ(pool.allocate(64, 8), a);
  pool.deallocate(a, 64, 8);
  EXPECT_GE(pool.stats().thread_cache_hits, 1u);
  EXPECT_EQ(pool.stats().threads, 1u);
}

TEST_F(SyncPoolTest, BlocksFreedByAnotherThreadJoinItsCache) {
  sync_pool_resource pool({}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(pool.allocate(96, 8));
  std::thread([&] {
    for (void* p : blocks) pool.deallocate(p, 96, 8);
    const std::size_t calls = upstream_.stats().allocations;
    const std::size_t hits = pool.stats().thread_cache_hits;
    for (void*& p : blocks) p = pool.allocate(96, 8);
    EXPECT_EQ(upstream_.stats().allocations, calls);
    EXPECT_EQ(pool.stats().thread_cache_hits, hits + 8);
    for (void* p : blocks) pool.deallocate(p, 96, 8);
  }).join();
}

TEST_F(SyncPoolTest, FullMagazinesGoToTheDepot) {
  sync_pool_resource pool({.thread_cache_bytes = 1024}, &upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(pool.allocate(64, 8));
  for (void* p : blocks) pool.deallocate(p, 64, 8);
  const sync_pool_stats s = pool.stats();
  EXPECT_EQ(s.thread_cached_bytes, 1024u);  // two magazines of 8 blocks
  EXPECT_EQ(s.cached_bytes, 64u * 64u);
}

TEST_F(SyncPoolTest, SizesAboveTheCachedOnesShareFreedPages) {
  sync_pool_resource pool({}, &upstream_);
  // Three blocks in one span; the first two, freed, merge into one run
  // that serves a block nearly twice their size.
  void* a = pool.allocate(33000);
  void* b = pool.allocate(33000);
  void* c = pool.allocate(33000);
  const std::size_t calls = upstream_.stats().allocations;
  const std::size_t held = upstream_.bytes_in_use();
  pool.deallocate(a, 33000);
  pool.deallocate(b, 33000);
  EXPECT_EQ(pool.stats().thread_cached_bytes, 0u) << "not cached per thread";
  void* merged = pool.allocate(64000);
  std::memset(merged, 1, 64000);
  EXPECT_EQ(upstream_.stats().allocations, calls) << "the freed run serves it";
  EXPECT_EQ(upstream_.bytes_in_use(), held);
  pool.deallocate(merged, 64000);
  // Other sizes, up to largest_pooled itself, take pages the first time
  // round and reuse them after.
  const std::size_t sizes[] = {24000, 17000, 65536, 9000};
  for (const std::size_t bytes : sizes) {
    pool.deallocate(pool.allocate(bytes), bytes);
  }
  const std::size_t warm = upstream_.stats().allocations;
  for (int round = 0; round < 3; ++round) {
    for (const std::size_t bytes : sizes) {
      void* p = pool.allocate(bytes);
      std::memset(p, 1, bytes);
      pool.deallocate(p, bytes);
    }
  }
  EXPECT_EQ(upstream_.stats().allocations, warm);
  pool.deallocate(c, 33000);
  EXPECT_EQ(pool.stats().blocks_in_use, 0u);
}

TEST_F(SyncPoolTest, LargeRequestsTheSharedPagesCannotAlignAreCached) {
  // A page-aligned 16 KiB buffer, and with a 1 MiB largest_pooled a size
  // above the page heap's classes: served from buckets, freed into the
  // thread's cache, taken again with no upstream call.
  sync_pool_resource pool({.largest_pooled = 1 << 20}, &upstream_);
  for (const auto& [bytes, alignment] :
       {std::pair<std::size_t, std::size_t>{16384, 4096}, {400000, 16}}) {
    void* p = pool.allocate(bytes, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
    pool.deallocate(p, bytes, alignment);
    const std::size_t calls = upstream_.stats().allocations;
    EXPECT_GT(pool.stats().thread_cached_bytes, 0u);
    for (int i = 0; i < 5; ++i) {
      pool.deallocate(pool.allocate(bytes, alignment), bytes, alignment);
    }
    EXPECT_EQ(upstream_.stats().allocations, calls);
  }
}

TEST_F(SyncPoolTest, LargeRequestsGoToTheUpstream) {
  sync_pool_resource pool({.largest_pooled = 4096}, &upstream_);
  void* big = pool.allocate(5000, 16);
  EXPECT_EQ(upstream_.stats().largest_block, 5000u);
  pool.deallocate(big, 5000, 16);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  static_cast<void>(pool.allocate(9000, 8));  // freed by the destructor
}

// Alignments above 16 take the out-of-line path, which serves them from the
// same thread cache: the block comes back, aligned, with no upstream call.
TEST_F(SyncPoolTest, StrictAlignmentsComeFromTheCacheToo) {
  sync_pool_resource pool({}, &upstream_);
  void* a = pool.allocate(256, 256);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 256, 0u);
  pool.deallocate(a, 256, 256);
  const std::size_t calls = upstream_.stats().allocations;
  EXPECT_EQ(pool.allocate(256, 256), a);
  EXPECT_EQ(upstream_.stats().allocations, calls);
  pool.deallocate(a, 256, 256);
  EXPECT_EQ(pool.allocate(256, 8), a);  // and to a plain request
  pool.deallocate(a, 256, 8);
}

// The fast path checks the alignment itself: a cached block that happens
// to be aligned enough does not let a non-power-of-two alignment through.
TEST_F(SyncPoolTest, AWarmCacheStillRejectsABadAlignment) {
  sync_pool_resource pool({}, &upstream_);
  void* a = pool.allocate(64, 16);
  pool.deallocate(a, 64, 16);
  for (const std::size_t bad : {0u, 3u, 12u, 24u}) {
    EXPECT_THROW(static_cast<void>(pool.allocate(64, bad)),
                 std::invalid_argument)
        << bad;
  }
  EXPECT_EQ(pool.allocate(64, 16), a);  // nothing was lost
  pool.deallocate(a, 64, 16);
}

TEST_F(SyncPoolTest, ThreadExitGivesItsCacheToTheDepot) {
  sync_pool_resource pool({}, &upstream_);
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) blocks.push_back(pool.allocate(200, 8));
    for (void* p : blocks) pool.deallocate(p, 200, 8);
  }).join();
  EXPECT_EQ(pool.stats().threads, 0u);
  EXPECT_GT(pool.stats().cached_bytes, 0u);
  EXPECT_EQ(pool.stats().thread_cached_bytes, 0u);
  const std::size_t calls = upstream_.stats().allocations;
  void* p = pool.allocate(200, 8);  // from the depot
  EXPECT_EQ(upstream_.stats().allocations, calls);
  EXPECT_GT(pool.stats().depot_hits, 0u);
  pool.deallocate(p, 200, 8);
}

TEST_F(SyncPoolTest, PoolDestroyedWhileAThreadThatUsedItRuns) {
  auto pool =
      std::make_unique<sync_pool_resource>(sync_pool_options{}, &upstream_);
  event used;
  event destroyed;
  std::thread worker([&] {
    void* p = pool->allocate(48, 8);
    pool->deallocate(p, 48, 8);  // cached in this thread's slot
    used.notify();
    ASSERT_TRUE(destroyed.wait());
    // The old pool is gone; a new one must not see its slot.
    sync_pool_resource other({}, &upstream_);
    void* q = other.allocate(48, 8);
    other.deallocate(q, 48, 8);
  });
  ASSERT_TRUE(used.wait());
  pool.reset();  // the worker still runs and still has a slot entry
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  destroyed.notify();
  worker.join();
}

// An upstream that, once armed, stops the next allocation (made under the
// pool's lock, by a pool above it) until `go` is notified.
class gate_upstream final : public std::pmr::memory_resource {
 public:
  explicit gate_upstream(std::pmr::memory_resource* next) : next_(next) {}
  // Call before the thread that is to be stopped starts.
  void arm(event* entered, event* go) {
    entered_ = entered;
    go_ = go;
  }

 private:
  void* do_allocate(std::size_t n, std::size_t a) override {
    if (event* entered = std::exchange(entered_, nullptr)) {
      entered->notify();
      EXPECT_TRUE(go_->wait());
    }
    return next_->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    next_->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override {
    return this == &o;
  }
  std::pmr::memory_resource* next_;
  event* entered_ = nullptr;
  event* go_ = nullptr;
};

// A slot owner whose only slot work is to notify `exiting` when a thread
// that has a slot exits: that runs under the registry lock, before the
// thread's later slots are handed back.
class exit_signal final : public internal::slot_owner {
 public:
  explicit exit_signal(event* exiting)
      : exiting_(exiting), id_(internal::register_slot_owner(this)) {}
  exit_signal(const exit_signal&) = delete;
  exit_signal& operator=(const exit_signal&) = delete;
  ~exit_signal() {
    internal::unregister_slot_owner(id_, [] {});
  }
  // Gives the calling thread a slot.
  void join() {
    internal::find_thread_slot(id_, [this]() -> void* { return this; });
  }
  void thread_exiting(void* /*slot*/) noexcept override { exiting_->notify(); }

 private:
  event* exiting_;
  std::uint64_t id_;
};

// A pool over a pool: the one above calls the one below under its lock, and
// a thread's first call there makes it a slot. Meanwhile another thread
// exits and, under the registry lock, waits for the upper pool's lock to
// hand its cache back. Making the slot must not wait for the registry lock,
// or the two threads wait for each other forever.
TEST_F(SyncPoolTest, APoolOverAPoolLetsAThreadExitWhileItRefills) {
  sync_pool_resource lower({}, &upstream_);
  gate_upstream gate(&lower);
  sync_pool_resource upper({}, &gate);
  event exiting;
  exit_signal signal(&exiting);
  event used;
  event leave;
  std::thread exiter([&] {
    signal.join();  // first, so its exit notifies before upper's slot
    void* p = upper.allocate(64, 8);
    upper.deallocate(p, 64, 8);  // this thread now has a slot in upper
    used.notify();
    EXPECT_TRUE(leave.wait());
  });
  ASSERT_TRUE(used.wait());
  event entered;
  gate.arm(&entered, &exiting);
  event refilled;
  std::thread refiller([&] {
    // A size the exiter did not use: upper takes it from the gate, under
    // upper's lock, and the gate holds it there until the exiter exits.
    void* p = upper.allocate(512, 8);
    upper.deallocate(p, 512, 8);
    refilled.notify();
  });
  ASSERT_TRUE(entered.wait());
  leave.notify();  // the exiter exits, holding the registry lock
  if (!refilled.wait()) {
    ADD_FAILURE() << "the refilling thread and the exiting thread deadlocked";
    std::fflush(nullptr);
    std::_Exit(1);  // the threads cannot be joined
  }
  refiller.join();
  exiter.join();
  EXPECT_EQ(upper.stats().threads, 0u);  // both handed their caches back
}

TEST_F(SyncPoolTest, ReclaimAgesTheDepotOverTwoCycles) {
  sync_pool_resource pool({}, &upstream_);
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 10; ++i) blocks.push_back(pool.allocate(128, 8));
    for (void* p : blocks) pool.deallocate(p, 128, 8);
  }).join();
  const std::size_t cached = pool.cached_bytes();
  ASSERT_GT(cached, 0u);
  // Cycle 1: what the depot holds becomes the victim generation.
  EXPECT_EQ(pool.reclaim({}).bytes_freed, 0u);
  EXPECT_EQ(pool.cached_bytes(), cached);
  // Cycle 2: the victims, unused since, go back, and with them the span
  // they were carved from: what the call reports is what the upstream got.
  const std::size_t held = upstream_.bytes_in_use();
  EXPECT_EQ(pool.reclaim({}).bytes_freed, held);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  EXPECT_EQ(pool.stats().reclaim_cycles, 2u);
}

TEST_F(SyncPoolTest, ReclaimSaysWhetherAnotherCallCouldFreeMore) {
  sync_pool_resource pool({}, &upstream_);
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back(pool.allocate(128, 8));
    for (void* p : blocks) pool.deallocate(p, 128, 8);
  }).join();
  // Another thread keeps blocks in its cache: they are not this call's to
  // free, so they do not count as remaining.
  std::mutex mu;
  std::condition_variable cv;
  bool cached = false;
  bool done = false;
  std::thread keeper([&] {
    pool.deallocate(pool.allocate(64, 8), 64, 8);
    std::unique_lock lock(mu);
    cached = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return cached; });
  }
  ASSERT_GT(pool.stats().thread_cached_bytes, 0u);
  // Out of time at once: nothing freed, the depot still there.
  EXPECT_TRUE(
      pool.reclaim({.time_budget = std::chrono::nanoseconds(0)}).more_remains);
  // The depot ages over two calls; after them nothing is left to free.
  int calls = 0;
  reclaim_result r;
  do {
    r = pool.reclaim({});
    ++calls;
  } while (r.more_remains && calls < 10);
  EXPECT_FALSE(r.more_remains);
  EXPECT_LE(calls, 3);
  EXPECT_EQ(pool.stats().cached_bytes, pool.stats().thread_cached_bytes);
  {
    const std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  keeper.join();
}

TEST_F(SyncPoolTest, ReclaimAsksEachThreadToAgeItsOwnCache) {
  sync_pool_resource pool({}, &upstream_);
  const auto reclaim_elsewhere = [&] {
    std::thread([&] { pool.reclaim({}); }).join();
  };
  void* a = pool.allocate(64, 8);
  void* b = pool.allocate(64, 8);
  pool.deallocate(a, 64, 8);  // a is in this thread's cache
  reclaim_elsewhere();
  // The reclaim did not touch the cache; this thread's next call ages it
  // into the depot's victim generation.
  EXPECT_GT(pool.stats().thread_cached_bytes, 0u);
  pool.deallocate(b, 64, 8);
  reclaim_elsewhere();
  void* c = pool.allocate(64, 8);
  pool.deallocate(c, 64, 8);
  reclaim_elsewhere();
  reclaim_elsewhere();
  EXPECT_LE(upstream_.blocks_in_use(), pool.stats().thread_cached_bytes / 64);
}

// The fast paths compare one key that names the pool and its epoch, so the
// first call after a reclaim elsewhere misses, even one the cache could
// serve, and ages the cache before it goes on.
TEST_F(SyncPoolTest, TheFirstCallAfterAReclaimAgesTheCache) {
  sync_pool_resource pool({}, &upstream_);
  void* a = pool.allocate(64, 8);
  void* b = pool.allocate(64, 8);
  pool.deallocate(a, 64, 8);
  ASSERT_GT(pool.stats().thread_cached_bytes, 64u);  // a magazine's worth
  std::thread([&] { pool.reclaim({}); }).join();
  pool.deallocate(b, 64, 8);  // room in the cache, but the epoch moved
  EXPECT_EQ(pool.stats().thread_cached_bytes, 64u) << "only b is left";
  std::thread([&] { pool.reclaim({}); }).join();
  EXPECT_EQ(upstream_.blocks_in_use(), 1u) << "the aged cache went back";
}

TEST_F(SyncPoolTest, ReclaimHandsTheCallersOwnCacheToTheDepot) {
  sync_pool_resource pool({}, &upstream_);
  std::vector<void*> small;
  std::vector<void*> large;
  for (int i = 0; i < 10; ++i) small.push_back(pool.allocate(64, 8));
  for (int i = 0; i < 10; ++i) large.push_back(pool.allocate(1024, 8));
  for (void* p : small) pool.deallocate(p, 64, 8);
  for (void* p : large) pool.deallocate(p, 1024, 8);
  ASSERT_GT(pool.stats().thread_cached_bytes, 0u);
  // The calling thread owns its cache, so a reclaim it makes need not wait
  // for its next call. A small request is met from it, a magazine at a
  // time...
  const std::size_t held = upstream_.bytes_in_use();
  EXPECT_GE(pool.reclaim({.bytes = 64}).bytes_freed, 64u);
  EXPECT_EQ(pool.stats().thread_cached_bytes, 0u);
  EXPECT_GT(upstream_.bytes_in_use(), 0u) << "the other bucket's magazine";
  EXPECT_LT(upstream_.bytes_in_use(), held);
  // ...and a request for everything gives the rest back in the same call.
  EXPECT_GT(pool.reclaim({}).bytes_freed, 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST_F(SyncPoolTest, StatsShowWhatIdleThreadsKeep) {
  sync_pool_resource pool({.thread_cache_bytes = 2048}, &upstream_);
  event cached;
  event done;
  std::thread idle([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(pool.allocate(32, 8));
    for (void* p : blocks) pool.deallocate(p, 32, 8);
    cached.notify();
    ASSERT_TRUE(done.wait());
  });
  ASSERT_TRUE(cached.wait());
  const sync_pool_stats s = pool.stats();
  EXPECT_GT(s.thread_cached_bytes, 0u);
  EXPECT_LE(s.thread_cached_bytes, 2048u);  // bounded by the cache limit
  EXPECT_EQ(s.threads, 1u);
  done.notify();
  idle.join();
}

TEST_F(SyncPoolTest, HeaderExampleWorks) {
  strata::size_class_resource slabs({}, &upstream_);
  strata::sync_pool_resource pool({}, &slabs);  // thread caches on slabs
  {
    std::pmr::vector<int> v(1000, 0, &pool);  // from any thread
    EXPECT_EQ(v.size(), 1000u);
  }
  pool.reclaim({});  // age the caches
}

}  // namespace
}  // namespace strata
