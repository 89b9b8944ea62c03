// The conformance suite: the contracts of DESIGN.md that every memory resource
// keeps, as a typed GoogleTest suite.
//
// A resource joins by naming a factory and instantiating the suite:
//
//   struct my_factory : strata::testing::conformance_traits {
//     static constexpr std::string_view kName = "my_resource";
//     static std::unique_ptr<std::pmr::memory_resource> make(
//         std::pmr::memory_resource* upstream) {
//       return std::make_unique<my_resource>(my_options{}, upstream);
//     }
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, ConformanceTest,
//                                  ::testing::Types<my_factory>);
//
// Every resource under test sits on a recording test_resource, which checks
// each upstream call the resource makes and proves, at the end, that it gave
// every byte back. Where a resource legitimately keeps a weaker contract (the
// std::pmr built-ins do not validate alignments, for instance), its factory
// overrides a trait below and the affected case says so when it runs; a known
// defect is a trait that expects the failure, so the case fails when the
// defect disappears or the check stops catching it.
//
// Cases:
//   Alignment             every power of two up to 64 KiB, sizes around it,
//                         and blocks beyond any size class
//   NoOverlap             live blocks never share a byte
//   ContentsSurvive       seeded random allocate/free; every block keeps what
//                         was written into it
//   ZeroSize              allocate(0) gives unique, freeable pointers
//   OverflowSizes         sizes near SIZE_MAX throw std::bad_alloc, nothing
//                         wraps around or reaches the upstream small
//   InvalidAlignment      a non-power-of-two alignment throws
//                         std::invalid_argument saying so, also once a
//                         freed block of that size is cached
//   UpstreamFailure       the exception loop: the upstream failing on the
//                         1st, 2nd, ... allocation leaks nothing and leaves a
//                         usable resource
//   DestructionReturnsEverything  every byte goes back to the upstream
//   PmrContainers         vector, string, list, map, unordered_map
//   IsEqualIsIdentity     do_is_equal compares addresses
#ifndef STRATA_TESTS_CONFORMANCE_CONFORMANCE_H_
#define STRATA_TESTS_CONFORMANCE_CONFORMANCE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/test_resource.h"

#include "testing/checker.h"

namespace strata::testing {

/// The contract a factory declares; every field defaults to the full contract
/// of DESIGN.md. A factory that differs overrides the field and says why.
struct conformance_traits {
  /// allocate() with an alignment that is not a power of two throws
  /// std::invalid_argument.
  static constexpr bool kThrowsOnInvalidAlignment = true;
  /// A known defect: some blocks come back less aligned than asked. The
  /// Alignment case then expects to see misaligned blocks.
  static constexpr bool kKnownMisalignment = false;
  /// An allocation that fails because the upstream threw leaves the upstream
  /// holding exactly what it held before the call.
  static constexpr bool kStrongGuarantee = true;
  /// The resource owns its blocks: destroying it frees blocks still live.
  /// Pass-through layers are false and get every block back first.
  static constexpr bool kOwnsMemory = true;
  /// A known defect: an upstream failure at some point corrupts the resource
  /// so that the process crashes. The UpstreamFailure case then expects the
  /// crash, in a child process.
  static constexpr bool kKnownCrashOnUpstreamFailure = false;
  /// The resource takes its memory from the upstream it is given. False for
  /// the system's own allocators (malloc, mmap): the cases that watch or
  /// fail the upstream then have nothing to see.
  static constexpr bool kUsesUpstream = true;
  /// Why the factory differs from the full contract, shown where it matters.
  static constexpr std::string_view kDeviations = "";
};

/// One live block of a scenario.
struct live_block {
  std::byte* p;
  std::size_t size;
  std::size_t alignment;
  unsigned char seed;
};

/// Fills `b` with a pattern derived from its seed.
inline void fill(const live_block& b) {
  for (std::size_t i = 0; i < b.size; ++i) {
    b.p[i] = static_cast<std::byte>(static_cast<unsigned char>(b.seed + i * 7));
  }
}

/// True when `b` still holds the pattern fill() wrote.
inline bool intact(const live_block& b) {
  for (std::size_t i = 0; i < b.size; ++i) {
    if (b.p[i] !=
        static_cast<std::byte>(static_cast<unsigned char>(b.seed + i * 7))) {
      return false;
    }
  }
  return true;
}

/// Returns a description of the first pair of overlapping blocks, or "".
inline std::string find_overlap(std::vector<live_block> blocks) {
  std::sort(blocks.begin(), blocks.end(),
            [](const live_block& a, const live_block& b) { return a.p < b.p; });
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    const live_block& prev = blocks[i - 1];
    // A zero-size block occupies no byte but must still be distinct.
    const std::size_t extent = std::max<std::size_t>(prev.size, 1);
    if (blocks[i].p < prev.p + extent) {
      return "block at " +
             std::to_string(reinterpret_cast<std::uintptr_t>(blocks[i].p)) +
             " overlaps the " + std::to_string(prev.size) +
             "-byte block before it";
    }
  }
  return "";
}

