// The block count of a per-thread cache packed with the allocations the
// cache has served, in one word its thread writes and any thread may read
// (stats() from another thread): the count in the low 16 bits, the hits in
// the rest. A fast allocation takes a block and counts a hit with one add
// of 0xffff (the count is not 0, so nothing borrows from the hits); a fast
// deallocation adds 1. Like owner_counter, updates are a relaxed load and
// store, never a read-modify-write.
//
// The fast paths work on the word itself (word(), count_of(), after_take(),
// after_put()) so that they load it once.
#ifndef STRATA_INTERNAL_CACHE_COUNT_H_
#define STRATA_INTERNAL_CACHE_COUNT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace strata::internal {

class cache_count {
 public:
  /// The largest count the word holds.
  static constexpr std::size_t kMaxCount = 0xffff;

  /// The word now, and the count in a word.
  [[nodiscard]] std::uint64_t word() const noexcept {
    return word_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] static constexpr std::size_t count_of(
      std::uint64_t word) noexcept {
    return static_cast<std::size_t>(word & kMaxCount);
  }

  /// Stores `word` (read by the owner) with one block taken and one hit
  /// counted; requires count_of(word) != 0.
  void after_take(std::uint64_t word) noexcept {
    word_.store(word + kMaxCount, std::memory_order_relaxed);
  }
  /// Stores `word` with one block put back; requires count_of(word) <
  /// kMaxCount.
  void after_put(std::uint64_t word) noexcept {
    word_.store(word + 1, std::memory_order_relaxed);
  }
  /// Takes a block and counts a hit.
  void take() noexcept { after_take(word()); }

  [[nodiscard]] std::size_t count() const noexcept { return count_of(word()); }
  [[nodiscard]] std::size_t hits() const noexcept {
    return static_cast<std::size_t>(word() >> kHitShift);
  }
  /// Sets the count (blocks moved in bulk), keeping the hits.
  void set_count(std::size_t n) noexcept {
    word_.store((word() & ~std::uint64_t{kMaxCount}) | n,
                std::memory_order_relaxed);
  }

 private:
  static constexpr int kHitShift = 16;
  static_assert(kMaxCount == (std::uint64_t{1} << kHitShift) - 1);

  std::atomic<std::uint64_t> word_{0};
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_CACHE_COUNT_H_
