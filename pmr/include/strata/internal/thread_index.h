// A small number per live thread, so that sharded structures give threads
// that run at the same time different shards.
//
// Indices are dense and reused: a thread takes the smallest index no live
// thread holds, and gives it back when it exits. Two threads alive together
// therefore always differ, however many threads came and went before them
// (a counter that only grows would hand a short-lived worker any parity).
#ifndef STRATA_INTERNAL_THREAD_INDEX_H_
#define STRATA_INTERNAL_THREAD_INDEX_H_

#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace strata::internal {

/// Assigns the calling thread its index; out of line, once per thread.
ABSL_ATTRIBUTE_NOINLINE std::uint32_t assign_thread_index() noexcept;

inline thread_local std::uint32_t tls_thread_index = UINT32_MAX;

/// The calling thread's index. Cost: one thread-local load and one branch.
inline std::uint32_t thread_index() noexcept {
  const std::uint32_t index = tls_thread_index;
  if (ABSL_PREDICT_TRUE(index != UINT32_MAX)) return index;
  return assign_thread_index();
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_THREAD_INDEX_H_
