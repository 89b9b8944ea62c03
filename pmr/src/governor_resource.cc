#include "strata/governor_resource.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>

#include "absl/strings/str_format.h"

#include "strata/internal/alignment.h"
#include "strata/internal/atomic_max.h"
#include "strata/internal/byte_counter.h"
#include "strata/internal/checked_blocks.h"
#include "strata/limit_exceeded.h"

namespace strata {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::string_view kName = "governor_resource";

// How deep the calling thread is in upstream calls made by meters. Above
// zero, the layers between the meter and the top of its stack may hold
// locks (a pool refilling under its mutex), so a governor called from there
// must neither reclaim those layers nor wait: it lets the refusal unwind to
// the top of the stack instead.
thread_local int tls_meter_depth = 0;

class meter_depth_guard {
 public:
  meter_depth_guard() noexcept { ++tls_meter_depth; }
  meter_depth_guard(const meter_depth_guard&) = delete;
  meter_depth_guard& operator=(const meter_depth_guard&) = delete;
  ~meter_depth_guard() { --tls_meter_depth; }
};

std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

}  // namespace

using internal::raise_to;

// A governor's refusal of a footprint charge. It derives from
// limit_exceeded, so a refusal that escapes a hand-built stack without a
// governor on top is still the documented error.
class governor_refusal final : public limit_exceeded {
 public:
  governor_refusal(governor_resource* governor, std::size_t requested,
                   std::size_t in_use, std::size_t limit) noexcept
      : limit_exceeded(kName, requested, in_use, limit), governor_(governor) {}
  [[nodiscard]] governor_resource* governor() const noexcept {
    return governor_;
  }

 private:
  governor_resource* governor_;
};

// One request's progress through the pause policy; records its wait time
// however it ends.
struct governor_resource::attempt {
  explicit attempt(governor_resource* g, std::size_t n) : self(g), bytes(n) {}
  attempt(const attempt&) = delete;
  attempt& operator=(const attempt&) = delete;
  ~attempt() {
    if (waiting) self->record_wait(clock_type::now() - wait_start);
  }
  void refused(const governor_refusal& r) {
    if (!hit_counted) first_refusal = clock_type::now();
    refuser = r.governor();
    // Reclaim just what the charge needs (see docs/design.md).
    shortfall = r.in_use() + r.requested() > r.limit()
                    ? r.in_use() + r.requested() - r.limit()
                    : r.requested();
    footprint_at_refusal = r.in_use();
    // No reclaim or wait can make room for more than the whole limit.
    impossible = r.requested() > r.limit();
  }

  governor_resource* self;
  std::size_t bytes;
  governor_resource* refuser = nullptr;
  std::size_t shortfall = 0;  // bytes the refused charge needed
  std::size_t footprint_at_refusal = 0;
  bool hit_counted = false;
  bool impossible = false;
  bool waiting = false;
  clock_type::time_point first_refusal;
  clock_type::time_point wait_start;
  clock_type::time_point wait_until;
};

// ---------------------------------------------------------------- meter --

governor_meter::~governor_meter() {
  if constexpr (internal::kChecked) {
    const std::size_t left = in_use();
    if (left != 0) {
      std::fprintf(stderr,
                   "strata: governor_meter: destroyed with %zu bytes still "
                   "outstanding\n",
                   left);
    }
  }
}