template <class Factory>
class ConformanceTest : public ::testing::Test {
 protected:
  ConformanceTest() : upstream_(recording_checker(Factory::kName)) {}

  ~ConformanceTest() override {
    resource_.reset();
    EXPECT_EQ(upstream_.bytes_in_use(), 0u)
        << Factory::kName << " kept upstream memory after destruction";
    EXPECT_TRUE(upstream_.defects().empty())
        << Factory::kName
        << " misused its upstream: " << upstream_.defects().front().message;
  }

  std::pmr::memory_resource& resource() {
    if (!resource_) resource_ = Factory::make(&upstream_);
    return *resource_;
  }

  test_resource upstream_;
  std::unique_ptr<std::pmr::memory_resource> resource_;
};

TYPED_TEST_SUITE_P(ConformanceTest);

TYPED_TEST_P(ConformanceTest, Alignment) {
  std::pmr::memory_resource& r = this->resource();
  std::size_t misaligned = 0;
  std::string first_misaligned;
  std::vector<live_block> blocks;
  for (std::size_t alignment = 1; alignment <= (std::size_t{1} << 16);
       alignment <<= 1) {
    const std::size_t sizes[] = {1,
                                 7,
                                 8,
                                 16,
                                 17,
                                 20,
                                 24,
                                 100,
                                 1000,
                                 5000,
                                 alignment - 1,
                                 alignment,
                                 alignment + 1,
                                 3 * alignment,
                                 (std::size_t{1} << 20)};
    for (std::size_t size : sizes) {
      if (size == 0) continue;
      for (int repeat = 0; repeat < 4; ++repeat) {
        auto* p = static_cast<std::byte*>(r.allocate(size, alignment));
        if (reinterpret_cast<std::uintptr_t>(p) % alignment != 0) {
          if (misaligned++ == 0) {
            first_misaligned =
                "allocate(" + std::to_string(size) + ", " +
                std::to_string(alignment) + ") returned " +
                std::to_string(reinterpret_cast<std::uintptr_t>(p));
          }
        }
        blocks.push_back({p, size, alignment, 0});
        std::memset(p, 0x5A, size);
      }
    }
    for (const live_block& b : blocks) r.deallocate(b.p, b.size, b.alignment);
    blocks.clear();
  }
  if constexpr (TypeParam::kKnownMisalignment) {
    EXPECT_GT(misaligned, 0u)
        << TypeParam::kName
        << " was recorded as returning under-aligned blocks ("
        << TypeParam::kDeviations
        << "), but none were seen: the defect is gone or the check is blind";
  } else {
    EXPECT_EQ(misaligned, 0u) << first_misaligned;
  }
}

