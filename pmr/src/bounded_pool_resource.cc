#include "strata/bounded_pool_resource.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_format.h"

#include "strata/internal/alignment.h"
#include "strata/internal/deadline.h"
#include "strata/limit_exceeded.h"

namespace strata {
namespace {

constexpr std::string_view kName = "bounded_pool_resource";

// Shards when the options leave it to us: one per hardware thread.
constexpr std::size_t kMaxAutoShards = 64;

[[noreturn]] void bad_option(std::string_view what) {
  throw std::invalid_argument(absl::StrFormat("strata: %s: %s", kName, what));
}

bounded_pool_options normalise(bounded_pool_options o) {
  if (o.block_size == 0 || o.block_size > (SIZE_MAX >> 2)) {
    bad_option(
        "block_size must be between 1 and a quarter of the address space");
  }
  if (!std::has_single_bit(o.block_alignment)) {
    bad_option(absl::StrFormat("block_alignment %u is not a power of two",
                               o.block_alignment));
  }
  if (o.max_pooled == 0 || o.max_pooled > (std::size_t{1} << 40)) {
    bad_option("max_pooled must be between 1 and 2^40");
  }
  if (o.prewarm > o.max_pooled) {
    bad_option(absl::StrFormat("prewarm (%u) is above max_pooled (%u)",
                               o.prewarm, o.max_pooled));
  }
  if (o.shards != 0 && !std::has_single_bit(o.shards)) {
    bad_option(absl::StrFormat("shards (%u) is not a power of two", o.shards));
  }
  o.block_size =
      (o.block_size + o.block_alignment - 1) & ~(o.block_alignment - 1);
  if (o.shards == 0) {
    const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    o.shards = std::min(std::bit_ceil(cpus), kMaxAutoShards);
  }
  o.shards = std::min(o.shards, std::bit_floor(o.max_pooled));
  const std::size_t per_shard =
      std::bit_ceil((o.max_pooled + o.shards - 1) / o.shards);
  o.max_pooled = per_shard * o.shards;
  return o;
}

}  // namespace

bounded_pool_resource::bounded_pool_resource(
    const bounded_pool_options& options, std::pmr::memory_resource* upstream)
    : options_(normalise(options)),
      block_size_(options_.block_size),
      block_alignment_(options_.block_alignment),
      shard_mask_(options_.shards - 1),
      capped_(options_.max_outstanding != 0),
      upstream_(upstream) {
  const std::size_t per_shard = options_.max_pooled / options_.shards;
  shards_.reserve(options_.shards);
  for (std::size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<internal::mpmc_ring>(per_shard));
  }
  try {
    for (std::size_t i = 0; i < options_.prewarm; ++i) {
      void* p = new_block(/*overflow=*/false);
      STRATA_POISON(p, block_size_);
      shards_[i & shard_mask_]->push(p);  // room: prewarm <= max_pooled
    }
    misses_ = 0;  // prewarming is not a miss
  } catch (...) {
    for (void* p : blocks_) {
      STRATA_UNPOISON(p, block_size_);
      upstream_->deallocate(p, block_size_, block_alignment_);
    }
    throw;
  }
}

bounded_pool_resource::~bounded_pool_resource() {
  std::lock_guard lock(mu_);
  for (void* p : blocks_) {
    STRATA_UNPOISON(p, block_size_);
    upstream_->deallocate(p, block_size_, block_alignment_);
  }
  unpooled_.release(upstream_);
}

void* bounded_pool_resource::allocate_slow(std::size_t bytes,
                                           std::size_t alignment) {
  internal::check_alignment(kName, alignment);
  if (!poolable(bytes, alignment)) {
    std::lock_guard lock(mu_);
    void* p = unpooled_.allocate(upstream_, bytes, alignment);
    ++unpooled_total_;
    checked_.on_allocate(p, bytes, alignment);
    return p;
  }
  void* p = nullptr;
  if (capped_) {
    // Reserve a place under the cap; a refused request never shows in the
    // count, so outstanding never reads above the cap with
    // exhausted_policy::fail.
    std::size_t now = outstanding_.load(std::memory_order_relaxed);
    bool over = false;
    do {
      over = now >= options_.max_outstanding;
      if (over && options_.when_exhausted == exhausted_policy::fail) {
        throw limit_exceeded(kName, bytes, now * block_size_,
                             options_.max_outstanding * block_size_);
      }
    } while (!outstanding_.compare_exchange_weak(now, now + 1,
                                                 std::memory_order_acq_rel));
    try {
      p = over ? new_block(/*overflow=*/true) : take_block();
    } catch (...) {
      outstanding_.fetch_sub(1, std::memory_order_acq_rel);
      throw;
    }
    note_outstanding(now + 1);
  } else {
    p = take_block();
  }
  checked_.on_allocate(p, bytes, alignment);
  return p;
}

