// A service with two subsystems under one process memory budget, the way a
// garbage-collected runtime holds a heap limit over everything it runs:
//
//   process governor (hard limit, waits, background reclaimer)
//     |-- request handler stack: sync pool + its own governor; each request
//     |   builds its objects in an arena over that stack, and its buffers
//     |   come pooled from the stack directly
//     `-- cache stack: size classes + a governor with its own budget; the
//         cache evicts when its budget says no
//
// A memory monitor prints each governor's stats every second while it runs,
// like a runtime's memory monitor; one step of each request (its commit)
// runs in a critical section, where it never pauses. At the end the program
// checks that no budget was passed and that every byte came back.
//
// Usage: example_subsystems [seconds]   (default 2)

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory_resource>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "strata/adapters/memory_monitor.h"
#include "strata/governor_resource.h"
#include "strata/limit_exceeded.h"
#include "strata/monotonic_arena.h"
#include "strata/resource_stack.h"

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// One request: parse into an arena, fill a pooled buffer, commit.
void handle_request(std::pmr::memory_resource* handler,
                    strata::governor_resource& handler_governor, int id) {
  strata::monotonic_arena arena({}, handler);  // this request's objects
  std::pmr::vector<std::pmr::string> fields(&arena);
  for (int i = 0; i < 200; ++i) {
    fields.emplace_back("field-" + std::to_string(id) + "-" +
                        std::to_string(i) + "-with-some-payload");
  }
  std::pmr::vector<char> response(16 << 10, 'x', handler);  // pooled buffer
  {
    // Committing must not stall: no reclaim, no wait, and the reserve is
    // there if the budget is tight just now.
    const auto guard = handler_governor.critical_section();
    std::pmr::vector<char> commit_record(512, 'c', handler);
  }
}

// One line per governor, like a runtime's memory monitor: footprint against
// the limit, live and cached bytes, refusals, and the pauses it caused.
void print_summary(const strata::monitor_snapshot& snapshot) {
  for (const auto& resource : snapshot.resources) {
    const std::string& name = resource.first;
    const strata::monitor_sample& fields = resource.second;
    auto field = [&fields](std::string_view key) {
      for (const strata::monitor_field& f : fields) {
        if (f.name == key) return f.value;
      }
      return 0.0;
    };
    std::printf(
        "%-8s footprint %6.2f / %6.2f MiB  live %6.2f MiB  cached %6.2f MiB  "
        "hits %5.0f  failed %5.0f  cycles %4.0f  pauses %5.0f (max %7.1f us)  "
        "waits %3.0f\n",
        name.c_str(), field("footprint_bytes") / kMiB,
        field("hard_limit") / kMiB, field("live_bytes") / kMiB,
        field("cached_bytes") / kMiB, field("limit_hits"), field("failures"),
        field("reclaim_cycles"), field("pauses"), field("pause_max_us"),
        field("waits"));
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::duration<double>(seconds));

  strata::governor_resource process({.hard_limit = 48 * kMiB,
                                     .policy = strata::pause_policy::wait,
                                     .max_wait = std::chrono::milliseconds(20),
                                     .critical_reserve = 1 * kMiB,
                                     .background_reclaimer = true,
                                     .soft_mark = 0.75},
                                    std::pmr::new_delete_resource());

  strata::resource_stack handler =
      strata::resource_stack::builder(&process)
          .sync_pool()
          .governor({.hard_limit = 32 * kMiB, .critical_reserve = kMiB})
          .build();
  strata::resource_stack cache =
      strata::resource_stack::builder(&process)
          .size_classes()
          .governor(
              {.hard_limit = 8 * kMiB, .policy = strata::pause_policy::reclaim})
          .build();
  auto& handler_governor = *handler.find<strata::governor_resource>();
  auto& cache_governor = *cache.find<strata::governor_resource>();

  int failures = 0;
  {
    strata::memory_monitor monitor(
        {.period = std::chrono::seconds(1)},
        [](const strata::monitor_snapshot& s) { print_summary(s); });
    monitor.watch("process",
                  [&] { return strata::fields_of(process.stats()); });
    monitor.watch("handler",
                  [&] { return strata::fields_of(handler_governor.stats()); });
    monitor.watch("cache",
                  [&] { return strata::fields_of(cache_governor.stats()); });

    std::atomic<long> requests{0};
    std::atomic<long> refused{0};
    auto serve = [&](int worker) {
      for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
        try {
          handle_request(handler.top(), handler_governor, worker * 1000000 + i);
          requests.fetch_add(1, std::memory_order_relaxed);
        } catch (const strata::limit_exceeded&) {
          refused.fetch_add(1, std::memory_order_relaxed);
        }
      }
    };
    // The cache runs on one thread (size classes are single-threaded): it
    // keeps entries until its budget refuses one, then evicts the oldest.
    long evictions = 0;
    auto run_cache = [&] {
      std::pmr::unordered_map<int, std::pmr::string> entries(cache.top());
      std::deque<int> order;
      for (int key = 0; std::chrono::steady_clock::now() < until; ++key) {
        for (;;) {
          try {
            entries.emplace(
                key, std::pmr::string(
                         1024 + static_cast<std::size_t>(key) % 2048, 'v'));
            order.push_back(key);
            break;
          } catch (const strata::limit_exceeded&) {
            for (int n = 0; n < 256 && !order.empty(); ++n) {
              entries.erase(order.front());
              order.pop_front();
              ++evictions;
            }
          }
        }
      }
    };
    std::thread worker_a(serve, 1);
    std::thread worker_b(serve, 2);
    std::thread cache_thread(run_cache);
    worker_a.join();
    worker_b.join();
    cache_thread.join();
    std::printf("requests: %ld (refused %ld), cache evictions: %ld\n",
                requests.load(), refused.load(), evictions);
    print_summary(monitor.sample_now());
  }

  const strata::governor_stats p = process.stats();
  const strata::governor_stats c = cache_governor.stats();
  if (p.peak_footprint_bytes > p.hard_limit + kMiB) {  // + critical reserve
    std::printf("the process budget was passed\n");
    ++failures;
  }
  if (c.peak_footprint_bytes > c.hard_limit) {
    std::printf("the cache budget was passed\n");
    ++failures;
  }
  if (handler_governor.stats().live_bytes != 0 || c.live_bytes != 0) {
    std::printf("bytes still live in a subsystem\n");
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}
