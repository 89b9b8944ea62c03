// Hardened builds (STRATA_HARDENED): the pools catch double frees and, where
// a block's span says who owns it, foreign pointers, in release builds. The
// fast paths pay a load, a compare and two stores per allocate/free pair.
//
// A freed block carries a tag, its address mixed with a key random to the
// process and the pool; allocation clears it. Freeing a block that carries
// its tag is a double free. A false alarm needs a live block to hold that
// exact word, which the random key makes as likely as guessing it.
#ifndef STRATA_INTERNAL_HARDENING_H_
#define STRATA_INTERNAL_HARDENING_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

#include "strata/build_config.h"

namespace strata::internal {

/// True in hardened builds.
inline constexpr bool kHardened = STRATA_HARDENED != 0;

/// A key for the pool at `owner`: random per process, distinct per pool.
/// Pools ask for one only in hardened builds.
[[nodiscard]] std::uintptr_t new_hardening_key(const void* owner) noexcept;

/// The word a freed block at `p` carries in a pool keyed `key`.
[[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::uintptr_t freed_tag(
    const void* p, std::uintptr_t key) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) ^ key;
}

/// Reports a double free of `p` in `resource` and aborts.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void
report_double_free(std::string_view resource, const void* p) noexcept;

/// Checks the tag word `*word` of the block at `p` being freed: reports a
/// double free if it is there, then sets it.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void tag_freed(
    std::string_view resource, const void* p, std::uintptr_t* word,
    std::uintptr_t key) noexcept {
  const std::uintptr_t tag = freed_tag(p, key);
  if (ABSL_PREDICT_FALSE(*word == tag)) report_double_free(resource, p);
  *word = tag;
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_HARDENING_H_
