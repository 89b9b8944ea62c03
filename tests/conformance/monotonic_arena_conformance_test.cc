// monotonic_arena keeps the contracts every resource keeps.

#include <memory>
#include <memory_resource>
#include <string_view>

#include "strata/monotonic_arena.h"

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

struct monotonic_arena_factory : conformance_traits {
  static constexpr std::string_view kName = "monotonic_arena";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<monotonic_arena>(monotonic_arena_options{},
                                             upstream);
  }
};

// Small chunks, so that every scenario crosses many chunk boundaries and
// serves many requests from blocks of their own.
struct small_chunk_arena_factory : conformance_traits {
  static constexpr std::string_view kName = "monotonic_arena(small chunks)";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<monotonic_arena>(
        monotonic_arena_options{
            .initial_size = 256, .growth_factor = 1.5, .max_chunk_size = 4096},
        upstream);
  }
};

using Arenas =
    ::testing::Types<monotonic_arena_factory, small_chunk_arena_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(MonotonicArena, ConformanceTest, Arenas);

}  // namespace strata::testing
