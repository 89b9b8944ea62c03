#include "strata/internal/thread_slots.h"

#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strata::internal {
namespace {

// Live owners by id. Never destroyed: threads may exit during static
// destruction.
struct slot_registry {
  std::mutex mu;
  std::uint64_t next_id = 1;
  // Node-based, so that a registration that cannot allocate leaves it as it
  // was (absl's flat tables are left unusable by a resize that throws).
  std::unordered_map<std::uint64_t, slot_owner*> owners;
};

slot_registry& registry() {
  static auto* r = new slot_registry;
  return *r;
}

// Set once this thread's table is destroyed: a later call on this thread
// (from another thread-local destructor) must not touch it again.
thread_local bool table_gone = false;

// One thread's slots, by owner id; handed back when the thread exits.
struct thread_table {
  std::vector<std::pair<std::uint64_t, void*>> slots;
  bool exiting = false;

  thread_table() = default;
  thread_table(const thread_table&) = delete;
  thread_table& operator=(const thread_table&) = delete;
  ~thread_table() {
    exiting = true;
    for (slot_cache_entry& e : tls_slot_cache) e = {};
    slot_registry& r = registry();
    std::lock_guard lock(r.mu);
    for (const auto& [id, slot] : slots) {
      const auto it = r.owners.find(id);
      if (it != r.owners.end()) it->second->thread_exiting(slot);
    }
    slots.clear();
    table_gone = true;
  }
};

thread_table& table() {
  static thread_local thread_table t;
  return t;
}

}  // namespace

std::uint64_t register_slot_owner(slot_owner* owner) {
  slot_registry& r = registry();
  std::lock_guard lock(r.mu);
  const std::uint64_t id = r.next_id++;
  r.owners.emplace(id, owner);
  return id;
}

void unregister_slot_owner(std::uint64_t id,
                           absl::FunctionRef<void()> empty_slots) {
  slot_registry& r = registry();
  std::lock_guard lock(r.mu);
  r.owners.erase(id);
  empty_slots();
  if (any_cached_thread_slot(id) != nullptr) {
    tls_slot_cache[id % kSlotCacheSize] = {};
  }
}

void* find_thread_slot(std::uint64_t id, absl::FunctionRef<void*()> make) {
  if (table_gone) return nullptr;
  thread_table& t = table();
  if (t.exiting) return nullptr;
  void* slot = nullptr;
  for (const auto& [owner, s] : t.slots) {
    if (owner == id) slot = s;
  }
  if (slot == nullptr) {
    // Not under the registry lock: the caller may hold a pool's lock (a pool
    // whose upstream is this owner calls it under its lock), and a thread
    // exit holds the registry lock while it waits for pool locks, so waiting
    // for it here could deadlock. The owner cannot go away meanwhile: this
    // thread is using it, and destroying a resource in use is a bug.
    slot = make();
    // Entries of owners that are gone are dropped as new ones arrive, when
    // the registry lock is free; else at a later call, or at thread exit.
    slot_registry& r = registry();
    if (const std::unique_lock lock(r.mu, std::try_to_lock); lock.owns_lock()) {
      std::erase_if(t.slots, [&r](const auto& entry) {
        return !r.owners.contains(entry.first);
      });
    }
    t.slots.emplace_back(id, slot);
  }
  tls_slot_cache[id % kSlotCacheSize] = {.owner = id, .slot = slot};
  return slot;
}

void* peek_thread_slot(std::uint64_t id) noexcept {
  if (void* s = cached_thread_slot(id)) return s;
  if (table_gone) return nullptr;
  thread_table& t = table();
  if (t.exiting) return nullptr;
  for (const auto& [owner, s] : t.slots) {
    if (owner == id) return s;
  }
  return nullptr;
}

}  // namespace strata::internal
