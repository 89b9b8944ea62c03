// The errors every strata resource raises for bad input, in one place so that
// the messages read the same everywhere. All of them are out of line and cold:
// the fast paths only branch to them.
#ifndef STRATA_INTERNAL_ERRORS_H_
#define STRATA_INTERNAL_ERRORS_H_

#include <cstddef>
#include <string_view>

#include "absl/base/attributes.h"

namespace strata::internal {

/// Throws std::invalid_argument saying that `alignment` is not a power of two;
/// `resource` names the resource that was asked.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void
throw_invalid_alignment(std::string_view resource, std::size_t alignment);

/// Throws std::bad_alloc for a request that no resource can serve (its size
/// would overflow once rounded up or padded).
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void throw_bad_size();

/// Reports a refund of `bytes` against a count of only `counted` bytes (a free
/// with the wrong size, or a double free): aborts in checked builds like
/// report_misuse; otherwise prints one line to stderr, the first time in the
/// process, and returns so the caller can clamp the count.
ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void report_count_underflow(
    std::string_view resource, std::size_t bytes, std::size_t counted) noexcept;

/// Prints "strata: <resource>: <what> (pointer <p>)" to stderr and aborts,
/// allocating nothing. Used by checked builds when a caller misuses a
/// resource.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void report_misuse(
    std::string_view resource, const void* pointer, std::string_view what);

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_ERRORS_H_
