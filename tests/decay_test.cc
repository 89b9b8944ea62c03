// Decay (strata/decay.h): cached memory goes back to the upstream once it
// has been idle for the resource's decay, and not before. Every test drives
// time with a manual_clock and runs the scavenger's walk itself, so nothing
// here sleeps or depends on how fast the machine is (the background thread
// may walk too, but it reads the same manual clock, so it can only do
// earlier what the test asks for next).
#include "strata/decay.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory_resource>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/internal/cache_handshake.h"
#include "strata/internal/checked_blocks.h"
#include "strata/limit_exceeded.h"
#include "strata/page_resource.h"
#include "strata/resource_stack.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/resident.h"

namespace strata {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class DecayTest : public testing::UpstreamCheckedTest {
 protected:
  manual_clock clock_;
};

// Allocates `count` blocks of `bytes` from `r` and frees them all.
void churn(std::pmr::memory_resource& r, std::size_t bytes, std::size_t count) {
  std::vector<void*> blocks;
  blocks.reserve(count);
  for (std::size_t i = 0; i < count; ++i) blocks.push_back(r.allocate(bytes));
  for (void* p : blocks) r.deallocate(p, bytes);
}

TEST_F(DecayTest, SizeClassKeepsEmptySpansUntilTheDecayThenGivesThemBack) {
  size_class_resource slabs({.decay = seconds(1), .clock = &clock_},
                            &upstream_);
  churn(slabs, 64, 2000);  // eight 16 KiB spans, then empty
  const std::size_t held = upstream_.bytes_in_use();
  ASSERT_GT(held, 2 * slabs.options().slab_span_size);
  EXPECT_EQ(slabs.decay(), 0u);
  clock_.advance(milliseconds(999));
  EXPECT_EQ(slabs.decay(), 0u) << "not idle for the whole decay yet";
  EXPECT_EQ(upstream_.bytes_in_use(), held);
  clock_.advance(milliseconds(1));
  EXPECT_GT(slabs.decay(), 0u);
  // What stays: the current span (its emptiness is not tracked) and the
  // spans that went back at once beyond max_empty_spans.
  EXPECT_LE(upstream_.bytes_in_use(), slabs.options().slab_span_size);
  EXPECT_EQ(slabs.cached_bytes(), 0u);
}

TEST_F(DecayTest, SizeClassDecaysOnItsSlowPathsWithNoCall) {
  size_class_resource slabs({.decay = seconds(1), .clock = &clock_},
                            &upstream_);
  churn(slabs, 64, 2000);
  const std::size_t held = upstream_.bytes_in_use();
  clock_.advance(seconds(2));
  // A class with no span yet takes one: the slow path looks at the clock.
  void* p = slabs.allocate(200);
  EXPECT_LT(upstream_.bytes_in_use(), held);
  slabs.deallocate(p, 200);
}

TEST_F(DecayTest, SizeClassPageHeapSpansDecay) {
  size_class_resource slabs(
      {.max_empty_page_spans = 4, .decay = seconds(1), .clock = &clock_},
      &upstream_);
  churn(slabs, 4000, 100);  // page heap blocks: several spans
  const std::size_t held = upstream_.bytes_in_use();
  ASSERT_GT(slabs.cached_bytes(), 0u);
  clock_.advance(milliseconds(500));
  EXPECT_EQ(slabs.decay(), 0u);
  clock_.advance(milliseconds(600));
  EXPECT_GT(slabs.decay(), 0u);
  EXPECT_LT(upstream_.bytes_in_use(), held);
  EXPECT_EQ(slabs.cached_bytes(), 0u);
}

TEST_F(DecayTest, SizeClassDecayKeepsKeepEmptySpans) {
  size_class_resource slabs(
      {.keep_empty_spans = 2, .decay = seconds(1), .clock = &clock_},
      &upstream_);
  churn(slabs, 64, 2000);
  clock_.advance(seconds(5));
  slabs.decay();
  // Two listed empty spans and the current one.
  EXPECT_EQ(upstream_.bytes_in_use(), 3 * slabs.options().slab_span_size);
}

TEST_F(DecayTest, SizeClassDecayZeroGivesSpansBackAsTheyEmpty) {
  size_class_resource slabs({.decay = decay_time::zero(), .clock = &clock_},
                            &upstream_);
  churn(slabs, 64, 2000);
  EXPECT_LE(upstream_.bytes_in_use(), slabs.options().slab_span_size);
  churn(slabs, 4000, 100);
  EXPECT_LE(upstream_.bytes_in_use(), 2 * slabs.options().slab_span_size);
}

TEST_F(DecayTest, SizeClassNeverDecayKeepsSpansUntilReclaim) {
  size_class_resource slabs({.decay = kNeverDecay, .clock = &clock_},
                            &upstream_);
  churn(slabs, 64, 2000);
  const std::size_t held = upstream_.bytes_in_use();
  clock_.advance(std::chrono::hours(24 * 365));
  EXPECT_EQ(slabs.decay(), 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), held);
  EXPECT_GT(slabs.reclaim({}).bytes_freed, 0u);
}

