// What the resources keep in tables from the global heap when that heap
// fails (the tables are node-based: absl's flat tables are left unusable by
// a resize that throws):
//
//   checked builds' block registry
//                        ABlockHandedOutWhileTheHeapFailsIsNotLost,
//                        WaitingRecordsMoveIntoTheTableOnceTheHeapWorks,
//                        ADoubleFreeOfAWaitingRecordIsStillCaught,
//                        AWrongSizeOfAWaitingRecordIsStillCaught,
//                        ARewindOrResetForgetsWaitingRecords,
//                        RunningOutOfSpareRecordsAbortsWithAMessage
//   large blocks         ALargeBlockThatCannotBeRecordedGoesBack
//   pools' blocks        APooledBlockNeedsNoRecord,
//                        ABoundedPoolBlockThatCannotBeRecordedGoesBack
//
// This binary replaces the global operator new (and nothing else does), so
// it is a test executable of its own.

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory_resource>
#include <new>
#include <vector>

#include "gtest/gtest.h"

#include "strata/bounded_pool_resource.h"
#include "strata/internal/checked_blocks.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

namespace {

// While set, the replaced operator new fails, in every form (so does
// new_delete_resource()). The resources' upstream (counting_upstream below)
// takes its memory from malloc and keeps working.
bool heap_fails = false;

}  // namespace

// GCC sees these inlined into delete expressions and takes free() for a
// mismatch with new; here free() is the match of the malloc() below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t bytes) {
  if (heap_fails) throw std::bad_alloc();
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t bytes, std::align_val_t alignment) {
  if (heap_fails) throw std::bad_alloc();
  const auto align = static_cast<std::size_t>(alignment);
  const std::size_t rounded = (bytes + align - 1) / align * align;
  if (void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*bytes*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*alignment*/) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t /*bytes*/,
                     std::align_val_t /*alignment*/) noexcept {
  std::free(p);
}

namespace strata {
namespace {

// Every record made while the heap fails needs a node, so none of these
// gets into the registry's table: all wait in spare records.
constexpr std::size_t kBlocks = 40;

// Allocates `count` blocks of `bytes` with the heap failing. A block of
// `bytes` allocated and freed first makes the resource warm (a span or a
// chunk held), so that only its tables want memory.
std::vector<void*> allocate_while_the_heap_fails(std::pmr::memory_resource& r,
                                                 std::size_t bytes,
                                                 std::size_t count = kBlocks) {
  r.deallocate(r.allocate(bytes, 8), bytes, 8);
  std::vector<void*> blocks;
  blocks.reserve(count);
  heap_fails = true;
  try {
    for (std::size_t i = 0; i < count; ++i) {
      blocks.push_back(r.allocate(bytes, 8));
    }
  } catch (...) {
    heap_fails = false;
    throw;
  }
  heap_fails = false;
  return blocks;
}

// Whether allocate(bytes) threw std::bad_alloc with the heap failing (the
// flag is down again before anything else runs).
bool allocation_fails_while_the_heap_fails(std::pmr::memory_resource& r,
                                           std::size_t bytes) {
  heap_fails = true;
  try {
    void* p = r.allocate(bytes, 8);
    heap_fails = false;
    r.deallocate(p, bytes, 8);
    return false;
  } catch (const std::bad_alloc&) {
    heap_fails = false;
    return true;
  }
}

// An upstream that counts what it holds, from malloc: it works while the
// global heap fails.
class counting_upstream : public std::pmr::memory_resource {
 public:
  std::size_t bytes = 0;

 private:
  void* do_allocate(std::size_t n, std::size_t alignment) override {
    const std::size_t align = std::max(alignment, sizeof(void*));
    void* p = std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    bytes += n;
    return p;
  }
  void do_deallocate(void* p, std::size_t n,
                     std::size_t /*alignment*/) override {
    bytes -= n;
    std::free(p);
  }
  bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

// What keep_allocating_while_the_heap_fails() leaves: the blocks it kept,
// and how many of its tries failed.
struct kept_blocks {
  std::vector<void*> blocks;
  std::size_t failures = 0;
};

// Tries `attempts` allocations of `bytes` from `r` while the global heap
// fails, and after each try allocates one more block with the heap working
// and keeps it, so that the resource's table of blocks keeps growing. A try
// that fails must leave `upstream` holding what it held before.
kept_blocks keep_allocating_while_the_heap_fails(
    std::pmr::memory_resource& r, const counting_upstream& upstream,
    std::size_t bytes, int attempts) {
  kept_blocks result;
  for (int i = 0; i < attempts; ++i) {
    const std::size_t held = upstream.bytes;
    if (allocation_fails_while_the_heap_fails(r, bytes)) {
      ++result.failures;
      EXPECT_EQ(upstream.bytes, held) << "try " << i;
    }
    result.blocks.push_back(r.allocate(bytes, 8));
  }
  return result;
}

class CheckedBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!internal::kChecked) GTEST_SKIP() << "not a checked build";
  }

  counting_upstream upstream_;
};

// Every block comes back through deallocate() without an abort (a block the
// registry had lost would read as a foreign pointer), and the resource counts
// nothing in use afterwards.
TEST_F(CheckedBlocksTest, ABlockHandedOutWhileTheHeapFailsIsNotLost) {
  size_class_resource slabs({}, &upstream_);
  std::vector<void*> blocks;
  EXPECT_NO_THROW(blocks = allocate_while_the_heap_fails(slabs, 64));
  ASSERT_EQ(blocks.size(), kBlocks);
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
  EXPECT_EQ(slabs.stats().bytes_in_use, 0u);

  monotonic_arena arena({}, &upstream_);
  EXPECT_NO_THROW(blocks = allocate_while_the_heap_fails(arena, 64));
  ASSERT_EQ(blocks.size(), kBlocks);
  for (void* p : blocks) arena.deallocate(p, 64, 8);
}

