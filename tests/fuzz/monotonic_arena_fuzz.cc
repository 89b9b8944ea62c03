// Operation sequences against a monotonic_arena: bump allocation from an
// initial buffer and chunks, own blocks, LIFO frees, mark/rewind (valid and
// stale marks), reset, release and reclaim. Only a LIFO free, an own block's
// free, a rewind, a reset or a release gives memory back; the model drops
// the blocks a rewind or a reset drops.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <span>
#include <stdexcept>
#include <vector>

#include "strata/monotonic_arena.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct monotonic_arena_target : target_base<monotonic_arena_target> {
  // The user's initial buffer, made before the arena and freed after it.
  struct buffer {
    explicit buffer(reader& setup) {
      static constexpr std::size_t kSizes[] = {0, 0, 64, 1024, 16384};
      const std::size_t n = setup.pick(kSizes);
      words =
          std::make_unique<std::max_align_t[]>(n / sizeof(std::max_align_t));
      bytes = {reinterpret_cast<std::byte*>(words.get()), n};
    }
    std::unique_ptr<std::max_align_t[]> words;
    std::span<std::byte> bytes;
  };

  static monotonic_arena_options options(reader& setup,
                                         std::span<std::byte> initial) {
    static constexpr std::size_t kInitial[] = {1, 64, 4096, 65536};
    static constexpr double kGrowth[] = {1.0, 1.5, 2.0, 3.0};
    static constexpr std::size_t kMaxChunk[] = {4096, 65536, 1 << 20};
    static constexpr std::size_t kRetain[] = {0, 4096, SIZE_MAX};
    monotonic_arena_options o;
    o.initial_buffer = initial;
    o.initial_size = setup.pick(kInitial);
    o.growth_factor = setup.pick(kGrowth);
    o.max_chunk_size = setup.pick(kMaxChunk);
    o.retain_bytes = setup.pick(kRetain);
    return o;
  }

  monotonic_arena_target(reader& setup, context& ctx)
      : initial(setup), arena(options(setup, initial.bytes), &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return arena; }

  // A mark, the first block id it does not cover, and whether a rewind to
  // it must succeed (false once a rewind to an earlier mark, a reset or a
  // release dropped it).
  struct taken_mark {
    arena_mark mark;
    std::uint64_t first_after;
    bool valid;
  };

  void invalidate_marks_after(std::size_t i) {
    for (std::size_t j = i + 1; j < marks.size(); ++j) marks[j].valid = false;
  }

  void drop_everything(context& ctx) {
    ctx.model().drop_if([](const live_block&) { return true; });
    for (taken_mark& m : marks) m.valid = false;
  }

  void rewind(context& ctx, std::size_t i) {
    const taken_mark m = marks[i];
    ctx.model().verify_all();  // what the rewind drops is poisoned after
    try {
      arena.rewind(m.mark);
    } catch (const std::invalid_argument&) {
      STRATA_FUZZ_CHECK(!m.valid, "rewind to valid mark #%zu threw", i);
      return;
    } catch (const std::bad_alloc&) {
      // Recording which marks the rewind drops may take memory; a failure
      // must leave everything as it was.
      STRATA_FUZZ_CHECK(m.valid, "rewind to stale mark #%zu threw bad_alloc",
                        i);
      return;
    }
    STRATA_FUZZ_CHECK(m.valid,
                      "rewind to mark #%zu, which a reset or an earlier "
                      "rewind dropped, returned normally",
                      i);
    ctx.model().drop_if(
        [&](const live_block& b) { return b.id >= m.first_after; });
    invalidate_marks_after(i);
  }

  void op(std::uint8_t code, reader& in, context& ctx) {
    switch (code % 8) {
      case 0:
      case 1:
        // Forgetting the oldest mark changes nothing for the others.
        if (marks.size() == 32) marks.erase(marks.begin());
        marks.push_back({arena.mark(), ctx.model().next_id(), true});
        break;
      case 2:
      case 3:
        if (!marks.empty()) rewind(ctx, in.below(marks.size()));
        break;
      case 4:
        ctx.model().verify_all();
        arena.reset();
        drop_everything(ctx);
        STRATA_FUZZ_CHECK(arena.stats().bytes_used == 0,
                          "bytes_used is %zu after reset()",
                          arena.stats().bytes_used);
        break;
      case 5:
        ctx.model().verify_all();
        arena.release();
        drop_everything(ctx);
        STRATA_FUZZ_CHECK(ctx.upstream().bytes_in_use() == 0,
                          "the upstream holds %zu bytes after release()",
                          ctx.upstream().bytes_in_use());
        break;
      case 6:
        reclaim_and_check(ctx, arena, in);
        break;
      case 7:
        free_newest(ctx);
        break;
    }
  }

  // The LIFO free, which the random frees rarely hit.
  void free_newest(context& ctx) {
    if (ctx.model().empty()) return;
    std::size_t newest = 0;
    for (std::size_t i = 1; i < ctx.model().size(); ++i) {
      if (ctx.model().at(i).id > ctx.model().at(newest).id) newest = i;
    }
    free_block(ctx, newest);
  }

  void check(context& ctx) {
    const monotonic_arena_stats s = arena.stats();
    STRATA_FUZZ_CHECK(s.bytes_reserved == ctx.upstream().bytes_in_use(),
                      "stats().bytes_reserved is %zu, the upstream holds %zu",
                      s.bytes_reserved, ctx.upstream().bytes_in_use());
    STRATA_FUZZ_CHECK(arena.cached_bytes() <= s.bytes_reserved,
                      "cached_bytes() %zu is more than bytes_reserved %zu",
                      arena.cached_bytes(), s.bytes_reserved);
  }

  buffer initial;
  monotonic_arena arena;
  std::vector<taken_mark> marks;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::monotonic_arena_target>(data, size);
}
