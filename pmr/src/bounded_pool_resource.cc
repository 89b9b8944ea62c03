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

// Blocks a thread's stack holds: up to `most`, and no more than a quarter
// of a shard, so a few busy threads cannot hold most of a small pool's
// places.
std::size_t stack_size_for(const bounded_pool_options& o, std::size_t most) {
  if (o.max_outstanding != 0) return 0;  // a cap counts every block
  return std::min(most, o.max_pooled / o.shards / 4);
}

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
  // A ring needs two cells at least (see mpmc_ring), so a shard holds two
  // blocks at least and max_pooled is never below 2.
  o.shards = std::max<std::size_t>(
      1, std::min(o.shards, std::bit_floor(o.max_pooled) / 2));
  const std::size_t per_shard = std::max<std::size_t>(
      2, std::bit_ceil((o.max_pooled + o.shards - 1) / o.shards));
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
      stack_size_(stack_size_for(options_, thread_stack::kMaxBlocks)),
      upstream_(upstream),
      clock_(internal::clock_or_steady(options_.clock)),
      notes_(options_.shards) {
  if (options_.decay < decay_time::zero()) {
    throw std::invalid_argument(
        absl::StrFormat("strata: %s: decay (%d ms) is negative", kName,
                        options_.decay.count()));
  }
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
  free_places_.store(options_.max_pooled - options_.prewarm,
                     std::memory_order_relaxed);
  id_ = stacks_.id();
  try {
    internal::register_decay_target(this, options_.decay);
  } catch (...) {
    stacks_.close();
    for (void* p : blocks_) {
      STRATA_UNPOISON(p, block_size_);
      upstream_->deallocate(p, block_size_, block_alignment_);
    }
    throw;
  }
}

bounded_pool_resource::~bounded_pool_resource() {
  internal::unregister_decay_target(this);
  stacks_.close();
  // Every pooled-size block, on a stack, in a ring or in use, is in blocks_.
  std::lock_guard lock(mu_);
  for (void* p : blocks_) {
    STRATA_UNPOISON(p, block_size_);
    upstream_->deallocate(p, block_size_, block_alignment_);
  }
  unpooled_.release(upstream_);
}

void* bounded_pool_resource::allocate_slow(std::size_t bytes,
                                           std::size_t alignment) {
  internal::check_request(kName, bytes, alignment);
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
    thread_stack* c = nullptr;
    try {
      c = own_stack();
    } catch (...) {
      // No memory for a stack: serve this one from the rings.
    }
    if (c != nullptr) {
      const internal::cache_scope scope(c->handshake);
      take_back(c);
      p = refill(c);
    } else {
      p = take_block();
    }
  }
  if constexpr (internal::kHardened) clear_freed_tag(p);
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
    put_block(p);
    return;
  }
  thread_stack* c = nullptr;
  try {
    c = own_stack();
  } catch (...) {
    // No memory for a stack: the block goes to the rings instead.
  }
  if (c != nullptr) {
    const internal::cache_scope scope(c->handshake);
    take_back(c);
    spill(c, p);
  } else {
    put_block(p);
  }
}

void bounded_pool_resource::take_back(thread_stack* c) noexcept {
  if (c->handshake.taken()) {
    std::lock_guard lock(take_mu_);
    c->handshake.give_back();
  }
}

bounded_pool_resource::thread_stack* bounded_pool_resource::own_stack() {
  if (stack_size_ == 0) return nullptr;
  void* s = internal::cached_thread_slot(id_);
  if (s != nullptr) return static_cast<thread_stack*>(s);
  return stacks_.find([] { return std::make_unique<thread_stack>(); });
}

// An allocation the stack could not serve from the fast path: it is empty
// (or the thread-local lookup missed it). Half a stack comes from the rings;
// the places those blocks held in the rings pass to the stack, which keeps
// as many as it needs (so a thread that only allocates gets a stack too).
void* bounded_pool_resource::refill(thread_stack* c) {
  std::size_t count = c->held.count();
  if (count == 0) {
    count =
        pop_from_rings(c->blocks, std::max<std::size_t>(1, stack_size_ / 2));
    if (count == 0) return new_block(/*overflow=*/false);
    if (count > c->places) {
      give_places(c->places);
      c->places = count;
    } else {
      give_places(count);
    }
    refilled_.fetch_add(count, std::memory_order_relaxed);
    c->held.set_count(count);
  }
  void* p = c->blocks[count - 1];
  c->held.take();
  STRATA_UNPOISON(p, block_size_);
  return p;
}

