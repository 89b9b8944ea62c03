// The shared driver of the libFuzzer targets: it decodes the input as a
// sequence of operations on one resource and checks a shadow model of the
// live blocks after every operation.
//
// Input layout: the first bytes choose the resource's options (each target
// reads what it needs from `setup`), the rest are operations:
//
//   0..119    allocate: a size (mostly small, sometimes up to 256 KiB, rarely
//             absurd, which must throw std::bad_alloc) and an alignment
//             (powers of two up to 4096, sometimes 8192, rarely invalid,
//             which must throw std::invalid_argument)
//   120..189  free a live block, chosen by index
//   190..199  make the n-th next upstream allocation fail
//   200..255  the target's own operations (reset, rewind, reclaim, limits...)
//
// The model: every live block is aligned as asked, no two overlap, each
// keeps the pattern written into it (checked before it is freed and every
// few operations), and the bottom upstream, a recording test_resource, sees
// no misuse. A failed allocation must leave the upstream holding no more than
// before (strong guarantee). When the resource is destroyed, the upstream
// must hold nothing. A violated check prints what went wrong and traps, so
// libFuzzer reports it with the input.
#ifndef STRATA_TESTS_FUZZ_FUZZ_DRIVER_H_
#define STRATA_TESTS_FUZZ_FUZZ_DRIVER_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory_resource>
#include <new>
#include <optional>
#include <stdexcept>
#include <vector>

#include "strata/adapters/test_resource.h"
#include "strata/reclaimable.h"

#define STRATA_FUZZ_CHECK(condition, ...)                                  \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n  ", __FILE__, \
                   __LINE__, #condition);                                  \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                          \
      __builtin_trap();                                                    \
    }                                                                      \
  } while (false)

namespace strata::fuzz {

/// The largest block the bottom upstream serves: anything larger throws
/// std::bad_alloc there, so an absurd size that a resource lets through
/// fails the same way under the sanitizers (whose operator new would abort).
inline constexpr std::size_t kLargestUpstreamBlock = std::size_t{1} << 30;
/// Bounds that keep one input fast: past them, allocations turn into frees.
inline constexpr std::size_t kMaxLiveBlocks = 512;
inline constexpr std::size_t kMaxLiveBytes = std::size_t{8} << 20;
/// Every this many operations, every live block's contents are checked.
inline constexpr std::size_t kVerifyPeriod = 64;

/// Reads the input a byte at a time; past its end, every read is 0.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}

