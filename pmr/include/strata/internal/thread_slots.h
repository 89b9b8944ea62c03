// Per-thread state of one resource instance (a pool's thread caches, later
// the governor's and the stats adapter's counters), kept the way DESIGN.md
// lays out:
//
//   - Every owner has a 64-bit id that is never reused, so a thread's entry
//     for a destroyed owner can never be mistaken for a live one.
//   - A thread-local table maps owner ids to that thread's slot; a small
//     direct-mapped cache in front of it (indexed by the low bits of the id,
//     which are consecutive) keeps the slots used last, so the common lookup
//     is one compare even when several owners are stacked (a governor over a
//     pool) and take turns on every call.
//   - The owner lists its slots. When a thread exits, each of its slots is
//     handed back to its owner under one global registry lock; an owner's
//     destruction takes the same lock, so the two never race. Destruction
//     may assume, as the standard does, that no other thread is using the
//     owner, so it can empty every slot.
#ifndef STRATA_INTERNAL_THREAD_SLOTS_H_
#define STRATA_INTERNAL_THREAD_SLOTS_H_

#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/functional/function_ref.h"

namespace strata::internal {

/// What an owner of per-thread slots implements.
class slot_owner {
 public:
  /// A thread that has `slot` is exiting: take back what it holds and free
  /// it. Called with the registry lock held.
  virtual void thread_exiting(void* slot) noexcept = 0;

 protected:
  slot_owner() = default;
  slot_owner(const slot_owner&) = default;
  slot_owner(slot_owner&&) = default;
  slot_owner& operator=(const slot_owner&) = default;
  slot_owner& operator=(slot_owner&&) = default;
  ~slot_owner() = default;
};

/// Registers `owner` and returns its id (never 0, never reused).
std::uint64_t register_slot_owner(slot_owner* owner);

/// Unregisters the owner with `id`; `empty_slots` runs under the registry
/// lock, so no thread exit can hand a slot back while it empties them.
void unregister_slot_owner(std::uint64_t id,
                           absl::FunctionRef<void()> empty_slots);

/// The calling thread's slot for owner `id`, making it with `make` the first
/// time. Never waits for the registry lock (a thread exit holds it while it
/// waits for pool locks, and the caller may hold one: a pool whose upstream
/// is the owner), so `make` runs without it and must guard the owner's list
/// of slots with the owner's own lock. Returns nullptr once the thread has
/// begun to exit: the caller then works without a slot.
void* find_thread_slot(std::uint64_t id, absl::FunctionRef<void*()> make);

/// The calling thread's slot for owner `id` if it has one, else nullptr;
/// never makes one and never takes the registry lock, so it may be called
/// with any other lock held.
void* peek_thread_slot(std::uint64_t id) noexcept;

// The slots this thread looked up last, for the one-compare fast path: entry
// `id % kSlotCacheSize` holds the last slot used of an owner with that id.
inline constexpr std::size_t kSlotCacheSize = 4;
struct slot_cache_entry {
  std::uint64_t owner = 0;
  void* slot = nullptr;
};
inline thread_local slot_cache_entry tls_slot_cache[kSlotCacheSize] = {};

// Keyed entries, for an owner that must reach every thread's next call
// without touching other threads' state (a pool whose reclaim asks each
// thread to age its cache): the entry carries a key that names the owner
// and a generation, so one compare on the fast path checks both. Bumping
// the generation makes every thread's entry miss once. A key has the top
// bit set, so it never equals a plain owner id; the generation wraps after
// 2^24 bumps (a thread that missed exactly that many sees no change, which
// the owner must tolerate).
inline constexpr int kSlotGenerationBits = 24;
inline constexpr std::uint64_t kSlotGenerationMask =
    (std::uint64_t{1} << kSlotGenerationBits) - 1;
[[nodiscard]] constexpr std::uint64_t slot_key(std::uint64_t id,
                                               std::uint64_t generation) {
  return (std::uint64_t{1} << 63) | (id << kSlotGenerationBits) |
         (generation & kSlotGenerationMask);
}

/// The calling thread's slot in entry `id % kSlotCacheSize` if that entry
/// carries `key`; nullptr otherwise. Cost: one thread-local compare.
inline void* keyed_thread_slot(std::uint64_t id, std::uint64_t key) noexcept {
  const slot_cache_entry& e = tls_slot_cache[id % kSlotCacheSize];
  if (e.owner != key) return nullptr;
  if (e.slot == nullptr) __builtin_unreachable();  // keys are never 0
  return e.slot;
}

/// The calling thread's slot for owner `id` if its entry holds it under the
/// plain id or under a key of any generation; nullptr otherwise.
inline void* any_cached_thread_slot(std::uint64_t id) noexcept {
  const slot_cache_entry& e = tls_slot_cache[id % kSlotCacheSize];
  if (e.owner == id || (e.owner & ~kSlotGenerationMask) == slot_key(id, 0)) {
    return e.slot;
  }
  return nullptr;
}

/// Makes the calling thread's entry for owner `id` carry `key` for `slot`
/// (the thread's slot for that owner).
inline void set_keyed_thread_slot(std::uint64_t id, std::uint64_t key,
                                  void* slot) noexcept {
  tls_slot_cache[id % kSlotCacheSize] = {.owner = key, .slot = slot};
}

/// The calling thread's slot for owner `id` if it was used recently; nullptr
/// otherwise (then call find_thread_slot). Cost: one thread-local compare.
inline void* cached_thread_slot(std::uint64_t id) noexcept {
  const slot_cache_entry& e = tls_slot_cache[id % kSlotCacheSize];
  if (e.owner != id) return nullptr;
  // An entry that matches always holds a slot (ids start at 1; an empty
  // entry has owner 0): telling the compiler saves the caller's null test.
  if (e.slot == nullptr) __builtin_unreachable();
  return e.slot;
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_THREAD_SLOTS_H_