// A block freed when the stack has no free place for it: the stack takes
// more places (up to its size), or its older half moves to the rings, into
// places free there; with no place anywhere, the block goes back.
void bounded_pool_resource::spill(thread_stack* c, void* p) noexcept {
  std::size_t count = c->held.count();
  if (count == c->places && c->places < stack_size_) {
    c->places += take_places(stack_size_ - c->places);
  }
  if (count == c->places && count != 0) {
    const std::size_t moved = take_places(std::max<std::size_t>(1, count / 2));
    const std::size_t pushed =
        push_to_rings(c->blocks, moved, internal::thread_index());
    for (std::size_t i = pushed; i < moved; ++i) {
      // Every ring full: cannot happen while the places add up.
      give_places(1);
      free_block(c->blocks[i], &drops_);
    }
    std::copy(c->blocks + moved, c->blocks + count, c->blocks);
    count -= moved;
    c->held.set_count(count);
  }
  if (count < c->places) {
    STRATA_POISON(p, block_size_);
    c->blocks[count] = p;
    c->held.set_count(count + 1);
    return;
  }
  free_block(p, &drops_);
}

void bounded_pool_resource::thread_exited(thread_stack& stack) noexcept {
  std::lock_guard taking(take_mu_);  // decay may be moving it
  thread_stack* c = &stack;
  // Its blocks go to the rings in the places the stack held; the places
  // left over are free again.
  const std::size_t count = c->held.count();
  // From shard 0: the thread's index may be given back already.
  const std::size_t moved = push_to_rings(c->blocks, count, 0);
  for (std::size_t i = moved; i < count; ++i) free_block(c->blocks[i], &drops_);
  give_places(c->places - moved);
  std::lock_guard lock(mu_);
  exited_hits_ += c->held.hits();
}

std::size_t bounded_pool_resource::push_to_rings(void* const* blocks,
                                                 std::size_t n,
                                                 std::size_t first) noexcept {
  std::size_t pushed = 0;
  for (std::size_t s = 0; s <= shard_mask_ && pushed < n; ++s) {
    internal::mpmc_ring& ring = *shards_[(first + s) & shard_mask_];
    while (pushed < n && ring.push(blocks[pushed])) ++pushed;
  }
  return pushed;
}

std::size_t bounded_pool_resource::take_places(std::size_t n) noexcept {
  std::size_t free = free_places_.load(std::memory_order_relaxed);
  std::size_t take = 0;
  do {
    take = std::min(n, free);
    if (take == 0) return 0;
  } while (!free_places_.compare_exchange_weak(free, free - take,
                                               std::memory_order_relaxed));
  return take;
}

void bounded_pool_resource::give_places(std::size_t n) noexcept {
  if (n != 0) free_places_.fetch_add(n, std::memory_order_relaxed);
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
  void* p = nullptr;
  if (pop_from_rings(&p, 1) == 0) return nullptr;
  if (stack_size_ != 0) give_places(1);
  return p;
}

std::size_t bounded_pool_resource::pop_from_rings(void** out,
                                                  std::size_t n) noexcept {
  const std::size_t first = internal::thread_index();
  std::size_t popped = 0;
  for (std::size_t s = 0; s <= shard_mask_ && popped < n; ++s) {
    internal::mpmc_ring& ring = *shards_[(first + s) & shard_mask_];
    while (popped < n) {
      void* p = ring.pop();
      if (p == nullptr) break;
      out[popped++] = p;
    }
  }
  return popped;
}