TYPED_TEST_P(ConformanceTest, NoOverlap) {
  std::pmr::memory_resource& r = this->resource();
  std::mt19937_64 rng(42);
  std::vector<live_block> blocks;
  for (int i = 0; i < 3000; ++i) {
    const std::size_t size = (rng() % 8 == 0) ? rng() % 20000 : rng() % 300;
    const std::size_t alignment = std::size_t{1} << (rng() % 7);
    blocks.push_back({static_cast<std::byte*>(r.allocate(size, alignment)),
                      size, alignment, 0});
    if (rng() % 3 == 0) {
      const std::size_t victim = rng() % blocks.size();
      r.deallocate(blocks[victim].p, blocks[victim].size,
                   blocks[victim].alignment);
      blocks[victim] = blocks.back();
      blocks.pop_back();
    }
  }
  EXPECT_EQ(find_overlap(blocks), "");
  for (const live_block& b : blocks) r.deallocate(b.p, b.size, b.alignment);
}

TYPED_TEST_P(ConformanceTest, ContentsSurvive) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::pmr::memory_resource& r = this->resource();
    std::mt19937_64 rng(seed);
    std::vector<live_block> blocks;
    std::size_t corrupted = 0;
    for (int op = 0; op < 20000; ++op) {
      const bool grow =
          blocks.size() < 50 || (blocks.size() < 2000 && rng() % 2);
      if (grow) {
        std::size_t size = rng() % 128;
        if (rng() % 10 == 0) size = rng() % 8192;
        if (rng() % 200 == 0) size = rng() % (256 << 10);
        const std::size_t alignment = (rng() % 4 == 0)
                                          ? std::size_t{1} << (rng() % 8)
                                          : alignof(std::max_align_t);
        live_block b{static_cast<std::byte*>(r.allocate(size, alignment)), size,
                     alignment, static_cast<unsigned char>(rng())};
        fill(b);
        blocks.push_back(b);
      } else {
        const std::size_t victim = rng() % blocks.size();
        if (!intact(blocks[victim])) ++corrupted;
        r.deallocate(blocks[victim].p, blocks[victim].size,
                     blocks[victim].alignment);
        blocks[victim] = blocks.back();
        blocks.pop_back();
      }
    }
    for (const live_block& b : blocks) {
      if (!intact(b)) ++corrupted;
    }
    EXPECT_EQ(corrupted, 0u);
    EXPECT_EQ(find_overlap(blocks), "");
    for (const live_block& b : blocks) r.deallocate(b.p, b.size, b.alignment);
  }
}

TYPED_TEST_P(ConformanceTest, ZeroSize) {
  std::pmr::memory_resource& r = this->resource();
  void* a = r.allocate(0, 1);
  void* b = r.allocate(0, 1);
  void* c = r.allocate(0, 64);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c) % 64, 0u);
  r.deallocate(c, 0, 64);
  r.deallocate(b, 0, 1);
  r.deallocate(a, 0, 1);
}

TYPED_TEST_P(ConformanceTest, OverflowSizes) {
  std::pmr::memory_resource& r = this->resource();
  const std::size_t before = this->upstream_.blocks_in_use();
  for (std::size_t size :
       {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 7, SIZE_MAX - 4095, SIZE_MAX / 2 + 1,
        SIZE_MAX / 2 - 4095}) {
    for (std::size_t alignment : {1u, 8u, 16u, 4096u}) {
      SCOPED_TRACE("allocate(" + std::to_string(size) + ", " +
                   std::to_string(alignment) + ")");
      // Anything other than std::bad_alloc (or a type derived from it) fails.
      EXPECT_THROW(static_cast<void>(r.allocate(size, alignment)),
                   std::bad_alloc);
    }
  }
  if constexpr (TypeParam::kStrongGuarantee) {
    EXPECT_EQ(this->upstream_.blocks_in_use(), before);
  }
  void* p = r.allocate(64, 8);  // still usable
  r.deallocate(p, 64, 8);
}

