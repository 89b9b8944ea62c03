#include "strata/adapters/test_resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "strata/internal/alignment.h"
#include "strata/internal/config.h"

namespace strata {
namespace {

// Byte patterns: new blocks, freed blocks and the guard after each block.
constexpr unsigned char kFreshByte = 0xA5;
constexpr unsigned char kFreedByte = 0xDD;
constexpr unsigned char kGuardByte = 0xFD;

// How many freed pointers are remembered to classify double frees.
constexpr std::size_t kMaxFreedRemembered = std::size_t{1} << 16;

// How many leaked blocks a leak report lists one by one.
constexpr std::size_t kMaxLeaksListed = 8;

// True when all `n` bytes at `p` equal `value`.
bool all_bytes_are(const unsigned char* p, std::size_t n,
                   unsigned char value) noexcept {
  return std::all_of(p, p + n, [value](unsigned char c) { return c == value; });
}

}  // namespace

std::string_view to_string(defect_kind kind) noexcept {
  switch (kind) {
    case defect_kind::unknown_pointer:
      return "unknown pointer";
    case defect_kind::double_free:
      return "double free";
    case defect_kind::size_mismatch:
      return "size mismatch";
    case defect_kind::alignment_mismatch:
      return "alignment mismatch";
    case defect_kind::overrun:
      return "overrun";
    case defect_kind::leak:
      return "leak";
  }
  return "unknown defect";
}

test_resource::test_resource(const test_resource_options& options,
                             std::pmr::memory_resource* upstream)
    : name_(options.name),
      action_(options.defects),
      guard_bytes_(options.guard_bytes),
      scribble_(options.scribble),
      max_allocation_(options.max_allocation),
      upstream_(upstream) {}

test_resource::~test_resource() {
  std::lock_guard lock(mu_);
  if (live_.empty()) return;
  const std::string message = describe_leaks();
  if (action_ == defect_action::abort) {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::abort();
  }
  // Recording is pointless now that nobody can read the record: say it, then
  // give the blocks back so the upstream loses nothing.
  std::fprintf(stderr, "%s (freed at destruction)\n", message.c_str());
  for (const auto& [p, b] : live_) {
    upstream_->deallocate(const_cast<void*>(p), b.size + guard_bytes_,
                          b.alignment);
  }
}

void test_resource::fail_after(std::size_t n) {
  std::lock_guard lock(mu_);
  fail_countdown_ = n;
}

bool test_resource::expect_no_leaks() {
  std::lock_guard lock(mu_);
  if (live_.empty()) return true;
  if (action_ == defect_action::abort) {
    std::fprintf(stderr, "%s\n", describe_leaks().c_str());
    std::fflush(stderr);
    std::abort();
  }
  for (const auto& [p, b] : live_) {
    report({.kind = defect_kind::leak,
            .pointer = p,
            .size = b.size,
            .alignment = b.alignment,
            .allocated_size = b.size,
            .allocated_alignment = b.alignment,
            .message = absl::StrFormat(
                "strata: %s: leak: %p (%u bytes, alignment %u) is still live",
                name_, p, b.size, b.alignment)});
  }
  return false;
}

std::vector<defect> test_resource::defects() const {
  std::lock_guard lock(mu_);
  return defects_;
}

void test_resource::clear_defects() {
  std::lock_guard lock(mu_);
  defects_.clear();
}

test_resource_stats test_resource::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::size_t test_resource::bytes_in_use() const {
  std::lock_guard lock(mu_);
  return stats_.bytes_in_use;
}

std::size_t test_resource::blocks_in_use() const {
  std::lock_guard lock(mu_);
  return stats_.blocks_in_use;
}

void* test_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  internal::check_request(name_, bytes, alignment);
  std::lock_guard lock(mu_);
  if (fail_countdown_ != 0 && --fail_countdown_ == 0) {
    ++stats_.failed_allocations;
    throw std::bad_alloc();
  }
  if (bytes > max_allocation_ || bytes > SIZE_MAX - guard_bytes_) {
    ++stats_.failed_allocations;
    throw std::bad_alloc();
  }
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes + guard_bytes_, alignment);
  } catch (...) {
    ++stats_.failed_allocations;
    throw;
  }
  auto* bytes_at = static_cast<unsigned char*>(p);
  if (scribble_) std::memset(bytes_at, kFreshByte, bytes);
  std::memset(bytes_at + bytes, kGuardByte, guard_bytes_);
  live_.insert_or_assign(p, block{bytes, alignment});
  freed_.erase(p);
  ++stats_.allocations;
  ++stats_.blocks_in_use;
  stats_.bytes_in_use += bytes;
  stats_.peak_bytes_in_use =
      std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  stats_.largest_block = std::max(stats_.largest_block, bytes);
  return p;
}

