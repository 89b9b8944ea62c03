#include "strata/size_class_resource.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include "absl/strings/str_format.h"

#include "strata/internal/alignment.h"
#include "strata/internal/deadline.h"
#include "strata/internal/scavenger.h"

namespace strata {
namespace {

constexpr std::string_view kName = "size_class_resource";
constexpr std::size_t kMaxClassSize = 256 << 10;
// No cap on the number of classes of its own: strictly increasing multiples
// of 8 up to kMaxClassSize are at most this many, which the page heap
// classes' uint16 size index holds, so any table class_sizes() returns
// (208 classes by default, 1,104 with largest_class at 256 KiB) can be given
// back as a custom list.
constexpr std::size_t kMaxClasses = kMaxClassSize / 8;
static_assert(kMaxClasses <= std::numeric_limits<std::uint16_t>::max());
// The big page heap's spans, for the classes too large for span_size, are
// this many times as large: the default 16 KiB heap span holds blocks up to
// 16,256 bytes, the big heap's 64 KiB spans the classes up to 32 KiB.
constexpr std::size_t kBigSpanFactor = 4;
// A class whose blocks do not fill a slab span 8 times gets a larger span
// (with few blocks to a span, blocks freed at random leave more of each span
// empty, and the span changes more often). With 16 KiB spans every default
// class up to 1 KiB gets the one span size, so deallocation finds all their
// headers from the address alone. On the mixed working set, held/live over
// the plan (11 points) was 1.193 on average, max 1.233, against 1.191 and
// 1.230 with 32 (when classes above 448 bytes took 32 and 64 KiB spans).
constexpr std::size_t kMinBlocksPerSpan = 8;

[[noreturn]] void bad_option(const std::string& what) {
  throw std::invalid_argument(absl::StrFormat("strata: %s: %s", kName, what));
}

// The default table: 8-byte steps to 64, then four classes per power of two
// (1, 1.25, 1.5 and 1.75 times it) to `slab_limit`, so a request above 32
// bytes wastes at most a fifth of its block; then a class every `heap_step`
// bytes (a power of two: the page heap's page, or finer), where the page
// heap's runs make finer classes cost no slabs, and above `heap_limit` (the
// largest block of that heap) a class every `big_step` bytes, the big page
// heap's page. Those classes are whole multiples of their step, so no two
// take the same pages (a 128-byte step above 16 KiB, in 256-byte pages,
// named half its classes for nothing), and `largest` is always the last
// class: with pages larger than 1 KiB (spans of 512 KiB and more), stepping
// from slab_limit gave classes of a page and a half and stopped short of
// `largest`.
std::vector<std::size_t> default_classes(std::size_t largest,
                                         std::size_t slab_limit,
                                         std::size_t heap_step,
                                         std::size_t heap_limit,
                                         std::size_t big_step) {
  std::vector<std::size_t> classes;
  for (std::size_t size = 8; size <= std::min<std::size_t>(64, largest);
       size += 8) {
    classes.push_back(size);
  }
  for (std::size_t base = 64; base < std::min(largest, slab_limit); base *= 2) {
    for (std::size_t quarter = 5; quarter <= 8; ++quarter) {
      classes.push_back(base * quarter / 4);
    }
  }
  if (largest > slab_limit) {
    std::size_t size = (slab_limit / heap_step + 1) * heap_step;
    for (; size < largest && size <= heap_limit; size += heap_step) {
      classes.push_back(size);
    }
    for (size = (size + big_step - 1) / big_step * big_step; size < largest;
         size += big_step) {
      classes.push_back(size);
    }
    classes.push_back(largest);
  }
  return classes;
}

void check_span_size(const char* name, std::size_t bytes) {
  if (!std::has_single_bit(bytes) || bytes < 4096 || bytes > (16 << 20)) {
    bad_option(absl::StrFormat(
        "%s (%u) must be a power of two from 4 KiB to 16 MiB", name, bytes));
  }
}

// The options with the span sizes and largest_class checked,
// empty_spans_growth at least 1 and keep_empty_spans at most
// max_empty_spans, before the page heap is built from them.
size_class_options checked(size_class_options options) {
  check_span_size("span_size", options.span_size);
  check_span_size("slab_span_size", options.slab_span_size);
  if (options.classes.empty() &&
      (!std::has_single_bit(options.largest_class) ||
       options.largest_class < 64 || options.largest_class > kMaxClassSize)) {
    bad_option(absl::StrFormat(
        "largest_class (%u) must be a power of two from 64 B to 256 KiB",
        options.largest_class));
  }
  options.empty_spans_growth =
      std::max<std::size_t>(options.empty_spans_growth, 1);
  options.keep_empty_spans =
      std::min(options.keep_empty_spans, options.max_empty_spans);
  if (options.decay < decay_time::zero()) {
    bad_option(
        absl::StrFormat("decay (%d ms) is negative", options.decay.count()));
  }
  return options;
}

void validate(std::span<const std::size_t> classes) {
  if (classes.empty()) bad_option("the class list is empty");
  std::size_t previous = 0;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const std::size_t size = classes[i];
    if (size == 0) bad_option(absl::StrFormat("class %u is zero", i));
    if (size % 8 != 0) {
      bad_option(absl::StrFormat("class %u (%u bytes) is not a multiple of 8",
                                 i, size));
    }
    if (size > kMaxClassSize) {
      bad_option(absl::StrFormat("class %u (%u bytes) is above %u bytes", i,
                                 size, kMaxClassSize));
    }
    if (size <= previous) {
      bad_option(absl::StrFormat(
          "classes must be strictly increasing: class %u (%u bytes) follows "
          "%u bytes",
          i, size, previous));
    }
    previous = size;
  }
}

}  // namespace

