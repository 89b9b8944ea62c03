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

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/functional/any_invocable.h"
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

/// The per-thread slots of one owner, typed: owns the slots, the list of
/// them and its lock, registers the owner and hands each exiting thread's
/// slot to `on_exit` (which folds what it holds into the owner's totals)
/// before deleting it. The owner keeps one as a member and calls close()
/// first thing in its destructor, while the rest of it is intact.
template <class Slot>
class thread_slots final : private slot_owner {
 public:
  /// `on_exit(slot)` runs on the exiting thread, under the registry lock
  /// and not under this list's lock, before the slot is deleted.
  explicit thread_slots(absl::AnyInvocable<void(Slot&) noexcept> on_exit)
      : on_exit_(std::move(on_exit)), id_(register_slot_owner(this)) {}
  thread_slots(const thread_slots&) = delete;
  thread_slots& operator=(const thread_slots&) = delete;
  ~thread_slots() { close(); }

  /// Unregisters and deletes every slot (their threads are not using the
  /// owner: the standard's rule for destruction), calling `last(slot)` on
  /// each first instead of on_exit. Safe to call twice.
  template <class Last>
  void close(Last&& last) noexcept {
    if (closed_) return;
    closed_ = true;
    unregister_slot_owner(id_, [&] {
      const std::lock_guard lock(mu_);
      for (Slot* s : slots_) {
        last(*s);
        delete s;
      }
      slots_.clear();
    });
  }
  void close() noexcept {
    close([](Slot& /*slot*/) noexcept {});
  }

  /// The id that names the owner in the thread-local tables.
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  /// The calling thread's slot if it was used recently: one compare.
  [[nodiscard]] Slot* cached() const noexcept {
    return static_cast<Slot*>(cached_thread_slot(id_));
  }
  /// The calling thread's slot if it has one; never makes one.
  [[nodiscard]] Slot* peek() const noexcept {
    return static_cast<Slot*>(peek_thread_slot(id_));
  }
  /// The calling thread's slot, made by `make()` (a unique_ptr<Slot>) the
  /// first time; nullptr once the thread has begun to exit. Throws what
  /// `make` throws.
  template <class Make>
  Slot* find(Make&& make) {
    return static_cast<Slot*>(find_thread_slot(id_, [&]() -> void* {
      std::unique_ptr<Slot> made = make();
      const std::lock_guard lock(mu_);
      slots_.push_back(made.get());
      return made.release();
    }));
  }

  /// Calls `f(slot)` for every slot, under the list's lock (so a thread
  /// exit waits); a snapshot of slots other threads keep writing.
  template <class F>
  void for_each(F&& f) const {
    const std::lock_guard lock(mu_);
    for (Slot* s : slots_) f(*s);
  }
  /// Threads with a slot now.
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mu_);
    return slots_.size();
  }

 private:
  void thread_exiting(void* opaque) noexcept override {
    auto* s = static_cast<Slot*>(opaque);
    on_exit_(*s);
    {
      const std::lock_guard lock(mu_);
      std::erase(slots_, s);
    }
    delete s;
  }

  absl::AnyInvocable<void(Slot&) noexcept> on_exit_;
  std::uint64_t id_;
  bool closed_ = false;
  mutable std::mutex mu_;
  std::vector<Slot*> slots_;
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_THREAD_SLOTS_H_
