// The exception-safety loop over every resource and shipped stack: a whole
// scenario (a seeded mix of allocations of mixed sizes and alignments, frees
// and the type's own operations: reclaim, arena reset and rewind, limit
// changes, critical sections) runs once for every n with the n-th upstream
// allocation failing, until a run never reaches the failure. Each run checks
//
//   no leak        the upstream holds nothing once the resource is gone,
//                  and a failed call kept nothing it took
//   no corruption  every block handed out keeps its pattern and its
//                  alignment, and no two live blocks overlap
//   no misuse      the upstream (a recording test_resource) saw no defect
//   usable         right after each failure, one more allocate and free
//                  succeed
//
// The conformance suite's UpstreamFailure case fails one call at a time on a
// fresh resource; here the failure lands wherever the scenario happens to
// be: in a refill, a prewarm, a rewind that records dropped marks, a span
// taken for a class, a stack's constructor.
//
//   ExceptionSafetyTest.EveryUpstreamFailureLeavesAUsableResource/<subject>
//   ExceptionSafetyTest.TheScenarioPassesWithoutFailures/<subject>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <new>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "strata/adapters/resource_adaptor.h"
#include "strata/adapters/stats_resource.h"
#include "strata/adapters/synchronized_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/governor_resource.h"
#include "strata/limit_exceeded.h"
#include "strata/limit_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/resource_stack.h"
#include "strata/size_class_resource.h"
#include "strata/size_router_resource.h"
#include "strata/sync_pool_resource.h"

#include "testing/checker.h"
#include "testing/pattern.h"

namespace strata {
namespace {

class scenario;

/// One of the type's own operations, run between allocations.
struct own_op {
  std::string_view name;
  std::function<void(scenario&)> run;
};

/// A resource or stack under test, with the layers it owns (members of the
/// derived class, declared bottom first so the top goes first).
class subject {
 public:
  virtual ~subject() = default;
  [[nodiscard]] virtual std::pmr::memory_resource& top() = 0;

  std::vector<own_op> ops;
  /// When set, half the requests are exactly this size (a fixed-size pool's
  /// block), aligned to at most fixed_alignment.
  std::size_t fixed_size = 0;
  std::size_t fixed_alignment = alignof(std::max_align_t);
  /// Alignments are drawn up to this.
  std::size_t max_alignment = 4096;
};

using subject_factory =
    std::unique_ptr<subject> (*)(std::pmr::memory_resource* upstream);

struct named_factory {
  std::string_view name;
  subject_factory make;
};

/// The scenario and its checks, for one resource over one checker.
class scenario {
 public:
  static constexpr int kSteps = 300;
  static constexpr std::size_t kMaxLive = 48;

  scenario(subject& s, test_resource& checker, std::uint64_t seed)
      : subject_(s), checker_(checker), rng_(seed) {}

  /// Runs the mixed sequence of allocations, frees and own operations.
  void run() {
    for (int step = 0; step < kSteps && !::testing::Test::HasFailure();
         ++step) {
      const std::uint64_t pick = rng_() % 16;
      if (live_.empty() || (pick < 8 && live_.size() < kMaxLive)) {
        allocate_one();
      } else if (pick < 14 || subject_.ops.empty()) {
        free_one(static_cast<std::size_t>(rng_() % live_.size()));
      } else {
        const own_op& op = subject_.ops[rng_() % subject_.ops.size()];
        SCOPED_TRACE(op.name);
        const std::size_t held = checker_.bytes_in_use();
        try {
          op.run(*this);
        } catch (const std::bad_alloc&) {
          if (unhandled_failure()) {
            after_failure(held, true);
          } else {
            ADD_FAILURE() << "refused without an upstream failure";
          }
          continue;
        }
        if (unhandled_failure()) after_failure(held, false);
      }
    }
  }

  /// Checks and frees every live block.
  void finish() {
    while (!live_.empty()) free_one(live_.size() - 1);
  }