void bounded_pool_resource::deallocate_slow(void* p, std::size_t bytes,
                                            std::size_t alignment) noexcept {
  if (!poolable(bytes, alignment)) {
    std::lock_guard lock(mu_);
    unpooled_.deallocate(upstream_, p, bytes, alignment);
    return;
  }
  if (capped_) {
    const std::size_t before =
        outstanding_.fetch_sub(1, std::memory_order_acq_rel);
    if (before > options_.max_outstanding) {
      // Past the cap (exhausted_policy::use_upstream): this one goes back,
      // so the pool holds no more than the cap allows.
      free_block(p);
      return;
    }
  }
  put_block(p);
}

void* bounded_pool_resource::take_block() {
  void* p = pop_any();
  if (p != nullptr) {
    STRATA_UNPOISON(p, block_size_);
    return p;
  }
  return new_block(/*overflow=*/false);
}

void* bounded_pool_resource::pop_any() noexcept {
  const std::size_t first = internal::thread_index();
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    void* p = shards_[(first + i) & shard_mask_]->pop();
    if (p != nullptr) return p;
  }
  return nullptr;
}

void bounded_pool_resource::put_block(void* p) noexcept {
  STRATA_POISON(p, block_size_);
  const std::size_t first = internal::thread_index();
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    if (shards_[(first + i) & shard_mask_]->push(p)) return;
  }
  STRATA_UNPOISON(p, block_size_);
  std::lock_guard lock(mu_);
  blocks_.erase(p);
  ++drops_;
  upstream_->deallocate(p, block_size_, block_alignment_);
}

void* bounded_pool_resource::new_block(bool overflow) {
  std::lock_guard lock(mu_);
  void* p = upstream_->allocate(block_size_, block_alignment_);
  try {
    blocks_.insert(p);
  } catch (...) {
    upstream_->deallocate(p, block_size_, block_alignment_);
    throw;
  }
  ++(overflow ? overflows_ : misses_);
  peak_blocks_ = std::max(peak_blocks_, blocks_.size());
  return p;
}

void bounded_pool_resource::free_block(void* p) noexcept {
  std::lock_guard lock(mu_);
  blocks_.erase(p);
  upstream_->deallocate(p, block_size_, block_alignment_);
}

void bounded_pool_resource::note_outstanding(std::size_t now) noexcept {
  std::size_t peak = peak_outstanding_.load(std::memory_order_relaxed);
  while (now > peak && !peak_outstanding_.compare_exchange_weak(
                           peak, now, std::memory_order_relaxed)) {
  }
}

std::size_t bounded_pool_resource::cached_bytes() const noexcept {
  std::size_t pooled = 0;
  for (const auto& shard : shards_) pooled += shard->size();
  return pooled * block_size_;
}

reclaim_result bounded_pool_resource::reclaim(
    const reclaim_request& request) noexcept {
  const internal::deadline until(request.time_budget);
  reclaim_result result;
  while (result.bytes_freed < request.bytes) {
    void* p = pop_any();
    if (p == nullptr) break;
    STRATA_UNPOISON(p, block_size_);
    {
      std::lock_guard lock(mu_);
      blocks_.erase(p);
      ++drained_;
      upstream_->deallocate(p, block_size_, block_alignment_);
    }
    result.bytes_freed += block_size_;
    if (until.passed()) break;
  }
  result.more_remains = cached_bytes() != 0;
  return result;
}

bounded_pool_stats bounded_pool_resource::stats() const {
  std::size_t pooled = 0;
  std::size_t pops = 0;
  for (const auto& shard : shards_) {
    pooled += shard->size();
    pops += shard->pops();
  }
  std::lock_guard lock(mu_);
  const std::size_t held = blocks_.size();
  return {.hits = pops - drained_,
          .misses = misses_,
          .drops = drops_,
          .outstanding = capped_ ? outstanding_.load(std::memory_order_relaxed)
                                 : (held > pooled ? held - pooled : 0),
          .pooled = pooled,
          .peak_outstanding =
              capped_ ? peak_outstanding_.load(std::memory_order_relaxed)
                      : peak_blocks_,
          .overflows = overflows_,
          .unpooled = unpooled_total_};
}

}  // namespace strata