// The next allocation with a working heap moves the waiting records into
// the table, where deallocation still finds them, and still checks them.
TEST_F(CheckedBlocksTest, WaitingRecordsMoveIntoTheTableOnceTheHeapWorks) {
  size_class_resource slabs({}, &upstream_);
  std::vector<void*> blocks = allocate_while_the_heap_fails(slabs, 64);
  blocks.push_back(slabs.allocate(64, 8));  // moves the records
  // Out of memory again: the records are in the table now, not the spare
  // slots, so this many more fit in the spare slots once more.
  std::vector<void*> more =
      allocate_while_the_heap_fails(slabs, 64, kBlocks + 20);
  for (void* p : more) slabs.deallocate(p, 64, 8);
  EXPECT_DEATH(slabs.deallocate(blocks.front(), 32, 8),
               "deallocate with size 32, but the block was allocated with "
               "size 64");
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
  EXPECT_EQ(slabs.stats().bytes_in_use, 0u);
}

TEST_F(CheckedBlocksTest, ADoubleFreeOfAWaitingRecordIsStillCaught) {
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, &upstream_);
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(slabs, 64);
        // The records wait until the next allocation: deallocation finds
        // them there.
        slabs.deallocate(blocks.back(), 64, 8);
        slabs.deallocate(blocks.back(), 64, 8);
      },
      "double free");
}

TEST_F(CheckedBlocksTest, AWrongSizeOfAWaitingRecordIsStillCaught) {
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, &upstream_);
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(slabs, 64);
        slabs.deallocate(blocks.back(), 32, 8);
      },
      "deallocate with size 32, but the block was allocated with size 64");
}

// An arena's rewind() and reset() drop the records of the blocks they drop,
// waiting ones too: giving one back afterwards is a foreign pointer.
TEST_F(CheckedBlocksTest, ARewindOrResetForgetsWaitingRecords) {
  EXPECT_DEATH(
      {
        monotonic_arena arena({}, &upstream_);
        arena.deallocate(arena.allocate(64, 8), 64, 8);  // a chunk first
        const arena_mark before = arena.mark();
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(arena, 64);
        arena.rewind(before);
        arena.deallocate(blocks.back(), 64, 8);
      },
      "does not hold");
  EXPECT_DEATH(
      {
        monotonic_arena arena({}, &upstream_);
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(arena, 64);
        arena.reset();
        arena.deallocate(blocks.back(), 64, 8);
      },
      "does not hold");
}

TEST_F(CheckedBlocksTest, RunningOutOfSpareRecordsAbortsWithAMessage) {
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, &upstream_);
        static_cast<void>(allocate_while_the_heap_fails(slabs, 64, 1000));
      },
      "size_class_resource: checked build: out of memory to record the "
      "blocks handed out");
}

// A block the upstream serves directly is remembered in a table; when that
// cannot grow, the block goes back and the call throws, and the table still
// works. Between failures, successful allocations grow it.
TEST(HeapFailureTest, ALargeBlockThatCannotBeRecordedGoesBack) {
  counting_upstream upstream;
  {
    size_class_resource slabs({}, &upstream);
    constexpr std::size_t kLarge = 100000;
    const kept_blocks kept =
        keep_allocating_while_the_heap_fails(slabs, upstream, kLarge, 40);
    EXPECT_EQ(kept.failures, 40u);  // every try needs a record
    EXPECT_EQ(slabs.stats().large_blocks, kept.blocks.size());
    for (void* p : kept.blocks) slabs.deallocate(p, kLarge, 8);
    EXPECT_EQ(slabs.stats().large_blocks, 0u);
    EXPECT_EQ(upstream.bytes, 0u);
  }
  EXPECT_EQ(upstream.bytes, 0u);
}

// The sync pool carves its blocks from spans and keeps no record per block,
// so its allocations need nothing of the global heap once the thread has a
// cache: none fails, and everything goes back at the destruction.
TEST(HeapFailureTest, APooledBlockNeedsNoRecord) {
  counting_upstream upstream;
  {
    sync_pool_resource pool({}, &upstream);
    pool.deallocate(pool.allocate(256, 8), 256, 8);  // this thread's cache
    const kept_blocks kept =
        keep_allocating_while_the_heap_fails(pool, upstream, 256, 2000);
    EXPECT_EQ(kept.failures, 0u);
    for (void* p : kept.blocks) pool.deallocate(p, 256, 8);
    EXPECT_EQ(pool.stats().blocks_in_use, 0u);
  }
  EXPECT_EQ(upstream.bytes, 0u);
}

// The same for bounded_pool_resource's set of blocks from the upstream.
TEST(HeapFailureTest, ABoundedPoolBlockThatCannotBeRecordedGoesBack) {
  counting_upstream upstream;
  {
    bounded_pool_resource pool({}, &upstream);
    // This thread's stack exists, and holds one block.
    pool.deallocate(pool.allocate(64, 8), 64, 8);
    const kept_blocks kept =
        keep_allocating_while_the_heap_fails(pool, upstream, 64, 100);
    // The loop keeps every block it gets, so most attempts need a new one
    // from the upstream, and each of those fails.
    EXPECT_GT(kept.failures, 50u);
    for (void* p : kept.blocks) pool.deallocate(p, 64, 8);
  }
  EXPECT_EQ(upstream.bytes, 0u);
}

}  // namespace
}  // namespace strata
