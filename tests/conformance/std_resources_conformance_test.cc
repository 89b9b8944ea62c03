// The conformance suite run on the std::pmr built-ins. They are not ours to
// fix, so this proves the suite itself: it must pass where they keep the
// contract and catch them where they do not (the known defects below).

#include <memory>
#include <memory_resource>
#include <string_view>

#include "conformance/conformance.h"

namespace strata::testing {
namespace {

// libstdc++ 12's pools serve a request from the pool of the rounded-up size
// and assume that pool's blocks are aligned to the request: the 24-byte pool
// holds blocks at 8-byte steps, so allocate(20, 16) returns an address that is
// only 8-byte aligned about half of the time. Neither pool validates the
// alignment argument (a non-power of two is undefined behaviour there), and a
// failed upstream allocation can leave the pools' bookkeeping allocated.
// Worse, when the upstream fails on the small allocation a pool makes to grow
// its list of chunks (after the chunk itself was allocated), the pool frees
// the chunk but keeps a corrupt entry, and the same call then crashes: seen
// here with allocate(8, 64) on a new pool whose upstream fails on its third
// allocation.
constexpr std::string_view kStdPoolDeviations =
    "libstdc++ 12 pools return 8-byte aligned blocks for allocate(17..24, 16), "
    "do not validate alignments, keep their bookkeeping when the upstream "
    "fails, and crash when the upstream fails while they grow their chunk list";

struct unsynchronized_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "unsynchronized_pool_resource";
  static constexpr bool kThrowsOnInvalidAlignment = false;
  static constexpr bool kKnownMisalignment = true;
  static constexpr bool kStrongGuarantee = false;
  static constexpr bool kKnownCrashOnUpstreamFailure = true;
  static constexpr std::string_view kDeviations = kStdPoolDeviations;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<std::pmr::unsynchronized_pool_resource>(upstream);
  }
};

struct synchronized_pool_factory : conformance_traits {
  static constexpr std::string_view kName = "synchronized_pool_resource";
  static constexpr bool kThrowsOnInvalidAlignment = false;
  static constexpr bool kKnownMisalignment = true;
  static constexpr bool kStrongGuarantee = false;
  static constexpr bool kKnownCrashOnUpstreamFailure = true;
  static constexpr std::string_view kDeviations = kStdPoolDeviations;
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<std::pmr::synchronized_pool_resource>(upstream);
  }
};

struct monotonic_buffer_factory : conformance_traits {
  static constexpr std::string_view kName = "monotonic_buffer_resource";
  static constexpr bool kThrowsOnInvalidAlignment = false;
  static constexpr std::string_view kDeviations =
      "monotonic_buffer_resource does not validate alignments";
  static std::unique_ptr<std::pmr::memory_resource> make(
      std::pmr::memory_resource* upstream) {
    return std::make_unique<std::pmr::monotonic_buffer_resource>(upstream);
  }
};

using StdResources =
    ::testing::Types<unsynchronized_pool_factory, synchronized_pool_factory,
                     monotonic_buffer_factory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(StdPmr, ConformanceTest, StdResources);

}  // namespace strata::testing