  /// One allocation with its checks; a refusal by a limit (no upstream
  /// failure behind it) is counted, not failed.
  void allocate_one() {
    std::size_t size;
    std::size_t alignment;
    draw(size, alignment);
    const std::size_t held = checker_.bytes_in_use();
    void* p;
    try {
      p = subject_.top().allocate(size, alignment);
    } catch (const std::bad_alloc&) {
      if (unhandled_failure()) {
        after_failure(held, true);
      } else {
        ++refusals_;
      }
      return;
    }
    add(p, size, alignment);
    // A failure the resource absorbed (a smaller batch, a retry) must leave
    // it as sound as one it passed on.
    if (unhandled_failure()) after_failure(held, false);
  }

  /// Takes `p`, just handed out, into the live set.
  void add(void* p, std::size_t size, std::size_t alignment) {
    auto* start = static_cast<std::byte*>(p);
    EXPECT_TRUE(testing::is_aligned(p, alignment))
        << p << " for alignment " << alignment;
    for (const block& b : live_) {
      const bool apart = start + std::max<std::size_t>(size, 1) <= b.p ||
                         b.p + std::max<std::size_t>(b.size, 1) <= start;
      EXPECT_TRUE(apart) << "block " << p << " of " << size
                         << " bytes overlaps live block "
                         << static_cast<void*>(b.p) << " of " << b.size;
    }
    const block b{start, size, alignment, next_sequence_, next_sequence_};
    ++next_sequence_;
    testing::fill_pattern(b.p, b.size, b.seed);
    live_.push_back(b);
  }

  /// The sequence number the next block will get (for an arena mark).
  [[nodiscard]] std::uint64_t next_sequence() const { return next_sequence_; }
  /// Forgets the blocks allocated from `sequence` on (a rewind dropped
  /// them).
  void drop_since(std::uint64_t sequence) {
    std::erase_if(live_,
                  [&](const block& b) { return b.sequence >= sequence; });
  }
  /// Forgets every block (a reset dropped them).
  void drop_all() { live_.clear(); }
  /// A draw from the scenario's generator, for the operations.
  std::uint64_t random() { return rng_(); }

  /// Blocks and bytes the scenario holds.
  [[nodiscard]] std::size_t live_blocks() const { return live_.size(); }
  [[nodiscard]] std::size_t live_bytes() const {
    std::size_t sum = 0;
    for (const block& b : live_) sum += b.size;
    return sum;
  }
  [[nodiscard]] std::size_t failures() const { return failures_; }
  [[nodiscard]] std::size_t refusals() const { return refusals_; }

 private:
  struct block {
    std::byte* p;
    std::size_t size;
    std::size_t alignment;
    std::uint64_t seed;
    std::uint64_t sequence;
  };

  // True when the upstream failed since the last failure was checked.
  [[nodiscard]] bool unhandled_failure() const {
    return checker_.stats().failed_allocations > failures_;
  }

  // Mostly small sizes, some middle ones, a few beyond every pool and class;
  // mostly the usual alignments, some strict ones.
  void draw(std::size_t& size, std::size_t& alignment) {
    if (subject_.fixed_size != 0 && rng_() % 2 == 0) {
      size = subject_.fixed_size;
      alignment = std::size_t{1} << (rng_() % 5);
      alignment = std::min(alignment, subject_.fixed_alignment);
      return;
    }
    const std::uint64_t pick = rng_() % 32;
    const std::size_t cap = pick < 16   ? 64
                            : pick < 26 ? 1024
                            : pick < 31 ? 8192
                                        : 96 << 10;
    size = static_cast<std::size_t>(rng_() % (cap + 1));  // 0 included
    std::size_t shifts = 0;
    while ((std::size_t{2} << shifts) <= subject_.max_alignment) ++shifts;
    const std::size_t shift =
        rng_() % 4 == 0 ? static_cast<std::size_t>(rng_() % (shifts + 1))
                        : static_cast<std::size_t>(rng_() % 5);  // to 16
    alignment = std::size_t{1} << shift;
  }