void bounded_pool_resource::put_block(void* p) noexcept {
  // With stacks, a block enters a ring only into a free place; without,
  // the rings' capacity is the bound.
  if (stack_size_ != 0 && take_places(1) == 0) {
    free_block(p, &drops_);
    return;
  }
  STRATA_POISON(p, block_size_);
  if (push_to_rings(&p, 1, internal::thread_index()) == 1) return;
  if (stack_size_ != 0) give_places(1);
  free_block(p, &drops_);
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

void bounded_pool_resource::free_block(void* p, std::size_t* tally) noexcept {
  STRATA_UNPOISON(p, block_size_);
  std::lock_guard lock(mu_);
  blocks_.erase(p);
  if (tally != nullptr) ++*tally;
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
  stacks_.for_each([&](const thread_stack& c) { pooled += c.held.count(); });
  return pooled * block_size_;
}

reclaim_result bounded_pool_resource::reclaim(
    const reclaim_request& request) noexcept {
  const internal::deadline until(request.time_budget);
  reclaim_result result;
  while (result.bytes_freed < request.bytes) {
    void* p = pop_any();
    if (p == nullptr) break;
    free_block(p, &drained_);
    result.bytes_freed += block_size_;
    if (until.passed()) break;
  }
  // The calling thread owns its stack: it may empty it now (with decay kept
  // out).
  auto* own = static_cast<thread_stack*>(internal::peek_thread_slot(id_));
  std::unique_lock taking(take_mu_, std::defer_lock);
  if (own != nullptr) taking.lock();
  if (own != nullptr) {
    std::size_t count = own->held.count();
    while (count != 0 && result.bytes_freed < request.bytes &&
           !until.passed()) {
      own->held.set_count(--count);
      free_block(own->blocks[count]);
      result.bytes_freed += block_size_;
    }
  }
  // What another call could free: other threads' stacks are theirs.
  std::size_t left = own != nullptr ? own->held.count() : 0;
  for (const auto& shard : shards_) left += shard->size();
  result.more_remains = left != 0;
  return result;
}

std::size_t bounded_pool_resource::decay_idle() noexcept {
  const std::chrono::nanoseconds now = clock_->now();
  const std::int64_t due = internal::due_before(now, options_.decay).count();
  const std::int64_t tick = internal::decay_tick(options_.decay).count();
  const std::size_t keep = (options_.prewarm + shard_mask_) / shards_.size();
  // First the stacks of threads that sleep: into the rings, where they
  // decay with the rest.
  if (stack_size_ != 0) move_idle_stacks(now.count(), due);
  std::size_t freed = 0;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    internal::mpmc_ring& ring = *shards_[i];
    std::vector<ring_note>& notes = notes_[i];
    // The newest note at least a decay old: of the blocks the ring held
    // then, those not popped since (the ring pops its oldest first) have
    // waited all along.
    std::size_t newest_due = notes.size();
    for (std::size_t n = 0; n < notes.size() && notes[n].at <= due; ++n) {
      newest_due = n;
    }
    if (newest_due != notes.size()) {
      const ring_note& note = notes[newest_due];
      const std::size_t popped = ring.pops() - note.pops;
      std::size_t idle = note.size > popped ? note.size - popped : 0;
      for (; idle > 0 && ring.size() > keep; --idle) {
        void* p = ring.pop();
        if (p == nullptr) break;
        if (stack_size_ != 0) give_places(1);
        free_block(p, &drained_);
        freed += block_size_;
      }
      notes.erase(notes.begin(),
                  notes.begin() + static_cast<std::ptrdiff_t>(newest_due));
    }
    if (notes.empty() || now.count() - notes.back().at >= tick) {
      try {
        notes.push_back({now.count(), ring.size(), ring.pops()});
      } catch (...) {
        // No memory for a note: this ring decays from the older ones.
      }
    }
  }
  return freed;
}

void bounded_pool_resource::move_idle_stacks(std::int64_t now,
                                             std::int64_t due) noexcept {
  std::lock_guard taking(take_mu_);
  bool any = false;
  stacks_.for_each([&](thread_stack& c) {
    const std::uint64_t word = c.held.word();
    const bool touched = word != c.seen;
    if (touched) {
      c.seen = word;
      c.idle_since = now;
    }
    c.due = !touched && c.idle_since <= due &&
            internal::cache_count::count_of(word) != 0;
    if (c.due) c.handshake.mark();
    any = any || c.due;
  });
  if (!any) return;
  const bool fenced = internal::heavy_fence();
  // Nothing here may take mu_: stats() holds it while it walks the list.
  stacks_.for_each([&](thread_stack& c) {
    if (!c.due) return;
    if (!fenced || !c.handshake.owner_away()) {
      c.handshake.give_back();  // its owner is inside a call: next pass
      return;
    }
    // Into the rings in the places the stack held (every one has a place:
    // they add up); a block that finds none stays.
    const std::size_t count = c.held.count();
    const std::size_t moved = push_to_rings(c.blocks, count, 0);
    std::copy(c.blocks + moved, c.blocks + count, c.blocks);
    c.held.set_count(count - moved);
    give_places(c.places - (count - moved) - moved);
    c.places = count - moved;
    stacks_moved_.fetch_add(1, std::memory_order_relaxed);
  });
}

bounded_pool_stats bounded_pool_resource::stats() const {
  // Ring pops that filled a stack are not allocations; the stacks count
  // the allocations they serve. Read before the pops, which never trail it.
  const std::size_t refilled = refilled_.load(std::memory_order_relaxed);
  std::size_t pooled = 0;
  std::size_t pops = 0;
  for (const auto& shard : shards_) {
    pooled += shard->size();
    pops += shard->pops();
  }
  std::size_t hits = pops - refilled;
  std::lock_guard lock(mu_);
  hits += exited_hits_;
  stacks_.for_each([&](const thread_stack& c) {
    pooled += c.held.count();
    hits += c.held.hits();
  });
  const std::size_t held = blocks_.size();
  return {.hits = hits - drained_,
          .misses = misses_,
          .drops = drops_,
          .outstanding = capped_ ? outstanding_.load(std::memory_order_relaxed)
                                 : (held > pooled ? held - pooled : 0),
          .pooled = pooled,
          .peak_outstanding =
              capped_ ? peak_outstanding_.load(std::memory_order_relaxed)
                      : peak_blocks_,
          .overflows = overflows_,
          .unpooled = unpooled_total_,
          .stacks_moved = stacks_moved_.load(std::memory_order_relaxed)};
}

}  // namespace strata
