// Raising a shared peak (of bytes in use, of a footprint) from any thread.
#ifndef STRATA_INTERNAL_ATOMIC_MAX_H_
#define STRATA_INTERNAL_ATOMIC_MAX_H_

#include <atomic>

namespace strata::internal {

/// Makes `peak` at least `value`; relaxed, since a peak orders nothing.
template <class T>
inline void raise_to(std::atomic<T>& peak, T value) noexcept {
  T seen = peak.load(std::memory_order_relaxed);
  while (value > seen &&
         !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_ATOMIC_MAX_H_