void* governor_meter::allocate(std::size_t bytes, std::size_t alignment) {
  internal::check_request("governor_meter", bytes, alignment);
  governor_resource* g = governor_.load(std::memory_order_acquire);
  if (g != nullptr) {
    g->charge(bytes, g->calling_thread_is_critical());
  } else {
    raise_to(peak_,
             in_use_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  }
  try {
    const meter_depth_guard depth;
    return upstream_->allocate(bytes, alignment);
  } catch (...) {
    deallocate_uncharged(bytes);
    throw;
  }
}

void governor_meter::deallocate(void* p, std::size_t bytes,
                                std::size_t alignment) noexcept {
  {
    const meter_depth_guard depth;
    upstream_->deallocate(p, bytes, alignment);
  }
  deallocate_uncharged(bytes);
}

void governor_meter::deallocate_uncharged(std::size_t bytes) noexcept {
  // Seq_cst, paired with the waiter's: either the waiter sees the bytes
  // gone, or this sees the waiter and wakes it.
  internal::refund_clamped(in_use_, bytes, "governor_resource",
                           std::memory_order_seq_cst);
  governor_resource* g = governor_.load(std::memory_order_acquire);
  if (g != nullptr && g->has_waiters()) g->wake_waiters();
}

// -------------------------------------------------------------- governor --

namespace {

[[noreturn]] void invalid_option(std::string_view what) {
  throw std::invalid_argument(absl::StrFormat("strata: %s: %s", kName, what));
}

void check_reserve(std::size_t critical_reserve, std::size_t hard_limit) {
  if (critical_reserve > hard_limit) {
    invalid_option(
        absl::StrFormat("critical_reserve (%u) must not exceed hard_limit (%u)",
                        critical_reserve, hard_limit));
  }
}

const governor_options& checked(const governor_options& o) {
  check_reserve(o.critical_reserve, o.hard_limit);
  if (o.policy != pause_policy::fail && o.policy != pause_policy::reclaim &&
      o.policy != pause_policy::wait) {
    invalid_option(absl::StrFormat("policy (%d) is not a pause_policy",
                                   static_cast<int>(o.policy)));
  }
  if (o.max_pause <= std::chrono::nanoseconds::zero()) {
    invalid_option(absl::StrFormat("max_pause (%d ns) must be positive",
                                   o.max_pause.count()));
  }
  if (o.max_wait < std::chrono::nanoseconds::zero()) {
    invalid_option(absl::StrFormat("max_wait (%d ns) must not be negative",
                                   o.max_wait.count()));
  }
  if (!(o.reclaim_share >= 0 && o.reclaim_share <= 1)) {
    invalid_option(absl::StrFormat("reclaim_share (%g) must be in [0, 1]",
                                   o.reclaim_share));
  }
  if (o.reclaim_burst <= std::chrono::nanoseconds::zero()) {
    invalid_option(absl::StrFormat("reclaim_burst (%d ns) must be positive",
                                   o.reclaim_burst.count()));
  }
  if (!(o.soft_mark > 0 && o.soft_mark <= 1)) {
    invalid_option(
        absl::StrFormat("soft_mark (%g) must be in (0, 1]", o.soft_mark));
  }
  if (o.count_batch == 0) invalid_option("count_batch (0) must be positive");
  if (!(o.cgroup_fraction >= 0 && o.cgroup_fraction <= 1)) {
    invalid_option(absl::StrFormat("cgroup_fraction (%g) must be in [0, 1]",
                                   o.cgroup_fraction));
  }
  return o;
}

}  // namespace

governor_resource::governor_resource(const governor_options& options,
                                     std::pmr::memory_resource* upstream,
                                     governor_meter* meter)
    : options_(checked(options)),
      upstream_(upstream),
      pool_(meter != nullptr ? dynamic_cast<sync_pool_resource*>(upstream)
                             : nullptr),
      own_meter_(upstream),
      meter_(meter != nullptr ? meter : &own_meter_),
      metered_(meter != nullptr),
      hard_limit_(options.hard_limit),
      growth_percent_(options.growth_percent),
      next_cycle_at_(SIZE_MAX),
      bucket_time_(clock_type::now()) {
  // Before the meter knows this governor: it may throw.
  if (options_.cgroup_fraction > 0) {
    apply_cgroup(read_cgroup_memory(options_.cgroup), /*at_start=*/true);
  }
  if (meter != nullptr) {
    governor_resource* none = nullptr;
    if (!meter->governor_.compare_exchange_strong(none, this)) {
      throw std::invalid_argument(
          "strata: governor_resource: the meter already has a governor");
    }
  } else {
    // Only its counter and its refunds are used (they wake waiters).
    own_meter_.governor_.store(this, std::memory_order_relaxed);
  }
  update_cycle_target(0);
  id_ = slots_.id();
  if (options_.background_reclaimer) {
    try {
      // On the scavenger's thread, which also runs decay: it re-checks the
      // footprint often, in case it passed the soft mark through a
      // path that does not kick (a lowered limit).
      internal::register_periodic_target(this, std::chrono::milliseconds(50));
    } catch (...) {  // no thread: undo what the destructor would
      if (metered_) meter_->governor_.store(nullptr, std::memory_order_release);
      throw;
    }
  }
}

governor_resource::~governor_resource() {
  if (options_.background_reclaimer) {
    internal::unregister_decay_target(this);
  }
  slots_.close([this](slot& s) noexcept {
    live_.fetch_add(s.pending.load(std::memory_order_relaxed),
                    std::memory_order_relaxed);
  });
  if constexpr (internal::kChecked) {
    // Over a pool the pool counts the blocks users hold; otherwise the
    // governor counts the bytes (unmetered, they are its footprint).
    if (pool_ != nullptr) {
      const std::size_t blocks = pool_->blocks_in_use();
      if (blocks != 0) {
        std::fprintf(stderr,
                     "strata: governor_resource: destroyed with %zu blocks "
                     "still outstanding\n",
                     blocks);
      }
    } else if (const std::size_t left = counted_live(); left != 0) {
      std::fprintf(stderr,
                   "strata: governor_resource: destroyed with %zu bytes "
                   "still outstanding\n",
                   left);
    }
    own_meter_.in_use_.store(0, std::memory_order_relaxed);  // said once
  }
  if (metered_) meter_->governor_.store(nullptr, std::memory_order_release);
}

governor_resource::slot* governor_resource::thread_slot() {
  if (void* s = internal::cached_thread_slot(id_)) return static_cast<slot*>(s);
  return slots_.find([this] {
    auto made = std::make_unique<slot>();
    set_thresholds(made.get(), counted_live());
    return made;
  });
}

void governor_resource::thread_exited(slot& s) noexcept {
  live_.fetch_add(s.pending.load(std::memory_order_relaxed),
                  std::memory_order_relaxed);
  exited_allocations_.fetch_add(s.allocations, std::memory_order_relaxed);
  exited_deallocations_.fetch_add(s.deallocations, std::memory_order_relaxed);
}

std::size_t governor_resource::counted_live() const noexcept {
  // Unmetered, every byte a user holds was charged on the way in.
  if (!metered_) return footprint();
  return static_cast<std::size_t>(
      std::max<std::int64_t>(0, live_.load(std::memory_order_relaxed)));
}

std::size_t governor_resource::live_locked() const {
  if (pool_ == nullptr) return counted_live();
  return pool_->bytes_in_use();
}

std::size_t governor_resource::live_now() const {
  if (pool_ == nullptr) return counted_live();
  const std::lock_guard lock(reclaim_mu_);
  return live_locked();
}

// ------------------------------------------------------------ allocation --

void* governor_resource::allocate_slow(std::size_t bytes,
                                       std::size_t alignment) {
  internal::check_request(kName, bytes, alignment);
  // Over a pool the pool counts: no slot needed.
  slot* s = pool_ != nullptr ? nullptr : thread_slot();
  attempt a(this, bytes);
  return allocate_retrying(s, bytes, alignment, a);
}

void* governor_resource::allocate_counted_here(slot* s, std::int64_t pending,
                                               std::size_t bytes,
                                               std::size_t alignment) {
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment);
  } catch (const governor_refusal& refusal) {
    attempt a(this, bytes);
    a.refused(refusal);
    handle_refusal(a);
    return allocate_retrying(s, bytes, alignment, a);
  }
  s->pending.store(pending, std::memory_order_relaxed);
  s->allocations += 1;
  return p;
}

