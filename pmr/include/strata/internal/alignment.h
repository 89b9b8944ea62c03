// Size and alignment arithmetic that never wraps around.
#ifndef STRATA_INTERNAL_ALIGNMENT_H_
#define STRATA_INTERNAL_ALIGNMENT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/base/optimization.h"

#include "strata/internal/errors.h"

namespace strata::internal {

/// Throws std::invalid_argument unless `alignment` is a power of two.
/// Cost: a few instructions (no popcount, which is a library call unless the
/// target has the instruction).
inline void check_alignment(std::string_view resource, std::size_t alignment) {
  if (ABSL_PREDICT_FALSE(alignment == 0 ||
                         (alignment & (alignment - 1)) != 0)) {
    throw_invalid_alignment(resource, alignment);
  }
}

/// The largest request a strata resource serves: no object can be larger
/// than PTRDIFF_MAX bytes, and passing such a size on would let an upstream
/// round it and wrap (libstdc++ 12's new_delete_resource returns a block for
/// SIZE_MAX).
inline constexpr std::size_t kMaxRequest = PTRDIFF_MAX;

/// Throws std::invalid_argument unless `alignment` is a power of two, and
/// std::bad_alloc if `bytes` is above kMaxRequest. For slow paths, before
/// anything reaches an upstream.
inline void check_request(std::string_view resource, std::size_t bytes,
                          std::size_t alignment) {
  check_alignment(resource, alignment);
  if (ABSL_PREDICT_FALSE(bytes > kMaxRequest)) throw_bad_size();
}

/// Stores `size` rounded up to a multiple of `alignment` (a power of two) in
/// `*out` and returns true, or returns false if the result would not fit in a
/// size_t.
[[nodiscard]] inline bool round_up(std::size_t size, std::size_t alignment,
                                   std::size_t* out) noexcept {
  const std::size_t mask = alignment - 1;
  if (ABSL_PREDICT_FALSE(size > SIZE_MAX - mask)) return false;
  *out = (size + mask) & ~mask;
  return true;
}

/// True when `p` is aligned to `alignment` (a power of two).
[[nodiscard]] inline bool is_aligned(const void* p,
                                     std::size_t alignment) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_ALIGNMENT_H_