  [[nodiscard]] bool done() const noexcept { return pos_ >= size_; }
  std::uint8_t u8() noexcept { return done() ? 0 : data_[pos_++]; }
  std::uint16_t u16() noexcept {
    return static_cast<std::uint16_t>(u8() | (u8() << 8));
  }
  std::uint32_t u32() noexcept {
    return static_cast<std::uint32_t>(u16()) |
           (static_cast<std::uint32_t>(u16()) << 16);
  }
  /// A value in [0, n); n > 0.
  std::size_t below(std::size_t n) noexcept { return u16() % n; }
  /// One of `choices`.
  template <class T, std::size_t N>
  T pick(const T (&choices)[N]) noexcept {
    return choices[u8() % N];
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// One block the model holds.
struct live_block {
  std::byte* p;
  std::size_t size;
  std::size_t alignment;
  std::uint64_t id;  // allocation order, also the fill pattern's seed
};

/// The live blocks, their address ranges and their contents.
class shadow_model {
 public:
  /// Checks that `p` is aligned and overlaps no live block, fills it and
  /// records it.
  const live_block& add(void* p, std::size_t size, std::size_t alignment) {
    const auto begin = reinterpret_cast<std::uintptr_t>(p);
    STRATA_FUZZ_CHECK(p != nullptr, "allocate(%zu, %zu) returned nullptr", size,
                      alignment);
    STRATA_FUZZ_CHECK(begin % alignment == 0,
                      "allocate(%zu, %zu) returned %p, misaligned", size,
                      alignment, p);
    // A zero-size block holds no byte but must still be distinct.
    const std::uintptr_t end = begin + std::max<std::size_t>(size, 1);
    auto next = ranges_.lower_bound(begin);
    STRATA_FUZZ_CHECK(next == ranges_.end() || next->first >= end,
                      "allocate(%zu, %zu) returned %p, which overlaps the "
                      "live block at %#zx",
                      size, alignment, p,
                      static_cast<std::size_t>(next->first));
    if (next != ranges_.begin()) {
      auto prev = std::prev(next);
      STRATA_FUZZ_CHECK(prev->second <= begin,
                        "allocate(%zu, %zu) returned %p, inside the live "
                        "block [%#zx, %#zx)",
                        size, alignment, p,
                        static_cast<std::size_t>(prev->first),
                        static_cast<std::size_t>(prev->second));
    }
    ranges_.emplace(begin, end);
    blocks_.push_back(
        {static_cast<std::byte*>(p), size, alignment, next_id_++});
    live_bytes_ += size;
    fill(blocks_.back());
    return blocks_.back();
  }

  /// Checks the block at `index` and forgets it; the caller frees it.
  live_block take(std::size_t index) {
    live_block b = blocks_[index];
    verify(b);
    forget(index);
    return b;
  }

  /// Forgets, without freeing, every block `drop(block)` is true for (the
  /// blocks an arena's reset or rewind dropped). Their memory may be
  /// poisoned by now: check them with verify_all() before the drop.
  template <class Predicate>
  void drop_if(Predicate drop) {
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      if (drop(blocks_[i])) forget(i);
    }
  }

  void verify_all() const {
    for (const live_block& b : blocks_) verify(b);
  }

  [[nodiscard]] std::size_t size() const noexcept { return blocks_.size(); }
  [[nodiscard]] bool empty() const noexcept { return blocks_.empty(); }
  [[nodiscard]] const live_block& at(std::size_t i) const { return blocks_[i]; }
  [[nodiscard]] std::size_t live_bytes() const noexcept { return live_bytes_; }
  /// The id the next block gets.
  [[nodiscard]] std::uint64_t next_id() const noexcept { return next_id_; }

 private:
  // Eight bytes of the pattern at word `i` of the block with seed `id`.
  static std::uint64_t word(std::uint64_t id, std::size_t i) noexcept {
    return (id + 1) * 0x9E3779B97F4A7C15u + i * 0xD1B54A32D192ED03u;
  }

  static void fill(const live_block& b) noexcept {
    const std::size_t words = b.size / 8;
    for (std::size_t i = 0; i < words; ++i) {
      const std::uint64_t w = word(b.id, i);
      std::memcpy(b.p + i * 8, &w, 8);
    }
    const std::uint64_t tail = word(b.id, words);
    std::memcpy(b.p + words * 8, &tail, b.size % 8);
  }

  static void verify(const live_block& b) {
    const std::size_t words = b.size / 8;
    for (std::size_t i = 0; i <= words; ++i) {
      const std::uint64_t expected = word(b.id, i);
      const std::size_t n = i < words ? 8 : b.size % 8;
      STRATA_FUZZ_CHECK(std::memcmp(b.p + i * 8, &expected, n) == 0,
                        "block #%llu at %p (%zu bytes, alignment %zu) was "
                        "overwritten at byte %zu",
                        static_cast<unsigned long long>(b.id),
                        static_cast<void*>(b.p), b.size, b.alignment, i * 8);
    }
  }

  void forget(std::size_t index) {
    ranges_.erase(reinterpret_cast<std::uintptr_t>(blocks_[index].p));
    live_bytes_ -= blocks_[index].size;
    blocks_[index] = blocks_.back();
    blocks_.pop_back();
  }

  std::vector<live_block> blocks_;
  std::map<std::uintptr_t, std::uintptr_t> ranges_;  // begin -> end
  std::uint64_t next_id_ = 0;
  std::size_t live_bytes_ = 0;
};

/// A limit on the bytes the bottom upstream may hold: after every operation
/// the upstream holds at most the limit, or no more than before the operation
/// when it was already over (the limit may be lowered below what is held).
/// The upstream's peak is held to the same bound, so a limit passed for an
/// instant inside one call is caught too.
struct upstream_limit {
  const char* name;
  std::size_t limit = SIZE_MAX;
};

/// Shared state of one run: the bottom upstream, the model and the limits.
class context {
 public:
  context()
      : upstream_({.name = "fuzz upstream",
                   .defects = defect_action::record,
                   .scribble = false,  // the model writes every byte anyway
                   .max_allocation = kLargestUpstreamBlock}) {}

  test_resource& upstream() noexcept { return upstream_; }
  shadow_model& model() noexcept { return model_; }
  const shadow_model& model() const noexcept { return model_; }
  /// Limits the target keeps up to date (hard limits, with any reserve the
  /// current operation may use).
  std::vector<upstream_limit>& limits() noexcept { return limits_; }

  /// True on every n-th operation and at the end of the input: for counters
  /// whose snapshot costs more than the operation (they stay wrong once
  /// wrong, so a later check still catches them).
  [[nodiscard]] bool every(std::size_t n) const noexcept {
    return finishing_ || step_ % n == 0;
  }
  void next_step() noexcept { ++step_; }
  void finish() noexcept { finishing_ = true; }