TYPED_TEST_P(ConformanceTest, InvalidAlignment) {
  if constexpr (!TypeParam::kThrowsOnInvalidAlignment) {
    GTEST_SKIP() << TypeParam::kName
                 << " does not validate alignments: " << TypeParam::kDeviations;
  } else {
    std::pmr::memory_resource& r = this->resource();
    // Warm first: a cached block that happens to be aligned enough must not
    // let a bad alignment through a fast path.
    for (int i = 0; i < 2; ++i) {
      void* warm = r.allocate(16, 16);
      r.deallocate(warm, 16, 16);
    }
    const std::size_t before = this->upstream_.blocks_in_use();
    for (std::size_t alignment : {0u, 3u, 6u, 12u, 24u, 48u, 100u, 4097u}) {
      SCOPED_TRACE("alignment " + std::to_string(alignment));
      try {
        void* p = r.allocate(16, alignment);
        ADD_FAILURE() << "no exception, returned " << p;
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos)
            << e.what();
      }
    }
    EXPECT_EQ(this->upstream_.blocks_in_use(), before);
  }
}

// One scenario of mixed sizes, run under the exception loop. Returns true when
// it ran to the end; on an injected failure it frees what it holds and checks
// that the failing call left the upstream as it was.
template <class Factory>
bool run_failing_scenario(std::pmr::memory_resource& r,
                          const test_resource& upstream) {
  std::vector<live_block> blocks;
  const std::size_t sizes[] = {8,    64,    24,     200,    4096, 1,
                               1000, 70000, 300000, 16,     48,   (1 << 20),
                               32,   8192,  128,    100000, 0,    512};
  bool completed = true;
  for (int round = 0; round < 3 && completed; ++round) {
    for (std::size_t i = 0; i < std::size(sizes); ++i) {
      const std::size_t alignment = (i % 5 == 0) ? 64 : 8;
      const std::size_t held_before = upstream.bytes_in_use();
      try {
        void* p = r.allocate(sizes[i], alignment);
        blocks.push_back({static_cast<std::byte*>(p), sizes[i], alignment, 0});
      } catch (const std::bad_alloc&) {
        if constexpr (Factory::kStrongGuarantee) {
          EXPECT_EQ(upstream.bytes_in_use(), held_before)
              << "a failed allocate(" << sizes[i] << ", " << alignment
              << ") kept upstream memory";
        }
        completed = false;
        break;
      }
      if (i % 3 == 2) {  // free every third block: exercise reuse
        const live_block b = blocks[blocks.size() / 2];
        blocks.erase(blocks.begin() +
                     static_cast<std::ptrdiff_t>(blocks.size() / 2));
        r.deallocate(b.p, b.size, b.alignment);
      }
    }
  }
  for (const live_block& b : blocks) r.deallocate(b.p, b.size, b.alignment);
  return completed;
}

// The exception loop over run_failing_scenario, with a fresh checker and
// resource for each injected failure.
template <class Factory>
void run_upstream_failure_loop() {
  const std::size_t attempts = for_each_upstream_failure([](std::size_t n) {
    test_resource upstream(recording_checker(Factory::kName));
    bool completed = false;
    {
      std::unique_ptr<std::pmr::memory_resource> r = Factory::make(&upstream);
      upstream.fail_after(n);
      completed = run_failing_scenario<Factory>(*r, upstream);
      upstream.fail_after(0);
      // Still usable at once, for small and large blocks.
      void* small = r->allocate(32, 8);
      void* large = r->allocate(200000, 16);
      r->deallocate(large, 200000, 16);
      r->deallocate(small, 32, 8);
    }
    EXPECT_EQ(upstream.bytes_in_use(), 0u) << "leaked after failure " << n;
    EXPECT_TRUE(upstream.defects().empty()) << "after failure " << n;
    return completed;
  });
  EXPECT_GT(attempts, 1u) << "the scenario never reached the upstream";
}

