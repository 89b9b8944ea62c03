#include "strata/internal/checked_blocks.h"

#include <cstdio>
#include <new>
#include <string>
#include <string_view>

#include "strata/internal/errors.h"

namespace strata::internal {
namespace {

// Freed pointers remembered to tell a double free from a foreign pointer;
// past this many the memory is cleared and older ones read as foreign.
constexpr std::size_t kMaxFreedRemembered = std::size_t{1} << 16;

// Reports a deallocation whose `what` ("size" or "alignment") differs from
// the allocation's. Formatted on the stack: this may run out of memory.
[[noreturn]] void report_mismatch(std::string_view resource, const void* p,
                                  const char* what, std::size_t given,
                                  std::size_t recorded) {
  char message[160];
  std::snprintf(message, sizeof(message),
                "deallocate with %s %zu, but the block was allocated with %s "
                "%zu",
                what, given, what, recorded);
  report_misuse(resource, p, message);
}

}  // namespace

std::uint64_t checked_blocks::on_allocate(const void* p, std::size_t size,
                                          std::size_t alignment) noexcept {
  if (disabled_) return 0;
  std::lock_guard lock(mu_);
  const block record{size, alignment, next_sequence_++};
  freed_.erase(p);
  try {
    live_.insert_or_assign(p, record);  // a throw changes nothing
  } catch (const std::bad_alloc&) {
    if (spares_ == kSpareRecords) {
      report_misuse(resource_, p,
                    "checked build: out of memory to record the blocks "
                    "handed out, and every spare record in use");
    }
    (*spare_)[spares_++] = {p, record};
    return record.sequence;
  }
  move_spares();
  return record.sequence;
}

void checked_blocks::move_spares() noexcept {
  try {
    for (; spares_ > 0; --spares_) {
      const spare_record& spare = (*spare_)[spares_ - 1];
      live_.insert_or_assign(spare.p, spare.record);
    }
  } catch (const std::bad_alloc&) {
    // The rest wait for the next allocation.
  }
}

void checked_blocks::on_deallocate(const void* p, std::size_t size,
                                   std::size_t alignment) noexcept {
  if (disabled_) return;
  std::lock_guard lock(mu_);
  const auto it = live_.find(p);
  spare_record* spare = nullptr;
  if (it == live_.end()) {
    for (std::size_t i = 0; i < spares_; ++i) {
      if ((*spare_)[i].p == p) spare = &(*spare_)[i];
    }
  }
  if (it == live_.end() && spare == nullptr) {
    // Formatted on the stack: this may run out of memory.
    char what[160];
    if (freed_.contains(p)) {
      std::snprintf(what, sizeof(what),
                    "double free (%zu bytes, alignment %zu)", size, alignment);
    } else {
      std::snprintf(what, sizeof(what),
                    "deallocate of a pointer this resource does not hold (%zu "
                    "bytes, alignment %zu)",
                    size, alignment);
    }
    report_misuse(resource_, p, what);
  }
  const block& record = spare != nullptr ? spare->record : it->second;
  if (record.size != size) {
    report_mismatch(resource_, p, "size", size, record.size);
  }
  if (record.alignment != alignment) {
    report_mismatch(resource_, p, "alignment", alignment, record.alignment);
  }
  if (spare != nullptr) {
    *spare = (*spare_)[--spares_];
  } else {
    live_.erase(it);
  }
  remember_freed(p);
}

void checked_blocks::remember_freed(const void* p) noexcept {
  if (freed_.size() >= kMaxFreedRemembered) freed_.clear();
  try {
    freed_.insert(p);
  } catch (const std::bad_alloc&) {
    // A double free of what is forgotten reads as a foreign pointer: it
    // still aborts, with the less precise message.
    freed_.clear();
  }
}

void checked_blocks::forget_all() {
  std::lock_guard lock(mu_);
  live_.clear();
  freed_.clear();
  spares_ = 0;
}

void checked_blocks::forget_since(std::uint64_t first) {
  std::lock_guard lock(mu_);
  std::erase_if(live_, [first](const auto& entry) {
    return entry.second.sequence >= first;
  });
  for (std::size_t i = spares_; i-- > 0;) {
    if ((*spare_)[i].record.sequence >= first) {
      (*spare_)[i] = (*spare_)[--spares_];
    }
  }
  freed_.clear();
}

std::uint64_t checked_blocks::next_sequence() const {
  std::lock_guard lock(mu_);
  return next_sequence_;
}

}  // namespace strata::internal
