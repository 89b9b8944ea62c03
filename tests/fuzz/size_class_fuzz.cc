// Operation sequences against a size_class_resource: slab classes, the two
// page heaps, large blocks to the upstream, empty-span lists and reclaim().

#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "strata/size_class_resource.h"

#include "fuzz_driver.h"

namespace strata::fuzz {
namespace {

struct size_class_target : target_base<size_class_target> {
  static size_class_options options(reader& setup) {
    static constexpr std::size_t kLargest[] = {64, 1024, 32 << 10, 256 << 10};
    static constexpr std::size_t kSpans[] = {4 << 10, 16 << 10, 64 << 10};
    size_class_options o;
    o.largest_class = setup.pick(kLargest);
    o.span_size = setup.pick(kSpans);
    o.slab_span_size = setup.pick(kSpans);
    o.max_empty_spans = setup.u8() % 5;
    o.empty_spans_growth = setup.u8() % 5;
    o.max_empty_page_spans = setup.u8() % 3;
    o.keep_empty_spans = setup.u8() % 3;
    return o;
  }

  size_class_target(reader& setup, context& ctx)
      : slabs(options(setup), &ctx.upstream()) {}

  std::pmr::memory_resource& resource() { return slabs; }

  void op(std::uint8_t code, reader& in, context& ctx) {
    if (code % 2 == 0) reclaim_and_check(ctx, slabs, in);
  }

  void check(context& ctx) {
    // stats() sums the page heap's free runs for every class: costlier than
    // the operations, so every 16th.
    if (!ctx.every(16)) return;
    const size_class_resource_stats s = slabs.stats();
    STRATA_FUZZ_CHECK(s.bytes_in_use == ctx.model().live_bytes(),
                      "stats().bytes_in_use is %zu, %zu bytes are live",
                      s.bytes_in_use, ctx.model().live_bytes());
    STRATA_FUZZ_CHECK(s.bytes_held <= ctx.upstream().bytes_in_use(),
                      "stats().bytes_held is %zu, the upstream holds %zu",
                      s.bytes_held, ctx.upstream().bytes_in_use());
  }

  size_class_resource slabs;
};

}  // namespace
}  // namespace strata::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return strata::fuzz::run<strata::fuzz::size_class_target>(data, size);
}
