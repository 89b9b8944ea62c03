// The blocks a pooling resource passes straight to its upstream (requests
// too large or too strictly aligned to pool) but must still give back when
// it is destroyed: each is remembered with its size and alignment.
//
// Not thread-safe: the owner calls it under its own lock, where it also
// calls the upstream. Used off the fast paths only.
#ifndef STRATA_INTERNAL_PASSTHROUGH_BLOCKS_H_
#define STRATA_INTERNAL_PASSTHROUGH_BLOCKS_H_

#include <cstddef>
#include <memory_resource>
#include <unordered_map>
#include <utility>

#include "strata/internal/owner_counter.h"

namespace strata::internal {

class passthrough_blocks {
 public:
  /// A block from `upstream`, remembered. Strong guarantee: if either the
  /// upstream or the bookkeeping throws, nothing is held.
  void* allocate(std::pmr::memory_resource* upstream, std::size_t bytes,
                 std::size_t alignment) {
    void* p = upstream->allocate(bytes, alignment);
    try {
      blocks_.emplace(p, std::pair(bytes, alignment));
    } catch (...) {
      upstream->deallocate(p, bytes, alignment);
      throw;
    }
    bytes_ += bytes;
    return p;
  }

  /// Forgets the block and gives it back.
  void deallocate(std::pmr::memory_resource* upstream, void* p,
                  std::size_t bytes, std::size_t alignment) noexcept {
    blocks_.erase(p);
    bytes_ -= bytes;
    upstream->deallocate(p, bytes, alignment);
  }

  /// Gives back every block still held (at the owner's destruction).
  void release(std::pmr::memory_resource* upstream) noexcept {
    for (const auto& [p, shape] : blocks_) {
      upstream->deallocate(p, shape.first, shape.second);
    }
    blocks_.clear();
    bytes_ = 0;
  }

  /// Blocks and bytes held now.
  [[nodiscard]] std::size_t count() const noexcept { return blocks_.size(); }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  // Node-based: an insert that cannot allocate leaves the table as it was,
  // which the strong guarantee needs. absl's flat tables do not (a resize
  // that throws leaves one whose capacity names memory it never got).
  std::unordered_map<void*, std::pair<std::size_t, std::size_t>> blocks_;
  owner_counter bytes_;  // read without the owner's lock by cached_bytes()
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_PASSTHROUGH_BLOCKS_H_