void* governor_resource::allocate_retrying(slot* s, std::size_t bytes,
                                           std::size_t alignment, attempt& a) {
  for (;;) {
    try {
      return allocate_counted(s, bytes, alignment);
    } catch (const governor_refusal& refusal) {
      a.refused(refusal);
      handle_refusal(a);
    }
  }
}

void* governor_resource::allocate_counted(slot* s, std::size_t bytes,
                                          std::size_t alignment) {
  if (pool_ != nullptr) {
    void* p = pool_->allocate_slow(bytes, alignment);
    after_pool_miss();
    return p;
  }
  if (!metered_) charge(bytes, s != nullptr && s->critical_depth > 0);
  void* p = nullptr;
  try {
    p = upstream_->allocate(bytes, alignment);
  } catch (...) {
    if (!metered_) own_meter_.deallocate_uncharged(bytes);
    throw;
  }
  if (!metered_) {
    // The charge counted the bytes: only the call is left to count.
    if (s != nullptr) {
      s->allocations += 1;
    } else {
      exited_allocations_.fetch_add(1, std::memory_order_relaxed);
    }
    if (footprint() >= next_cycle_at_.load(std::memory_order_relaxed)) {
      run_growth_cycle(s);
    }
  } else if (s != nullptr) {
    s->allocations += 1;
    flush(s, static_cast<std::int64_t>(bytes));
  } else {
    exited_allocations_.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t live = live_.fetch_add(static_cast<std::int64_t>(bytes),
                                              std::memory_order_relaxed) +
                              static_cast<std::int64_t>(bytes);
    raise_to(peak_live_,
             static_cast<std::size_t>(std::max<std::int64_t>(0, live)));
  }
  return p;
}

