// Tests of the adapters (one suite per header).
//
//   resource_adaptor       ResourceAdaptorTest: UsesTheAllocator,
//                          AlignsSmallAlignmentsOverAnyAllocator,
//                          HonoursAlignmentBeyondTheAllocators,
//                          HeaderExampleWorks
//   allocate_unique        AllocateUniqueTest: DestroysAndFreesInTheResource,
//                          ArraysRememberTheirSize,
//                          ConstructorFailureFreesTheMemory,
//                          TakesAPolymorphicAllocator, DerivedToBase
//   pmr_containers         PmrContainersTest: EveryAliasUsesTheResource
//   stats_resource         StatsResourceTest: CountsBySizeBucket,
//                          LiveAndPeakBytes, KeepsTheCountsOfExitedThreads,
//                          HeaderExampleWorks
//   system_resources       SystemResourcesTest: MallocHonoursAlignment,
//                          PageResourceGivesMemoryBackToTheOs
//   memory_monitor         MemoryMonitorTest: SamplesOnThePeriod,
//                          FormatsALine, FormatsPrometheusText,
//                          StopsPromptlyOnDestruction
//   the header examples    AdapterExamplesTest: one per header
// The contracts every resource keeps are in adapters_conformance_test;
// synchronized_resource and stats_resource under threads in
// stress/adapters_stress_test.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "strata/adapters/allocate_unique.h"
#include "strata/adapters/memory_monitor.h"
#include "strata/adapters/pmr_containers.h"
#include "strata/adapters/resource_adaptor.h"
#include "strata/adapters/stats_resource.h"
#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/system_resources.h"
#include "strata/adapters/test_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/resident.h"