  void free_one(std::size_t i) {
    const block b = live_[i];
    live_[i] = live_.back();
    live_.pop_back();
    EXPECT_TRUE(testing::has_pattern(b.p, b.size, b.seed))
        << "block " << static_cast<void*>(b.p) << " of " << b.size
        << " bytes was overwritten";
    subject_.top().deallocate(b.p, b.size, b.alignment);
  }

  // What an upstream failure must leave: nothing kept by the call that
  // failed, every live block intact, and a resource that serves the next
  // request.
  void after_failure(std::size_t held_before, bool threw) {
    failures_ = checker_.stats().failed_allocations;
    if (threw) {
      EXPECT_LE(checker_.bytes_in_use(), held_before)
          << "the failed call kept memory it took from the upstream";
    }
    for (const block& b : live_) {
      EXPECT_TRUE(testing::has_pattern(b.p, b.size, b.seed))
          << "live block " << static_cast<void*>(b.p) << " of " << b.size
          << " bytes was overwritten by the failure";
    }
    try {
      void* p = subject_.top().allocate(64, 8);
      testing::fill_pattern(p, 64, 1);
      EXPECT_TRUE(testing::has_pattern(p, 64, 1));
      subject_.top().deallocate(p, 64, 8);
    } catch (const std::bad_alloc& e) {
      ADD_FAILURE() << "not usable right after the failure: " << e.what();
    }
  }

  subject& subject_;
  test_resource& checker_;
  std::mt19937_64 rng_;
  std::vector<block> live_;
  std::uint64_t next_sequence_ = 0;
  std::size_t failures_ = 0;  // upstream failures checked so far
  std::size_t refusals_ = 0;
};

// ---------------------------------------------------------------------------
// The subjects, each with its own operations. Pools keep small thread caches:
// a refill takes a magazine block by block from the upstream, and the loop
// costs the square of the upstream calls a scenario makes.

// A reclaim of everything and a small one.
template <class Cache>
void add_reclaims(subject& s, Cache& cache) {
  s.ops.push_back({"reclaim all", [&cache](scenario&) { cache.reclaim({}); }});
  s.ops.push_back(
      {"reclaim some", [&cache](scenario&) { cache.reclaim({.bytes = 512}); }});
}

// Lowers the hard limit to what is counted, asks for more, and puts it
// back: the refusal path runs with the failure anywhere around it.
void add_governor_ops(subject& s, governor_resource& g) {
  s.ops.push_back({"reclaim step", [&g](scenario&) { g.reclaim_step(); }});
  s.ops.push_back({"refused at the limit", [&g](scenario& sc) {
                     const std::size_t limit = g.hard_limit();
                     g.set_hard_limit(g.footprint());
                     sc.allocate_one();
                     g.set_hard_limit(limit);
                   }});
  s.ops.push_back({"growth changes", [&g](scenario& sc) {
                     g.set_growth_percent(static_cast<int>(sc.random() % 3) *
                                              50 -
                                          1);  // -1, 49, 99
                   }});
  s.ops.push_back({"critical section", [&g](scenario& sc) {
                     auto guard = g.critical_section();
                     sc.allocate_one();
                   }});
}

std::unique_ptr<subject> make_sync_pool(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : pool({.largest_pooled = 16 << 10, .thread_cache_bytes = 256}, up) {
      add_reclaims(*this, pool);
    }
    std::pmr::memory_resource& top() override { return pool; }
    sync_pool_resource pool;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_bounded_pool(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : pool({.block_size = 128,
                .block_alignment = 16,
                .max_pooled = 16,
                .prewarm = 8,
                .shards = 1},
               up) {
      fixed_size = 128;
      fixed_alignment = 16;
      add_reclaims(*this, pool);
    }
    std::pmr::memory_resource& top() override { return pool; }
    bounded_pool_resource pool;
  };
  return std::make_unique<s>(up);
}

// A cap that overflows to the upstream: both kinds of block in one run.
std::unique_ptr<subject> make_capped_bounded_pool(
    std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : pool({.block_size = 128,
                .block_alignment = 16,
                .max_pooled = 8,
                .max_outstanding = 12,
                .prewarm = 4,
                .when_exhausted = exhausted_policy::use_upstream,
                .shards = 2},
               up) {
      fixed_size = 128;
      fixed_alignment = 16;
      add_reclaims(*this, pool);
    }
    std::pmr::memory_resource& top() override { return pool; }
    bounded_pool_resource pool;
  };
  return std::make_unique<s>(up);
}

// Marks nest: rewinding to the newest keeps the older ones; rewinding to an
// older one drops the newer ones (and records them, an upstream call).
struct arena_ops {
  struct taken {
    arena_mark mark;
    std::uint64_t sequence;
  };
  std::vector<taken> marks;

