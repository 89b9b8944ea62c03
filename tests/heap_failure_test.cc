// Tests of the checked builds' block registry (internal::checked_blocks) when
// the global heap it grows from fails:
//
//   ABlockHandedOutWhileTheHeapFailsIsNotLost,
//   ADoubleFreeOfAWaitingRecordIsStillCaught,
//   RunningOutOfSpareRecordsAbortsWithAMessage
//
// A resource records a block after taking it, so a registry that threw there
// would lose the block. This binary replaces the global operator new (and
// nothing else does), so it is a test executable of its own.

#include "strata/internal/checked_blocks.h"

#include <cstddef>
#include <cstdlib>
#include <memory_resource>
#include <new>
#include <vector>

#include "gtest/gtest.h"

#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"

namespace {

// While set, the replaced operator new fails. The aligned forms, which
// new_delete_resource() uses for the resources' upstream memory, are not
// replaced and keep working.
bool heap_fails = false;

}  // namespace

// GCC sees these inlined into delete expressions and takes free() for a
// mismatch with new; here free() is the match of the malloc() above.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t bytes) {
  if (heap_fails) throw std::bad_alloc();
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*bytes*/) noexcept { std::free(p); }

namespace strata {
namespace {

constexpr std::size_t kBlocks = 40;  // the registry grows on the way

// Allocates kBlocks blocks of `bytes` with the heap failing; the resource is
// warm, so only the registry wants memory.
std::vector<void*> allocate_while_the_heap_fails(std::pmr::memory_resource& r,
                                                 std::size_t bytes,
                                                 std::size_t count = kBlocks) {
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

class CheckedBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!internal::kChecked) GTEST_SKIP() << "not a checked build";
  }
};

// Every block comes back through deallocate() without an abort (a block the
// registry had lost would read as a foreign pointer), and the resource counts
// nothing in use afterwards.
TEST_F(CheckedBlocksTest, ABlockHandedOutWhileTheHeapFailsIsNotLost) {
  size_class_resource slabs({}, std::pmr::new_delete_resource());
  slabs.deallocate(slabs.allocate(64, 8), 64, 8);  // warm: a span is held
  std::vector<void*> blocks;
  EXPECT_NO_THROW(blocks = allocate_while_the_heap_fails(slabs, 64));
  ASSERT_EQ(blocks.size(), kBlocks);
  for (void* p : blocks) slabs.deallocate(p, 64, 8);
  EXPECT_EQ(slabs.stats().bytes_in_use, 0u);

  monotonic_arena arena({}, std::pmr::new_delete_resource());
  arena.deallocate(arena.allocate(64, 8), 64, 8);  // warm: a chunk is held
  EXPECT_NO_THROW(blocks = allocate_while_the_heap_fails(arena, 64));
  ASSERT_EQ(blocks.size(), kBlocks);
  for (void* p : blocks) arena.deallocate(p, 64, 8);
}

TEST_F(CheckedBlocksTest, ADoubleFreeOfAWaitingRecordIsStillCaught) {
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, std::pmr::new_delete_resource());
        slabs.deallocate(slabs.allocate(64, 8), 64, 8);
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(slabs, 64);
        // The records wait until the next allocation: deallocation finds
        // them there.
        slabs.deallocate(blocks.back(), 64, 8);
        slabs.deallocate(blocks.back(), 64, 8);
      },
      "double free|does not hold");
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, std::pmr::new_delete_resource());
        slabs.deallocate(slabs.allocate(64, 8), 64, 8);
        const std::vector<void*> blocks =
            allocate_while_the_heap_fails(slabs, 64);
        slabs.deallocate(blocks.back(), 32, 8);
      },
      "deallocate with size 32, but the block was allocated with size 64");
}

TEST_F(CheckedBlocksTest, RunningOutOfSpareRecordsAbortsWithAMessage) {
  EXPECT_DEATH(
      {
        size_class_resource slabs({}, std::pmr::new_delete_resource());
        slabs.deallocate(slabs.allocate(64, 8), 64, 8);
        static_cast<void>(allocate_while_the_heap_fails(slabs, 64, 1000));
      },
      "size_class_resource: checked build: out of memory to record the "
      "blocks handed out");
}

}  // namespace
}  // namespace strata
