// A pattern a test writes into a block and checks later, to prove that no one
// else wrote into it (overlap, use after free, a block handed out twice).
// Fills and checks with memcpy/memcmp, which the sanitizers see as one range
// access, so a stress test under ThreadSanitizer spends its time in the
// resource and not in instrumented byte loops.
#ifndef STRATA_TESTS_TESTING_PATTERN_H_
#define STRATA_TESTS_TESTING_PATTERN_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace strata::testing {

/// 64 bytes derived from `seed`, different for neighbouring seeds.
inline std::array<std::byte, 64> pattern_row(std::uint64_t seed) {
  std::array<std::byte, 64> row;
  std::uint64_t x = seed * 0x9E3779B97F4A7C15u + 0x632BE59BD9B4E019u;
  for (std::byte& b : row) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9u;
    b = static_cast<std::byte>(x >> 56);
  }
  return row;
}

/// Writes the pattern of `seed` over `bytes` bytes at `p`.
inline void fill_pattern(void* p, std::size_t bytes, std::uint64_t seed) {
  const std::array<std::byte, 64> row = pattern_row(seed);
  auto* out = static_cast<std::byte*>(p);
  for (std::size_t done = 0; done < bytes; done += row.size()) {
    std::memcpy(out + done, row.data(), std::min(row.size(), bytes - done));
  }
}

/// True when the `bytes` bytes at `p` still hold the pattern of `seed`.
inline bool has_pattern(const void* p, std::size_t bytes, std::uint64_t seed) {
  const std::array<std::byte, 64> row = pattern_row(seed);
  const auto* in = static_cast<const std::byte*>(p);
  for (std::size_t done = 0; done < bytes; done += row.size()) {
    if (std::memcmp(in + done, row.data(),
                    std::min(row.size(), bytes - done)) != 0) {
      return false;
    }
  }
  return true;
}

/// True when `p` is aligned to `alignment` (a power of two).
inline bool is_aligned(const void* p, std::size_t alignment) {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_PATTERN_H_