size_class_resource::size_class_resource(const size_class_options& options,
                                         std::pmr::memory_resource* upstream)
    : options_(checked(options)),
      clock_(internal::clock_or_steady(options_.clock)),
      decay_tick_(internal::decay_tick(options_.decay)),
      upstream_(upstream),
      heap_(options_.span_size, options_.max_empty_page_spans,
            options_.keep_empty_spans, upstream, options_.decay, clock_),
      big_heap_(kBigSpanFactor * options_.span_size,
                options_.max_empty_page_spans, options_.keep_empty_spans,
                upstream, options_.decay, clock_) {
  if (options_.classes.empty()) {
    // Above the slabs, a class per page of the heap that serves it, or per
    // 128 bytes if pages are smaller: the index steps by 128.
    sizes_ = default_classes(options_.largest_class, kSmallLimit,
                             std::max(heap_.page_size(), kLargeStep),
                             heap_.max_pages() * heap_.page_size(),
                             std::max(big_heap_.page_size(), kLargeStep));
  } else {
    validate(options_.classes);
    sizes_.assign(options_.classes.begin(), options_.classes.end());
  }
  options_.classes = {};
  options_.largest_class = sizes_.back();
  largest_ = sizes_.back();

  // Room for the header on its furthest line from the span's end.
  constexpr std::size_t kHeaderReserve = (2 + kColors) * kHeaderLine;
  for (const std::size_t size : sizes_) {
    if (size > kSmallLimit) break;
    const std::size_t span_size =
        std::max(options_.slab_span_size,
                 std::bit_ceil(kMinBlocksPerSpan * size + kHeaderReserve));
    classes_[no_class_++] = {.current = &sentinel_,
                             .size = static_cast<std::uint32_t>(size),
                             .color_shift = color_shift_for(span_size - 1),
                             .span_mask = span_size - 1};
    spans_.push_back(
        {.max_empties = options_.max_empty_spans, .span_size = span_size});
  }
  // The page heap classes: their heap and pages (none for a class larger
  // than a big span's free pages, which the upstream serves) and the size
  // index.
  first_heap_class_ = no_class_;
  heap_classes_.resize(sizes_.size());
  for (std::size_t k = first_heap_class_; k < sizes_.size(); ++k) {
    heap_class_info& info = heap_classes_[k];
    info.size = static_cast<std::uint32_t>(sizes_[k]);
    for (internal::page_heap* heap : {&heap_, &big_heap_}) {
      const std::size_t pages = heap->pages_for(sizes_[k]);
      if (pages <= heap->max_pages()) {
        info.heap = heap;
        info.pages = static_cast<std::uint32_t>(pages);
        break;
      }
    }
  }
  heap_index_.resize(largest_ / kLargeStep + 2);
  for (std::size_t i = 0; i < heap_index_.size(); ++i) {
    const std::size_t lowest = i == 0 ? 0 : (i - 1) * kLargeStep + 1;
    heap_index_[i] = static_cast<std::uint16_t>(
        std::lower_bound(sizes_.begin(), sizes_.end(), lowest) -
        sizes_.begin());
  }

  // Up to kSmallLimit, a row per alignment: the row of alignment 1 names
  // the smallest slab class that holds the size (what aligned_class()
  // starts from); the row of a larger power of two what aligned_class()
  // picks, so the fast and slow paths agree by construction; the rows of
  // other alignments name no class.
  const auto none = static_cast<std::uint8_t>(no_class_);
  std::fill(std::begin(small_index_), std::end(small_index_), none);
  const auto slab_end = sizes_.begin() + static_cast<std::ptrdiff_t>(no_class_);
  for (std::size_t i = 0; i < kRowEntries; ++i) {
    const auto it = std::lower_bound(sizes_.begin(), slab_end, (i + 1) * 8);
    small_index_[kRowEntries + i] =
        static_cast<std::uint8_t>(it - sizes_.begin());
  }
  for (std::size_t a = 2; a <= kSmallAlignment; a *= 2) {
    for (std::size_t i = 0; i < kRowEntries; ++i) {
      small_index_[a * kRowEntries + i] =
          static_cast<std::uint8_t>(aligned_class((i + 1) * 8, a));
    }
  }

  // The fast path's index of current spans: each class's entries in the
  // rows of alignment 1 (as 2, 4 and 8: every class is a multiple of 8)
  // and 16, contiguous as the classes are sorted.
  for (std::size_t row = 0; row < 2; ++row) {
    const std::uint8_t* classes =
        &small_index_[(row == 0 ? 1 : kSmallAlignment) * kRowEntries];
    for (std::size_t i = kRowEntries; i-- > 0;) {
      current_[row][i] = &sentinel_;
      if (classes[i] == no_class_) continue;
      index_range& entries = current_entries_[classes[i]];
      if (entries.end[row] == 0) {
        entries.end[row] = static_cast<std::uint8_t>(i + 1);
      }
      entries.first[row] = static_cast<std::uint8_t>(i);
    }
  }

  // The sizes from 1 up whose slab classes, at every alignment the fast
  // paths take, have slab_span_size spans: deallocation finds their span
  // headers from the address alone.
  slab_mask_ = options_.slab_span_size - 1;
  slab_color_shift_ = color_shift_for(slab_mask_);
  const auto uniform = [&](std::size_t entry) {
    for (std::size_t a = 1; a <= kSmallAlignment; a *= 2) {
      const std::size_t c = small_index_[a * kRowEntries + entry];
      if (c == no_class_ || classes_[c].span_mask != slab_mask_) return false;
    }
    return true;
  };
  while (uniform_limit_ < kSmallLimit && uniform(uniform_limit_ / 8)) {
    uniform_limit_ += 8;
  }
  default_span_limit_ = slab_mask_ == kDefaultSlabMask ? uniform_limit_ : 0;
}

