#include "strata/internal/checked_blocks.h"

#include <string>

#include "absl/strings/str_format.h"

#include "strata/internal/errors.h"

namespace strata::internal {
namespace {

// Freed pointers remembered to tell a double free from a foreign pointer;
// past this many the memory is cleared and older ones read as foreign.
constexpr std::size_t kMaxFreedRemembered = std::size_t{1} << 16;

}  // namespace

std::uint64_t checked_blocks::on_allocate(const void* p, std::size_t size,
                                          std::size_t alignment) {
  std::lock_guard lock(mu_);
  const std::uint64_t sequence = next_sequence_++;
  live_.insert_or_assign(p, block{size, alignment, sequence});
  freed_.erase(p);
  return sequence;
}

void checked_blocks::on_deallocate(const void* p, std::size_t size,
                                   std::size_t alignment) {
  std::lock_guard lock(mu_);
  const auto it = live_.find(p);
  if (it == live_.end()) {
    report_misuse(
        resource_, p,
        freed_.contains(p)
            ? absl::StrFormat("double free (%u bytes, alignment %u)", size,
                              alignment)
            : absl::StrFormat("deallocate of a pointer this resource does not "
                              "hold (%u bytes, alignment %u)",
                              size, alignment));
  }
  if (it->second.size != size) {
    report_misuse(resource_, p,
                  absl::StrFormat("deallocate with size %u, but the block was "
                                  "allocated with size %u",
                                  size, it->second.size));
  }
  if (it->second.alignment != alignment) {
    report_misuse(resource_, p,
                  absl::StrFormat("deallocate with alignment %u, but the block "
                                  "was allocated with alignment %u",
                                  alignment, it->second.alignment));
  }
  live_.erase(it);
  if (freed_.size() >= kMaxFreedRemembered) freed_.clear();
  freed_.insert(p);
}

void checked_blocks::forget_all() {
  std::lock_guard lock(mu_);
  live_.clear();
  freed_.clear();
}

void checked_blocks::forget_since(std::uint64_t first) {
  std::lock_guard lock(mu_);
  absl::erase_if(live_, [first](const auto& entry) {
    return entry.second.sequence >= first;
  });
  freed_.clear();
}

std::uint64_t checked_blocks::next_sequence() const {
  std::lock_guard lock(mu_);
  return next_sequence_;
}

}  // namespace strata::internal