void test_resource::do_deallocate(void* p, std::size_t bytes,
                                  std::size_t alignment) {
  std::lock_guard lock(mu_);
  const auto it = live_.find(p);
  if (it == live_.end()) {
    const bool double_free = freed_.contains(p);
    std::string message =
        double_free
            ? absl::StrFormat(
                  "strata: %s: double free of %p (%u bytes, alignment %u)",
                  name_, p, bytes, alignment)
            : absl::StrFormat(
                  "strata: %s: deallocate of %p (%u bytes, alignment %u), "
                  "which this resource never handed out",
                  name_, p, bytes, alignment);
    report({.kind = double_free ? defect_kind::double_free
                                : defect_kind::unknown_pointer,
            .pointer = p,
            .size = bytes,
            .alignment = alignment,
            .message = std::move(message)});
    return;  // Never pass a pointer we do not own to the upstream.
  }
  const block b = it->second;
  // The caller may have poisoned parts of its block for AddressSanitizer
  // (Abseil's btree does, for its unused slots) and freed it as it was.
  STRATA_UNPOISON(p, b.size + guard_bytes_);
  if (bytes != b.size) {
    report({.kind = defect_kind::size_mismatch,
            .pointer = p,
            .size = bytes,
            .alignment = alignment,
            .allocated_size = b.size,
            .allocated_alignment = b.alignment,
            .message = absl::StrFormat(
                "strata: %s: deallocate of %p with size %u, but it was "
                "allocated with size %u",
                name_, p, bytes, b.size)});
  }
  if (alignment != b.alignment) {
    report({.kind = defect_kind::alignment_mismatch,
            .pointer = p,
            .size = bytes,
            .alignment = alignment,
            .allocated_size = b.size,
            .allocated_alignment = b.alignment,
            .message = absl::StrFormat(
                "strata: %s: deallocate of %p with alignment %u, but it was "
                "allocated with alignment %u",
                name_, p, alignment, b.alignment)});
  }
  const auto* guard = static_cast<const unsigned char*>(p) + b.size;
  if (!all_bytes_are(guard, guard_bytes_, kGuardByte)) {
    report({.kind = defect_kind::overrun,
            .pointer = p,
            .size = bytes,
            .alignment = alignment,
            .allocated_size = b.size,
            .allocated_alignment = b.alignment,
            .message = absl::StrFormat(
                "strata: %s: overrun: something wrote past the end of %p "
                "(%u bytes, alignment %u)",
                name_, p, b.size, b.alignment)});
  }
  live_.erase(it);
  if (freed_.size() >= kMaxFreedRemembered) freed_.clear();
  freed_.insert(p);
  ++stats_.deallocations;
  --stats_.blocks_in_use;
  stats_.bytes_in_use -= b.size;
  release_block(p, b);
}

bool test_resource::do_is_equal(
    const std::pmr::memory_resource& other) const noexcept {
  return this == &other;
}

void test_resource::report(defect d) {
  ++stats_.defects;
  if (action_ == defect_action::abort) {
    std::fprintf(stderr, "%s\n", d.message.c_str());
    std::fflush(stderr);
    std::abort();
  }
  defects_.push_back(std::move(d));
}

void test_resource::release_block(void* p, const block& b) noexcept {
  if (scribble_) std::memset(p, kFreedByte, b.size + guard_bytes_);
  upstream_->deallocate(p, b.size + guard_bytes_, b.alignment);
}

std::string test_resource::describe_leaks() const {
  std::size_t bytes = 0;
  for (const auto& entry : live_) bytes += entry.second.size;
  std::string message = absl::StrFormat(
      "strata: %s: leak: %u blocks (%u bytes) still live:", name_, live_.size(),
      bytes);
  std::size_t listed = 0;
  for (const auto& [p, b] : live_) {
    if (listed++ == kMaxLeaksListed) {
      absl::StrAppend(&message, " ...");
      break;
    }
    absl::StrAppendFormat(&message, " %p (%u bytes, alignment %u)", p, b.size,
                          b.alignment);
  }
  return message;
}

}  // namespace strata