size_class_resource::~size_class_resource() {
  for (class_spans& list : spans_) {
    while (list.all != nullptr) free_span(list.all);
  }
  heap_.release();
  big_heap_.release();
  large_.release(upstream_);
}

std::size_t size_class_resource::aligned_class(
    std::size_t bytes, std::size_t alignment) const noexcept {
  // The smallest slab class that holds `bytes`, then the first from there
  // that is aligned enough: what class_of() finds whenever it finds a class.
  std::size_t c = no_class_;
  if (bytes == 0) {
    c = 0;
  } else if (bytes <= kSmallLimit) {
    c = small_index_[kRowEntries + ((bytes - 1) >> 3)];  // alignment 1
  }
  while (c < no_class_ &&
         (std::size_t{1} << std::countr_zero(classes_[c].size)) < alignment) {
    ++c;
  }
  return c;
}

std::size_t size_class_resource::heap_class(
    std::size_t bytes, std::size_t alignment) const noexcept {
  // For a request no slab class serves: the smallest class above the slab
  // classes that holds `bytes`, if a page heap holds it and its pages are
  // aligned enough. The index lands at most kLargeStep / 8 classes short.
  if (bytes > largest_ || first_heap_class_ == sizes_.size()) {
    return kNoHeapClass;
  }
  std::size_t k = std::max<std::size_t>(
      heap_index_[(bytes + kLargeStep - 1) / kLargeStep], first_heap_class_);
  while (heap_classes_[k].size < bytes) ++k;
  const heap_class_info& info = heap_classes_[k];
  return info.heap != nullptr && alignment <= info.heap->page_size()
             ? k
             : kNoHeapClass;
}

