// Build-wide switches and the check macros every strata header uses.
//
// Checks come in three levels:
//   STRATA_ASSERT(cond)   internal invariants, compiled in Debug only.
//   STRATA_CHECKED        (macro, 0 or 1) misuse by the caller, such as a size
//                         mismatch or a double free, reported with a message.
//   nothing               on the fast path of a release build.
#ifndef STRATA_INTERNAL_CONFIG_H_
#define STRATA_INTERNAL_CONFIG_H_

#include <cassert>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/build_config.h"

#ifndef NDEBUG
#define STRATA_ASSERT(cond) assert(cond)
#else
#define STRATA_ASSERT(cond) static_cast<void>(0)
#endif

// STRATA_HAS_ASAN is 1 when the translation unit is built with
// AddressSanitizer, so pools can poison the memory they hold.
#if defined(__SANITIZE_ADDRESS__)
#define STRATA_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRATA_HAS_ASAN 1
#endif
#endif
#ifndef STRATA_HAS_ASAN
#define STRATA_HAS_ASAN 0
#endif

#if STRATA_HAS_ASAN
#include <sanitizer/asan_interface.h>
// Marks [addr, addr + size) as not addressable / addressable again.
#define STRATA_POISON(addr, size) ASAN_POISON_MEMORY_REGION((addr), (size))
#define STRATA_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION((addr), (size))
#else
#define STRATA_POISON(addr, size) \
  ((void)(addr), (void)(size))  // NOLINT(bugprone-macro-parentheses)
#define STRATA_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

#include <cstddef>

namespace strata::internal {

/// The size of a cache line, for keeping shared counters apart.
inline constexpr std::size_t kCacheLine = 64;

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_CONFIG_H_
