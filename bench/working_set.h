// The mixed-size working set shared by the single- and two-thread workloads:
// a seeded plan of initial sizes and of replacement steps, so every resource
// sees the same sequence.
#ifndef STRATA_BENCH_WORKING_SET_H_
#define STRATA_BENCH_WORKING_SET_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

namespace strata::bench {

/// Live blocks in one working set.
inline constexpr std::size_t kLive = 10000;
/// Replacement steps in the plan (a power of two; the plan repeats).
inline constexpr std::size_t kSteps = std::size_t{1} << 16;

/// One step: free block `victim`, allocate `size` bytes in its place.
struct step {
  std::uint32_t victim;
  std::uint32_t size;
};

struct working_set_plan {
  std::vector<std::uint32_t> initial;  ///< kLive sizes
  std::vector<step> steps;             ///< kSteps replacements
};

/// The plan: sizes 60% 8-128 B, 30% 129 B-1 KiB, 10% 1-8 KiB.
const working_set_plan& mixed_plan();

/// kLive blocks allocated from one resource, replaced one per step().
class working_set {
 public:
  /// Starts at step `first_step` of the plan, so threads differ.
  explicit working_set(std::size_t first_step = 0);

  /// Allocates the initial blocks.
  void fill(std::pmr::memory_resource* r);

  /// Frees one block and allocates its replacement, which it writes to, as a
  /// user would.
  void step(std::pmr::memory_resource* r) {
    const struct step& s = plan_.steps[next_++ % kSteps];
    block& b = live_[s.victim];
    r->deallocate(b.p, b.size, kAlign);
    b = {r->allocate(s.size, kAlign), s.size};
    *static_cast<volatile char*>(b.p) = 1;
  }

  /// Bytes the blocks hold now.
  [[nodiscard]] std::size_t live_bytes() const;

  /// Frees every block.
  void clear(std::pmr::memory_resource* r);

 private:
  static constexpr std::size_t kAlign = alignof(std::max_align_t);
  struct block {
    void* p = nullptr;
    std::size_t size = 0;
  };

  const working_set_plan& plan_;
  std::vector<block> live_;
  std::size_t next_;
};

}  // namespace strata::bench

#endif  // STRATA_BENCH_WORKING_SET_H_
