#include "strata/sync_pool_resource.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <stdexcept>
#include <string>

#include "absl/strings/str_format.h"

#include "strata/internal/alignment.h"
#include "strata/internal/deadline.h"
#include "strata/internal/size_index.h"

namespace strata {
namespace {

constexpr std::string_view kName = "sync_pool_resource";
constexpr std::size_t kMaxBucketAlign = 4096;
constexpr std::uint32_t kMaxCachedBlocks = 1024;
// A magazine starts at this many bytes (2 blocks at least) and doubles, up
// to options.thread_cache_bytes / 2, for a bucket that goes to the depot
// again within kBusyTrip; it halves for one that stayed away kQuietTrip.
constexpr std::size_t kFirstMagazineBytes = 4 << 10;
constexpr std::chrono::nanoseconds kBusyTrip = std::chrono::milliseconds(1);
constexpr std::chrono::nanoseconds kQuietTrip = std::chrono::milliseconds(10);
static_assert(kMaxCachedBlocks <= internal::cache_count::kMaxCount);

// The pool's slabs: every class the buckets need, and empty spans back to
// the upstream at once (blocks reach them only when they are idle).
size_class_options slab_options(const sync_pool_options& options) {
  return {
      .largest_class = std::min<std::size_t>(options.largest_pooled, 256 << 10),
      .max_empty_spans = 0,
      .max_empty_page_spans = 0,
      .decay = decay_time::zero(),
      .clock = options.clock};
}

// The shared page heap for the pooled sizes above largest_cached: its second
// heap's spans (four of the first's) hold a block of largest_pooled; its
// empty spans stay for the pool's decay, which ages them (pages_.decay()),
// a few of them at once, so a burst of large blocks does not call the
// upstream for each.
size_class_options page_options(const sync_pool_options& options) {
  return {
      .largest_class = std::min<std::size_t>(options.largest_pooled, 256 << 10),
      .span_size = std::max<std::size_t>(16 << 10, options.largest_pooled / 2),
      .max_empty_page_spans = 4,
      .decay = options.decay,
      .clock = options.clock};
}

// The link of a free block, read even where the block is poisoned.
void* next_of(void* p) noexcept {
  STRATA_UNPOISON(p, sizeof(void*));
  void* next = *static_cast<void**>(p);
  STRATA_POISON(p, sizeof(void*));
  return next;
}

sync_pool_options checked(const sync_pool_options& options) {
  if (!std::has_single_bit(options.largest_pooled) ||
      options.largest_pooled < 128 || options.largest_pooled > (1 << 20)) {
    throw std::invalid_argument(absl::StrFormat(
        "strata: %s: largest_pooled (%u) must be a power of two from 128 B "
        "to 1 MiB",
        kName, options.largest_pooled));
  }
  if (!std::has_single_bit(options.largest_cached) ||
      options.largest_cached < 128) {
    throw std::invalid_argument(absl::StrFormat(
        "strata: %s: largest_cached (%u) must be a power of two from 128 B",
        kName, options.largest_cached));
  }
  if (options.decay < decay_time::zero()) {
    throw std::invalid_argument(absl::StrFormat(
        "strata: %s: decay (%d ms) is negative", kName, options.decay.count()));
  }
  sync_pool_options result = options;
  result.largest_cached =
      std::min(options.largest_cached, options.largest_pooled);
  return result;
}

}  // namespace

sync_pool_resource::sync_pool_resource(const sync_pool_options& options,
                                       std::pmr::memory_resource* upstream)
    : options_(checked(options)),
      upstream_(upstream),
      clock_(internal::clock_or_steady(options_.clock)),
      slabs_(slab_options(options_), upstream),
      pages_(page_options(options_), upstream) {
  // Buckets: 16-byte steps to 128, then four per power of two.
  for (std::size_t size = 16; size <= 128; size += 16) {
    bucket_size_.push_back(size);
  }
  for (std::size_t base = 128; base < options_.largest_pooled; base *= 2) {
    for (std::size_t quarter = 5; quarter <= 8; ++quarter) {
      bucket_size_.push_back(base * quarter / 4);
    }
  }
  for (const std::size_t size : bucket_size_) {
    bucket_align_.push_back(
        std::min(std::size_t{1} << std::countr_zero(size), kMaxBucketAlign));
    bucket_limit_.push_back(static_cast<std::uint32_t>(std::clamp<std::size_t>(
        options_.thread_cache_bytes / 2 / size, 2, kMaxCachedBlocks)));
    bucket_first_limit_.push_back(std::clamp<std::uint32_t>(
        static_cast<std::uint32_t>(kFirstMagazineBytes / size), 2,
        bucket_limit_.back()));
  }
  constexpr auto kNone = static_cast<std::uint8_t>(kNoBucket);
  internal::fill_size_index(bucket_size_, 16, small_index_, kNone);
  large_index_.resize(options_.largest_pooled / 128 + 1);
  internal::fill_size_index(bucket_size_, 128, large_index_, kNone);
  depot_.resize(bucket_size_.size());
  slabs_.checked_.disable();  // the pool checks its callers itself
  pages_.checked_.disable();
  id_ = slots_.id();
  key_.store(internal::slot_key(id_, epoch_.load(std::memory_order_relaxed)),
             std::memory_order_relaxed);
  internal::register_decay_target(this, options_.decay);
}

sync_pool_resource::~sync_pool_resource() {
  internal::unregister_decay_target(this);
  slots_.close();
  // Every pooled block, cached anywhere or still in use, is in a span of
  // slabs_ or pages_, whose destruction gives them back.
  std::lock_guard lock(mu_);
  large_.release(upstream_);
}

std::size_t sync_pool_resource::aligned_bucket(
    std::size_t bytes, std::size_t alignment) const noexcept {
  if (bytes > options_.largest_pooled) return kNoBucket;
  // Above largest_cached, the shared pages serve what their heaps can hold
  // and align; a bucket serves the rest (a page-aligned 16 KiB buffer).
  if (bytes > options_.largest_cached &&
      pages_.class_size_for(bytes, alignment) != 0) {
    return kPaged;
  }
  std::size_t b = bytes <= kSmallLimit ? small_index_[(bytes + 15) >> 4]
                                       : large_index_[(bytes + 127) >> 7];
  if (b == kNoBucket) return kNoBucket;
  while (b < bucket_size_.size() && bucket_align_[b] < alignment) ++b;
  return b < bucket_size_.size() ? b : kNoBucket;
}

sync_pool_resource::slot* sync_pool_resource::thread_slot() {
  void* s = internal::any_cached_thread_slot(id_);
  if (s != nullptr) return static_cast<slot*>(s);
  return slots_.find([this] {
    return std::make_unique<slot>(bucket_first_limit_,
                                  epoch_.load(std::memory_order_relaxed),
                                  stamp_now());
  });
}

void* sync_pool_resource::allocate_slow(std::size_t bytes,
                                        std::size_t alignment) {
  internal::check_request(kName, bytes, alignment);
  const std::size_t b = aligned_bucket(bytes, alignment);
  if (b == kNoBucket || b == kPaged) {
    std::lock_guard lock(mu_);
    void* p = nullptr;
    if (b == kPaged) {
      p = pages_.allocate(bytes, alignment);
      ++paged_blocks_;
      paged_bytes_ += bytes;
      note_pages_cached();
    } else {
      p = large_.allocate(upstream_, bytes, alignment);
    }
    ++slow_allocations_;
    checked_.on_allocate(p, bytes, alignment);
    return p;
  }
  slot* s = thread_slot();
  void* p = nullptr;
  if (s == nullptr) {  // this thread is exiting: work on the depot
    std::lock_guard lock(mu_);
    p = take_from_depot(b);
    if (p == nullptr) p = new_block(b);
    ++slow_allocations_;
  } else {
    const internal::cache_scope scope(s->handshake);
    catch_up(s);
    bucket_cache& c = s->caches[b];
    // The loaded magazine is empty: use the spare if it has blocks, else a
    // full magazine from the depot or the upstream.
    if (c.head == nullptr && c.spare_head != nullptr) swap_magazines(c);
    if (c.head != nullptr) {
      p = c.head;
      STRATA_UNPOISON(p, bucket_size_[b]);
      c.head = *static_cast<void**>(p);
      c.held.take();
    } else {
      p = refill(s, b);
    }
  }
  STRATA_UNPOISON(p, bucket_size_[b]);
  if constexpr (internal::kHardened) clear_freed_tag(p);
  checked_.on_allocate(p, bytes, alignment);
  return p;
}

void sync_pool_resource::deallocate_slow(void* p, std::size_t bytes,
                                         std::size_t alignment) noexcept {
  const std::size_t b = aligned_bucket(bytes, alignment);
  if (b == kNoBucket || b == kPaged) {
    std::lock_guard lock(mu_);
    if (b == kPaged) {
      pages_.deallocate(p, bytes, alignment);
      --paged_blocks_;
      paged_bytes_ -= bytes;
      note_pages_cached();
    } else {
      large_.deallocate(upstream_, p, bytes, alignment);
    }
    return;
  }
  slot* s = nullptr;
  try {
    s = thread_slot();
  } catch (...) {
    // No memory for a cache: the block goes to the depot instead.
  }
  STRATA_POISON(p, bucket_size_[b]);
  if (s == nullptr) {
    std::lock_guard lock(mu_);
    put_in_depot(b, p);
    return;
  }
  const internal::cache_scope scope(s->handshake);
  catch_up(s);
  bucket_cache& c = s->caches[b];
  if (c.held.count() >= c.limit) {
    // The loaded magazine is full: it becomes the spare, and a full spare
    // goes to the depot whole (one splice under the lock, no walk).
    if (c.spare_head != nullptr) {
      note_depot_trip(c, b);
      std::lock_guard lock(mu_);
      stash(b, depot_[b].primary,
            {c.spare_head, c.spare_count.load(std::memory_order_relaxed)},
            stamp_now());
    }
    c.spare_head = c.head;
    c.spare_count.store(static_cast<std::uint32_t>(c.held.count()),
                        std::memory_order_relaxed);
    c.head = nullptr;
    c.held.set_count(0);
  }
  STRATA_UNPOISON(p, sizeof(void*));
  *static_cast<void**>(p) = c.head;
  STRATA_POISON(p, sizeof(void*));
  c.head = p;
  c.held.after_put(c.held.word());
}

void sync_pool_resource::swap_magazines(bucket_cache& c) noexcept {
  std::swap(c.head, c.spare_head);
  const auto loaded = static_cast<std::uint32_t>(c.held.count());
  c.held.set_count(c.spare_count.load(std::memory_order_relaxed));
  c.spare_count.store(loaded, std::memory_order_relaxed);
}

void sync_pool_resource::catch_up(slot* s) noexcept {
  const std::uint64_t aged_to = s->epoch.load(std::memory_order_relaxed);
  if (aged_to != epoch_.load(std::memory_order_relaxed)) {
    age(s);
  } else if (s->handshake.taken()) {
    // Decay took idle buckets: what it wrote is seen under the lock.
    std::lock_guard lock(mu_);
    s->handshake.give_back();
  }
  // Keyed with the epoch the cache has aged to: if a reclaim raised it in
  // the meantime, the next call misses and ages again.
  internal::set_keyed_thread_slot(
      id_, internal::slot_key(id_, s->epoch.load(std::memory_order_relaxed)),
      s);
}

void sync_pool_resource::age(slot* s) noexcept {
  const std::int64_t now = stamp_now();
  std::lock_guard lock(mu_);
  flush_locked(*s, /*to_victim=*/true, now);
  s->epoch.store(epoch_.load(std::memory_order_relaxed),
                 std::memory_order_relaxed);
  s->handshake.give_back();
}

void sync_pool_resource::flush(slot* s, bool to_victim) noexcept {
  const std::int64_t now = stamp_now();
  std::lock_guard lock(mu_);
  flush_locked(*s, to_victim, now);
}

void sync_pool_resource::flush_locked(slot& s, bool to_victim,
                                      std::int64_t now) noexcept {
  for (std::size_t b = 0; b < bucket_size_.size(); ++b) {
    flush_bucket(s, b, to_victim ? depot_[b].victim : depot_[b].primary, now);
  }
}

void sync_pool_resource::flush_bucket(slot& s, std::size_t b,
                                      std::vector<batch>& to,
                                      std::int64_t now) noexcept {
  bucket_cache& c = s.caches[b];
  // A bucket untouched since decay last looked has been idle since then,
  // not just since now: its blocks decay from that time.
  const bucket_watch& w = s.watch[b];
  const std::int64_t idle_since =
      w.word == c.held.word() ? std::min(w.idle_since, now) : now;
  for (int magazine = 0; magazine < 2; ++magazine) {
    const auto count = static_cast<std::uint32_t>(c.held.count());
    if (count != 0) {
      stash(b, to, {c.head, count}, idle_since);
      c.head = nullptr;
      c.held.set_count(0);
    }
    swap_magazines(c);
  }
}

void sync_pool_resource::thread_exited(slot& s) noexcept {
  flush(&s, /*to_victim=*/false);
  std::lock_guard lock(mu_);
  exited_hits_ += s.hits(bucket_size_.size());
}

void sync_pool_resource::note_depot_trip(bucket_cache& c,
                                         std::size_t b) noexcept {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto since = now - std::chrono::nanoseconds(c.last_trip);
  c.last_trip = now.count();
  if (since < kBusyTrip) {
    c.limit = std::min(c.limit * 2, bucket_limit_[b]);
  } else if (since > kQuietTrip) {
    c.limit = std::max(c.limit / 2, bucket_first_limit_[b]);
  }
}

void* sync_pool_resource::refill(slot* s, std::size_t b) {
  bucket_cache& c = s->caches[b];
  note_depot_trip(c, b);
  std::lock_guard lock(mu_);
  depot_bucket& d = depot_[b];
  std::vector<batch>& from = !d.primary.empty() ? d.primary : d.victim;
  if (!from.empty()) {
    const batch got = from.back();
    from.pop_back();
    depot_bytes_.fetch_sub(got.count * bucket_size_[b],
                           std::memory_order_relaxed);
    depot_hits_ += got.count;
    void* p = got.head;
    c.head = next_of(p);
    c.held.set_count(static_cast<std::uint32_t>(got.count - 1));
    ++slow_allocations_;
    return p;
  }
  // The depot is empty: a magazine's worth from the upstream. The
  // first block must come or the call fails with nothing changed; a failure
  // after it just makes the magazine shorter.
  void* first = new_block(b);
  ++slow_allocations_;
  const std::uint32_t want = c.limit;
  std::uint32_t got = 0;
  void* head = nullptr;
  for (; got + 1 < want; ++got) {
    void* p = nullptr;
    try {
      p = new_block(b);
    } catch (...) {
      break;
    }
    STRATA_POISON(p, bucket_size_[b]);
    STRATA_UNPOISON(p, sizeof(void*));
    *static_cast<void**>(p) = head;
    STRATA_POISON(p, sizeof(void*));
    head = p;
  }
  c.head = head;
  c.held.set_count(got);
  return first;
}

void* sync_pool_resource::take_from_depot(std::size_t b) {
  depot_bucket& d = depot_[b];
  std::vector<batch>& from = !d.primary.empty() ? d.primary : d.victim;
  if (from.empty()) return nullptr;
  batch& top = from.back();
  void* p = top.head;
  top.head = next_of(p);
  if (--top.count == 0) from.pop_back();
  depot_bytes_.fetch_sub(bucket_size_[b], std::memory_order_relaxed);
  ++depot_hits_;
  return p;
}

void sync_pool_resource::put_in_depot(std::size_t b, void* p) noexcept {
  STRATA_UNPOISON(p, sizeof(void*));
  *static_cast<void**>(p) = nullptr;
  STRATA_POISON(p, sizeof(void*));
  stash(b, depot_[b].primary, {p, 1}, stamp_now());
}

void sync_pool_resource::stash(std::size_t b, std::vector<batch>& to,
                               batch magazine,
                               std::int64_t idle_since) noexcept {
  if (options_.decay == decay_time::zero()) {
    free_batch(b, magazine);  // idle from the moment it arrives
    give_back_empty_spans();
    decayed_bytes_ += magazine.count * bucket_size_[b];
    return;
  }
  magazine.idle_since = idle_since;
  try {
    to.push_back(magazine);
    depot_bytes_.fetch_add(magazine.count * bucket_size_[b],
                           std::memory_order_relaxed);
  } catch (...) {
    free_batch(b, magazine);  // no memory to list it: give it back instead
  }
}

void sync_pool_resource::free_batch(std::size_t b, batch magazine) noexcept {
  for (void* p = magazine.head; p != nullptr;) {
    void* next = next_of(p);
    free_block(b, p);
    p = next;
  }
}

void* sync_pool_resource::new_block(std::size_t b) {
  void* p = slabs_.allocate(bucket_size_[b], bucket_align_[b]);
  ++pooled_blocks_;
  pooled_bytes_ += bucket_size_[b];
  ++upstream_misses_;
  return p;
}

void sync_pool_resource::free_block(std::size_t b, void* p) noexcept {
  STRATA_UNPOISON(p, bucket_size_[b]);
  --pooled_blocks_;
  pooled_bytes_ -= bucket_size_[b];
  slabs_.deallocate(p, bucket_size_[b], bucket_align_[b]);
}

std::size_t sync_pool_resource::decay_idle() noexcept {
  const std::chrono::nanoseconds now = clock_->now();
  const std::int64_t due = internal::due_before(now, options_.decay).count();
  std::lock_guard lock(mu_);
  const std::size_t held = slabs_.bytes_held();
  // Thread caches, watched without touching them: a bucket whose count word
  // has not changed since a pass has been idle since that pass. Buckets idle
  // for the decay are taken into the depot, stamped with when they went
  // idle (so they go back below), whether their thread sleeps or keeps
  // calling for other sizes.
  const std::uint64_t epoch = epoch_.load(std::memory_order_relaxed);
  bool any_due = false;
  bool due_in_caught_up = false;
  slots_.for_each([&](slot& s) {
    s.due = false;
    for (std::size_t b = 0; b < bucket_size_.size(); ++b) {
      const bucket_cache& c = s.caches[b];
      bucket_watch& w = s.watch[b];
      const std::uint64_t word = c.held.word();
      const bool touched = word != w.word;
      if (touched) w = {.word = word, .idle_since = now.count()};
      w.due = !touched && w.idle_since <= due &&
              internal::cache_count::count_of(word) +
                      c.spare_count.load(std::memory_order_relaxed) !=
                  0;
      s.due = s.due || w.due;
    }
    any_due = any_due || s.due;
    due_in_caught_up =
        due_in_caught_up ||
        (s.due && s.epoch.load(std::memory_order_relaxed) == epoch);
  });
  if (any_due && !take_idle_buckets() && due_in_caught_up) {
    // No fence to take them with: every thread moves its cache into the
    // depot on its next call instead. A thread that has not caught up with
    // the last such request asks for no more (that would make the others
    // flush on every pass), and one that sleeps keeps its cache.
    raise_epoch();
  }
  // The depot, taken caches included: batches due go back.
  std::size_t freed = 0;
  for (std::size_t b = 0; b < depot_.size(); ++b) {
    for (std::vector<batch>* generation :
         {&depot_[b].primary, &depot_[b].victim}) {
      // Oldest first: batches are pushed as they come and popped from the
      // back.
      std::size_t kept = 0;
      for (const batch& m : *generation) {
        if (m.idle_since <= due) {
          free_batch(b, m);
          freed += m.count * bucket_size_[b];
        } else {
          (*generation)[kept++] = m;
        }
      }
      generation->resize(kept);
    }
  }
  depot_bytes_.fetch_sub(freed, std::memory_order_relaxed);
  decayed_bytes_ += freed;
  if (freed != 0) give_back_empty_spans();
  const std::size_t paged = pages_.decay();
  note_pages_cached();
  return held - slabs_.bytes_held() + paged;
}

bool sync_pool_resource::take_idle_buckets() noexcept {
  // See internal/cache_handshake.h.
  slots_.for_each([&](slot& s) {
    if (s.due) s.handshake.mark();
  });
  const bool fenced = internal::heavy_fence();
  const std::int64_t now = stamp_now();
  slots_.for_each([&](slot& s) {
    if (!s.due) return;
    if (!fenced || !s.handshake.owner_away()) {
      s.handshake.give_back();  // its owner is inside a call: next pass
      return;
    }
    for (std::size_t b = 0; b < bucket_size_.size(); ++b) {
      if (s.watch[b].due) {
        flush_bucket(s, b, depot_[b].primary, now);
        ++idle_buckets_taken_;
      }
    }
  });
  return fenced;
}

void sync_pool_resource::give_back_empty_spans() noexcept {
  // A class's current span stays in the slabs when its last block comes
  // back; it is as idle as the rest.
  static_cast<void>(slabs_.reclaim({}));
}

void sync_pool_resource::raise_epoch() noexcept {
  const std::uint64_t epoch =
      epoch_.fetch_add(1, std::memory_order_relaxed) + 1;
  key_.store(internal::slot_key(id_, epoch), std::memory_order_relaxed);
}

std::size_t sync_pool_resource::cached_in(const slot& s) const noexcept {
  std::size_t bytes = 0;
  for (std::size_t b = 0; b < bucket_size_.size(); ++b) {
    const bucket_cache& c = s.caches[b];
    bytes += (c.held.count() + c.spare_count.load(std::memory_order_relaxed)) *
             bucket_size_[b];
  }
  return bytes;
}

void sync_pool_resource::note_pages_cached() noexcept {
  pages_cached_.store(pages_.cached_bytes(), std::memory_order_relaxed);
}

std::size_t sync_pool_resource::cached_bytes() const noexcept {
  std::size_t bytes = depot_bytes_.load(std::memory_order_relaxed) +
                      pages_cached_.load(std::memory_order_relaxed);
  slots_.for_each([&](const slot& s) { bytes += cached_in(s); });
  return bytes;
}

void sync_pool_resource::free_victims(std::size_t bytes,
                                      const internal::deadline& until,
                                      reclaim_result& result) noexcept {
  for (std::size_t b = 0; b < depot_.size(); ++b) {
    depot_bucket& d = depot_[b];
    while (!d.victim.empty() && result.bytes_freed < bytes && !until.passed()) {
      const batch victim = d.victim.back();
      d.victim.pop_back();
      free_batch(b, victim);
      depot_bytes_.fetch_sub(victim.count * bucket_size_[b],
                             std::memory_order_relaxed);
      result.bytes_freed += victim.count * bucket_size_[b];
    }
  }
}

reclaim_result sync_pool_resource::reclaim(
    const reclaim_request& request) noexcept {
  const internal::deadline until(request.time_budget);
  // `freed` counts the blocks that went back to the slabs, which decides
  // when to stop; what the call reports is what left the slabs for the
  // upstream (whole spans), measured under the lock.
  reclaim_result freed;
  std::size_t given_back = 0;
  {
    std::lock_guard lock(mu_);
    ++reclaim_cycles_;
    const std::size_t held = slabs_.bytes_held();
    free_victims(request.bytes, until, freed);
    give_back_empty_spans();
    given_back += held - slabs_.bytes_held();
    if (given_back < request.bytes && !until.passed()) {
      const std::size_t paged =
          pages_
              .reclaim({.bytes = request.bytes - given_back,
                        .time_budget = until.left()})
              .bytes_freed;
      note_pages_cached();
      given_back += paged;
      freed.bytes_freed += paged;
    }
  }
  // Still short: the calling thread's own cache need not wait for its next
  // call to age, since this thread owns it. It goes to the victims and is
  // freed now, so a governor reclaiming for a refused allocation reaches
  // the blocks the same thread just freed.
  if (freed.bytes_freed < request.bytes && !until.passed()) {
    if (auto* own = static_cast<slot*>(internal::peek_thread_slot(id_))) {
      flush(own, /*to_victim=*/true);
      std::lock_guard lock(mu_);
      const std::size_t held = slabs_.bytes_held();
      free_victims(request.bytes, until, freed);
      give_back_empty_spans();
      given_back += held - slabs_.bytes_held();
    }
  }
  {
    // What was cached since the last cycle becomes the victim.
    std::lock_guard lock(mu_);
    for (depot_bucket& d : depot_) {
      d.victim.insert(d.victim.end(), d.primary.begin(), d.primary.end());
      d.primary.clear();
    }
    // Under the lock, so that concurrent reclaims leave the key naming the
    // latest epoch.
    raise_epoch();
  }
  // What another call could free: the depot (its primary generation is
  // the victim now), the shared pages, and this thread's own cache; other
  // threads' caches are theirs until they age.
  bool more = depot_bytes_.load(std::memory_order_relaxed) != 0 ||
              pages_cached_.load(std::memory_order_relaxed) != 0;
  if (auto* own = static_cast<slot*>(internal::peek_thread_slot(id_))) {
    more = more || cached_in(*own) != 0;
  }
  return {.bytes_freed = given_back, .more_remains = more};
}

sync_pool_stats sync_pool_resource::stats() const {
  sync_pool_stats result;
  std::size_t thread_bytes = 0;
  std::lock_guard lock(mu_);
  result.thread_cache_hits = exited_hits_;
  slots_.for_each([&](const slot& s) {
    result.thread_cache_hits += s.hits(bucket_size_.size());
    thread_bytes += cached_in(s);
  });
  result.depot_hits = depot_hits_;
  result.upstream_misses = upstream_misses_;
  result.thread_cached_bytes = thread_bytes;
  result.cached_bytes = thread_bytes +
                        depot_bytes_.load(std::memory_order_relaxed) +
                        pages_.cached_bytes();
  result.reclaim_cycles = reclaim_cycles_;
  result.decayed_bytes = decayed_bytes_;
  result.idle_buckets_taken = idle_buckets_taken_;
  result.upstream_bytes =
      slabs_.bytes_held() + pages_.bytes_held() + large_.bytes();
  result.threads = slots_.size();
  result.allocations = hits_locked() + slow_allocations_;
  result.blocks_in_use = blocks_in_use_locked();
  return result;
}

std::size_t sync_pool_resource::hits_locked() const noexcept {
  std::size_t hits = exited_hits_;
  slots_.for_each([&](const slot& s) { hits += s.hits(bucket_size_.size()); });
  return hits;
}

std::size_t sync_pool_resource::blocks_in_use_locked() const noexcept {
  // Every pooled block was counted out of the slabs; those not with a user
  // are cached.
  std::size_t cached = 0;
  for (const depot_bucket& d : depot_) {
    for (const batch& m : d.primary) cached += m.count;
    for (const batch& m : d.victim) cached += m.count;
  }
  slots_.for_each([&](const slot& s) {
    for (std::size_t b = 0; b < bucket_size_.size(); ++b) {
      cached += s.caches[b].held.count() +
                s.caches[b].spare_count.load(std::memory_order_relaxed);
    }
  });
  const std::size_t pooled = pooled_blocks_;
  return (pooled > cached ? pooled - cached : 0) + paged_blocks_ +
         large_.count();
}

std::size_t sync_pool_resource::allocation_count() const {
  std::lock_guard lock(mu_);
  return hits_locked() + slow_allocations_;
}

std::size_t sync_pool_resource::bytes_in_use() const {
  std::lock_guard lock(mu_);
  std::size_t cached = depot_bytes_.load(std::memory_order_relaxed);
  slots_.for_each([&](const slot& s) { cached += cached_in(s); });
  return (pooled_bytes_ > cached ? pooled_bytes_ - cached : 0) + paged_bytes_ +
         large_.bytes();
}

std::size_t sync_pool_resource::blocks_in_use() const {
  std::lock_guard lock(mu_);
  return blocks_in_use_locked();
}

}  // namespace strata
