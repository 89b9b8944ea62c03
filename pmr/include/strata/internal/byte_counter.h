// Refunding a shared count of bytes without ever wrapping it below zero.
#ifndef STRATA_INTERNAL_BYTE_COUNTER_H_
#define STRATA_INTERNAL_BYTE_COUNTER_H_

#include <atomic>
#include <cstddef>
#include <string_view>

#include "absl/base/optimization.h"

#include "strata/internal/errors.h"

namespace strata::internal {

/// Takes `bytes` off `counter`. A refund larger than the count is misuse (a
/// free with the wrong size, a double free): rather than wrap, after which
/// every charge against a limit would fail, the count stops at zero and the
/// misuse is reported. Cost: one compare-and-swap, as a fetch_sub.
inline void refund_clamped(std::atomic<std::size_t>& counter, std::size_t bytes,
                           std::string_view resource,
                           std::memory_order order) noexcept {
  std::size_t now = counter.load(std::memory_order_relaxed);
  while (ABSL_PREDICT_TRUE(now >= bytes)) {
    if (counter.compare_exchange_weak(now, now - bytes, order,
                                      std::memory_order_relaxed)) {
      return;
    }
  }
  while (!counter.compare_exchange_weak(now, now >= bytes ? now - bytes : 0,
                                        order, std::memory_order_relaxed)) {
  }
  if (now < bytes) report_count_underflow(resource, bytes, now);
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_BYTE_COUNTER_H_
