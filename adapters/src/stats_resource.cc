#include "strata/adapters/stats_resource.h"

#include <algorithm>
#include <memory>

#include "strata/internal/alignment.h"
#include "strata/internal/atomic_max.h"

namespace strata {
namespace {

// A thread reports its change in live bytes once it passes this.
constexpr std::int64_t kReportEvery = 64 << 10;

std::size_t bucket_of(std::size_t bytes) {
  return bytes <= 1 ? bytes
                    : static_cast<std::size_t>(std::bit_width(bytes - 1));
}

}  // namespace

stats_resource::stats_resource(std::pmr::memory_resource* upstream)
    : upstream_(upstream) {}

stats_resource::~stats_resource() { threads_.close(); }

stats_resource::counters* stats_resource::thread_counters() {
  counters* c = threads_.cached();
  if (ABSL_PREDICT_TRUE(c != nullptr)) return c;
  return threads_.find([] { return std::make_unique<counters>(); });
}

stats_resource::counters* stats_resource::counters_for_call(
    std::unique_lock<std::mutex>& lock) noexcept {
  counters* c = nullptr;
  try {
    c = thread_counters();
  } catch (...) {
    // No memory for this thread's counters: it counts in the shared ones.
  }
  if (c != nullptr) return c;
  // Also a thread that has begun to exit, and has no slot any more.
  lock = std::unique_lock(mu_);
  return &shared_;
}

void* stats_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  internal::check_request("stats_resource", bytes, alignment);
  void* p = upstream_->allocate(bytes, alignment);
  std::unique_lock<std::mutex> lock;
  counters* c = counters_for_call(lock);
  const std::size_t bucket = bucket_of(bytes);
  bump(c->allocations, 1);
  bump(c->allocated_bytes, bytes);
  bump(c->bucket_count[bucket], 1);
  bump(c->bucket_bytes[bucket], bytes);
  c->unreported += static_cast<std::int64_t>(bytes);
  if (ABSL_PREDICT_FALSE(c->unreported >= kReportEvery)) report(*c);
  return p;
}

void stats_resource::do_deallocate(void* p, std::size_t bytes,
                                   std::size_t alignment) {
  upstream_->deallocate(p, bytes, alignment);
  std::unique_lock<std::mutex> lock;
  counters* c = counters_for_call(lock);
  bump(c->deallocations, 1);
  bump(c->freed_bytes, bytes);
  c->unreported -= static_cast<std::int64_t>(bytes);
  if (ABSL_PREDICT_FALSE(c->unreported <= -kReportEvery)) report(*c);
}

void stats_resource::report(counters& c) noexcept {
  const std::int64_t now =
      live_.fetch_add(c.unreported, std::memory_order_relaxed) + c.unreported;
  c.unreported = 0;
  internal::raise_to(peak_, now);
}

void stats_resource::thread_exited(counters& exiting) noexcept {
  counters* c = &exiting;
  report(*c);
  std::lock_guard lock(mu_);
  bump(exited_.allocations, c->allocations.load(std::memory_order_relaxed));
  bump(exited_.deallocations, c->deallocations.load(std::memory_order_relaxed));
  bump(exited_.allocated_bytes,
       c->allocated_bytes.load(std::memory_order_relaxed));
  bump(exited_.freed_bytes, c->freed_bytes.load(std::memory_order_relaxed));
  for (std::size_t b = 0; b < c->bucket_count.size(); ++b) {
    bump(exited_.bucket_count[b],
         c->bucket_count[b].load(std::memory_order_relaxed));
    bump(exited_.bucket_bytes[b],
         c->bucket_bytes[b].load(std::memory_order_relaxed));
  }
  // Still listed until thread_slots drops it: counted once, in exited_.
  clear(*c);
}

void stats_resource::clear(counters& c) noexcept {
  c.allocations.store(0, std::memory_order_relaxed);
  c.deallocations.store(0, std::memory_order_relaxed);
  c.allocated_bytes.store(0, std::memory_order_relaxed);
  c.freed_bytes.store(0, std::memory_order_relaxed);
  for (std::size_t b = 0; b < c.bucket_count.size(); ++b) {
    c.bucket_count[b].store(0, std::memory_order_relaxed);
    c.bucket_bytes[b].store(0, std::memory_order_relaxed);
  }
}

void stats_resource::add_to(stats_resource_stats& out,
                            const counters& c) const {
  out.allocations += c.allocations.load(std::memory_order_relaxed);
  out.deallocations += c.deallocations.load(std::memory_order_relaxed);
  out.bytes_in_use += c.allocated_bytes.load(std::memory_order_relaxed);
  out.bytes_in_use -= c.freed_bytes.load(std::memory_order_relaxed);
  for (std::size_t b = 0; b < out.buckets.size(); ++b) {
    out.buckets[b].count += c.bucket_count[b].load(std::memory_order_relaxed);
    out.buckets[b].bytes += c.bucket_bytes[b].load(std::memory_order_relaxed);
  }
}

stats_resource_stats stats_resource::stats() const {
  stats_resource_stats out;
  std::lock_guard lock(mu_);
  add_to(out, exited_);
  add_to(out, shared_);
  threads_.for_each([&](const counters& c) { add_to(out, c); });
  out.peak_bytes =
      std::max<std::size_t>(static_cast<std::size_t>(std::max<std::int64_t>(
                                peak_.load(std::memory_order_relaxed), 0)),
                            out.bytes_in_use);
  return out;
}

}  // namespace strata
