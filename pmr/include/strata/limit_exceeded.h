// strata::limit_exceeded: the error a memory limit raises.
//
// It derives from std::bad_alloc, so code that already handles allocation
// failure handles it, and adds what a user needs to act on it: the size that
// was asked, the bytes in use and the limit. Its message is formatted into a
// fixed buffer when it is thrown, so throwing it allocates nothing, which
// matters when memory is what ran out.
#ifndef STRATA_LIMIT_EXCEEDED_H_
#define STRATA_LIMIT_EXCEEDED_H_

#include <cstddef>
#include <new>
#include <string_view>

namespace strata {

/// Thrown when an allocation would take a resource past its limit.
class limit_exceeded : public std::bad_alloc {
 public:
  /// `resource` names who refused (it is copied, and cut to fit).
  limit_exceeded(std::string_view resource, std::size_t requested,
                 std::size_t in_use, std::size_t limit) noexcept;

  /// "strata: <resource>: allocating R bytes would exceed the limit of L
  /// bytes (U bytes in use)".
  [[nodiscard]] const char* what() const noexcept override { return message_; }

  /// The size of the refused request.
  [[nodiscard]] std::size_t requested() const noexcept { return requested_; }
  /// The bytes in use when it was refused.
  [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }
  /// The limit it would have passed.
  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }

 private:
  std::size_t requested_;
  std::size_t in_use_;
  std::size_t limit_;
  char message_[192];
};

}  // namespace strata

#endif  // STRATA_LIMIT_EXCEEDED_H_