void governor_resource::after_pool_miss() noexcept {
  // The pool's cache ran dry, so live bytes may have grown: the one place,
  // over a pool, where the growth target is checked.
  const std::size_t target = next_cycle_at_.load(std::memory_order_relaxed);
  if (target == SIZE_MAX || tls_meter_depth > 0) return;
  // Live bytes are at most the footprint, and reading the caches takes
  // their locks: look only when the footprint is past the target and has
  // moved by a batch since the last look.
  const std::size_t now = footprint();
  if (now < target) return;
  const std::size_t last = growth_checked_at_.load(std::memory_order_relaxed);
  const std::size_t batch = options_.count_batch;
  if (now < saturating_add(last, batch) && last < saturating_add(now, batch)) {
    return;
  }
  growth_checked_at_.store(now, std::memory_order_relaxed);
  std::size_t live = 0;
  try {
    live = live_now();
  } catch (...) {  // a mutex that cannot be locked: no cycle this time
    return;
  }
  raise_to(peak_live_, live);
  if (live >= next_cycle_at_.load(std::memory_order_relaxed)) {
    run_growth_cycle(static_cast<slot*>(internal::peek_thread_slot(id_)));
  }
}

void governor_resource::deallocate_slow(void* p, std::size_t bytes,
                                        std::size_t alignment) noexcept {
  if (pool_ != nullptr) {
    // Checked already by the pool's deallocate_cached.
    pool_->deallocate_slow(p, bytes, alignment);
    if (has_waiters()) wake_waiters();
    return;
  }
  slot* s = nullptr;
  try {
    s = thread_slot();
  } catch (...) {  // no memory for a slot: count it in the shared total
  }
  upstream_->deallocate(p, bytes, alignment);
  if (!metered_) {
    own_meter_.deallocate_uncharged(bytes);  // wakes waiters
    if (s != nullptr) {
      s->deallocations += 1;
    } else {
      exited_deallocations_.fetch_add(1, std::memory_order_relaxed);
    }
  } else if (s != nullptr) {
    s->deallocations += 1;
    flush(s, -static_cast<std::int64_t>(bytes));
  } else {
    exited_deallocations_.fetch_add(1, std::memory_order_relaxed);
    live_.fetch_sub(static_cast<std::int64_t>(bytes),
                    std::memory_order_relaxed);
    if (has_waiters()) wake_waiters();
  }
}

void governor_resource::flush(slot* s, std::int64_t delta) noexcept {
  const std::int64_t moved = s->pending.load(std::memory_order_relaxed) + delta;
  s->pending.store(0, std::memory_order_relaxed);
  const std::int64_t live =
      live_.fetch_add(moved, std::memory_order_relaxed) + moved;
  const auto live_bytes =
      static_cast<std::size_t>(std::max<std::int64_t>(0, live));
  raise_to(peak_live_, live_bytes);
  if (moved < 0) {
    // Frees can make room for a waiter (directly, or by filling caches it
    // can reclaim).
    if (has_waiters()) wake_waiters();
  } else if (live_bytes >= next_cycle_at_.load(std::memory_order_relaxed)) {
    run_growth_cycle(s);
  }
  set_thresholds(s, live_bytes);  // after a cycle, against the new target
}