void* size_class_resource::allocate_slow(std::size_t bytes,
                                         std::size_t alignment) {
  internal::check_request(kName, bytes, alignment);
  void* p = nullptr;
  if (const std::size_t c = aligned_class(bytes, alignment); c != no_class_) {
    p = allocate_from_class(c, bytes);
  } else if (const std::size_t k = heap_class(bytes, alignment);
             k != kNoHeapClass) {
    heap_class_info& info = heap_classes_[k];
    const std::size_t held = held_now();
    p = info.heap->allocate(info.pages);
    if (held_now() != held) {  // the heap took a span
      note_held();
      if (options_.decay != kNeverDecay) decay_if_due(now());
    }
    // The heap unpoisons the whole run; only the bytes asked for are the
    // user's.
    STRATA_POISON(static_cast<std::byte*>(p) + bytes,
                  info.pages * info.heap->page_size() - bytes);
    heap_requested_bytes_ += bytes;
    ++info.blocks;
  } else {
    p = allocate_large(bytes, alignment);
  }
  checked_.on_allocate(p, bytes, alignment);
  return p;
}

void* size_class_resource::next_span_or_slow(std::size_t bytes,
                                             std::size_t alignment) {
  const std::size_t c = class_of(bytes, alignment);
  if (c == no_class_) return allocate_slow(bytes, alignment);
  void* p = allocate_from_class(c, bytes);
  checked_.on_allocate(p, bytes, alignment);
  return p;
}

void* size_class_resource::allocate_from_class(std::size_t c,
                                               std::size_t bytes) {
  for (;;) {
    if (void* p = take_block(classes_[c].current, bytes)) return p;
    // The current span is full: the partial span listed longest ago (which
    // has gathered the most frees), an empty one, or a new one. new_span()
    // is the only call that can fail, and nothing has changed before it.
    class_spans& list = spans_[c];
    span* next = list.partial;
    if (next != nullptr) {
      unlink_partial(next);
    } else if (list.empty != nullptr) {
      next = list.empty;
      unlink_empty(next);
    } else {
      next = new_span(c);
    }
    set_current(c, next);
  }
}

void* size_class_resource::allocate_large(std::size_t bytes,
                                          std::size_t alignment) {
  void* p = large_.allocate(upstream_, bytes, alignment);
  ++upstream_taken_;
  held_bytes_ += bytes;
  note_held();
  return p;
}

std::size_t size_class_resource::held_now() const noexcept {
  return held_bytes_ + heap_.held_bytes() + big_heap_.held_bytes();
}

void size_class_resource::note_held() noexcept {
  peak_held_ = std::max(peak_held_, held_now());
}

