#include "strata/monotonic_arena.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>

#include "strata/internal/alignment.h"
#include "strata/internal/deadline.h"

namespace strata {

// A chunk from the upstream: this header, then the payload.
struct monotonic_arena::chunk {
  chunk* next;
  std::size_t size;  // bytes from the upstream, header included

  std::byte* begin() { return reinterpret_cast<std::byte*>(this) + kHeader; }
  std::byte* end() { return reinterpret_cast<std::byte*>(this) + size; }
  static constexpr std::size_t kHeader = alignof(std::max_align_t);
};

// A block too large for a chunk: one upstream block, this header right before
// the part handed out.
struct monotonic_arena::own_block {
  own_block* prev;
  own_block* next;
  std::byte* base;   // what the upstream returned
  std::size_t size;  // bytes from the upstream
  std::size_t alignment;
  std::uint64_t sequence;
};

namespace {

constexpr std::size_t kChunkAlign = alignof(std::max_align_t);
static_assert(sizeof(void*) * 2 <= kChunkAlign);

// Rounds up to the chunk alignment; the caller has ruled out overflow.
constexpr std::size_t round_to_chunk(std::size_t n) {
  return (n + kChunkAlign - 1) & ~(kChunkAlign - 1);
}

monotonic_arena_options normalise(monotonic_arena_options o) {
  if (o.max_chunk_size < 2 * kChunkAlign ||
      o.max_chunk_size > (SIZE_MAX >> 2)) {
    throw std::invalid_argument(
        "strata: monotonic_arena: max_chunk_size must be at least 32 bytes and "
        "at most a quarter of the address space");
  }
  if (o.initial_size == 0 || o.initial_size > o.max_chunk_size) {
    throw std::invalid_argument(
        "strata: monotonic_arena: initial_size must be between 1 and "
        "max_chunk_size");
  }
  if (!(o.growth_factor >= 1.0)) {
    throw std::invalid_argument(
        "strata: monotonic_arena: growth_factor must be at least 1");
  }
  o.max_chunk_size &= ~(kChunkAlign - 1);
  o.initial_size =
      std::max(round_to_chunk(o.initial_size), std::size_t{2} * kChunkAlign);
  o.initial_size = std::min(o.initial_size, o.max_chunk_size);
  return o;
}

}  // namespace

monotonic_arena::monotonic_arena(const monotonic_arena_options& options,
                                 std::pmr::memory_resource* upstream)
    : options_(normalise(options)),
      upstream_(upstream),
      next_chunk_size_(options_.initial_size) {
  max_chunk_payload_ = options_.max_chunk_size - chunk::kHeader;
  if (!options_.initial_buffer.empty()) {
    STRATA_POISON(options_.initial_buffer.data(),
                  options_.initial_buffer.size());
  }
  enter_initial_buffer();
}

monotonic_arena::~monotonic_arena() {
  release();
  // The buffer is the user's again: leave nothing of ours poisoned in it.
  if (!options_.initial_buffer.empty()) {
    STRATA_UNPOISON(options_.initial_buffer.data(),
                    options_.initial_buffer.size());
  }
}

void* monotonic_arena::allocate_slow(std::size_t bytes, std::size_t alignment) {
  internal::check_request("monotonic_arena", bytes, alignment);
  if (is_own_block(bytes, alignment)) {
    return allocate_own_block(bytes, alignment);
  }

  // The current region is too small. Worst case in a fresh chunk: the size
  // plus the padding to reach the alignment (is_own_block bounds both).
  const std::size_t size = bytes + (bytes == 0);
  const std::size_t need = size + (alignment > kChunkAlign ? alignment : 0);
  chunk* c = nullptr;
  if (retained_ != nullptr && retained_->size - chunk::kHeader >= need) {
    c = retained_;
    retained_ = c->next;
    retained_bytes_ -= c->size;
    --retained_chunks_;
  } else {
    const std::size_t chunk_size = std::max(
        next_chunk_size_, std::min(options_.max_chunk_size,
                                   round_to_chunk(need + chunk::kHeader)));
    // The only call that can fail: nothing is changed before it returns.
    void* memory = upstream_->allocate(chunk_size, kChunkAlign);
    ++upstream_allocations_;
    c = static_cast<chunk*>(memory);
    c->size = chunk_size;
    reserved_bytes_ += chunk_size;
    ++chunks_;
    STRATA_POISON(c->begin(), chunk_size - chunk::kHeader);
    const double grown =
        static_cast<double>(next_chunk_size_) * options_.growth_factor;
    next_chunk_size_ = grown >= static_cast<double>(options_.max_chunk_size)
                           ? options_.max_chunk_size
                           : round_to_chunk(static_cast<std::size_t>(grown));
  }
  closed_bytes_ += static_cast<std::size_t>(cur_ - region_begin_);
  c->next = used_;
  used_ = c;
  enter(c);
  return allocate(bytes, alignment);  // fits now: the fast path serves it
}

void* monotonic_arena::allocate_own_block(std::size_t bytes,
                                          std::size_t alignment) {
  const std::size_t upstream_alignment = std::max(alignment, kChunkAlign);
  std::size_t offset = 0;
  std::size_t total = 0;
  if (!internal::round_up(sizeof(own_block), upstream_alignment, &offset) ||
      bytes > SIZE_MAX - offset) {
    internal::throw_bad_size();
  }
  total = offset + bytes;
  auto* base =
      static_cast<std::byte*>(upstream_->allocate(total, upstream_alignment));
  ++upstream_allocations_;
  std::byte* p = base + offset;
  auto* header = reinterpret_cast<own_block*>(p) - 1;
  *header = {.prev = nullptr,
             .next = own_,
             .base = base,
             .size = total,
             .alignment = upstream_alignment,
             .sequence = next_own_sequence_++};
  if (own_ != nullptr) own_->prev = header;
  own_ = header;
  own_bytes_ += bytes;
  reserved_bytes_ += total;
  ++own_blocks_;
  checked_.on_allocate(p, bytes, alignment);
  return p;
}

void monotonic_arena::free_own_block(void* p) noexcept {
  own_block* header = static_cast<own_block*>(p) - 1;
  if (header->prev != nullptr) {
    header->prev->next = header->next;
  } else {
    own_ = header->next;
  }
  if (header->next != nullptr) header->next->prev = header->prev;
  own_bytes_ -= header->size - static_cast<std::size_t>(
                                   static_cast<std::byte*>(p) - header->base);
  reserved_bytes_ -= header->size;
  --own_blocks_;
  ++upstream_deallocations_;
  upstream_->deallocate(header->base, header->size, header->alignment);
}

void monotonic_arena::free_own_blocks_since(std::uint64_t sequence) noexcept {
  while (own_ != nullptr && own_->sequence >= sequence) {
    free_own_block(own_ + 1);
  }
}

void monotonic_arena::give_back(chunk* c) noexcept {
  STRATA_UNPOISON(c, c->size);
  reserved_bytes_ -= c->size;
  --chunks_;
  ++upstream_deallocations_;
  upstream_->deallocate(c, c->size, kChunkAlign);
}

void monotonic_arena::retain(chunk* c) noexcept {
  STRATA_POISON(c->begin(), c->size - chunk::kHeader);
  chunk** link = &retained_;
  while (*link != nullptr && (*link)->size >= c->size) link = &(*link)->next;
  c->next = *link;
  *link = c;
  retained_bytes_ += c->size;
  ++retained_chunks_;
}

void monotonic_arena::enter_initial_buffer() noexcept {
  const std::span<std::byte> buffer = options_.initial_buffer;
  region_begin_ = cur_ = buffer.data();
  end_ = buffer.data() + buffer.size();
}

void monotonic_arena::enter(chunk* c) noexcept {
  region_begin_ = cur_ = c->begin();
  end_ = c->end();
}

void monotonic_arena::reset() noexcept {
  while (used_ != nullptr) {
    chunk* c = used_;
    used_ = c->next;
    retain(c);
  }
  free_own_blocks_since(0);
  // Keep the largest chunks that fit in retain_bytes; give back the rest.
  std::size_t kept = 0;
  chunk** link = &retained_;
  while (*link != nullptr) {
    chunk* c = *link;
    if (kept + c->size <= options_.retain_bytes) {
      kept += c->size;
      link = &c->next;
      continue;
    }
    *link = c->next;
    retained_bytes_ -= c->size;
    --retained_chunks_;
    give_back(c);
  }
  if (!options_.initial_buffer.empty()) {
    STRATA_POISON(options_.initial_buffer.data(),
                  options_.initial_buffer.size());
  }
  enter_initial_buffer();
  closed_bytes_ = 0;
  ++epoch_;
  ++resets_;
  forget_dropped_marks();
  checked_.forget_all();
}

void monotonic_arena::release() noexcept {
  while (used_ != nullptr) {
    chunk* c = used_;
    used_ = c->next;
    give_back(c);
  }
  while (retained_ != nullptr) {
    chunk* c = retained_;
    retained_ = c->next;
    give_back(c);
  }
  retained_bytes_ = 0;
  retained_chunks_ = 0;
  free_own_blocks_since(0);
  if (!options_.initial_buffer.empty()) {
    STRATA_POISON(options_.initial_buffer.data(),
                  options_.initial_buffer.size());
  }
  enter_initial_buffer();
  closed_bytes_ = 0;
  next_chunk_size_ = options_.initial_size;
  ++epoch_;
  free_dropped_marks();
  checked_.forget_all();
}

arena_mark monotonic_arena::mark() const noexcept {
  return {.chunk = used_,
          .position = cur_,
          .closed_bytes = closed_bytes_,
          .own_sequence = next_own_sequence_,
          .checked_sequence = checked_.next_sequence(),
          .epoch = epoch_,
          .id = ++last_mark_id_};
}

bool monotonic_arena::was_dropped(std::uint64_t mark_id) const noexcept {
  // The last range that starts at or below the id is the only one that can
  // hold it.
  const dropped_marks* begin = dropped_;
  const dropped_marks* end = dropped_ + dropped_size_;
  const dropped_marks* after = std::upper_bound(
      begin, end, mark_id,
      [](std::uint64_t id, const dropped_marks& r) { return id < r.first; });
  return after != begin && mark_id <= (after - 1)->last;
}

void monotonic_arena::record_dropped_after(std::uint64_t mark_id) {
  if (mark_id == last_mark_id_) return;  // no mark came after it
  // Ranges that start after the mark lie inside the new one: they go.
  std::size_t kept = dropped_size_;
  while (kept > 0 && dropped_[kept - 1].first > mark_id) --kept;
  if (kept == dropped_capacity_) {
    // The only step that can fail comes first, so a failure changes nothing.
    const std::size_t capacity = std::max<std::size_t>(8, 2 * kept);
    auto* grown = static_cast<dropped_marks*>(upstream_->allocate(
        capacity * sizeof(dropped_marks), alignof(dropped_marks)));
    ++upstream_allocations_;
    std::copy(dropped_, dropped_ + kept, grown);
    free_dropped_marks();
    dropped_ = grown;
    dropped_capacity_ = capacity;
    reserved_bytes_ += capacity * sizeof(dropped_marks);
  }
  dropped_[kept] = {.first = mark_id + 1, .last = last_mark_id_};
  dropped_size_ = kept + 1;
}

void monotonic_arena::forget_dropped_marks() noexcept { dropped_size_ = 0; }

void monotonic_arena::free_dropped_marks() noexcept {
  if (dropped_ == nullptr) return;
  reserved_bytes_ -= dropped_capacity_ * sizeof(dropped_marks);
  ++upstream_deallocations_;
  upstream_->deallocate(dropped_, dropped_capacity_ * sizeof(dropped_marks),
                        alignof(dropped_marks));
  dropped_ = nullptr;
  dropped_size_ = dropped_capacity_ = 0;
}

void monotonic_arena::rewind(const arena_mark& m) {
  if (m.epoch != epoch_) {
    throw std::invalid_argument(
        "strata: monotonic_arena: rewind to a mark taken before the last "
        "reset() or release()");
  }
  // A rewind to an earlier mark dropped this one: its position may lie
  // inside blocks allocated since. Its chunk must be in use as well.
  chunk* target = nullptr;
  if (m.chunk != nullptr) {
    target = used_;
    while (target != nullptr && target != m.chunk) target = target->next;
  }
  if (was_dropped(m.id) || (m.chunk != nullptr && target == nullptr)) {
    throw std::invalid_argument(
        "strata: monotonic_arena: rewind to a mark that an earlier rewind "
        "already dropped");
  }
  record_dropped_after(m.id);
  if (used_ != target) {
    while (used_ != target) {
      chunk* c = used_;
      used_ = c->next;
      retain(c);
    }
    if (target != nullptr) {
      region_begin_ = target->begin();
      end_ = target->end();
    } else {
      enter_initial_buffer();
    }
    cur_ = m.position;
  } else {
    // Still in the mark's region. A LIFO free may have taken cur_ below the
    // mark already: then nothing after the mark is left to drop.
    cur_ = std::min(cur_, m.position);
  }
  STRATA_POISON(cur_, static_cast<std::size_t>(end_ - cur_));
  closed_bytes_ = m.closed_bytes;
  free_own_blocks_since(m.own_sequence);
  checked_.forget_since(m.checked_sequence);
}

reclaim_result monotonic_arena::reclaim(
    const reclaim_request& request) noexcept {
  const internal::deadline until(request.time_budget);
  reclaim_result result;
  // The list is largest first; give back from the small end, keeping the
  // chunks that serve the most.
  while (retained_ != nullptr && result.bytes_freed < request.bytes) {
    chunk** link = &retained_;
    while ((*link)->next != nullptr) link = &(*link)->next;
    chunk* smallest = *link;
    *link = nullptr;
    retained_bytes_ -= smallest->size;
    --retained_chunks_;
    result.bytes_freed += smallest->size;
    give_back(smallest);
    if (until.passed()) break;
  }
  result.more_remains = retained_ != nullptr;
  return result;
}

monotonic_arena_stats monotonic_arena::stats() const noexcept {
  return {.bytes_used = closed_bytes_ +
                        static_cast<std::size_t>(cur_ - region_begin_) +
                        own_bytes_,
          .bytes_reserved = reserved_bytes_,
          .chunks = chunks_,
          .retained_chunks = retained_chunks_,
          .own_blocks = own_blocks_,
          .resets = resets_,
          .upstream_allocations = upstream_allocations_,
          .upstream_deallocations = upstream_deallocations_};
}

}  // namespace strata