void governor_resource::set_thresholds(slot* s,
                                       std::size_t live) const noexcept {
  if (!metered_) {
    // Every call charges the footprint, so every call takes the slow path.
    s->flush_above = -1;
    s->flush_below = 1;
    return;
  }
  const auto batch = static_cast<std::int64_t>(options_.count_batch);
  std::int64_t above = batch;
  const std::size_t target = next_cycle_at_.load(std::memory_order_relaxed);
  if (target != SIZE_MAX && live < target) {
    // Near the growth target, batches shrink so the crossing is seen within
    // a few allocations.
    above = std::min<std::int64_t>(
        batch, static_cast<std::int64_t>(
                   std::min<std::size_t>((target - live) / 4, INT64_MAX)));
  }
  s->flush_above = above;
  s->flush_below = -batch;
}

// --------------------------------------------------------- the footprint --

bool governor_resource::calling_thread_is_critical() const noexcept {
  const auto* s = static_cast<const slot*>(internal::peek_thread_slot(id_));
  return s != nullptr && s->critical_depth > 0;
}

void governor_resource::charge(std::size_t bytes, bool critical) {
  std::size_t limit = hard_limit_.load(std::memory_order_relaxed);
  if (critical) limit = saturating_add(limit, options_.critical_reserve);
  std::atomic<std::size_t>& in_use = meter_->in_use_;
  std::size_t now = in_use.load(std::memory_order_acquire);
  do {
    if (bytes > limit || now > limit - bytes) {
      throw governor_refusal(this, bytes, now, limit);
    }
  } while (!in_use.compare_exchange_weak(
      now, now + bytes, std::memory_order_acq_rel, std::memory_order_acquire));
  raise_to(meter_->peak_, now + bytes);
  if (options_.background_reclaimer && now + bytes > soft_target()) {
    kick_background();
  }
}

void governor_resource::wake_waiters() noexcept {
  {
    const std::lock_guard lock(wait_mu_);
    ++change_;
  }
  wait_cv_.notify_all();
}

void governor_resource::record_wait(std::chrono::nanoseconds waited) noexcept {
  const std::lock_guard lock(wait_mu_);
  waits_.add(waited);
}

void governor_resource::record_refused(
    std::chrono::nanoseconds refused) noexcept {
  const std::lock_guard lock(wait_mu_);
  refused_.add(refused);
}

// ------------------------------------------------------ the pause policy --

void governor_resource::handle_refusal(attempt& a) {
  if (!a.hit_counted) {
    a.hit_counted = true;
    limit_hits_.fetch_add(1, std::memory_order_relaxed);
  }
  // Inside a meter's upstream call: let the refusal unwind to the top of
  // the stack above, outside that stack's locks.
  if (tls_meter_depth > 0) throw;
  const bool critical = calling_thread_is_critical();
  if (!critical && !a.impossible && options_.policy != pause_policy::fail) {
    bool freed = reclaim_for(a.shortfall, /*on_allocating_thread=*/true);
    if (a.refuser != this && a.refuser != nullptr) {
      // On the refuser's behalf: not its allocating thread.
      freed = a.refuser->reclaim_for(a.shortfall, false) || freed;
    }
    if (freed) return;  // retry
    if (options_.policy == pause_policy::wait) {
      const auto now = clock_type::now();
      if (!a.waiting) {
        a.waiting = true;
        a.wait_start = now;
        a.wait_until =
            now + std::chrono::duration_cast<clock_type::duration>(std::min(
                      options_.max_wait,
                      std::chrono::nanoseconds(std::chrono::hours(24))));
      }
      if (now < a.wait_until &&
          a.refuser->wait_for_change(a.footprint_at_refusal, a.wait_until)) {
        return;  // retry
      }
    }
  }
  failures_.fetch_add(1, std::memory_order_relaxed);
  const auto now = clock_type::now();
  if (a.waiting) {  // counted here, so it fits inside the refused time
    a.waiting = false;
    record_wait(now - a.wait_start);
  }
  record_refused(now - a.first_refusal);
  governor_resource* g = a.refuser != nullptr ? a.refuser : this;
  throw limit_exceeded(kName, a.bytes, g->footprint(), g->hard_limit());
}