void size_class_resource::deallocate_slow(void* p, std::size_t bytes,
                                          std::size_t alignment) noexcept {
  if (bytes - 1 < uniform_limit_ && alignment <= kSmallAlignment) {
    push_free(p, bytes, slab_mask_, slab_color_shift_);  // a custom span size
  } else if (const std::size_t c = aligned_class(bytes, alignment);
             c != no_class_) {
    push_free(p, bytes, classes_[c].span_mask, classes_[c].color_shift);
  } else if (const std::size_t k = heap_class(bytes, alignment);
             k != kNoHeapClass) {
    heap_class_info& info = heap_classes_[k];
    info.heap->deallocate(p, info.pages);
    heap_requested_bytes_ -= bytes;
    --info.blocks;
  } else {
    held_bytes_ -= bytes;
    large_.deallocate(upstream_, p, bytes, alignment);
  }
}

std::size_t size_class_resource::max_grown_empties() const noexcept {
  const std::size_t base = options_.max_empty_spans;
  const std::size_t growth = options_.empty_spans_growth;  // at least 1
  return base > std::numeric_limits<std::size_t>::max() / growth
             ? std::numeric_limits<std::size_t>::max()
             : base * growth;
}

void size_class_resource::report_bad_free(const span* s, const void* p,
                                          std::size_t bytes) const noexcept {
  if (s->owner != owner_tag()) {
    internal::report_misuse(kName, p,
                            "a pointer this resource never handed out "
                            "(hardened build)");
  }
  if (live_of(s) == 0) {
    internal::report_misuse(kName, p, "double free (hardened build)");
  }
  char what[96];
  std::snprintf(what, sizeof(what),
                "freed with size %zu, larger than its block of %u bytes "
                "(hardened build)",
                bytes, s->size);
  internal::report_misuse(kName, p, what);
}

size_class_resource::span* size_class_resource::new_span(std::size_t c) {
  class_spans& list = spans_[c];
  auto* memory = static_cast<std::byte*>(
      upstream_->allocate(list.span_size, list.span_size));
  span* s = header_of(memory, classes_[c].span_mask, classes_[c].color_shift);
  // Blocks up to the header, which lies a few lines higher or lower from
  // span to span.
  const std::size_t size = classes_[c].size;
  const std::size_t capacity = capacity_of(s, classes_[c].span_mask, size);
  *s = {.free = nullptr,
        .carve = memory,
        .end = memory + capacity * size,
        .usage = 0,
        .prev = nullptr,
        .next = nullptr,
        .klass = static_cast<std::uint32_t>(c),
        .size = static_cast<std::uint32_t>(size),
        .current = false,
        .listed = false,
        .empty_listed = false,
        .owner = owner_tag(),
        .all_prev = nullptr,
        .all_next = list.all,
        .idle_since = 0};
  if (list.all != nullptr) list.all->all_prev = s;
  list.all = s;
  ++list.count;
  // A round trip: the class needs again a span it gave back, so it keeps
  // one more empty span from now on.
  if (list.given_back != 0) {
    --list.given_back;
    list.max_empties = std::min(list.max_empties + 1, max_grown_empties());
  }
  ++upstream_taken_;
  held_bytes_ += list.span_size;
  note_held();
  if (options_.decay != kNeverDecay) decay_if_due(now());
  // All but the header: the blocks, and the room below and above it.
  STRATA_POISON(memory, list.span_size);
  STRATA_UNPOISON(s, sizeof(span));
  return s;
}

void size_class_resource::free_span(span* s) noexcept {
  class_spans& list = spans_[s->klass];
  if (s->listed) unlink_partial(s);
  if (s->empty_listed) unlink_empty(s);
  if (s->current) set_current(s->klass, &sentinel_);
  if (s->all_prev != nullptr) {
    s->all_prev->all_next = s->all_next;
  } else {
    list.all = s->all_next;
  }
  if (s->all_next != nullptr) s->all_next->all_prev = s->all_prev;
  --list.count;
  held_bytes_ -= list.span_size;
  std::byte* memory = span_start(s, classes_[s->klass].span_mask);
  STRATA_UNPOISON(memory, list.span_size);
  upstream_->deallocate(memory, list.span_size, list.span_size);
}

void size_class_resource::set_current(std::size_t c, span* s) noexcept {
  classes_[c].current->current = false;  // sentinel_'s stays false
  if (s != &sentinel_) s->current = true;
  classes_[c].current = s;
  const index_range& entries = current_entries_[c];
  for (std::size_t row = 0; row < 2; ++row) {
    for (std::size_t i = entries.first[row]; i < entries.end[row]; ++i) {
      current_[row][i] = s;
    }
  }
}

