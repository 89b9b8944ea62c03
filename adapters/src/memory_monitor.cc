#include "strata/adapters/memory_monitor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace strata {
namespace {

double as_value(std::size_t n) { return static_cast<double>(n); }

// Prometheus label values escape backslash, quote and newline.
std::string escape_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

}  // namespace

memory_monitor::memory_monitor(memory_monitor_options options, sink on_sample)
    : options_(options),
      on_sample_(std::move(on_sample)),
      thread_([this] { run(); }) {}

memory_monitor::~memory_monitor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void memory_monitor::watch(std::string name, sampler read) {
  std::lock_guard lock(mu_);
  std::erase_if(watched_, [&](const auto& w) { return w.first == name; });
  watched_.emplace_back(std::move(name), std::move(read));
}

void memory_monitor::unwatch(const std::string& name) {
  std::lock_guard lock(mu_);
  std::erase_if(watched_, [&](const auto& w) { return w.first == name; });
}

monitor_snapshot memory_monitor::sample_now() {
  monitor_snapshot snapshot{.taken = std::chrono::system_clock::now(),
                            .resources = {}};
  std::lock_guard lock(mu_);
  for (auto& [name, read] : watched_) {
    snapshot.resources.emplace_back(name, read());
  }
  return snapshot;
}

void memory_monitor::run() {
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, options_.period, [this] { return stop_; })) {
    lock.unlock();
    const monitor_snapshot snapshot = sample_now();
    on_sample_(snapshot);
    lock.lock();
  }
}

std::string format_line(const monitor_snapshot& snapshot) {
  std::string line;
  for (const auto& [name, fields] : snapshot.resources) {
    if (!line.empty()) absl::StrAppend(&line, "; ");
    absl::StrAppend(&line, name);
    for (const monitor_field& f : fields) {
      absl::StrAppendFormat(&line, " %s=%.17g", f.name, f.value);
    }
  }
  return line;
}

std::string format_prometheus(const monitor_snapshot& snapshot) {
  // Fields in first-seen order, each with one TYPE line and one sample per
  // resource that has it.
  std::vector<std::string> names;
  for (const auto& [resource, fields] : snapshot.resources) {
    for (const monitor_field& f : fields) {
      if (std::find(names.begin(), names.end(), f.name) == names.end()) {
        names.push_back(f.name);
      }
    }
  }
  std::string out;
  for (const std::string& field : names) {
    absl::StrAppend(&out, "# TYPE strata_", field, " gauge\n");
    for (const auto& [resource, fields] : snapshot.resources) {
      for (const monitor_field& f : fields) {
        if (f.name != field) continue;
        absl::StrAppendFormat(&out, "strata_%s{resource=\"%s\"} %.17g\n", field,
                              escape_label(resource), f.value);
      }
    }
  }
  return out;
}

monitor_sample fields_of(const monotonic_arena_stats& s) {
  return {{"bytes_used", as_value(s.bytes_used)},
          {"bytes_reserved", as_value(s.bytes_reserved)},
          {"chunks", as_value(s.chunks)},
          {"retained_chunks", as_value(s.retained_chunks)},
          {"own_blocks", as_value(s.own_blocks)},
          {"resets", as_value(s.resets)},
          {"upstream_allocations", as_value(s.upstream_allocations)}};
}

monitor_sample fields_of(const bounded_pool_stats& s) {
  return {{"hits", as_value(s.hits)},
          {"misses", as_value(s.misses)},
          {"drops", as_value(s.drops)},
          {"outstanding", as_value(s.outstanding)},
          {"pooled", as_value(s.pooled)},
          {"peak_outstanding", as_value(s.peak_outstanding)}};
}

monitor_sample fields_of(const limit_resource_stats& s) {
  return {{"bytes_in_use", as_value(s.in_use)},
          {"peak_bytes", as_value(s.peak)},
          {"limit_bytes", as_value(s.limit)},
          {"limit_hits", as_value(s.limit_hits)},
          {"failures", as_value(s.failures)}};
}

monitor_sample fields_of(const size_class_resource_stats& s) {
  return {{"bytes_in_use", as_value(s.bytes_in_use)},
          {"bytes_held", as_value(s.bytes_held)},
          {"peak_bytes_held", as_value(s.peak_bytes_held)},
          {"misses", as_value(s.misses)},
          {"internal_waste", as_value(s.internal_waste)},
          {"large_blocks", as_value(s.large_blocks)}};
}

monitor_sample fields_of(const sync_pool_stats& s) {
  return {{"thread_cache_hits", as_value(s.thread_cache_hits)},
          {"depot_hits", as_value(s.depot_hits)},
          {"upstream_misses", as_value(s.upstream_misses)},
          {"cached_bytes", as_value(s.cached_bytes)},
          {"thread_cached_bytes", as_value(s.thread_cached_bytes)},
          {"reclaim_cycles", as_value(s.reclaim_cycles)}};
}

monitor_sample fields_of(const governor_stats& s) {
  const auto us = [](std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::micro>(d).count();
  };
  monitor_sample out = {
      {"live_bytes", as_value(s.live_bytes)},
      {"peak_live_bytes", as_value(s.peak_live_bytes)},
      {"footprint_bytes", as_value(s.footprint_bytes)},
      {"peak_footprint_bytes", as_value(s.peak_footprint_bytes)},
      {"cached_bytes", as_value(s.cached_bytes)},
      {"hard_limit", as_value(s.hard_limit)},
      {"allocations", as_value(s.allocations)},
      {"deallocations", as_value(s.deallocations)},
      {"limit_hits", as_value(s.limit_hits)},
      {"failures", as_value(s.failures)},
      {"reclaim_cycles", as_value(s.reclaim_cycles)},
      {"bytes_reclaimed", as_value(s.bytes_reclaimed)},
      {"background_steps", as_value(s.background_steps)},
      {"pauses", as_value(s.pauses.count)},
      {"pause_total_us", us(s.pauses.total)},
      {"pause_max_us", us(s.pauses.longest)}};
  for (std::size_t b = 0; b < s.pauses.histogram.size(); ++b) {
    out.push_back({"pauses_" + std::string(pause_stats::kBucketNames[b]),
                   as_value(s.pauses.histogram[b])});
  }
  out.push_back({"waits", as_value(s.waits.count)});
  out.push_back({"wait_total_us", us(s.waits.total)});
  out.push_back({"wait_max_us", us(s.waits.longest)});
  out.push_back({"refused", as_value(s.refused.count)});
  out.push_back({"refused_total_us", us(s.refused.total)});
  out.push_back({"refused_max_us", us(s.refused.longest)});
  return out;
}

monitor_sample fields_of(const test_resource_stats& s) {
  return {{"allocations", as_value(s.allocations)},
          {"deallocations", as_value(s.deallocations)},
          {"bytes_in_use", as_value(s.bytes_in_use)},
          {"peak_bytes", as_value(s.peak_bytes_in_use)},
          {"defects", as_value(s.defects)}};
}

monitor_sample fields_of(const stats_resource_stats& s) {
  return {{"allocations", as_value(s.allocations)},
          {"deallocations", as_value(s.deallocations)},
          {"bytes_in_use", as_value(s.bytes_in_use)},
          {"peak_bytes", as_value(s.peak_bytes)}};
}

}  // namespace strata