  void add(subject& s, monotonic_arena& arena) {
    s.ops.push_back({"mark", [this, &arena](scenario& sc) {
                       marks.push_back({arena.mark(), sc.next_sequence()});
                     }});
    s.ops.push_back({"rewind", [this, &arena](scenario& sc) {
                       if (marks.empty()) return;
                       const std::size_t keep =
                           static_cast<std::size_t>(sc.random() % marks.size());
                       const taken to = marks[keep];
                       arena.rewind(to.mark);  // may throw: then unchanged
                       sc.drop_since(to.sequence);
                       marks.resize(keep + 1);
                     }});
    s.ops.push_back({"reset", [this, &arena](scenario& sc) {
                       arena.reset();
                       sc.drop_all();
                       marks.clear();
                     }});
    s.ops.push_back({"release", [this, &arena](scenario& sc) {
                       arena.release();
                       sc.drop_all();
                       marks.clear();
                     }});
    s.ops.push_back({"reclaim", [&arena](scenario&) { arena.reclaim({}); }});
  }
};

std::unique_ptr<subject> make_arena(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : arena({.initial_size = 1024,
                 .max_chunk_size = 16 << 10,
                 .retain_bytes = 32 << 10},
                up) {
      ops_.add(*this, arena);
    }
    std::pmr::memory_resource& top() override { return arena; }
    monotonic_arena arena;
    arena_ops ops_;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_arena_with_buffer(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : arena({.initial_buffer = buffer,
                 .initial_size = 2048,
                 .max_chunk_size = 8 << 10,
                 .retain_bytes = 0},
                up) {
      ops_.add(*this, arena);
    }
    std::pmr::memory_resource& top() override { return arena; }
    alignas(64) std::array<std::byte, 4096> buffer{};
    monotonic_arena arena;
    arena_ops ops_;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_size_classes(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : slabs({.max_empty_spans = 1, .empty_spans_growth = 0}, up) {
      add_reclaims(*this, slabs);
    }
    std::pmr::memory_resource& top() override { return slabs; }
    size_class_resource slabs;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_limit(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up) : capped({.limit = 8 << 20}, up) {
      ops.push_back({"refused at the limit", [this](scenario& sc) {
                       const std::size_t limit = capped.limit();
                       capped.set_limit(capped.in_use());
                       EXPECT_THROW(static_cast<void>(capped.allocate(1, 1)),
                                    limit_exceeded);
                       capped.set_limit(limit);
                       sc.allocate_one();
                     }});
      ops.push_back({"limit changes", [this](scenario& sc) {
                       capped.set_limit((std::size_t{4} << 20)
                                        << (sc.random() % 3));
                     }});
    }
    std::pmr::memory_resource& top() override { return capped; }
    limit_resource capped;
  };
  return std::make_unique<s>(up);
}

// A limit over a pool: the pool's failures surface through the limit, which
// must not keep the charge.
std::unique_ptr<subject> make_limit_over_pool(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : pool({.thread_cache_bytes = 256}, up),
          capped({.limit = 8 << 20}, &pool) {
      add_reclaims(*this, pool);
      ops.push_back({"limit check", [this](scenario&) {
                       EXPECT_LE(capped.in_use(), capped.limit());
                     }});
    }
    std::pmr::memory_resource& top() override { return capped; }
    sync_pool_resource pool;
    limit_resource capped;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_size_router(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : small({.block_size = 64, .max_pooled = 16, .prewarm = 4}, up),
          middle({.thread_cache_bytes = 256}, up),
          slabs({}, up),
          router(routes(), up) {
      add_reclaims(*this, small);
      add_reclaims(*this, middle);
      add_reclaims(*this, slabs);
    }
    std::span<const size_route> routes() {
      routes_[0] = {64, &small};
      routes_[1] = {1024, &middle};
      routes_[2] = {8192, &slabs};
      return routes_;
    }
    std::pmr::memory_resource& top() override { return router; }
    bounded_pool_resource small;
    sync_pool_resource middle;
    size_class_resource slabs;
    size_route routes_[3];
    size_router_resource router;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_governor(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : g({.hard_limit = 8 << 20, .growth_percent = 50, .growth_floor = 0},
            up) {
      add_governor_ops(*this, g);
    }
    std::pmr::memory_resource& top() override { return g; }
    governor_resource g;
  };
  return std::make_unique<s>(up);
}

// A hand-built governed pool: the governor reclaims the pool it counts.
std::unique_ptr<subject> make_governed_pool(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : meter(up),
          pool({.thread_cache_bytes = 256}, &meter),
          g({.hard_limit = 8 << 20, .growth_percent = 50, .growth_floor = 0},
            &pool, &meter) {
      g.add_reclaimable(pool);
      add_governor_ops(*this, g);
      add_reclaims(*this, pool);
    }
    ~s() override { g.remove_reclaimable(pool); }
    std::pmr::memory_resource& top() override { return g; }
    governor_meter meter;
    sync_pool_resource pool;
    governor_resource g;
  };
  return std::make_unique<s>(up);
}

// A built stack, with the operations of its governors and pools.
class stack_subject final : public subject {
 public:
  explicit stack_subject(resource_stack stack,
                         std::unique_ptr<governor_resource> process = nullptr)
      : process_(std::move(process)), stack_(std::move(stack)) {
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      std::pmr::memory_resource* layer = stack_.layer(i);
      if (auto* g = dynamic_cast<governor_resource*>(layer)) {
        add_governor_ops(*this, *g);
      } else if (auto* pool = dynamic_cast<sync_pool_resource*>(layer)) {
        add_reclaims(*this, *pool);
      } else if (auto* bounded = dynamic_cast<bounded_pool_resource*>(layer)) {
        add_reclaims(*this, *bounded);
      }
    }
    if (process_) add_governor_ops(*this, *process_);
  }
  std::pmr::memory_resource& top() override { return *stack_.top(); }

 private:
  std::unique_ptr<governor_resource> process_;
  resource_stack stack_;
};

constexpr governor_options kStackBudget = {
    .hard_limit = 8 << 20, .growth_percent = 50, .growth_floor = 0};

std::unique_ptr<subject> make_pool_governor_stack(
    std::pmr::memory_resource* up) {
  return std::make_unique<stack_subject>(
      resource_stack::builder(up)
          .sync_pool({.thread_cache_bytes = 256})
          .governor(kStackBudget)
          .build());
}

std::unique_ptr<subject> make_slab_pool_governor_stack(
    std::pmr::memory_resource* up) {
  return std::make_unique<stack_subject>(
      resource_stack::builder(up)
          .size_classes()
          .sync_pool({.thread_cache_bytes = 256})
          .governor(kStackBudget)
          .build());
}

std::unique_ptr<subject> make_bounded_pool_governor_stack(
    std::pmr::memory_resource* up) {
  auto s =
      std::make_unique<stack_subject>(resource_stack::builder(up)
                                          .bounded_pool({.block_size = 128,
                                                         .block_alignment = 16,
                                                         .max_pooled = 16,
                                                         .prewarm = 8})
                                          .governor(kStackBudget)
                                          .build());
  s->fixed_size = 128;
  s->fixed_alignment = 16;
  return s;
}

std::unique_ptr<subject> make_governor_under_governor_stack(
    std::pmr::memory_resource* up) {
  auto process = std::make_unique<governor_resource>(
      governor_options{.hard_limit = 16 << 20}, up);
  resource_stack stack = resource_stack::builder(process.get())
                             .sync_pool({.thread_cache_bytes = 256})
                             .governor(kStackBudget)
                             .build();
  return std::make_unique<stack_subject>(std::move(stack), std::move(process));
}

// The router's resources are built over the same upstream and must outlive
// the stack.
std::unique_ptr<subject> make_size_router_stack(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : small({.block_size = 64, .max_pooled = 16}, up),
          middle({.thread_cache_bytes = 256}, up),
          stack(resource_stack::builder(up)
                    .limit({.limit = 8 << 20})
                    .size_router({{64, &small}, {1024, &middle}})
                    .governor(kStackBudget)
                    .build()) {
      add_reclaims(*this, small);
      add_reclaims(*this, middle);
      add_governor_ops(*this, *stack.find<governor_resource>());
    }
    std::pmr::memory_resource& top() override { return *stack.top(); }
    bounded_pool_resource small;
    sync_pool_resource middle;
    resource_stack stack;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_stats(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up) : counted(up) {
      ops.push_back({"stats", [this](scenario& sc) {
                       const stats_resource_stats st = counted.stats();
                       EXPECT_EQ(st.bytes_in_use, sc.live_bytes());
                       EXPECT_EQ(st.allocations - st.deallocations,
                                 sc.live_blocks());
                     }});
    }
    std::pmr::memory_resource& top() override { return counted; }
    stats_resource counted;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_stats_over_pool(std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : pool({.thread_cache_bytes = 256}, up), counted(&pool) {
      add_reclaims(*this, pool);
    }
    std::pmr::memory_resource& top() override { return counted; }
    sync_pool_resource pool;
    stats_resource counted;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_synchronized_size_classes(
    std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : shared(
              size_class_options{.max_empty_spans = 1, .empty_spans_growth = 0},
              up) {
      ops.push_back({"reclaim under the lock", [this](scenario&) {
                       auto lock = shared.lock();
                       shared.get().reclaim({});
                     }});
    }
    std::pmr::memory_resource& top() override { return shared; }
    synchronized_resource<size_class_resource> shared;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_synchronized_arena(
    std::pmr::memory_resource* up) {
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : shared(monotonic_arena_options{.initial_size = 1024,
                                         .max_chunk_size = 16 << 10},
                 up) {
      ops.push_back({"reset under the lock", [this](scenario& sc) {
                       auto lock = shared.lock();
                       shared.get().reset();
                       sc.drop_all();
                     }});
    }
    std::pmr::memory_resource& top() override { return shared; }
    synchronized_resource<monotonic_arena> shared;
  };
  return std::make_unique<s>(up);
}

std::unique_ptr<subject> make_resource_adaptor(std::pmr::memory_resource* up) {
  using adaptor = resource_adaptor<std::pmr::polymorphic_allocator<std::byte>>;
  struct s final : subject {
    explicit s(std::pmr::memory_resource* up)
        : adapted(std::pmr::polymorphic_allocator<std::byte>(up)) {}
    std::pmr::memory_resource& top() override { return adapted; }
    adaptor adapted;
  };
  return std::make_unique<s>(up);
}

const named_factory kSubjects[] = {
    {"sync_pool", make_sync_pool},
    {"bounded_pool", make_bounded_pool},
    {"capped_bounded_pool", make_capped_bounded_pool},
    {"monotonic_arena", make_arena},
    {"monotonic_arena_with_buffer", make_arena_with_buffer},
    {"size_classes", make_size_classes},
    {"limit", make_limit},
    {"limit_over_pool", make_limit_over_pool},
    {"size_router", make_size_router},
    {"governor", make_governor},
    {"governed_pool", make_governed_pool},
    {"pool_governor_stack", make_pool_governor_stack},
    {"slab_pool_governor_stack", make_slab_pool_governor_stack},
    {"bounded_pool_governor_stack", make_bounded_pool_governor_stack},
    {"governor_under_governor_stack", make_governor_under_governor_stack},
    {"size_router_stack", make_size_router_stack},
    {"stats", make_stats},
    {"stats_over_pool", make_stats_over_pool},
    {"synchronized_size_classes", make_synchronized_size_classes},
    {"synchronized_arena", make_synchronized_arena},
    {"resource_adaptor", make_resource_adaptor},
};

// ---------------------------------------------------------------------------

class ExceptionSafetyTest : public ::testing::TestWithParam<named_factory> {
 protected:
  // One seed: the loop costs the square of the upstream calls, and the
  // sanitizer workflows run it too.
  static constexpr std::uint64_t kSeeds[] = {1};

  // One run of the scenario with the n-th upstream allocation failing;
  // returns whether the failure was never reached (the loop then ends).
  bool attempt(std::uint64_t seed, std::size_t n) {
    SCOPED_TRACE(::testing::Message()
                 << "seed " << seed << ", upstream allocation " << n
                 << " fails");
    test_resource checker(testing::recording_checker("upstream"));
    checker.fail_after(n);
    bool reached = false;
    {
      std::unique_ptr<subject> s;
      try {
        s = GetParam().make(&checker);
      } catch (const std::bad_alloc&) {
        // The constructor met the failure (a prewarm, a stack's layer): it
        // must have given back what it took.
        s = nullptr;
      }
      if (s) {
        scenario sc(*s, checker, seed);
        sc.run();
        EXPECT_TRUE(::testing::Test::HasFailure() ||
                    sc.failures() <= 1);  // the failure fires once
        sc.finish();
      }
      reached = checker.stats().failed_allocations != 0;
      checker.fail_after(0);
    }
    EXPECT_EQ(checker.bytes_in_use(), 0u) << "left with the upstream";
    for (const defect& d : checker.defects()) ADD_FAILURE() << d.message;
    // One report is enough: the same defect would fail every n after it.
    return !reached || ::testing::Test::HasFailure();
  }
};

TEST_P(ExceptionSafetyTest, EveryUpstreamFailureLeavesAUsableResource) {
  for (const std::uint64_t seed : kSeeds) {
    const std::size_t runs = testing::for_each_upstream_failure(
        [&](std::size_t n) { return attempt(seed, n); });
    EXPECT_GT(runs, 1u) << "the scenario never reached the upstream";
    if (HasFailure()) return;
  }
}

// The loop is only as good as the scenario: it must reach the upstream and
// the type's own operations many times, or the failures land nowhere.
TEST_P(ExceptionSafetyTest, TheScenarioPassesWithoutFailures) {
  test_resource checker(testing::recording_checker("upstream"));
  {
    std::unique_ptr<subject> s = GetParam().make(&checker);
    scenario sc(*s, checker, kSeeds[0]);
    sc.run();
    sc.finish();
    EXPECT_EQ(sc.failures(), 0u);
  }
  EXPECT_GE(checker.stats().allocations, 10u);
  EXPECT_EQ(checker.bytes_in_use(), 0u);
  EXPECT_TRUE(checker.defects().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Subjects, ExceptionSafetyTest, ::testing::ValuesIn(kSubjects),
    [](const ::testing::TestParamInfo<named_factory>& param) {
      return std::string(param.param.name);
    });

}  // namespace
}  // namespace strata