  /// Checks the upstream against the limits and for defects; `before` is
  /// what it held before the operation.
  void check_upstream(std::size_t before, std::size_t peak_before) {
    const test_resource_stats s = upstream_.stats();
    STRATA_FUZZ_CHECK(s.defects == 0, "the upstream recorded a defect: %s",
                      upstream_.defects().front().message.c_str());
    for (const upstream_limit& l : limits_) {
      const std::size_t bound = std::max(l.limit, before);
      STRATA_FUZZ_CHECK(s.bytes_in_use <= bound,
                        "%s: the upstream holds %zu bytes, past the limit "
                        "%zu (it held %zu before)",
                        l.name, s.bytes_in_use, l.limit, before);
      STRATA_FUZZ_CHECK(s.peak_bytes_in_use <= std::max(bound, peak_before),
                        "%s: the upstream's peak reached %zu bytes, past the "
                        "limit %zu (it held %zu before)",
                        l.name, s.peak_bytes_in_use, l.limit, before);
    }
  }

 private:
  test_resource upstream_;
  shadow_model model_;
  std::vector<upstream_limit> limits_;
  std::size_t step_ = 0;
  bool finishing_ = false;
};

/// A size for an allocation: mostly small, sometimes large, rarely absurd.
inline std::size_t decode_size(reader& in) {
  static constexpr std::size_t kEdges[] = {
      0,     1,     8,     16,    64,    128,     256,          257,
      1024,  1025,  4096,  4097,  16256, 16257,   16384,        32768,
      32769, 65024, 65025, 65536, 65537, 1 << 17, (1 << 18) + 1};
  static constexpr std::size_t kAbsurd[] = {
      SIZE_MAX,
      SIZE_MAX - 7,
      SIZE_MAX - 4095,
      static_cast<std::size_t>(PTRDIFF_MAX),
      static_cast<std::size_t>(PTRDIFF_MAX) + 1,
      std::size_t{1} << 62,
      std::size_t{1} << 40,
      kLargestUpstreamBlock + 1};
  const std::uint8_t kind = in.u8();
  if (kind < 150) return in.u8();
  if (kind < 215) return in.u16() % 4097;
  if (kind < 240) return in.u32() % (std::size_t{256} << 10);
  if (kind < 253) return in.pick(kEdges);
  return in.pick(kAbsurd);
}

/// An alignment: a power of two up to 4096, sometimes 8192; 0 (rarely) for
/// an invalid one.
inline std::size_t decode_alignment(reader& in) {
  const std::uint8_t kind = in.u8();
  if (kind < 170) return std::size_t{1} << (kind % 5);   // 1 .. 16
  if (kind < 245) return std::size_t{1} << (kind % 13);  // 1 .. 4096
  if (kind < 252) return 8192;
  return 0;
}

/// Frees the live block at `index` through `r`, after checking it.
inline void free_live(context& ctx, std::pmr::memory_resource& r,
                      std::size_t index) {
  const live_block b = ctx.model().take(index);
  r.deallocate(b.p, b.size, b.alignment);
}

/// Allocates through `r` and records the block, or checks that the failure
/// was an expected one that left the upstream holding no more than before.
inline void try_allocate(context& ctx, std::pmr::memory_resource& r,
                         std::size_t size, std::size_t alignment) {
  const std::size_t before = ctx.upstream().bytes_in_use();
  const bool absurd = size > kLargestUpstreamBlock;
  const bool invalid = alignment == 0;
  if (invalid) alignment = 24;  // not a power of two
  void* p = nullptr;
  try {
    p = r.allocate(size, alignment);
  } catch (const std::invalid_argument&) {
    STRATA_FUZZ_CHECK(invalid, "allocate(%zu, %zu) threw invalid_argument",
                      size, alignment);
  } catch (const std::bad_alloc&) {
    // Out of memory, a limit or an injected failure: all expected, as long
    // as nothing was kept from the upstream.
    STRATA_FUZZ_CHECK(!invalid || absurd,
                      "allocate(%zu, %zu), alignment not a power of two, "
                      "threw bad_alloc rather than invalid_argument",
                      size, alignment);
  }
  if (p == nullptr) {
    STRATA_FUZZ_CHECK(ctx.upstream().bytes_in_use() <= before,
                      "a failed allocate(%zu, %zu) left the upstream holding "
                      "%zu bytes, %zu before",
                      size, alignment, ctx.upstream().bytes_in_use(), before);
    return;
  }
  STRATA_FUZZ_CHECK(!absurd, "allocate(%zu, %zu) returned %p", size, alignment,
                    p);
  STRATA_FUZZ_CHECK(!invalid,
                    "allocate(%zu, %zu), alignment not a power of two, "
                    "returned %p",
                    size, alignment, p);
  ctx.model().add(p, size, alignment);
}

/// Runs one input against a Target built as Target(in, ctx), which reads its
/// options from the first bytes. Returns 0, as LLVMFuzzerTestOneInput does.
template <class Target>
int run(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  context ctx;
  {
    std::optional<Target> target;
    try {
      target.emplace(in, ctx);
    } catch (const std::invalid_argument&) {
      return 0;  // options the resource rejects, as documented
    } catch (const std::bad_alloc&) {
      return 0;  // a prewarm larger than the upstream serves
    }
    if (!target) return 0;
    std::pmr::memory_resource& r = target->resource();
    std::size_t step = 0;
    while (!in.done()) {
      const std::size_t before = ctx.upstream().bytes_in_use();
      const std::size_t peak_before = ctx.upstream().stats().peak_bytes_in_use;
      const std::uint8_t code = in.u8();
      shadow_model& model = ctx.model();
      if (code < 120) {
        const std::size_t n = decode_size(in);
        const std::size_t a = decode_alignment(in);
        if (model.size() >= kMaxLiveBlocks ||
            (n <= kLargestUpstreamBlock &&
             model.live_bytes() + n > kMaxLiveBytes)) {
          if (!model.empty()) target->free_block(ctx, in.below(model.size()));
        } else {
          try_allocate(ctx, r, n, a);
        }
      } else if (code < 190) {
        if (!model.empty()) target->free_block(ctx, in.below(model.size()));
      } else if (code < 200) {
        ctx.upstream().fail_after(1 + in.u8() % 4);
      } else {
        target->op(static_cast<std::uint8_t>(code - 200), in, ctx);
      }
      ctx.check_upstream(before, peak_before);
      target->check(ctx);
      if (++step % kVerifyPeriod == 0) model.verify_all();
      ctx.next_step();
    }
    ctx.upstream().fail_after(0);
    ctx.finish();
    ctx.model().verify_all();
    target->check(ctx);
    // Pass-through layers track no blocks: give them all back first. A
    // resource that owns its memory must give it back on destruction even
    // with blocks live, so keep them live when the input says so.
    if (!Target::kOwnsMemory || (size > 0 && data[0] % 2 == 0)) {
      while (!ctx.model().empty()) target->free_block(ctx, 0);
      target->check(ctx);
    }
  }
  STRATA_FUZZ_CHECK(ctx.upstream().bytes_in_use() == 0,
                    "destruction left %zu bytes with the upstream",
                    ctx.upstream().bytes_in_use());
  STRATA_FUZZ_CHECK(ctx.upstream().stats().defects == 0,
                    "the upstream recorded a defect: %s",
                    ctx.upstream().defects().front().message.c_str());
  return 0;
}

/// What a target implements (not virtual: run() is a template):
///
///   Target(reader& setup, context& ctx);   // options from the input
///   std::pmr::memory_resource& resource();
///   void op(std::uint8_t code, reader& in, context& ctx);  // own operations
///   void check(context& ctx);              // documented counters, each step
///   void free_block(context& ctx, std::size_t index);
///   static constexpr bool kOwnsMemory;     // may die with blocks live
///
/// This base gives the plain versions of the last three.
template <class Derived>
struct target_base {
  static constexpr bool kOwnsMemory = true;
  void check(context&) {}
  void free_block(context& ctx, std::size_t index) {
    free_live(ctx, static_cast<Derived*>(this)->resource(), index);
  }
};

/// Asks `cache` to reclaim what the input says and checks that what it
/// reports freed is what the upstream got back.
inline void reclaim_and_check(context& ctx, reclaimable& cache, reader& in) {
  static constexpr std::size_t kBytes[] = {0, 1, 4096, 65536, SIZE_MAX};
  const std::size_t before = ctx.upstream().bytes_in_use();
  reclaim_request request{.bytes = in.pick(kBytes)};
  if (in.u8() % 4 == 0) request.time_budget = std::chrono::nanoseconds(0);
  const reclaim_result r = cache.reclaim(request);
  const std::size_t after = ctx.upstream().bytes_in_use();
  STRATA_FUZZ_CHECK(after <= before && before - after == r.bytes_freed,
                    "reclaim said it freed %zu bytes; the upstream went from "
                    "%zu to %zu",
                    r.bytes_freed, before, after);
}

}  // namespace strata::fuzz

#endif  // STRATA_TESTS_FUZZ_FUZZ_DRIVER_H_
