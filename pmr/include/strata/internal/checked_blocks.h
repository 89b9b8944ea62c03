// The live-block registry of checked builds (STRATA_CHECKED): what lets a
// resource that keeps no per-block header tell a double free, a foreign
// pointer or a size or alignment mismatch from a valid deallocation, and abort
// with a message that names it. Release builds never touch it.
#ifndef STRATA_INTERNAL_CHECKED_BLOCKS_H_
#define STRATA_INTERNAL_CHECKED_BLOCKS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "strata/build_config.h"

namespace strata::internal {

/// True in checked builds: resources call into checked_blocks only then.
inline constexpr bool kChecked = STRATA_CHECKED != 0;

/// Records the blocks a resource handed out; thread-safe (one mutex, which
/// only checked builds pay for).
class checked_blocks {
 public:
  /// `resource` names the owner in every message.
  explicit checked_blocks(std::string_view resource)
      : resource_(resource), spare_(std::make_unique<spare_records>()) {}

  /// Records a block handed out; returns its sequence number (increasing).
  /// Resources call it once the block is theirs to hand out, so it does not
  /// throw: if the registry cannot grow (the global heap fails), the record
  /// waits in a spare slot, taken with no allocation, until it can. Throwing
  /// there would lose the block. With every spare slot in use it aborts
  /// with a message.
  std::uint64_t on_allocate(const void* p, std::size_t size,
                            std::size_t alignment) noexcept;

  /// Checks a deallocation against the record and forgets the block; aborts
  /// with a message on a foreign pointer, a double free, or a size or
  /// alignment that differs from the allocation.
  void on_deallocate(const void* p, std::size_t size,
                     std::size_t alignment) noexcept;

  /// Forgets every block (the resource dropped them all, as a reset does).
  void forget_all();
  /// Checks nothing from now on: for a resource used only by another
  /// resource that checks its own callers (a pool's slabs).
  void disable() noexcept { disabled_ = true; }

  /// Forgets the blocks handed out at or after sequence number `first`
  /// (a rewind to a mark).
  void forget_since(std::uint64_t first);

  /// The sequence number the next block will get.
  [[nodiscard]] std::uint64_t next_sequence() const;

 private:
  struct block {
    std::size_t size;
    std::size_t alignment;
    std::uint64_t sequence;
  };
  // Records that live_ could not take, for want of memory.
  static constexpr std::size_t kSpareRecords = 64;
  struct spare_record {
    const void* p;
    block record;
  };
  using spare_records = std::array<spare_record, kSpareRecords>;

  // Moves spare records into live_ while it can grow.
  void move_spares() noexcept;
  // Remembers `p` as freed, to tell a later double free from a foreign
  // pointer; forgets them all if there is no memory to record it.
  void remember_freed(const void* p) noexcept;

  const std::string resource_;
  mutable std::mutex mu_;
  // Node-based containers: an insert that cannot allocate leaves them as
  // they were. absl's flat tables do not (a resize that throws leaves one
  // whose capacity names memory it never got).
  std::unordered_map<const void*, block> live_;
  std::unordered_set<const void*> freed_;  // bounded; see the .cc
  std::unique_ptr<spare_records> spare_;   // the first spares_ are records
  std::size_t spares_ = 0;
  std::uint64_t next_sequence_ = 0;
  bool disabled_ = false;  // set before any other call
};

/// The stand-in for checked_blocks in release builds: every call compiles
/// to nothing, and [[no_unique_address]] makes it take no space.
class unchecked_blocks {
 public:
  constexpr explicit unchecked_blocks(std::string_view /*resource*/) {}
  std::uint64_t on_allocate(const void* /*p*/, std::size_t /*size*/,
                            std::size_t /*alignment*/) noexcept {
    return 0;
  }
  void on_deallocate(const void* /*p*/, std::size_t /*size*/,
                     std::size_t /*alignment*/) noexcept {}
  void forget_all() {}
  void disable() noexcept {}
  void forget_since(std::uint64_t /*first*/) {}
  [[nodiscard]] std::uint64_t next_sequence() const { return 0; }
};

/// What a resource holds to check its callers: the registry in checked
/// builds, nothing in release builds.
using block_checker =
    std::conditional_t<kChecked, checked_blocks, unchecked_blocks>;

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_CHECKED_BLOCKS_H_
