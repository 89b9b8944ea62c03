#include "strata/internal/errors.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#include "absl/strings/str_format.h"

#include "strata/internal/checked_blocks.h"

namespace strata::internal {

void throw_invalid_alignment(std::string_view resource, std::size_t alignment) {
  throw std::invalid_argument(absl::StrFormat(
      "strata: %s: alignment %u is not a power of two", resource, alignment));
}

void throw_bad_size() { throw std::bad_alloc(); }

void report_count_underflow(std::string_view resource, std::size_t bytes,
                            std::size_t counted) noexcept {
  static std::atomic<bool> said{false};
  if (!kChecked && said.exchange(true, std::memory_order_relaxed)) return;
  std::fprintf(stderr,
               "strata: %.*s: a free of %zu bytes when only %zu are counted "
               "(wrong size or double free); the count stops at zero\n",
               static_cast<int>(resource.size()), resource.data(), bytes,
               counted);
  std::fflush(stderr);
  if (kChecked) std::abort();
}

void report_misuse(std::string_view resource, const void* pointer,
                   std::string_view what) {
  // Straight to stderr, with no string to build: the misuse may be running
  // out of memory.
  std::fprintf(stderr, "strata: %.*s: %.*s (pointer %p)\n",
               static_cast<int>(resource.size()), resource.data(),
               static_cast<int>(what.size()), what.data(), pointer);
  std::fflush(stderr);
  std::abort();
}

}  // namespace strata::internal