TYPED_TEST_P(ConformanceTest, UpstreamFailure) {
  if constexpr (!TypeParam::kUsesUpstream) {
    GTEST_SKIP() << TypeParam::kName << " has no upstream to fail";
  } else if constexpr (TypeParam::kKnownCrashOnUpstreamFailure) {
    EXPECT_DEATH(run_upstream_failure_loop<TypeParam>(), "")
        << TypeParam::kName << " was recorded as crashing after an upstream "
        << "failure (" << TypeParam::kDeviations
        << "), but it survived: the defect is gone or the loop is blind";
  } else {
    run_upstream_failure_loop<TypeParam>();
  }
}

TYPED_TEST_P(ConformanceTest, DestructionReturnsEverything) {
  std::pmr::memory_resource& r = this->resource();
  std::vector<live_block> blocks;
  for (std::size_t i = 0; i < 500; ++i) {
    const std::size_t size = (i % 50 == 0) ? 100000 : 8 + (i * 37) % 600;
    blocks.push_back(
        {static_cast<std::byte*>(r.allocate(size, 16)), size, 16, 0});
  }
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    r.deallocate(blocks[i].p, blocks[i].size, blocks[i].alignment);
  }
  if constexpr (TypeParam::kUsesUpstream) {
    EXPECT_GT(this->upstream_.bytes_in_use(), 0u);
  }
  if constexpr (!TypeParam::kOwnsMemory) {
    // A pass-through layer tracks no blocks; its users free them first.
    for (std::size_t i = 1; i < blocks.size(); i += 2) {
      r.deallocate(blocks[i].p, blocks[i].size, blocks[i].alignment);
    }
  }
  this->resource_.reset();
  EXPECT_EQ(this->upstream_.bytes_in_use(), 0u);
  EXPECT_TRUE(this->upstream_.expect_no_leaks());
}

TYPED_TEST_P(ConformanceTest, PmrContainers) {
  std::pmr::memory_resource& r = this->resource();
  {
    std::pmr::vector<std::pmr::string> strings(&r);
    std::pmr::list<int> list(&r);
    std::pmr::map<int, std::pmr::string> map(&r);
    std::pmr::unordered_map<std::pmr::string, int> index(&r);
    for (int i = 0; i < 2000; ++i) {
      std::string text(static_cast<std::size_t>(i % 97),
                       static_cast<char>('a' + i % 26));
      text += std::to_string(i);
      strings.emplace_back(text);
      list.push_back(i);
      map.emplace(i, text);
      index.emplace(text, i);
    }
    for (int i = 0; i < 2000; i += 3) map.erase(i);
    for (int i = 0; i < 2000; ++i) {
      const std::size_t at = static_cast<std::size_t>(i);
      ASSERT_EQ(index.at(strings[at]), i);
      if (i % 3 != 0) {
        ASSERT_EQ(map.at(i), strings[at]);
      }
    }
    EXPECT_EQ(list.size(), 2000u);
    EXPECT_EQ(list.back(), 1999);
    if constexpr (TypeParam::kUsesUpstream) {
      EXPECT_GT(this->upstream_.stats().allocations, 0u);
    }
  }
}

TYPED_TEST_P(ConformanceTest, IsEqualIsIdentity) {
  std::pmr::memory_resource& r = this->resource();
  std::unique_ptr<std::pmr::memory_resource> other =
      TypeParam::make(&this->upstream_);
  EXPECT_TRUE(r.is_equal(r));
  EXPECT_FALSE(r.is_equal(*other));
  EXPECT_FALSE(other->is_equal(r));
}

REGISTER_TYPED_TEST_SUITE_P(ConformanceTest, Alignment, NoOverlap,
                            ContentsSurvive, ZeroSize, OverflowSizes,
                            InvalidAlignment, UpstreamFailure,
                            DestructionReturnsEverything, PmrContainers,
                            IsEqualIsIdentity);

}  // namespace strata::testing

#endif  // STRATA_TESTS_CONFORMANCE_CONFORMANCE_H_
