// The tables behind an O(1) size-to-class lookup: entry i of a table with
// step s names the smallest class whose size holds i * s bytes, so a request
// of n bytes looks up entry (n + s - 1) / s. Built once, at construction.
#ifndef STRATA_INTERNAL_SIZE_INDEX_H_
#define STRATA_INTERNAL_SIZE_INDEX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace strata::internal {

/// Fills `table[i]` for i in [first, table.size()) with the index in
/// `sizes` (sorted, at most 254 entries) of the smallest size >= i * step,
/// or `none` when no size is that large.
inline void fill_size_index(std::span<const std::size_t> sizes,
                            std::size_t step, std::span<std::uint8_t> table,
                            std::uint8_t none, std::size_t first = 0) {
  for (std::size_t i = first; i < table.size(); ++i) {
    const auto it = std::lower_bound(sizes.begin(), sizes.end(), i * step);
    table[i] = it == sizes.end()
                   ? none
                   : static_cast<std::uint8_t>(it - sizes.begin());
  }
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_SIZE_INDEX_H_
