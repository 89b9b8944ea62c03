#include "strata/limit_exceeded.h"

#include <cstdio>

namespace strata {

limit_exceeded::limit_exceeded(std::string_view resource, std::size_t requested,
                               std::size_t in_use, std::size_t limit) noexcept
    : requested_(requested), in_use_(in_use), limit_(limit), message_{} {
  std::snprintf(message_, sizeof(message_),
                "strata: %.*s: allocating %zu bytes would exceed the limit of "
                "%zu bytes (%zu bytes in use)",
                static_cast<int>(resource.size() > 48 ? 48 : resource.size()),
                resource.data(), requested, limit, in_use);
}

}  // namespace strata