TEST_F(DecayTest, SizeClassRejectsANegativeDecay) {
  EXPECT_THROW(size_class_resource({.decay = milliseconds(-1)}, &upstream_),
               std::invalid_argument);
}

// Frees on another thread that then exits: the blocks reach the depot.
void churn_on_a_thread(std::pmr::memory_resource& r, std::size_t bytes,
                       std::size_t count) {
  std::thread([&] { churn(r, bytes, count); }).join();
}

TEST_F(DecayTest, SyncPoolDepotGivesBatchesBackAfterTheDecay) {
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  churn_on_a_thread(pool, 64, 5000);
  churn_on_a_thread(pool, 3000, 50);
  ASSERT_GT(upstream_.bytes_in_use(), 0u);
  const std::size_t held = upstream_.bytes_in_use();
  scavenger_run_once();
  EXPECT_EQ(upstream_.bytes_in_use(), held);
  clock_.advance(milliseconds(999));
  scavenger_run_once();
  EXPECT_EQ(upstream_.bytes_in_use(), held) << "not idle for the decay yet";
  clock_.advance(milliseconds(1));
  scavenger_run_once();
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  EXPECT_GT(pool.stats().decayed_bytes, 0u);
}

TEST_F(DecayTest, SyncPoolSharedPagesGoBackAfterTheDecay) {
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  churn_on_a_thread(pool, 40000, 8);  // above largest_cached: shared pages
  const std::size_t held = upstream_.bytes_in_use();
  const std::size_t cached = pool.cached_bytes();  // an empty span
  ASSERT_GE(cached, 40000u);
  clock_.advance(milliseconds(999));
  scavenger_run_once();
  EXPECT_EQ(upstream_.bytes_in_use(), held) << "not idle for the decay yet";
  clock_.advance(milliseconds(1));
  scavenger_run_once();
  // What stays is the page heap's own bookkeeping.
  EXPECT_EQ(upstream_.bytes_in_use(), held - cached);
  EXPECT_LT(upstream_.bytes_in_use(), 4096u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST_F(DecayTest, SyncPoolBlocksInUseStayWhileIdleOnesGo) {
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  std::vector<void*> kept;
  for (int i = 0; i < 100; ++i) kept.push_back(pool.allocate(64));
  churn_on_a_thread(pool, 64, 5000);
  clock_.advance(seconds(2));
  scavenger_run_once();
  EXPECT_EQ(pool.stats().blocks_in_use, 100u);
  for (void* p : kept) {
    std::memset(p, 0xab, 64);  // still the user's: ASan would say otherwise
    pool.deallocate(p, 64);
  }
}

TEST_F(DecayTest, SyncPoolThreadCacheOfACallingThreadDecays) {
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  void* kept = pool.allocate(16);
  churn(pool, 64, 300);  // into this thread's cache
  ASSERT_GE(pool.stats().thread_cached_bytes, 300u * 64);
  scavenger_run_once();  // notes each bucket of the cache
  clock_.advance(milliseconds(999));
  scavenger_run_once();
  clock_.advance(milliseconds(1));
  scavenger_run_once();       // idle for the decay: asks the thread to move it
  pool.deallocate(kept, 16);  // this call moves it into the depot first
  EXPECT_EQ(pool.stats().thread_cached_bytes, 16u);
  scavenger_run_once();  // stamped with when it went idle: due at once
  EXPECT_EQ(pool.cached_bytes(), 16u);
  // What stays is the span of the one block in the thread's cache.
  EXPECT_LE(upstream_.bytes_in_use(), size_class_options{}.slab_span_size);
}

// Moves the clock by `total` in steps of an eighth of a second (the
// scavenger's tick for a decay of one second), walking after each step, as
// the background thread would.
void walk_for(manual_clock& clock, std::chrono::milliseconds total) {
  constexpr milliseconds kTick(125);
  for (milliseconds done(0); done < total; done += kTick) {
    clock.advance(kTick);
    scavenger_run_once();
  }
}

// A thread that runs `before`, then sleeps (blocked, alive) until woken,
// then runs `after` and exits.
class sleeping_thread {
 public:
  template <class Before, class After>
  sleeping_thread(Before before, After after)
      : thread_([this, before, after] {
          before();
          set(asleep_);
          wait_for(woken_);
          after();
        }) {}
  sleeping_thread(const sleeping_thread&) = delete;
  sleeping_thread& operator=(const sleeping_thread&) = delete;
  ~sleeping_thread() { wake_and_join(); }

  /// True once the thread has run `before` and sleeps (60 s at most).
  bool wait_asleep() { return wait_for(asleep_); }
  void wake_and_join() {
    if (!thread_.joinable()) return;
    set(woken_);
    thread_.join();
  }

 private:
  void set(bool& flag) {
    {
      const std::lock_guard lock(mu_);
      flag = true;
    }
    cv_.notify_all();
  }
  bool wait_for(const bool& flag) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(60), [&] { return flag; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool asleep_ = false;
  bool woken_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

TEST_F(DecayTest, SyncPoolCacheOfASleepingThreadIsTaken) {
  if (!internal::heavy_fence()) {
    GTEST_SKIP() << "no membarrier here: a sleeping thread keeps its cache";
  }
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  sleeping_thread sleeper(
      [&] {
        churn(pool, 64, 300);
        churn(pool, 3000, 20);
      },
      [&] { churn(pool, 64, 300); });  // its cache was taken: it starts again
  ASSERT_TRUE(sleeper.wait_asleep());
  EXPECT_GE(pool.stats().thread_cached_bytes, 300u * 64);
  scavenger_run_once();  // notes each bucket of the cache
  clock_.advance(milliseconds(900));
  scavenger_run_once();
  EXPECT_EQ(pool.stats().idle_buckets_taken, 0u)
      << "not idle for the decay yet";
  // A decay, a pass that finds the thread asleep and takes its cache (due
  // at once: stamped with when it went idle).
  walk_for(clock_, milliseconds(500));
  EXPECT_EQ(pool.stats().idle_buckets_taken, 2u);  // 64 B and 3000 B
  EXPECT_EQ(pool.cached_bytes(), 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  sleeper.wake_and_join();
  EXPECT_EQ(pool.stats().blocks_in_use, 0u);
}

// Two threads that pause and resume at random while decay (0) takes their
// caches at every chance, and the scavenger walks 3000 times: a block
// handed out twice, or a cache written by two threads at once, shows as a
// broken fill (returned) or a sanitizer report. Sizes are 16 << (0..max_shift).
std::size_t pause_and_resume(manual_clock& clock,
                             std::pmr::memory_resource& pool,
                             unsigned max_shift) {
  std::atomic<bool> done{false};
  std::atomic<std::size_t> walks{0};
  std::atomic<std::size_t> broken{0};
  auto work = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<unsigned char*, std::size_t>> held;
    while (!done.load(std::memory_order_relaxed)) {
      const std::size_t bytes = 16u << (rng() % (max_shift + 1));
      if (held.size() < 64 && rng() % 2 == 0) {
        auto* p = static_cast<unsigned char*>(pool.allocate(bytes));
        std::memset(p, static_cast<int>(bytes & 0xff), bytes);
        held.emplace_back(p, bytes);
      } else if (!held.empty()) {
        const auto [p, n] = held.back();
        held.pop_back();
        if (p[0] != (n & 0xff) || p[n - 1] != (n & 0xff)) ++broken;
        pool.deallocate(p, n);
      }
      if (rng() % 64 == 0) {
        // Sleeps over two or three walks (the third finds it asleep), then
        // resumes while the next one may be taking its cache.
        const std::size_t until = walks.load() + 2 + rng() % 2;
        while (walks.load() < until && !done.load()) {
          std::this_thread::yield();
        }
      }
    }
    for (const auto& [p, n] : held) pool.deallocate(p, n);
  };
  std::thread a(work, 1);
  std::thread b(work, 2);
  for (int walk = 0; walk < 3000; ++walk) {
    clock.advance(milliseconds(1));
    scavenger_run_once();
    ++walks;
  }
  done = true;
  a.join();
  b.join();
  return broken.load();
}

TEST_F(DecayTest, SyncPoolCachesTakenFromThreadsThatResumeStayIntact) {
  if (!internal::heavy_fence()) GTEST_SKIP() << "no membarrier here";
  sync_pool_resource pool({.decay = decay_time::zero(), .clock = &clock_},
                          &upstream_);
  EXPECT_EQ(pause_and_resume(clock_, pool, 5), 0u);
  EXPECT_EQ(pool.stats().blocks_in_use, 0u);
}

TEST_F(DecayTest, BoundedPoolStacksMovedFromThreadsThatResumeStayIntact) {
  if (!internal::heavy_fence()) GTEST_SKIP() << "no membarrier here";
  bounded_pool_resource pool({.block_size = 64,
                              .max_pooled = 256,
                              .decay = decay_time::zero(),
                              .clock = &clock_},
                             &upstream_);
  EXPECT_EQ(pause_and_resume(clock_, pool, 2), 0u);
  EXPECT_EQ(pool.stats().outstanding, 0u);
}

TEST_F(DecayTest, SyncPoolBucketsInUseStayInTheThreadCache) {
  if (!internal::heavy_fence()) GTEST_SKIP() << "no membarrier here";
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  churn(pool, 64, 300);
  churn(pool, 3000, 20);
  for (int step = 0; step < 40; ++step) {
    clock_.advance(milliseconds(125));
    scavenger_run_once();
    pool.deallocate(pool.allocate(64), 64);  // the bucket stays in use
  }
  // The idle bucket went back, alone, while its thread kept calling.
  EXPECT_EQ(pool.stats().idle_buckets_taken, 1u);
  EXPECT_GE(pool.stats().decayed_bytes, 20u * 3072);
  // The bucket in use kept its cache (what of it reached the depot decayed).
  EXPECT_GE(pool.stats().thread_cached_bytes, 64u);
}

TEST_F(DecayTest, SyncPoolDecayZeroGivesBackWhatReachesTheDepot) {
  sync_pool_resource pool({.decay = decay_time::zero(), .clock = &clock_},
                          &upstream_);
  churn_on_a_thread(pool, 64, 5000);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST_F(DecayTest, SyncPoolNeverDecayKeepsTheDepot) {
  sync_pool_resource pool({.decay = kNeverDecay, .clock = &clock_}, &upstream_);
  churn_on_a_thread(pool, 64, 5000);
  const std::size_t held = upstream_.bytes_in_use();
  clock_.advance(std::chrono::hours(24 * 365));
  scavenger_run_once();
  EXPECT_EQ(upstream_.bytes_in_use(), held);
  pool.reclaim({});
  pool.reclaim({});
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(DecayTest, SyncPoolRejectsANegativeDecay) {
  EXPECT_THROW(sync_pool_resource({.decay = milliseconds(-5)}, &upstream_),
               std::invalid_argument);
}

TEST_F(DecayTest, BoundedPoolRingBlocksDecay) {
  bounded_pool_resource pool({.block_size = 64,
                              .max_pooled = 64,
                              .shards = 1,
                              .decay = seconds(1),
                              .clock = &clock_},
                             &upstream_);
  churn_on_a_thread(pool, 64, 40);
  const std::size_t held = upstream_.bytes_in_use();
  ASSERT_GE(held, 40u * 64);
  scavenger_run_once();  // notes what the ring holds
  walk_for(clock_, milliseconds(875));
  EXPECT_EQ(upstream_.bytes_in_use(), held) << "not idle for the decay yet";
  // The ring's last note before the blocks came may be up to a tick older.
  walk_for(clock_, milliseconds(250));
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST_F(DecayTest, BoundedPoolStackOfASleepingThreadIsMoved) {
  if (!internal::heavy_fence()) GTEST_SKIP() << "no membarrier here";
  bounded_pool_resource pool({.block_size = 64,
                              .max_pooled = 64,
                              .shards = 1,
                              .decay = seconds(1),
                              .clock = &clock_},
                             &upstream_);
  sleeping_thread sleeper(
      [&] { churn(pool, 64, 10); },   // onto its stack
      [&] { churn(pool, 64, 10); });  // its stack was moved: it starts again
  ASSERT_TRUE(sleeper.wait_asleep());
  ASSERT_GT(pool.cached_bytes(), 0u);
  const std::size_t held = upstream_.bytes_in_use();
  scavenger_run_once();  // notes the stack
  walk_for(clock_, milliseconds(875));
  EXPECT_EQ(pool.stats().stacks_moved, 0u) << "not idle for the decay yet";
  walk_for(clock_, milliseconds(125));
  EXPECT_EQ(pool.stats().stacks_moved, 1u);
  EXPECT_EQ(upstream_.bytes_in_use(), held) << "now in the ring";
  walk_for(clock_, milliseconds(1250));  // where they decay with the rest
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  sleeper.wake_and_join();
  EXPECT_EQ(pool.stats().outstanding, 0u);
}

TEST_F(DecayTest, BoundedPoolKeepsBlocksTakenSinceAndPrewarmedOnes) {
  bounded_pool_resource pool({.block_size = 64,
                              .max_pooled = 64,
                              .max_outstanding = 100,  // no thread stacks
                              .prewarm = 8,
                              .shards = 1,
                              .decay = seconds(1),
                              .clock = &clock_},
                             &upstream_);
  churn(pool, 64, 40);  // 40 in the ring, the 8 prewarmed among them
  scavenger_run_once();
  walk_for(clock_, milliseconds(500));
  std::vector<void*> taken;
  for (int i = 0; i < 10; ++i) taken.push_back(pool.allocate(64));
  for (void* p : taken) pool.deallocate(p, 64);  // at the ring's end
  walk_for(clock_, milliseconds(750));
  // 30 waited the whole second; the 10 used since stay.
  EXPECT_EQ(pool.cached_bytes(), 10u * 64);
  walk_for(clock_, seconds(2));
  EXPECT_EQ(pool.cached_bytes(), 8u * 64) << "prewarmed blocks stay";
}

TEST_F(DecayTest, ScavengerCountsItsWalksAndTheResourcesOnIt) {
  const scavenger_stats before = get_scavenger_stats();
  sync_pool_resource pool({.decay = seconds(1), .clock = &clock_}, &upstream_);
  EXPECT_GE(get_scavenger_stats().resources, 1u);
  churn_on_a_thread(pool, 64, 5000);
  clock_.advance(seconds(2));
  const std::size_t released = scavenger_run_once();
  EXPECT_GT(released, 0u);
  const scavenger_stats after = get_scavenger_stats();
  EXPECT_GT(after.passes, before.passes);
  EXPECT_GE(after.bytes_released, before.bytes_released + released);
}

// A governor over a decaying pool: the memory decay gives back leaves the
// footprint through the meter, and the hard limit still holds exactly.
TEST_F(DecayTest, DecayUnderAGovernorKeepsTheHardLimitExact) {
  constexpr std::size_t kLimit = 1 << 20;
  test_resource bottom(testing::recording_checker("bottom"), &upstream_);
  {
    resource_stack stack =
        resource_stack::builder(&bottom)
            .sync_pool({.decay = seconds(1), .clock = &clock_})
            .governor({.hard_limit = kLimit})
            .build();
    auto* governor = stack.find<governor_resource>();
    std::pmr::memory_resource* top = stack.top();
    for (int round = 0; round < 3; ++round) {
      std::vector<void*> blocks;
      try {
        for (;;) blocks.push_back(top->allocate(1000));
      } catch (const limit_exceeded&) {
      }
      EXPECT_LE(bottom.stats().peak_bytes_in_use, kLimit);
      EXPECT_LE(governor->footprint(), kLimit);
      std::thread([&] {
        for (void* p : blocks) top->deallocate(p, 1000);
      }).join();
      clock_.advance(seconds(2));
      scavenger_run_once();
      EXPECT_EQ(governor->footprint(), bottom.bytes_in_use());
      EXPECT_LT(governor->footprint(), kLimit / 4) << "round " << round;
    }
  }
  EXPECT_EQ(bottom.bytes_in_use(), 0u);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

using testing::resident_bytes;

// Over system pages, what the governor's meter counts is what the process
// holds: on a mixed working set, the resident memory the stack adds stays
// within 5% of the meter's footprint (plus a little metadata), and it falls
// when the spans decay.
TEST(DecayResidentTest, MeterFootprintIsResidentMemoryOverSystemPages) {
  if (kSanitized) GTEST_SKIP() << "sanitizers add shadow memory to the RSS";
  if (internal::kChecked) {
    GTEST_SKIP() << "checked builds keep a record per block (runs in the "
                    "hardened preset, a release build)";
  }
  manual_clock clock;
  struct block {
    void* p;
    std::size_t size;
  };
  std::vector<block> live;
  live.reserve(100000);
  std::memset(live.data(), 0, live.capacity() * sizeof(block));
  const std::size_t baseline = resident_bytes();
  std::size_t footprint = 0;
  std::size_t resident = 0;
  {
    resource_stack stack =
        resource_stack::builder()
            .size_classes({.decay = seconds(1), .clock = &clock})
            .governor()
            .build();
    auto* governor = stack.find<governor_resource>();
    std::pmr::memory_resource* top = stack.top();
    std::mt19937 rng(7);
    // Sizes 8 B to 8 KiB, skewed to small, written in full as a user would;
    // then a third replaced at random.
    const auto size_of = [&] {
      const std::size_t bucket = rng() % 10;
      const std::size_t top_size = bucket < 6 ? 128 : bucket < 9 ? 1024 : 8192;
      return 8 + rng() % top_size;
    };
    for (int i = 0; i < 100000; ++i) {
      const std::size_t n = size_of();
      void* p = top->allocate(n);
      std::memset(p, 1, n);
      live.push_back({p, n});
    }
    for (int i = 0; i < 30000; ++i) {
      block& b = live[rng() % live.size()];
      top->deallocate(b.p, b.size);
      b.size = size_of();
      b.p = top->allocate(b.size);
      std::memset(b.p, 2, b.size);
    }
    footprint = governor->footprint();
    resident = resident_bytes() - baseline;
    EXPECT_LE(resident, footprint + footprint / 20 + (512 << 10))
        << "resident " << resident << " footprint " << footprint;
    EXPECT_GE(resident + footprint / 20 + (512 << 10), footprint)
        << "resident " << resident << " footprint " << footprint;
    for (const block& b : live) top->deallocate(b.p, b.size);
    clock.advance(seconds(2));
    stack.find<size_class_resource>()->decay();
    EXPECT_LT(governor->footprint(), footprint / 10);
    EXPECT_LT(resident_bytes() - baseline, resident / 5)
        << "the spans went back to the OS";
  }
}

}  // namespace
}  // namespace strata