namespace strata {
namespace {

using ::testing::HasSubstr;

class ResourceAdaptorTest : public testing::UpstreamCheckedTest {};

TEST_F(ResourceAdaptorTest, UsesTheAllocator) {
  resource_adaptor<std::pmr::polymorphic_allocator<int>> adaptor{
      std::pmr::polymorphic_allocator<int>(&upstream_)};
  void* p = adaptor.allocate(100, 8);
  EXPECT_EQ(upstream_.stats().allocations, 1u);
  EXPECT_EQ(upstream_.bytes_in_use(), 104u);  // 13 units of 8 bytes
  adaptor.deallocate(p, 100, 8);
}

TEST_F(ResourceAdaptorTest, AlignsSmallAlignmentsOverAnyAllocator) {
  // Over an allocator of bytes, which promises alignment 1, small alignments
  // were once assumed and came back misaligned.
  monotonic_arena arena({.initial_size = 4096}, &upstream_);
  resource_adaptor<std::pmr::polymorphic_allocator<std::byte>> adaptor{
      std::pmr::polymorphic_allocator<std::byte>(&arena)};
  for (std::size_t alignment = 1; alignment <= 64; alignment <<= 1) {
    static_cast<void>(arena.allocate(1, 1));  // leaves the arena unaligned
    void* p = adaptor.allocate(alignment, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u)
        << "alignment " << alignment;
    adaptor.deallocate(p, alignment, alignment);
  }
  // Hidden from the compiler, which rejects such constants outright.
  const volatile std::size_t three = 3;
  EXPECT_THROW(static_cast<void>(adaptor.allocate(8, three)),
               std::invalid_argument);
  const volatile std::size_t absurd = SIZE_MAX;
  EXPECT_THROW(static_cast<void>(adaptor.allocate(absurd, 8)), std::bad_alloc);
}

TEST_F(ResourceAdaptorTest, HonoursAlignmentBeyondTheAllocators) {
  resource_adaptor<std::allocator<char>> heap;
  for (std::size_t alignment = 32; alignment <= 8192; alignment <<= 1) {
    void* p = heap.allocate(40, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
    std::memset(p, 1, 40);
    heap.deallocate(p, 40, alignment);
  }
}

TEST(ResourceAdaptorExampleTest, HeaderExampleWorks) {
  strata::resource_adaptor<std::allocator<int>> heap;
  std::pmr::vector<int> v({1, 2, 3}, &heap);  // memory from std::allocator
  EXPECT_EQ(v.back(), 3);
}

class AllocateUniqueTest : public testing::UpstreamCheckedTest {};

struct tracked {
  explicit tracked(int* destroyed_in, int v)
      : destroyed(destroyed_in), value(v) {}
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  virtual ~tracked() { ++*destroyed; }
  int* destroyed;
  int value;
};

TEST_F(AllocateUniqueTest, DestroysAndFreesInTheResource) {
  int destroyed = 0;
  {
    auto p = allocate_unique<tracked>(&upstream_, &destroyed, 7);
    EXPECT_EQ(p->value, 7);
    EXPECT_EQ(upstream_.bytes_in_use(), sizeof(tracked));
    EXPECT_EQ(p.get_deleter().resource(), &upstream_);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST_F(AllocateUniqueTest, ArraysRememberTheirSize) {
  auto values = allocate_unique<double[]>(&upstream_, 64);
  EXPECT_EQ(values.get_deleter().size(), 64u);
  EXPECT_EQ(values[63], 0.0);  // value-initialised
  EXPECT_EQ(upstream_.bytes_in_use(), 64 * sizeof(double));
  EXPECT_THROW(allocate_unique<double[]>(&upstream_, SIZE_MAX / 4),
               std::bad_alloc);
}

struct throws_on_build {
  explicit throws_on_build(int) { throw std::runtime_error("no"); }
};

TEST_F(AllocateUniqueTest, ConstructorFailureFreesTheMemory) {
  EXPECT_THROW(allocate_unique<throws_on_build>(&upstream_, 1),
               std::runtime_error);
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(AllocateUniqueTest, TakesAPolymorphicAllocator) {
  std::pmr::polymorphic_allocator<> alloc(&upstream_);
  auto s = allocate_unique<std::pmr::string>(alloc, "a string that is long");
  EXPECT_EQ(*s, "a string that is long");
}

TEST_F(AllocateUniqueTest, DerivedToBase) {
  struct derived final : tracked {
    using tracked::tracked;
  };
  static_assert(sizeof(derived) == sizeof(tracked));
  int destroyed = 0;
  {
    pmr_unique_ptr<tracked> base =
        allocate_unique<derived>(&upstream_, &destroyed, 1);
    EXPECT_EQ(base->value, 1);
  }
  EXPECT_EQ(destroyed, 1);
}

class PmrContainersTest : public testing::UpstreamCheckedTest {};

TEST_F(PmrContainersTest, EveryAliasUsesTheResource) {
  auto uses = [&](auto&& fill) {
    const std::size_t before = upstream_.stats().allocations;
    fill();
    return upstream_.stats().allocations > before;
  };
  EXPECT_TRUE(uses([&] {
    pmr::flat_hash_map<int, int> m(&upstream_);
    for (int i = 0; i < 100; ++i) m[i] = i;
  }));
  EXPECT_TRUE(uses([&] {
    pmr::flat_hash_set<int> s(&upstream_);
    for (int i = 0; i < 100; ++i) s.insert(i);
  }));
  EXPECT_TRUE(uses([&] {
    pmr::node_hash_map<int, std::pmr::string> m(&upstream_);
    m.try_emplace(1, "one");
  }));
  EXPECT_TRUE(uses([&] {
    pmr::node_hash_set<int> s(&upstream_);
    s.insert(1);
  }));
  EXPECT_TRUE(uses([&] {
    pmr::btree_map<int, int> m(&upstream_);
    for (int i = 0; i < 1000; ++i) m[i] = i;
    EXPECT_EQ(m.at(500), 500);
  }));
  EXPECT_TRUE(uses([&] {
    pmr::btree_set<int> s(&upstream_);
    s.insert(3);
  }));
  EXPECT_TRUE(uses([&] {
    pmr::InlinedVector<int, 4> v(&upstream_);
    for (int i = 0; i < 5; ++i) v.push_back(i);  // the fifth spills over
  }));
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

class StatsResourceTest : public testing::UpstreamCheckedTest {};

TEST_F(StatsResourceTest, CountsBySizeBucket) {
  stats_resource counted(&upstream_);
  void* a = counted.allocate(100, 8);  // bucket 7 (65..128)
  void* b = counted.allocate(128, 8);  // bucket 7
  void* c = counted.allocate(129, 8);  // bucket 8
  const stats_resource_stats s = counted.stats();
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.buckets[7].count, 2u);
  EXPECT_EQ(s.buckets[7].bytes, 228u);
  EXPECT_EQ(s.buckets[8].count, 1u);
  counted.deallocate(a, 100, 8);
  counted.deallocate(b, 128, 8);
  counted.deallocate(c, 129, 8);
  EXPECT_EQ(counted.stats().deallocations, 3u);
}

TEST_F(StatsResourceTest, LiveAndPeakBytes) {
  stats_resource counted(&upstream_);
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(counted.allocate(4096, 8));
  for (void* p : blocks) counted.deallocate(p, 4096, 8);
  void* small = counted.allocate(10, 8);
  const stats_resource_stats s = counted.stats();
  EXPECT_EQ(s.bytes_in_use, 10u);
  // Exact to within 64 KiB per thread.
  EXPECT_GE(s.peak_bytes + (64 << 10), 100u * 4096u);
  EXPECT_LE(s.peak_bytes, 100u * 4096u);
  counted.deallocate(small, 10, 8);
}

TEST_F(StatsResourceTest, KeepsTheCountsOfExitedThreads) {
  stats_resource counted(&upstream_);
  void* kept = nullptr;
  std::thread([&] {
    for (int i = 0; i < 10; ++i) {
      void* p = counted.allocate(64, 8);
      counted.deallocate(p, 64, 8);
    }
    kept = counted.allocate(32, 8);
  }).join();
  stats_resource_stats s = counted.stats();
  EXPECT_EQ(s.allocations, 11u);
  EXPECT_EQ(s.bytes_in_use, 32u);
  counted.deallocate(kept, 32, 8);  // freed by another thread
  s = counted.stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.deallocations, 11u);
}

TEST_F(StatsResourceTest, HeaderExampleWorks) {
  strata::stats_resource counted(&upstream_);
  {
    std::pmr::vector<int> v(1000, 0, &counted);
    strata::stats_resource_stats s = counted.stats();
    EXPECT_EQ(s.allocations, 1u);
    EXPECT_EQ(s.bytes_in_use, 4000u);
    EXPECT_EQ(s.buckets[12].count, 1u);
  }
}

TEST(SystemResourcesTest, MallocHonoursAlignment) {
  malloc_resource heap;
  for (std::size_t alignment = 1; alignment <= 65536; alignment <<= 1) {
    void* p = heap.allocate(24, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
    heap.deallocate(p, 24, alignment);
  }
  EXPECT_THROW(static_cast<void>(heap.allocate(std::size_t{1} << 41, 8)),
               std::bad_alloc);
}

using testing::resident_bytes;

TEST(SystemResourcesTest, PageResourceGivesMemoryBackToTheOs) {
  page_resource pages;
  constexpr std::size_t kBytes = 64 << 20;
  void* p = pages.allocate(kBytes, 4096);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % page_resource::page_size(),
            0u);
  std::memset(p, 1, kBytes);  // make every page resident
  const std::size_t touched = resident_bytes();
  pages.deallocate(p, kBytes, 4096);
  const std::size_t released = resident_bytes();
  EXPECT_GE(touched - released, kBytes / 2)
      << "resident " << touched << " -> " << released;
  void* aligned = pages.allocate(100, 1 << 20);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % (1 << 20), 0u);
  pages.deallocate(aligned, 100, 1 << 20);
}

// Collects snapshots and lets a test wait for a number of them.
class snapshot_sink {
 public:
  void add(const monitor_snapshot& s) {
    std::lock_guard lock(mu_);
    snapshots_.push_back(s);
    cv_.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return snapshots_.size() >= n; });
  }
  monitor_snapshot last() {
    std::lock_guard lock(mu_);
    return snapshots_.back();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<monitor_snapshot> snapshots_;
};

TEST(MemoryMonitorTest, SamplesOnThePeriod) {
  snapshot_sink sink;
  test_resource checked(testing::recording_checker("checked"));
  void* p = checked.allocate(123, 8);
  {
    memory_monitor monitor({.period = std::chrono::milliseconds(1)},
                           [&](const monitor_snapshot& s) { sink.add(s); });
    monitor.watch("checked", [&] { return fields_of(checked.stats()); });
    ASSERT_TRUE(sink.wait_for(3));
  }
  const monitor_snapshot s = sink.last();
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_EQ(s.resources[0].first, "checked");
  EXPECT_THAT(format_line(s), HasSubstr("bytes_in_use=123"));
  checked.deallocate(p, 123, 8);
}

monitor_snapshot two_resources() {
  return {.taken = {},
          .resources = {{"pool", {{"cached_bytes", 4096}, {"hits", 7}}},
                        {"arena \"a\"", {{"cached_bytes", 10}}}}};
}

TEST(MemoryMonitorTest, FormatsALine) {
  EXPECT_EQ(format_line(two_resources()),
            "pool cached_bytes=4096 hits=7; arena \"a\" cached_bytes=10");
}

TEST(MemoryMonitorTest, FormatsPrometheusText) {
  EXPECT_EQ(format_prometheus(two_resources()),
            "# TYPE strata_cached_bytes gauge\n"
            "strata_cached_bytes{resource=\"pool\"} 4096\n"
            "strata_cached_bytes{resource=\"arena \\\"a\\\"\"} 10\n"
            "# TYPE strata_hits gauge\n"
            "strata_hits{resource=\"pool\"} 7\n");
}

TEST(MemoryMonitorTest, StopsPromptlyOnDestruction) {
  // A period of an hour: the destructor must not wait for it.
  std::atomic<int> samples{0};
  const auto start = std::chrono::steady_clock::now();
  {
    memory_monitor monitor({.period = std::chrono::hours(1)},
                           [&](const monitor_snapshot&) { ++samples; });
    monitor.watch("x", [] { return monitor_sample{}; });
    EXPECT_EQ(monitor.sample_now().resources.size(), 1u);
  }
  EXPECT_EQ(samples.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
}

// The examples of the adapter headers, as they stand there (with the types
// they assume filled in).
struct Order {
  Order(int id_in, const char* side_in) : id(id_in), side(side_in) {}
  int id;
  std::string side;
};

TEST(AdapterExamplesTest, AllocateUnique) {
  strata::monotonic_arena arena;
  auto order = strata::allocate_unique<Order>(&arena, 42, "buy");
  auto prices = strata::allocate_unique<double[]>(&arena, 64);
  // both freed into the arena when they go out of scope
  EXPECT_EQ(order->id, 42);
  EXPECT_EQ(prices[0], 0.0);
}

TEST(AdapterExamplesTest, PmrContainers) {
  strata::size_class_resource slabs;
  strata::pmr::flat_hash_map<int, std::pmr::string> names(&slabs);
  names.try_emplace(7, "seven");  // slots from slabs
  strata::pmr::InlinedVector<int, 4> small(&slabs);
  EXPECT_EQ(names.at(7), "seven");
  EXPECT_GT(slabs.stats().bytes_in_use, 0u);
}

TEST(AdapterExamplesTest, SynchronizedResource) {
  strata::synchronized_resource<strata::size_class_resource> shared;
  std::thread t([&] { std::pmr::vector<int> v(100, &shared); });
  std::pmr::string s("from main, at the same time", &shared);
  t.join();
  EXPECT_EQ(s.size(), 27u);
}

TEST(AdapterExamplesTest, PageResource) {
  strata::page_resource pages;
  strata::monotonic_arena arena({.initial_size = 1 << 20}, &pages);
  static_cast<void>(arena.allocate(1000));
  arena.release();  // gives the pages back to the OS
  EXPECT_EQ(arena.stats().bytes_reserved, 0u);
}

TEST(AdapterExamplesTest, MemoryMonitor) {
  strata::sync_pool_resource pool;
  snapshot_sink lines;
  {
    strata::memory_monitor monitor({.period = std::chrono::milliseconds(1)},
                                   [&](const strata::monitor_snapshot& s) {
                                     EXPECT_NE(strata::format_line(s), "");
                                     lines.add(s);
                                   });
    monitor.watch("pool", [&] { return strata::fields_of(pool.stats()); });
    ASSERT_TRUE(lines.wait_for(2));
  }
}

}  // namespace
}  // namespace strata
