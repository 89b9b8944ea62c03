// A counter one thread writes and any thread may read: a relaxed atomic
// updated with a plain load and store (no read-modify-write, so it costs
// what a plain size_t costs), for resources used by one thread at a time
// whose stats and cached_bytes() a monitor or a governor reads from another.
#ifndef STRATA_INTERNAL_OWNER_COUNTER_H_
#define STRATA_INTERNAL_OWNER_COUNTER_H_

#include <atomic>
#include <cstddef>

namespace strata::internal {

class owner_counter {
 public:
  owner_counter() = default;
  owner_counter(const owner_counter&) = delete;
  owner_counter& operator=(const owner_counter&) = delete;
  owner_counter(owner_counter&&) = delete;
  owner_counter& operator=(owner_counter&&) = delete;
  ~owner_counter() = default;

  // Only the owning thread (or whoever holds its lock) writes.
  owner_counter& operator=(std::size_t value) noexcept {
    value_.store(value, std::memory_order_relaxed);
    return *this;
  }
  owner_counter& operator+=(std::size_t n) noexcept {
    return *this = *this + n;
  }
  owner_counter& operator-=(std::size_t n) noexcept {
    return *this = *this - n;
  }

  // Any thread reads: a snapshot.
  operator std::size_t()
      const noexcept {  // NOLINT(google-explicit-constructor)
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t> value_{0};
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_OWNER_COUNTER_H_
