#include "strata/limit_resource.h"

#include <cstdio>
#include <utility>

#include "strata/internal/alignment.h"
#include "strata/internal/atomic_max.h"
#include "strata/internal/checked_blocks.h"
#include "strata/limit_exceeded.h"

namespace strata {
namespace {

constexpr std::string_view kName = "limit_resource";

}  // namespace

limit_resource::limit_resource(limit_resource_options options,
                               std::pmr::memory_resource* upstream)
    : upstream_(upstream),
      on_limit_(std::move(options.on_limit)),
      max_retries_(options.max_retries),
      limit_(options.limit) {}

limit_resource::~limit_resource() {
  if constexpr (internal::kChecked) {
    const std::size_t left = in_use_.load(std::memory_order_relaxed);
    if (left != 0) {
      std::fprintf(stderr,
                   "strata: limit_resource: destroyed with %zu bytes still "
                   "outstanding\n",
                   left);
    }
  }
}

bool limit_resource::try_charge(std::size_t bytes,
                                std::size_t* in_use_now) noexcept {
  std::size_t in_use = in_use_.load(std::memory_order_acquire);
  for (;;) {
    const std::size_t limit = limit_.load(std::memory_order_relaxed);
    if (bytes > limit || in_use > limit - bytes) return false;
    if (in_use_.compare_exchange_weak(in_use, in_use + bytes,
                                      std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      *in_use_now = in_use + bytes;
      return true;
    }
  }
}

void* limit_resource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  internal::check_request(kName, bytes, alignment);
  std::size_t now = 0;
  if (try_charge(bytes, &now)) return allocate_charged(bytes, alignment, now);
  limit_hits_.fetch_add(1, std::memory_order_relaxed);
  for (int attempt = 1; on_limit_ && attempt <= max_retries_; ++attempt) {
    const limit_event event{.requested = bytes,
                            .in_use = in_use(),
                            .limit = limit(),
                            .attempt = attempt};
    if (!on_limit_(event)) break;
    if (try_charge(bytes, &now)) return allocate_charged(bytes, alignment, now);
  }
  failures_.fetch_add(1, std::memory_order_relaxed);
  throw limit_exceeded(kName, bytes, in_use(), limit());
}

void limit_resource::raise_peak(std::size_t in_use_now) noexcept {
  internal::raise_to(peak_, in_use_now);
}

limit_resource_stats limit_resource::stats() const noexcept {
  return {.in_use = in_use(),
          .peak = peak_.load(std::memory_order_relaxed),
          .limit = limit(),
          .limit_hits = limit_hits_.load(std::memory_order_relaxed),
          .failures = failures_.load(std::memory_order_relaxed)};
}

}  // namespace strata
