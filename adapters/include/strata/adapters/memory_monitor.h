// strata::memory_monitor: samples the stats of named resources on a period
// and hands them to a callback, like a runtime's memory monitor; and the
// formatters that print a sample as a readable line or in the Prometheus
// text exposition format.
//
// One background thread per monitor, started by the constructor and stopped
// (promptly: it waits on a condition variable, not a sleep) by the
// destructor. A resource is watched by giving a name and a sampler that
// reads its stats; fields_of() turns the stats of every strata resource into
// the fields a sample holds.
//
// Thread safety: watch(), unwatch() and sample_now() may be called from any
// thread. Samplers run on the monitor's thread (and in sample_now()'s
// caller): they must be safe to call there; a resource that is not
// thread-safe needs its own lock around the stats read.
//
// Example:
//
//   strata::sync_pool_resource pool;
//   strata::memory_monitor monitor(
//       {.period = std::chrono::seconds(1)},
//       [](const strata::monitor_snapshot& s) {
//         std::puts(strata::format_line(s).c_str());
//       });
//   monitor.watch("pool", [&] { return strata::fields_of(pool.stats()); });
#ifndef STRATA_ADAPTERS_MEMORY_MONITOR_H_
#define STRATA_ADAPTERS_MEMORY_MONITOR_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

#include "strata/adapters/stats_resource.h"
#include "strata/adapters/test_resource.h"
#include "strata/bounded_pool_resource.h"
#include "strata/governor_resource.h"
#include "strata/limit_resource.h"
#include "strata/monotonic_arena.h"
#include "strata/size_class_resource.h"
#include "strata/sync_pool_resource.h"

namespace strata {

/// One named number of a resource's stats.
struct monitor_field {
  std::string name;
  double value = 0;
};

/// The fields of one resource at one moment.
using monitor_sample = std::vector<monitor_field>;

/// Every watched resource, sampled at one moment.
struct monitor_snapshot {
  std::chrono::system_clock::time_point taken;
  std::vector<std::pair<std::string, monitor_sample>> resources;
};

/// Options of a memory_monitor.
struct memory_monitor_options {
  /// Time between two samples.
  std::chrono::nanoseconds period = std::chrono::seconds(1);
};

/// Samples watched resources on a period; see the comment at the top.
class memory_monitor {
 public:
  using sink = absl::AnyInvocable<void(const monitor_snapshot&)>;
  using sampler = absl::AnyInvocable<monitor_sample()>;

  /// Starts the sampling thread, which calls `on_sample` every period.
  memory_monitor(memory_monitor_options options, sink on_sample);
  memory_monitor(const memory_monitor&) = delete;
  memory_monitor& operator=(const memory_monitor&) = delete;
  /// Stops the thread and waits for it (at most one sample in progress).
  ~memory_monitor();

  /// Samples `read()` under `name` from now on (replacing one of that name).
  void watch(std::string name, sampler read);
  /// Stops sampling `name`.
  void unwatch(const std::string& name);
  /// Samples every watched resource now, on the calling thread.
  [[nodiscard]] monitor_snapshot sample_now();

 private:
  void run();

  const memory_monitor_options options_;
  sink on_sample_;
  std::mutex mu_;  // guards watched_ and stop_; samplers run under it
  std::condition_variable wake_;
  std::vector<std::pair<std::string, sampler>> watched_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is built
};

/// "name field=value field=value ...; name ..." on one line.
[[nodiscard]] std::string format_line(const monitor_snapshot& snapshot);

/// The Prometheus text format: one gauge per field, named strata_<field>,
/// labelled with the resource's name.
[[nodiscard]] std::string format_prometheus(const monitor_snapshot& snapshot);

/// The fields of each strata resource's stats.
[[nodiscard]] monitor_sample fields_of(const monotonic_arena_stats& s);
[[nodiscard]] monitor_sample fields_of(const bounded_pool_stats& s);
[[nodiscard]] monitor_sample fields_of(const governor_stats& s);
[[nodiscard]] monitor_sample fields_of(const limit_resource_stats& s);
[[nodiscard]] monitor_sample fields_of(const size_class_resource_stats& s);
[[nodiscard]] monitor_sample fields_of(const sync_pool_stats& s);
[[nodiscard]] monitor_sample fields_of(const test_resource_stats& s);
[[nodiscard]] monitor_sample fields_of(const stats_resource_stats& s);

}  // namespace strata

#endif  // STRATA_ADAPTERS_MEMORY_MONITOR_H_
