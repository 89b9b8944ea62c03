#include "strata/internal/page_heap.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "strata/internal/config.h"

namespace strata::internal {
namespace {

constexpr std::size_t kBits = 64;

// The first two words of a bitmap as one 128-bit value: spans of up to 128
// pages (the default 16 KiB span) do their bitmap work on it with shifts
// and no branch on which words a block covers, which mispredicted often:
// word by word, 16 KiB spans of 128 pages took 16% more time per mixed
// working set step than of 64 pages, whose bitmap is one word.
__extension__ using bits128 = unsigned __int128;

bits128 low_words(const std::uint64_t* free) noexcept {
  return (bits128{free[1]} << kBits) | free[0];
}

void set_low_words(std::uint64_t* free, bits128 bits) noexcept {
  free[0] = static_cast<std::uint64_t>(bits);
  free[1] = static_cast<std::uint64_t>(bits >> kBits);
}

bool is_free(const std::uint64_t* free, std::size_t page) noexcept {
  return ((free[page / kBits] >> (page % kBits)) & 1) != 0;
}

// Sets (kFree) or clears the bits of pages [first, first + count), count > 0:
// one 128-bit mask when the pages are in the first two words, else a mask
// for the first word and the last, all ones between. Inline, with the
// direction fixed at compile time: it runs on every call.
template <bool kFree>
void mark(std::uint64_t* free, std::size_t first, std::size_t count) noexcept {
  if (first + count <= 2 * kBits) {
    const bits128 ones =
        count >= 2 * kBits ? ~bits128{0} : (bits128{1} << count) - 1;
    const bits128 mask = ones << first;
    const bits128 bits = low_words(free);
    set_low_words(free, kFree ? bits | mask : bits & ~mask);
    return;
  }
  const std::size_t last = first + count - 1;
  const std::size_t first_word = first / kBits;
  const std::size_t last_word = last / kBits;
  const std::uint64_t head = ~std::uint64_t{0} << (first % kBits);
  const std::uint64_t tail = ~std::uint64_t{0} >> (kBits - 1 - last % kBits);
  const auto apply = [free](std::size_t word, std::uint64_t mask) {
    free[word] = kFree ? free[word] | mask : free[word] & ~mask;
  };
  if (first_word == last_word) {
    apply(first_word, head & tail);
    return;
  }
  apply(first_word, head);
  for (std::size_t word = first_word + 1; word < last_word; ++word) {
    apply(word, ~std::uint64_t{0});
  }
  apply(last_word, tail);
}

// The first page of the free run that ends at `page` - 1, which is free:
// one past the last page in use below `page`.
std::size_t run_start(const std::uint64_t* free, std::size_t page) noexcept {
  if (page <= 2 * kBits) {
    const bits128 below =
        page >= 2 * kBits ? ~bits128{0} : (bits128{1} << page) - 1;
    const bits128 in_use = ~low_words(free) & below;
    const auto high = static_cast<std::uint64_t>(in_use >> kBits);
    const auto low = static_cast<std::uint64_t>(in_use);
    const std::size_t leading =
        high != 0 ? static_cast<std::size_t>(std::countl_zero(high))
                  : kBits + static_cast<std::size_t>(std::countl_zero(low));
    return 2 * kBits - leading;  // 0 when no page below is in use
  }
  while (page > 0) {
    const std::size_t word = (page - 1) / kBits;
    const std::size_t bit = (page - 1) % kBits;
    const std::uint64_t in_use_below =
        ~free[word] & (~std::uint64_t{0} >> (kBits - 1 - bit));
    if (in_use_below != 0) {
      return word * kBits + kBits -
             static_cast<std::size_t>(std::countl_zero(in_use_below));
    }
    page = word * kBits;
  }
  return 0;
}

}  // namespace

page_heap::page_heap(std::size_t span_size, std::size_t max_empty_spans,
                     std::size_t keep_empty_spans,
                     std::pmr::memory_resource* upstream, decay_time decay,
                     const decay_clock* clock) noexcept
    : span_size_(span_size),
      span_mask_(span_size - 1),
      span_shift_(static_cast<std::size_t>(std::countr_zero(span_size))),
      page_size_(std::max(span_size / kPagesPerSpan, kMinPageSize)),
      page_shift_(static_cast<std::size_t>(std::countr_zero(page_size_))),
      color_mask_(
          std::clamp<std::size_t>(span_size / kSpanPerColor, 1, kMaxColors) -
          1),
      usable_(span_size / page_size_ -
              ((color_mask_ + 1) * kLine + page_size_ - 1) / page_size_),
      header_offset_(usable_ * page_size_),
      max_empty_spans_(max_empty_spans),
      keep_empty_spans_(keep_empty_spans),
      decay_(decay),
      clock_(clock != nullptr ? clock : decay_clock::steady()),
      upstream_(upstream),
      nodes_(upstream) {
  std::fill(std::begin(runs_), std::end(runs_), kNone);
}

std::size_t page_heap::shortest_fit(std::size_t pages) const noexcept {
  std::size_t word = pages / 64;
  std::uint64_t bits = has_runs_[word] & (~std::uint64_t{0} << (pages % 64));
  while (bits == 0) {
    if (++word == kWords) return 0;
    bits = has_runs_[word];
  }
  return word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
}

std::uint32_t page_heap::node_at(const span* s,
                                 std::size_t page) const noexcept {
  std::byte* where = page_address(s, page);
  std::uint32_t n = 0;
  STRATA_UNPOISON(where, sizeof(n));
  std::memcpy(&n, where, sizeof(n));
  STRATA_POISON(where, sizeof(n));
  return n;
}

void page_heap::set_node_at(const span* s, std::size_t page,
                            std::uint32_t n) const noexcept {
  std::byte* where = page_address(s, page);
  STRATA_UNPOISON(where, sizeof(n));
  std::memcpy(where, &n, sizeof(n));
  STRATA_POISON(where, sizeof(n));
}

void page_heap::push(std::uint32_t n) noexcept {
  node& r = nodes_[n];
  r.prev = kNone;
  r.next = runs_[r.length];
  if (r.next != kNone) nodes_[r.next].prev = n;
  runs_[r.length] = n;
  has_runs_[r.length / 64] |= std::uint64_t{1} << (r.length % 64);
}

void page_heap::unlink(std::uint32_t n) noexcept {
  const node& r = nodes_[n];
  if (r.prev != kNone) {
    nodes_[r.prev].next = r.next;
  } else {
    runs_[r.length] = r.next;
    if (r.next == kNone) {
      has_runs_[r.length / 64] &= ~(std::uint64_t{1} << (r.length % 64));
    }
  }
  if (r.next != kNone) nodes_[r.next].prev = r.prev;
}

std::uint32_t page_heap::take_node() noexcept {
  const std::uint32_t n = unused_;
  unused_ = nodes_[n].next;
  return n;
}

void page_heap::drop_node(std::uint32_t n) noexcept {
  nodes_[n].next = unused_;
  unused_ = n;
}

void page_heap::grow_nodes() {
  const std::size_t before = nodes_.capacity();
  const std::size_t size = nodes_.size();
  nodes_.resize(std::max<std::size_t>(2 * size, 64));
  for (std::size_t n = nodes_.size(); n-- > size;) {
    drop_node(static_cast<std::uint32_t>(n));
  }
  held_bytes_ += (nodes_.capacity() - before) * sizeof(node);
}

void* page_heap::allocate(std::size_t pages) {
  // Free runs are at most one per block in use and span (blocks separate
  // them), so with that many nodes freeing never needs to grow the array:
  // grow here, where throwing is allowed, and undo the new span if it
  // fails, so a failed call leaves the upstream as it was.
  std::size_t length = shortest_fit(pages);
  span* fresh = length == 0 ? new_span() : nullptr;  // may throw
  if (nodes_.size() < blocks_ + spans_ + 1) {
    try {
      grow_nodes();
    } catch (...) {
      if (fresh != nullptr) free_span(fresh);  // as it was
      throw;
    }
  }
  if (fresh != nullptr) ++spans_taken_;  // counted once the call succeeds
  std::uint32_t n = 0;
  if (fresh != nullptr) {
    n = take_node();
    nodes_[n] = {.owner = fresh,
                 .prev = kNone,
                 .next = kNone,
                 .first = 0,
                 .length = static_cast<std::uint32_t>(usable_)};
    set_node_at(fresh, 0, n);
    length = usable_;
  } else {
    n = runs_[length];
    unlink(n);
    if (length == usable_ && empties_-- > keep_empty_spans_) {
      reclaimable_bytes_ -= span_size_;  // was a kept empty span
    }
  }
  // The block is the end of the run: what stays free keeps its first page,
  // where its node's index already is, so no free page is written.
  node& r = nodes_[n];
  span* s = r.owner;
  const std::size_t first = r.first + length - pages;
  mark<false>(s->free, first, pages);
  ++blocks_;
  if (length > pages) {
    r.length = static_cast<std::uint32_t>(length - pages);
    push(n);
  } else {
    drop_node(n);
  }
  std::byte* p = page_address(s, first);
  STRATA_UNPOISON(p, pages << page_shift_);
  return p;
}

void page_heap::deallocate(void* p, std::size_t pages) noexcept {
  STRATA_POISON(p, pages << page_shift_);
  span* s = span_of(p);
  const std::size_t first = page_of(p);
  const std::size_t end = first + pages;
  std::size_t run_first = first;
  std::size_t length = pages;
  --blocks_;
  // A free page after the block starts a free run, whose node index is in
  // that page; a free page before it ends one, whose first page the bitmap
  // finds. Merge with both, reusing a node.
  std::uint32_t n = kNone;
  bool index_in_place = false;
  if (end < usable_ && is_free(s->free, end)) {
    n = node_at(s, end);
    unlink(n);
    length += nodes_[n].length;
  }
  if (first > 0 && is_free(s->free, first - 1)) {
    run_first = run_start(s->free, first);
    const std::uint32_t left = node_at(s, run_first);
    unlink(left);
    length += nodes_[left].length;
    if (n != kNone) drop_node(n);
    n = left;
    index_in_place = true;
  }
  mark<true>(s->free, first, pages);
  if (length == usable_) {  // merged into the whole span: it is empty
    if (empties_ >= max_empty_spans_ ||
        (decay_ == decay_time::zero() && empties_ >= keep_empty_spans_)) {
      if (n != kNone) drop_node(n);
      free_span(s);
      return;
    }
    if (++empties_ > keep_empty_spans_) reclaimable_bytes_ += span_size_;
    if (decay_ != kNeverDecay) s->idle_since = clock_->now().count();
  }
  if (n == kNone) n = take_node();
  nodes_[n] = {.owner = s,
               .prev = kNone,
               .next = kNone,
               .first = static_cast<std::uint32_t>(run_first),
               .length = static_cast<std::uint32_t>(length)};
  if (!index_in_place) set_node_at(s, run_first, n);
  push(n);
}

page_heap::span* page_heap::new_span() {
  auto* memory =
      static_cast<std::byte*>(upstream_->allocate(span_size_, span_size_));
  span* s = span_of(memory);
  std::fill(std::begin(s->free), std::end(s->free), 0);
  mark<true>(s->free, 0, usable_);
  s->prev = nullptr;
  s->next = all_;
  if (all_ != nullptr) all_->prev = s;
  all_ = s;
  ++spans_;
  held_bytes_ += span_size_;
  // All but the header's line: the pages, and the header lines other spans
  // use.
  STRATA_POISON(memory, span_size_);
  STRATA_UNPOISON(s, sizeof(span));
  return s;
}

void page_heap::free_span(span* s) noexcept {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    all_ = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  --spans_;
  held_bytes_ -= span_size_;
  std::byte* memory = start_of(s);
  STRATA_UNPOISON(memory, span_size_);
  upstream_->deallocate(memory, span_size_, span_size_);
}

void page_heap::reclaim(const reclaim_request& request, const deadline& until,
                        reclaim_result& result) noexcept {
  while (empties_ > keep_empty_spans_) {
    if (result.bytes_freed >= request.bytes || until.passed()) {
      result.more_remains = true;
      return;
    }
    // Every run of usable_ pages is a whole empty span.
    const std::uint32_t n = runs_[usable_];
    span* s = nodes_[n].owner;
    unlink(n);
    drop_node(n);
    --empties_;
    reclaimable_bytes_ -= span_size_;
    free_span(s);
    result.bytes_freed += span_size_;
  }
}

std::size_t page_heap::decay(std::chrono::nanoseconds due) noexcept {
  std::size_t freed = 0;
  // Empty spans are whole runs, newest first: the first keep_empty_spans
  // stay whatever their age.
  std::size_t seen = 0;
  for (std::uint32_t n = runs_[usable_]; n != kNone;) {
    const std::uint32_t next = nodes_[n].next;
    span* s = nodes_[n].owner;
    if (++seen > keep_empty_spans_ && s->idle_since <= due.count()) {
      unlink(n);
      drop_node(n);
      --empties_;
      reclaimable_bytes_ -= span_size_;
      free_span(s);
      freed += span_size_;
    }
    n = next;
  }
  return freed;
}

void page_heap::release() noexcept {
  while (all_ != nullptr) free_span(all_);
  held_bytes_ -= nodes_.capacity() * sizeof(node);
  nodes_.clear();
  nodes_.shrink_to_fit();
  std::fill(std::begin(runs_), std::end(runs_), kNone);
  std::fill(std::begin(has_runs_), std::end(has_runs_), 0);
  unused_ = kNone;
  blocks_ = 0;
  empties_ = 0;
  reclaimable_bytes_ = 0;
}

page_heap::stats_snapshot page_heap::stats() const noexcept {
  stats_snapshot result;
  result.spans = spans_;
  result.spans_taken = spans_taken_;
  for (std::size_t length = 1; length < kPagesPerSpan; ++length) {
    for (std::uint32_t n = runs_[length]; n != kNone; n = nodes_[n].next) {
      result.pages_free += length;
      ++result.runs[length];
    }
  }
  result.pages_in_use = result.spans * usable_ - result.pages_free;
  return result;
}

std::size_t page_heap::free_blocks_of(std::size_t pages,
                                      const stats_snapshot& snapshot) noexcept {
  std::size_t blocks = 0;
  for (std::size_t length = pages; length < kPagesPerSpan; ++length) {
    blocks += snapshot.runs[length] * (length / pages);
  }
  return blocks;
}

}  // namespace strata::internal