void size_class_resource::relist(span* s) noexcept {
  class_spans& list = spans_[s->klass];
  if (live_of(s) != 0) {
    link_partial(s);  // was full: it has a free block now
    return;
  }
  if (s->listed) unlink_partial(s);
  // Empty: carve it afresh when it serves again.
  s->free = nullptr;
  s->carve = span_start(s, classes_[s->klass].span_mask);
  if (list.empties >= list.max_empties) {
    ++list.given_back;
    free_span(s);
    return;
  }
  if (options_.decay == decay_time::zero() &&
      list.empties >= options_.keep_empty_spans) {
    free_span(s);
    return;
  }
  s->prev = nullptr;
  s->next = list.empty;
  if (list.empty != nullptr) list.empty->prev = s;
  list.empty = s;
  s->empty_listed = true;
  // Beyond keep_empty_spans, reclaim() gives the class's empty spans back.
  if (++list.empties > options_.keep_empty_spans) {
    reclaimable_bytes_ += list.span_size;
  }
  if (options_.decay != kNeverDecay) {
    const std::chrono::nanoseconds t = now();
    s->idle_since = t.count();
    decay_if_due(t);
  }
}

void size_class_resource::decay_if_due(std::chrono::nanoseconds now) noexcept {
  if (now - last_decay_ >= decay_tick_) decay_at(now);
}

std::size_t size_class_resource::decay() noexcept { return decay_at(now()); }

std::size_t size_class_resource::decay_at(
    std::chrono::nanoseconds now) noexcept {
  last_decay_ = now;
  const std::chrono::nanoseconds due =
      internal::due_before(now, options_.decay);
  std::size_t freed = 0;
  for (std::size_t c = 0; c < no_class_; ++c) {
    class_spans& list = spans_[c];
    // Newest first: the first keep_empty_spans stay whatever their age.
    std::size_t seen = 0;
    bool decayed = false;
    for (span* s = list.empty; s != nullptr;) {
      span* next = s->next;
      if (++seen > options_.keep_empty_spans && s->idle_since <= due.count()) {
        freed += list.span_size;
        free_span(s);
        decayed = true;
      }
      s = next;
    }
    // Its peak has not come back for a whole decay: the class keeps its
    // first few empty spans again.
    if (decayed) {
      list.max_empties = options_.max_empty_spans;
      list.given_back = 0;
    }
  }
  freed += heap_.decay(due);
  freed += big_heap_.decay(due);
  return freed;
}

void size_class_resource::unlink_empty(span* s) noexcept {
  class_spans& list = spans_[s->klass];
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    list.empty = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  s->empty_listed = false;
  if (list.empties-- > options_.keep_empty_spans) {
    reclaimable_bytes_ -= list.span_size;
  }
}

void size_class_resource::link_partial(span* s) noexcept {
  // At the back: the span at the front has had the longest to gather free
  // blocks, so taking it makes the next switch wait longest.
  class_spans& list = spans_[s->klass];
  s->prev = list.partial_back;
  s->next = nullptr;
  if (list.partial_back != nullptr) {
    list.partial_back->next = s;
  } else {
    list.partial = s;
  }
  list.partial_back = s;
  s->listed = true;
}

void size_class_resource::unlink_partial(span* s) noexcept {
  class_spans& list = spans_[s->klass];
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    list.partial = s->next;
  }
  if (s->next != nullptr) {
    s->next->prev = s->prev;
  } else {
    list.partial_back = s->prev;
  }
  s->prev = s->next = nullptr;
  s->listed = false;
}

std::size_t size_class_resource::cached_bytes() const noexcept {
  return reclaimable_bytes_ + heap_.cached_bytes() + big_heap_.cached_bytes();
}

