// Per-thread state of one resource instance (a pool's thread caches, later
// the governor's and the stats adapter's counters), kept the way DESIGN.md
// lays out:
//
//   - Every owner has a 64-bit id that is never reused, so a thread's entry
//     for a destroyed owner can never be mistaken for a live one.
//   - A thread-local table maps owner ids to that thread's slot; the last
//     slot used is cached in two thread-local words, so the common lookup is
//     one compare.
//   - The owner lists its slots. When a thread exits, each of its slots is
//     handed back to its owner under one global registry lock; an owner's
//     destruction takes the same lock, so the two never race. Destruction
//     may assume, as the standard does, that no other thread is using the
//     owner, so it can empty every slot.
#ifndef STRATA_INTERNAL_THREAD_SLOTS_H_
#define STRATA_INTERNAL_THREAD_SLOTS_H_

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

/// The calling thread's slot for owner `id`, making it with `make` (under the
/// registry lock) the first time. Returns nullptr once the thread has begun
/// to exit: the caller then works without a slot.
void* find_thread_slot(std::uint64_t id, absl::FunctionRef<void*()> make);

// The last slot this thread looked up, for the one-compare fast path.
inline thread_local std::uint64_t tls_last_owner = 0;
inline thread_local void* tls_last_slot = nullptr;

/// The calling thread's slot for owner `id` if it is the one used last;
/// nullptr otherwise (then call find_thread_slot). Cost: one thread-local
/// compare.
inline void* cached_thread_slot(std::uint64_t id) noexcept {
  return tls_last_owner == id ? tls_last_slot : nullptr;
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_THREAD_SLOTS_H_