bool governor_resource::wait_for_change(std::size_t footprint_seen,
                                        clock_type::time_point until) {
  std::unique_lock lock(wait_mu_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  const std::uint64_t seen = change_;
  bool changed = footprint() < footprint_seen;
  if (!changed) {
    changed = wait_cv_.wait_until(lock, until, [&] { return change_ != seen; });
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return changed;
}

bool governor_resource::reclaim_for(std::size_t needed,
                                    bool on_allocating_thread) {
  std::unique_lock lock(reclaim_mu_);
  if (caches_.empty()) return false;
  // After a step that freed less than its request needed, try again only
  // once the caches hold that much more: never spin in reclaim.
  if (futile_ && all_cached_locked() < saturating_add(futile_cached_, needed)) {
    return false;
  }
  const std::optional<reclaim_result> step =
      bucketed_step_locked(needed, on_allocating_thread, /*pause=*/true);
  if (!step) return false;
  const reclaim_result r = *step;
  futile_ = r.bytes_freed < needed;
  if (futile_) futile_cached_ = all_cached_locked();
  return r.bytes_freed > 0;
}

std::optional<reclaim_result> governor_resource::bucketed_step_locked(
    std::size_t bytes, bool on_allocating_thread, bool pause) {
  const auto start = clock_type::now();
  if (!reclaim_allowed(start)) return std::nullopt;
  const reclaim_result r = step_locked(bytes, on_allocating_thread);
  const std::chrono::nanoseconds took = clock_type::now() - start;
  bucket_level_ += took;
  if (pause) record_pause(took);
  return r;
}

bool governor_resource::reclaim_allowed(clock_type::time_point now) {
  const auto elapsed = now - bucket_time_;
  bucket_time_ = now;
  const auto drained = std::chrono::nanoseconds(static_cast<std::int64_t>(
      static_cast<double>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
              .count()) *
      options_.reclaim_share));
  bucket_level_ =
      std::max(std::chrono::nanoseconds(0), bucket_level_ - drained);
  return bucket_level_ < options_.reclaim_burst;
}

reclaim_result governor_resource::step_locked(std::size_t bytes,
                                              bool on_allocating_thread) {
  reclaim_result total;
  const auto end =
      clock_type::now() +
      std::chrono::duration_cast<clock_type::duration>(std::min(
          options_.max_pause, std::chrono::nanoseconds(std::chrono::hours(1))));
  const std::size_t n = caches_.size();
  std::size_t visited = 0;
  while (visited < n && total.bytes_freed < bytes) {
    if (cursor_ >= n) cursor_ = 0;
    reclaimable* cache = caches_[cursor_].cache;
    bool done_with_cache = !caches_[cursor_].reachable(on_allocating_thread);
    // A cache may need several calls to give up what it holds (a pool ages
    // its blocks over two); it is done when it says nothing remains, or
    // when two calls in a row free nothing (it holds what it cannot give).
    int futile_calls = 0;
    while (!done_with_cache && total.bytes_freed < bytes) {
      const auto now = clock_type::now();
      if (now >= end) break;
      const reclaim_result r = cache->reclaim(
          {.bytes = bytes - total.bytes_freed, .time_budget = end - now});
      total.bytes_freed += r.bytes_freed;
      futile_calls = r.bytes_freed == 0 ? futile_calls + 1 : 0;
      done_with_cache = !r.more_remains || futile_calls == 2;
    }
    if (!done_with_cache) {
      total.more_remains = true;
      break;  // out of time or bytes: carry on with this cache next step
    }
    ++visited;
    if (++cursor_ == n) {
      // A whole pass over the caches: one cycle.
      cursor_ = 0;
      ++cycles_;
      update_cycle_target(live_locked());
    }
  }
  // Stopped on the byte target before every cache was visited: the ones
  // left may hold more.
  for (std::size_t k = 0; visited + k < n && !total.more_remains; ++k) {
    const registered& r = caches_[(cursor_ + k) % n];
    total.more_remains =
        r.reachable(on_allocating_thread) && r.cache->cached_bytes() != 0;
  }
  bytes_reclaimed_ += total.bytes_freed;
  return total;
}

std::size_t governor_resource::all_cached_locked() const {
  std::size_t bytes = 0;
  for (const registered& r : caches_) bytes += r.cache->cached_bytes();
  return bytes;
}

void governor_resource::record_pause(std::chrono::nanoseconds pause) noexcept {
  pauses_.add(pause);
}

// ------------------------------------------------------ growth and cycles --

void governor_resource::update_cycle_target(std::size_t live) noexcept {
  live_after_cycle_.store(live, std::memory_order_relaxed);
  const int percent = growth_percent_.load(std::memory_order_relaxed);
  std::size_t target = SIZE_MAX;
  if (percent >= 0) {
    const double grown = static_cast<double>(live) *
                         (1.0 + static_cast<double>(percent) / 100.0);
    target =
        grown >= static_cast<double>(SIZE_MAX)
            ? SIZE_MAX
            : std::max(options_.growth_floor, static_cast<std::size_t>(grown));
  }
  next_cycle_at_.store(target, std::memory_order_relaxed);
}

void governor_resource::run_growth_cycle(slot* s) noexcept {
  if (tls_meter_depth > 0 || (s != nullptr && s->critical_depth > 0)) return;
  if (options_.background_reclaimer) {
    kick_background();
    return;
  }
  const std::unique_lock lock(reclaim_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is reclaiming already
  if (live_locked() < next_cycle_at_.load(std::memory_order_relaxed)) return;
  if (caches_.empty()) {
    ++cycles_;
    update_cycle_target(live_locked());
    return;
  }
  static_cast<void>(bucketed_step_locked(
      SIZE_MAX, /*on_allocating_thread=*/true, /*pause=*/true));
}

// ----------------------------------------------------- the background loop --

void governor_resource::kick_background() noexcept {
  internal::wake_scavenger();
}

std::size_t governor_resource::decay_idle() noexcept {
  return trim_in_background();
}

std::size_t governor_resource::trim_in_background() {
  std::size_t freed = 0;
  for (;;) {
    const std::size_t soft = soft_target();
    const std::size_t now = footprint();
    const bool over = now > soft;
    const bool cycle_due =
        live_now() >= next_cycle_at_.load(std::memory_order_relaxed);
    if (!over && !cycle_due) return freed;
    const std::lock_guard lock(reclaim_mu_);
    if (caches_.empty()) return freed;
    const std::optional<reclaim_result> step =
        bucketed_step_locked(over ? now - soft : SIZE_MAX,
                             /*on_allocating_thread=*/false, /*pause=*/false);
    if (!step) return freed;
    const reclaim_result r = *step;
    ++background_steps_;
    freed += r.bytes_freed;
    // A cycle that was due ends with its pass; a step that freed nothing
    // means the caches hold nothing more to give now.
    if (r.bytes_freed == 0 || !over) return freed;
  }
}

// ------------------------------------------------------------ the rest --

governor_resource::critical_guard::critical_guard(governor_resource* governor)
    : slot_(governor->thread_slot()) {
  if (slot_ != nullptr) ++static_cast<slot*>(slot_)->critical_depth;
}

governor_resource::critical_guard::~critical_guard() {
  if (slot_ != nullptr) --static_cast<slot*>(slot_)->critical_depth;
}

void governor_resource::add_reclaimable(reclaimable& cache,
                                        cache_placement placement) {
  const std::lock_guard lock(reclaim_mu_);
  caches_.push_back({&cache, placement, cache.reclaim_is_thread_safe()});
}

void governor_resource::remove_reclaimable(reclaimable& cache) noexcept {
  const std::lock_guard lock(reclaim_mu_);
  std::erase_if(caches_,
                [&](const registered& r) { return r.cache == &cache; });
  cursor_ = 0;
}

reclaim_result governor_resource::reclaim_step(std::size_t bytes) {
  const std::lock_guard lock(reclaim_mu_);
  return bucketed_step_locked(bytes, /*on_allocating_thread=*/false,
                              /*pause=*/false)
      .value_or(reclaim_result{.bytes_freed = 0, .more_remains = true});
}

void governor_resource::set_hard_limit(std::size_t bytes) {
  check_reserve(options_.critical_reserve, bytes);
  hard_limit_.store(bytes, std::memory_order_relaxed);
  wake_waiters();
  if (options_.background_reclaimer) kick_background();
}

cgroup_memory governor_resource::refresh_cgroup_limits() {
  const cgroup_memory m = read_cgroup_memory(options_.cgroup);
  if (options_.cgroup_fraction > 0) apply_cgroup(m, /*at_start=*/false);
  return m;
}

void governor_resource::apply_cgroup(const cgroup_memory& m, bool at_start) {
  const auto share = [&](std::size_t bytes) {
    const double part = static_cast<double>(bytes) * options_.cgroup_fraction;
    return part >= static_cast<double>(SIZE_MAX)
               ? SIZE_MAX
               : static_cast<std::size_t>(part);
  };
  std::size_t limit = options_.hard_limit;
  if (m.limit) limit = std::min(limit, share(*m.limit));
  // At start a reserve above the share is a mistake to report; later, the
  // container shrank, and the limit goes as low as the reserve allows.
  if (!at_start) limit = std::max(limit, options_.critical_reserve);
  set_hard_limit(limit);
  cgroup_soft_target_.store(m.soft_limit ? share(*m.soft_limit) : SIZE_MAX,
                            std::memory_order_relaxed);
}

std::size_t governor_resource::soft_target() const noexcept {
  const double mark = static_cast<double>(hard_limit()) * options_.soft_mark;
  const std::size_t cgroup =
      cgroup_soft_target_.load(std::memory_order_relaxed);
  // (A mark at SIZE_MAX's double would overflow the conversion.)
  if (mark >= static_cast<double>(cgroup)) return cgroup;
  return static_cast<std::size_t>(mark);
}

void governor_resource::set_growth_percent(int percent) noexcept {
  growth_percent_.store(percent, std::memory_order_relaxed);
  update_cycle_target(live_after_cycle_.load(std::memory_order_relaxed));
}

std::size_t governor_resource::cached_bytes() const {
  const std::lock_guard lock(reclaim_mu_);
  return inside_cached_locked();
}

std::size_t governor_resource::inside_cached_locked() const {
  std::size_t bytes = 0;
  for (const registered& r : caches_) {
    if (r.placement == cache_placement::inside) {
      bytes += r.cache->cached_bytes();
    }
  }
  return bytes;
}

governor_stats governor_resource::stats() const {
  governor_stats out;
  if (pool_ != nullptr) {
    out.live_bytes = live_now();
    out.allocations = pool_->allocation_count();
    const std::size_t held = pool_->blocks_in_use();
    out.deallocations = out.allocations > held ? out.allocations - held : 0;
  } else {
    std::int64_t live = live_.load(std::memory_order_relaxed);
    out.allocations = exited_allocations_.load(std::memory_order_relaxed);
    out.deallocations = exited_deallocations_.load(std::memory_order_relaxed);
    slots_.for_each([&](const slot& s) {
      live += s.pending.load(std::memory_order_relaxed);
      out.allocations += s.allocations;
      out.deallocations += s.deallocations;
    });
    out.live_bytes =
        metered_ ? static_cast<std::size_t>(std::max<std::int64_t>(0, live))
                 : footprint();
  }
  // Unmetered, the peak is exact (the footprint's); otherwise sampled where
  // live bytes are counted.
  out.peak_live_bytes =
      metered_
          ? std::max(out.live_bytes, peak_live_.load(std::memory_order_relaxed))
          : meter_->peak();
  out.footprint_bytes = footprint();
  out.peak_footprint_bytes = meter_->peak();
  out.cached_bytes = cached_bytes();
  out.hard_limit = hard_limit();
  out.limit_hits = limit_hits_.load(std::memory_order_relaxed);
  out.failures = failures_.load(std::memory_order_relaxed);
  {
    const std::lock_guard lock(reclaim_mu_);
    out.reclaim_cycles = cycles_;
    out.bytes_reclaimed = bytes_reclaimed_;
    out.background_steps = background_steps_;
    out.pauses = pauses_;
  }
  {
    const std::lock_guard lock(wait_mu_);
    out.waits = waits_;
    out.refused = refused_;
  }
  return out;
}

}  // namespace strata