reclaim_result size_class_resource::reclaim(
    const reclaim_request& request) noexcept {
  const internal::deadline until(request.time_budget);
  reclaim_result result;
  const std::size_t keep = options_.keep_empty_spans;
  for (std::size_t c = 0; c < no_class_; ++c) {
    class_spans& list = spans_[c];
    // A current span with no block in use is empty too, and counts among
    // the kept ones: the listed empty spans go first, and it goes back only
    // when none are kept. (The fast paths do not track whether it is empty,
    // so cached_bytes() does not count it.)
    span* current = classes_[c].current;
    const bool current_empty = current != &sentinel_ && live_of(current) == 0;
    const std::size_t keep_listed = current_empty && keep > 0 ? keep - 1 : keep;
    std::size_t to_free =
        list.empties > keep_listed ? list.empties - keep_listed : 0;
    if (current_empty && keep == 0) ++to_free;
    // Reclaim asks for memory back: the class keeps its first few empty
    // spans again, and grows from there if its peak comes back.
    list.max_empties = options_.max_empty_spans;
    list.given_back = 0;
    for (; to_free > 0; --to_free) {
      if (result.bytes_freed >= request.bytes || until.passed()) {
        result.more_remains = true;
        return result;
      }
      result.bytes_freed += list.span_size;
      free_span(list.empty != nullptr ? list.empty : current);
    }
  }
  heap_.reclaim(request, until, result);
  big_heap_.reclaim(request, until, result);
  return result;
}

std::size_t size_class_resource::class_size_for(
    std::size_t bytes, std::size_t alignment) const noexcept {
  if (!std::has_single_bit(alignment)) return 0;
  if (const std::size_t c = aligned_class(bytes, alignment); c != no_class_) {
    return classes_[c].size;
  }
  const std::size_t k = heap_class(bytes, alignment);
  return k == kNoHeapClass ? 0 : sizes_[k];
}

std::vector<std::size_t> size_class_resource::class_sizes() const {
  return sizes_;
}

size_class_resource_stats size_class_resource::stats() const {
  size_class_resource_stats result;
  std::size_t class_bytes_in_use = 0;
  std::size_t requested = heap_requested_bytes_;
  for (std::size_t c = 0; c < no_class_; ++c) {
    const class_spans& list = spans_[c];
    size_class_stats entry{.block_size = classes_[c].size, .spans = list.count};
    std::size_t blocks = 0;
    for (const span* s = list.all; s != nullptr; s = s->all_next) {
      entry.blocks_in_use += live_of(s);
      requested += static_cast<std::size_t>(s->usage >> kLiveBits);
      blocks += capacity_of(s, classes_[c].span_mask, entry.block_size);
    }
    entry.blocks_free = blocks - entry.blocks_in_use;
    class_bytes_in_use += entry.blocks_in_use * entry.block_size;
    result.classes.push_back(entry);
  }
  const internal::page_heap::stats_snapshot pages = heap_.stats();
  const internal::page_heap::stats_snapshot big_pages = big_heap_.stats();
  for (std::size_t k = first_heap_class_; k < sizes_.size(); ++k) {
    const heap_class_info& info = heap_classes_[k];
    const std::size_t free =
        info.heap == nullptr
            ? 0
            : internal::page_heap::free_blocks_of(
                  info.pages, info.heap == &big_heap_ ? big_pages : pages);
    result.classes.push_back({.block_size = info.size,
                              .blocks_in_use = info.blocks,
                              .blocks_free = free});
  }
  // Both heaps' pages, counted in the small heap's pages.
  const std::size_t ratio = big_heap_.page_size() / heap_.page_size();
  result.bytes_in_use = requested + large_.bytes();
  result.bytes_held = held_now();
  result.peak_bytes_held = peak_held_;
  result.misses = upstream_taken_ + pages.spans_taken + big_pages.spans_taken;
  result.page_size = heap_.page_size();
  result.page_spans = pages.spans + big_pages.spans;
  result.pages_in_use = pages.pages_in_use + ratio * big_pages.pages_in_use;
  result.pages_free = pages.pages_free + ratio * big_pages.pages_free;
  result.internal_waste =
      class_bytes_in_use + result.pages_in_use * result.page_size - requested;
  result.large_blocks = large_.count();
  return result;
}

}  // namespace strata
