// strata_phase_shift: what a resource keeps when a service's heap changes
// shape, and how long its slowest allocations and frees take.
//
// Phase mode (the default). A live set of blocks from 16 B to 64 KiB, sizes
// skewed to small, where each step frees a random block and allocates one in
// its place, paced at a fixed rate, through five phases: small, large, small,
// large, small. A small phase draws 92% of its sizes from 16-512 B; a large
// one draws 10% from 4-64 KiB, so its live bytes are about six times a small
// phase's. Every --sample-ms it samples the bytes the workload holds (live),
// the bytes the resource holds from its upstream (held: the counting upstream
// of bench_resources, or for new_delete what glibc holds from the system,
// arena + mmapped bytes, from mallinfo2) and the process's resident memory
// (rss: /proc/self/statm, less a baseline read before the resource is built).
//
// RSS is per process, so every resource runs in a process of its own: the
// parent runs this binary once per resource and thread count (fork + exec,
// `--resource NAME --threads N`) and merges what the children print into one
// CSV of samples and a JSON summary: held/live and rss/live at the end of
// each phase, and the worst of each within the last 2 s of the phase.
//
// Latency mode (--latency). The mixed working set of working_set.h (10,000
// blocks of 8 B-8 KiB), warmed up for one pass of its plan; then each
// deallocate and each allocate is timed on its own with a fenced rdtsc pair
// (steady_clock off x86), ticks calibrated to ns against steady_clock once.
// Reports p50, p99, p99.9 and max per resource and operation, and the cost
// of an empty timer pair measured the same way. Each resource runs in a
// process of its own here too, so none inherits another's heap.
//
// Full settings, by hand (about 12 minutes):
//   build/rel/bench/strata_phase_shift --csv phase.csv --summary phase.json
// Short ones (behind bench_report): --phase-seconds 2 --decay-ms 1000.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define STRATA_BENCH_RDTSC 1
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "strata/page_resource.h"

#include "bench_resources.h"
#include "working_set.h"

namespace strata::bench {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr int kPhases = 5;
constexpr const char* kPhaseNames[kPhases] = {"small", "large", "small",
                                              "large", "small"};
constexpr bool large_phase(int phase) { return phase % 2 == 1; }

// The resources the phase-shift workload compares, in report order.
const std::vector<std::string>& phase_resources() {
  static const std::vector<std::string> names = {
      "new_delete", "std_sync_pool",       "std_unsync_pool", "size_class",
      "sync_pool",  "governor(sync_pool)", "stack(sync_pool)"};
  return names;
}

constexpr std::string_view kStack = "stack(sync_pool)";

const resource_entry* find_entry(std::string_view name) {
  for (const resource_entry& entry : resources()) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

bool known(std::string_view name) {
  return name == kStack || find_entry(name) != nullptr;
}

bool thread_safe(std::string_view name) {
  if (name == kStack) return true;
  const resource_entry* entry = find_entry(name);
  return entry != nullptr && entry->thread_safe;
}

// Strata's resources sit on system pages, as its recommended stacks do (the
// builder's default bottom): what they give back leaves the process. The
// std pools sit on new_delete_resource, as a user would build them.
std::unique_ptr<bench_instance> make_instance(std::string_view name) {
  const resource_entry* entry = find_entry(name);
  std::unique_ptr<bench_instance> instance =
      name == kStack ? recommended_stack() : entry->make();
  if (name == kStack || !entry->peer.empty()) {
    instance->upstream.set_base(system_pages());
  }
  return instance;
}

struct settings {
  // Child mode: the one resource and thread count to run.
  std::string resource;
  int threads = 1;
  // Both modes.
  double phase_seconds = 12;
  int sample_ms = 100;
  std::optional<long> decay_ms;
  // Steps per second of the whole workload (split between its threads).
  long steps_per_second = 200000;
  // Live blocks of the whole workload (split between its threads).
  std::size_t live_blocks = 20000;
  // Parent mode.
  std::vector<int> thread_counts = {1, 2};
  std::vector<std::string> only;  // empty: every resource
  std::string csv_path = "phase_samples.csv";
  std::string summary_path = "phase_summary.json";
  // Latency mode.
  bool latency = false;
  bool latency_child = false;  // one resource, rows on stdout
  double ns_per_tick = 1.0;    // the parent's calibration, for a child
  std::string latency_path = "latency.json";
  std::size_t latency_samples = 1000000;
  // Idle mode: seconds to sleep with idle resources registered.
  double idle_seconds = 0;
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "strata_phase_shift: %s\n"
               "usage: strata_phase_shift [--phase-seconds S] [--sample-ms M]"
               " [--decay-ms D]\n"
               "         [--threads 1,2] [--only a,b] [--csv out.csv]"
               " [--summary out.json]\n"
               "         [--steps-per-second N] [--live-blocks N]\n"
               "       strata_phase_shift --resource NAME --threads N ..."
               " (one child run: CSV rows on stdout)\n"
               "       strata_phase_shift --latency [--latency-json out.json]"
               " [--samples N] [--only a,b]\n"
               "       strata_phase_shift --idle-seconds S\n",
               message);
  std::exit(2);
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

settings parse(int argc, char** argv) {
  settings s;
  bool threads_given = false;
  std::string threads_text;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (arg == "--resource") {
      s.resource = value();
    } else if (arg == "--threads") {
      threads_text = value();
      threads_given = true;
    } else if (arg == "--phase-seconds") {
      s.phase_seconds = std::stod(value());
    } else if (arg == "--sample-ms") {
      s.sample_ms = std::stoi(value());
    } else if (arg == "--decay-ms") {
      s.decay_ms = std::stol(value());
    } else if (arg == "--steps-per-second") {
      s.steps_per_second = std::stol(value());
    } else if (arg == "--live-blocks") {
      s.live_blocks = std::stoul(value());
    } else if (arg == "--only") {
      s.only = split(value());
    } else if (arg == "--csv") {
      s.csv_path = value();
    } else if (arg == "--summary") {
      s.summary_path = value();
    } else if (arg == "--latency") {
      s.latency = true;
    } else if (arg == "--latency-child") {
      s.latency = true;
      s.latency_child = true;
    } else if (arg == "--ns-per-tick") {
      s.ns_per_tick = std::stod(value());
    } else if (arg == "--latency-json") {
      s.latency_path = value();
    } else if (arg == "--samples") {
      s.latency_samples = std::stoul(value());
    } else if (arg == "--idle-seconds") {
      s.idle_seconds = std::stod(value());
    } else {
      usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  if (threads_given) {
    s.thread_counts.clear();
    for (const std::string& t : split(threads_text)) {
      s.thread_counts.push_back(std::stoi(t));
    }
    if (s.thread_counts.empty()) usage("--threads needs a count");
    s.threads = s.thread_counts.front();
  }
  for (const std::string& name : s.only) {
    if (!known(name)) usage(("unknown resource " + name).c_str());
  }
  if (s.latency_child && s.only.size() != 1) {
    usage("--latency-child takes one resource (--only NAME)");
  }
  if (!s.resource.empty() && !known(s.resource)) {
    usage(("unknown resource " + s.resource).c_str());
  }
  if (s.phase_seconds <= 0 || s.sample_ms <= 0 || s.steps_per_second <= 0 ||
      s.live_blocks < 2) {
    usage("settings must be positive");
  }
  return s;
}

// --- measurements ----------------------------------------------------------

// Resident bytes of this process, read without allocating.
std::size_t rss_bytes() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buffer[128];
  const ssize_t n = ::read(fd, buffer, sizeof(buffer) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buffer[n] = '\0';
  unsigned long long size = 0;
  unsigned long long resident = 0;
  if (std::sscanf(buffer, "%llu %llu", &size, &resident) != 2) return 0;
  return static_cast<std::size_t>(resident) *
         static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// What glibc holds from the system: its arenas plus its mmapped chunks.
std::size_t malloc_system_bytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  const struct mallinfo2 info = mallinfo2();
  return info.arena + info.hblkhd;
#else
  return 0;
#endif
}

std::size_t minus(std::size_t a, std::size_t b) { return a > b ? a - b : 0; }

// --- the phase-shift workload ----------------------------------------------

// A draw from [lo, hi], uniform in log(size): skewed to the small end.
std::uint32_t log_uniform(std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> d(std::log(lo), std::log(hi + 1));
  const double v = std::exp(d(rng));
  return static_cast<std::uint32_t>(std::clamp(v, lo, hi));
}

std::uint32_t draw_size(std::mt19937_64& rng, bool large) {
  const auto kind = std::uniform_int_distribution<int>(0, 99)(rng);
  if (!large) {
    if (kind < 92) return log_uniform(rng, 16, 512);
    if (kind < 99) return log_uniform(rng, 513, 4096);
    return log_uniform(rng, 4097, 65536);
  }
  if (kind < 70) return log_uniform(rng, 16, 512);
  if (kind < 90) return log_uniform(rng, 513, 4096);
  return log_uniform(rng, 4097, 65536);
}

constexpr std::size_t kAlign = alignof(std::max_align_t);

struct block {
  char* p = nullptr;
  std::uint32_t size = 0;
};

// Writes every page of a fresh block, as a user filling it would (one byte a
// page is enough to make it resident).
void touch(char* p, std::size_t size) {
  for (std::size_t offset = 0; offset < size; offset += 4096) p[offset] = 1;
  p[size - 1] = 1;
}

struct worker_args {
  std::pmr::memory_resource* resource;
  std::vector<block>* blocks;  // sized by the caller, before the baseline
  std::uint64_t seed;
  clock_type::time_point start;
  clock_type::duration phase_length;
  double steps_per_second;
  std::atomic<std::size_t>* live;
  const std::atomic<bool>* stop;  // set after the last sample
};

int phase_at(clock_type::duration elapsed, clock_type::duration phase_length) {
  return static_cast<int>(
      std::min<std::int64_t>(kPhases - 1, elapsed / phase_length));
}

// One thread's share of the live set: filled at the start, then one paced
// replacement step at a time until told to stop (after the last sample, so
// the last phase runs on until then); frees it all.
void run_worker(const worker_args& a) {
  std::mt19937_64 rng(a.seed);
  std::pmr::memory_resource* r = a.resource;
  std::vector<block>& blocks = *a.blocks;
  std::size_t live = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    block& b = blocks[i];
    b.size = draw_size(rng, false);
    b.p = static_cast<char*>(r->allocate(b.size, kAlign));
    touch(b.p, b.size);
    live += b.size;
    if (i % 256 == 0) a.live->store(live, std::memory_order_relaxed);
  }
  a.live->store(live, std::memory_order_relaxed);
  std::uniform_int_distribution<std::size_t> pick(0, blocks.size() - 1);
  std::uint64_t done = 0;
  while (!a.stop->load(std::memory_order_relaxed)) {
    const clock_type::duration elapsed = clock_type::now() - a.start;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const auto due = static_cast<std::uint64_t>(seconds * a.steps_per_second);
    if (done >= due) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    const bool large = large_phase(phase_at(elapsed, a.phase_length));
    // Catch up in batches of at most 256 steps between clock reads.
    for (std::uint64_t n = std::min<std::uint64_t>(due - done, 256); n > 0;
         --n, ++done) {
      block& b = blocks[pick(rng)];
      r->deallocate(b.p, b.size, kAlign);
      live -= b.size;
      b.size = draw_size(rng, large);
      b.p = static_cast<char*>(r->allocate(b.size, kAlign));
      touch(b.p, b.size);
      live += b.size;
    }
    a.live->store(live, std::memory_order_relaxed);
  }
  for (block& b : blocks) {
    r->deallocate(b.p, b.size, kAlign);
    b = {};
  }
  a.live->store(0, std::memory_order_relaxed);
}

struct sample {
  std::string resource;
  int threads = 1;
  std::int64_t t_ms = 0;
  int phase = 0;
  std::size_t live = 0;
  std::size_t held = 0;
  std::size_t rss = 0;
};

// The phase a sample at `t_ms` closes: one taken on a boundary shows the
// state the phase before it left.
int sample_phase(std::int64_t t_ms, std::int64_t phase_ms) {
  return static_cast<int>(std::min<std::int64_t>(
      kPhases - 1, std::max<std::int64_t>(0, t_ms - 1) / phase_ms));
}

// Child mode: runs one resource, prints its samples as CSV rows.
int run_child(const settings& s) {
  const int threads = s.threads;
  if (threads < 1) usage("--threads must be at least 1");
  if (threads > 1 && !thread_safe(s.resource)) {
    usage("that resource may not be shared by threads");
  }
  set_decay_override(s.decay_ms ? std::optional<std::chrono::milliseconds>(
                                      std::chrono::milliseconds(*s.decay_ms))
                                : std::nullopt);
  const auto phase_length = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(s.phase_seconds));
  const std::int64_t phase_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(phase_length)
          .count();
  const std::int64_t total_ms = phase_ms * kPhases;

  // Everything the workload needs of its own, before the baselines.
  const auto count = static_cast<std::size_t>(threads);
  std::vector<std::vector<block>> blocks(count);
  for (std::vector<block>& share : blocks) {
    share.resize(s.live_blocks / count);
  }
  std::vector<std::atomic<std::size_t>> live(count);
  std::atomic<bool> stop{false};
  std::vector<sample> samples;
  samples.reserve(static_cast<std::size_t>(total_ms / s.sample_ms) + 8);
  std::vector<std::thread> workers;
  workers.reserve(count);

  const std::size_t rss_before = rss_bytes();
  const std::size_t malloc_before = malloc_system_bytes();
  auto instance = make_instance(s.resource);
  const auto held_now = [&] {
    return instance->has_upstream()
               ? instance->upstream.bytes_held()
               : minus(malloc_system_bytes(), malloc_before);
  };

  const clock_type::time_point start = clock_type::now();
  for (std::size_t t = 0; t < count; ++t) {
    worker_args args{instance->resource,
                     &blocks[t],
                     20261207u + 7919u * t,
                     start,
                     phase_length,
                     static_cast<double>(s.steps_per_second) / threads,
                     &live[t],
                     &stop};
    workers.emplace_back([args] { run_worker(args); });
  }
  for (std::int64_t t_ms = 0; t_ms <= total_ms; t_ms += s.sample_ms) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(t_ms));
    std::size_t live_now = 0;
    for (const auto& l : live) live_now += l.load(std::memory_order_relaxed);
    samples.push_back({s.resource, threads, t_ms, sample_phase(t_ms, phase_ms),
                       live_now, held_now(), minus(rss_bytes(), rss_before)});
  }
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& w : workers) w.join();
  instance.reset();

  for (const sample& x : samples) {
    std::printf("%s,%d,%lld,%s,%zu,%zu,%zu\n", x.resource.c_str(), x.threads,
                static_cast<long long>(x.t_ms), kPhaseNames[x.phase], x.live,
                x.held, x.rss);
  }
  std::fflush(stdout);
  return 0;
}

// Runs this binary as a child and returns what it printed, or nullopt.
std::optional<std::string> run_self(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>("strata_phase_shift"));
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::perror("strata_phase_shift: exec");
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

std::vector<sample> parse_samples(const std::string& text) {
  std::vector<sample> rows;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> f = split(line);
    if (f.size() != 7) continue;
    sample x;
    x.resource = f[0];
    x.threads = std::stoi(f[1]);
    x.t_ms = std::stoll(f[2]);
    x.phase = -1;
    x.live = std::stoull(f[4]);
    x.held = std::stoull(f[5]);
    x.rss = std::stoull(f[6]);
    rows.push_back(x);
  }
  return rows;
}

double per_live(std::size_t bytes, std::size_t live) {
  return live == 0 ? 0.0
                   : static_cast<double>(bytes) / static_cast<double>(live);
}

struct phase_summary {
  std::string resource;
  int threads;
  int phase;
  std::int64_t end_ms;
  std::size_t live, held, rss;
  double held_per_live, rss_per_live;
  double worst_held_per_live, worst_rss_per_live;
};

// Parent mode: every resource and thread count in a process of its own.
int run_parent(const settings& s) {
  std::vector<std::string> names = s.only.empty() ? phase_resources() : s.only;
  const auto phase_ms =
      static_cast<std::int64_t>(std::llround(s.phase_seconds * 1000.0));
  std::vector<sample> all;
  std::vector<phase_summary> summary;
  for (const int threads : s.thread_counts) {
    for (const std::string& name : names) {
      if (threads > 1 && !thread_safe(name)) continue;
      std::vector<std::string> args = {
          "--resource",         name,
          "--threads",          std::to_string(threads),
          "--phase-seconds",    std::to_string(s.phase_seconds),
          "--sample-ms",        std::to_string(s.sample_ms),
          "--steps-per-second", std::to_string(s.steps_per_second),
          "--live-blocks",      std::to_string(s.live_blocks)};
      if (s.decay_ms) {
        args.push_back("--decay-ms");
        args.push_back(std::to_string(*s.decay_ms));
      }
      std::fprintf(stderr, "phase_shift: %s, %d thread%s\n", name.c_str(),
                   threads, threads > 1 ? "s" : "");
      const std::optional<std::string> out = run_self(args);
      if (!out) {
        std::fprintf(stderr, "phase_shift: the run of %s failed\n",
                     name.c_str());
        return 1;
      }
      std::vector<sample> rows = parse_samples(*out);
      for (sample& x : rows) x.phase = sample_phase(x.t_ms, phase_ms);
      for (int phase = 0; phase < kPhases; ++phase) {
        const sample* end = nullptr;
        double worst_held = 0;
        double worst_rss = 0;
        const std::int64_t phase_end = phase_ms * (phase + 1);
        for (const sample& x : rows) {
          if (x.phase != phase) continue;
          end = &x;
          // The last 2 s of the phase, past its first instant (the start
          // of the run catches the fill half done).
          if (x.t_ms >= phase_end - 2000 && x.t_ms > phase_end - phase_ms &&
              x.live > 0) {
            worst_held = std::max(worst_held, per_live(x.held, x.live));
            worst_rss = std::max(worst_rss, per_live(x.rss, x.live));
          }
        }
        if (end == nullptr) continue;
        summary.push_back({name, threads, phase, end->t_ms, end->live,
                           end->held, end->rss, per_live(end->held, end->live),
                           per_live(end->rss, end->live), worst_held,
                           worst_rss});
      }
      all.insert(all.end(), rows.begin(), rows.end());
    }
  }

  if (std::FILE* f = std::fopen(s.csv_path.c_str(), "w")) {
    std::fprintf(f, "resource,threads,t_ms,phase,live,held,rss\n");
    for (const sample& x : all) {
      std::fprintf(f, "%s,%d,%lld,%s,%zu,%zu,%zu\n", x.resource.c_str(),
                   x.threads, static_cast<long long>(x.t_ms),
                   kPhaseNames[x.phase], x.live, x.held, x.rss);
    }
    std::fclose(f);
  } else {
    std::perror(s.csv_path.c_str());
    return 1;
  }
  if (std::FILE* f = std::fopen(s.summary_path.c_str(), "w")) {
    std::fprintf(f,
                 "{\n  \"settings\": {\"phase_seconds\": %g, \"sample_ms\": %d,"
                 " \"decay_ms\": %s, \"steps_per_second\": %ld,"
                 " \"live_blocks\": %zu,\n    \"decay_support\": \"%s\"},\n"
                 "  \"phases\": [",
                 s.phase_seconds, s.sample_ms,
                 s.decay_ms ? std::to_string(*s.decay_ms).c_str() : "null",
                 s.steps_per_second, s.live_blocks, decay_support().c_str());
    for (int p = 0; p < kPhases; ++p) {
      std::fprintf(f, "%s\"%s\"", p ? ", " : "", kPhaseNames[p]);
    }
    std::fprintf(f, "],\n  \"rows\": [\n");
    for (std::size_t i = 0; i < summary.size(); ++i) {
      const phase_summary& x = summary[i];
      std::fprintf(f,
                   "    {\"resource\": \"%s\", \"threads\": %d, \"phase\": %d,"
                   " \"phase_name\": \"%s\", \"end_ms\": %lld, \"live\": %zu,"
                   " \"held\": %zu, \"rss\": %zu, \"held_per_live\": %.4f,"
                   " \"rss_per_live\": %.4f, \"worst_held_per_live\": %.4f,"
                   " \"worst_rss_per_live\": %.4f}%s\n",
                   x.resource.c_str(), x.threads, x.phase, kPhaseNames[x.phase],
                   static_cast<long long>(x.end_ms), x.live, x.held, x.rss,
                   x.held_per_live, x.rss_per_live, x.worst_held_per_live,
                   x.worst_rss_per_live, i + 1 < summary.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
  } else {
    std::perror(s.summary_path.c_str());
    return 1;
  }

  std::printf("%-22s %3s  %-6s %9s %9s %9s  %7s %7s  %7s %7s\n", "resource",
              "thr", "phase", "live MiB", "held MiB", "rss MiB", "held/l",
              "worst", "rss/l", "worst");
  for (const phase_summary& x : summary) {
    std::printf("%-22s %3d  %-6s %9.2f %9.2f %9.2f  %7.2f %7.2f  %7.2f %7.2f\n",
                x.resource.c_str(), x.threads, kPhaseNames[x.phase],
                static_cast<double>(x.live) / (1 << 20),
                static_cast<double>(x.held) / (1 << 20),
                static_cast<double>(x.rss) / (1 << 20), x.held_per_live,
                x.worst_held_per_live, x.rss_per_live, x.worst_rss_per_live);
  }
  std::printf("samples: %s\nsummary: %s\n", s.csv_path.c_str(),
              s.summary_path.c_str());
  return 0;
}

// --- latency -----------------------------------------------------------------

// A fenced timestamp pair: start() waits for earlier instructions and keeps
// later ones from starting before it; stop() waits for the timed ones.
struct tick_timer {
#if defined(STRATA_BENCH_RDTSC)
  static constexpr const char* kName =
      "rdtsc (lfence; rdtsc; lfence / rdtscp; lfence)";
  static std::uint64_t start() {
    _mm_lfence();
    const std::uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
  }
  static std::uint64_t stop() {
    unsigned aux;
    const std::uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
  }
#else
  static constexpr const char* kName = "steady_clock";
  static std::uint64_t now() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            clock_type::now().time_since_epoch())
            .count());
  }
  static std::uint64_t start() { return now(); }
  static std::uint64_t stop() { return now(); }
#endif
};

// Nanoseconds per tick, calibrated once against steady_clock.
double ns_per_tick() {
#if defined(STRATA_BENCH_RDTSC)
  const clock_type::time_point c0 = clock_type::now();
  const std::uint64_t t0 = tick_timer::start();
  while (clock_type::now() - c0 < std::chrono::milliseconds(100)) {
  }
  const std::uint64_t t1 = tick_timer::stop();
  const clock_type::time_point c1 = clock_type::now();
  return std::chrono::duration<double, std::nano>(c1 - c0).count() /
         static_cast<double>(t1 - t0);
#else
  return 1.0;
#endif
}

std::uint32_t ticks(std::uint64_t from, std::uint64_t to) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(to - from, UINT32_MAX));
}

struct percentiles {
  double p50, p99, p999, max;
};

percentiles summarize(std::vector<std::uint32_t>& v, double scale) {
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const auto i =
        std::min(v.size() - 1,
                 static_cast<std::size_t>(q * static_cast<double>(v.size())));
    return v[i] * scale;
  };
  return {at(0.50), at(0.99), at(0.999), v.back() * scale};
}

struct latency_row {
  std::string resource;
  std::string op;
  percentiles p;
};

// Times `n` replacement steps of the mixed working set on one resource,
// after a warm-up pass, and returns its allocate and deallocate rows.
std::vector<latency_row> measure_latency(const std::string& name, std::size_t n,
                                         double scale) {
  std::vector<std::uint32_t> frees(n);
  std::vector<std::uint32_t> allocs(n);
  const working_set_plan& plan = mixed_plan();
  auto instance = make_instance(name);
  std::pmr::memory_resource* r = instance->resource;
  std::vector<block> live(kLive);
  for (std::size_t i = 0; i < kLive; ++i) {
    live[i] = {static_cast<char*>(r->allocate(plan.initial[i], kAlign)),
               plan.initial[i]};
  }
  std::size_t next = 0;
  // Warm-up: one pass of the plan, untimed.
  for (std::size_t i = 0; i < kSteps; ++i, ++next) {
    const step& st = plan.steps[next % kSteps];
    block& b = live[st.victim];
    r->deallocate(b.p, b.size, kAlign);
    b = {static_cast<char*>(r->allocate(st.size, kAlign)), st.size};
    *static_cast<volatile char*>(static_cast<void*>(b.p)) = 1;
  }
  for (std::size_t i = 0; i < n; ++i, ++next) {
    const step& st = plan.steps[next % kSteps];
    block& b = live[st.victim];
    const std::uint64_t t0 = tick_timer::start();
    r->deallocate(b.p, b.size, kAlign);
    const std::uint64_t t1 = tick_timer::stop();
    const std::uint64_t t2 = tick_timer::start();
    void* p = r->allocate(st.size, kAlign);
    const std::uint64_t t3 = tick_timer::stop();
    b = {static_cast<char*>(p), st.size};
    *static_cast<volatile char*>(p) = 1;
    frees[i] = ticks(t0, t1);
    allocs[i] = ticks(t2, t3);
  }
  for (block& b : live) r->deallocate(b.p, b.size, kAlign);
  return {{name, "allocate", summarize(allocs, scale)},
          {name, "deallocate", summarize(frees, scale)}};
}

// Latency mode. Every resource runs in a process of its own (a fresh heap:
// in one process, each would inherit the malloc state the ones before it
// left), with the parent's calibration; the parent times the empty pair.
int run_latency(const settings& s) {
  if (s.latency_child) {
    set_decay_override(s.decay_ms ? std::optional<std::chrono::milliseconds>(
                                        std::chrono::milliseconds(*s.decay_ms))
                                  : std::nullopt);
    for (const latency_row& x :
         measure_latency(s.only.at(0), s.latency_samples, s.ns_per_tick)) {
      std::printf("%s,%.3f,%.3f,%.3f,%.3f\n", x.op.c_str(), x.p.p50, x.p.p99,
                  x.p.p999, x.p.max);
    }
    std::fflush(stdout);
    return 0;
  }
  const double scale = ns_per_tick();
  const std::size_t n = s.latency_samples;
  std::vector<latency_row> rows;

  // The timer's own cost: an empty pair, measured as the operations are.
  {
    std::vector<std::uint32_t> empty(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t t0 = tick_timer::start();
      const std::uint64_t t1 = tick_timer::stop();
      empty[i] = ticks(t0, t1);
    }
    rows.push_back({"timer (empty pair)", "-", summarize(empty, scale)});
  }

  std::vector<std::string> names;
  for (const resource_entry& entry : resources()) {
    if (reuses_any_size(entry)) names.push_back(entry.name);
  }
  names.emplace_back(kStack);
  if (!s.only.empty()) names = s.only;

  for (const std::string& name : names) {
    std::fprintf(stderr, "latency: %s\n", name.c_str());
    char scale_text[64];
    std::snprintf(scale_text, sizeof(scale_text), "%.9g", scale);
    std::vector<std::string> args = {
        "--latency-child", "--only",        name,      "--samples",
        std::to_string(n), "--ns-per-tick", scale_text};
    if (s.decay_ms) {
      args.push_back("--decay-ms");
      args.push_back(std::to_string(*s.decay_ms));
    }
    const std::optional<std::string> out = run_self(args);
    if (!out) {
      std::fprintf(stderr, "latency: the run of %s failed\n", name.c_str());
      return 1;
    }
    std::stringstream in(*out);
    for (std::string line; std::getline(in, line);) {
      const std::vector<std::string> f = split(line);
      if (f.size() != 5) continue;
      rows.push_back({name,
                      f[0],
                      {std::stod(f[1]), std::stod(f[2]), std::stod(f[3]),
                       std::stod(f[4])}});
    }
  }

  std::printf("timer: %s, %.4f ns/tick, %zu samples per row\n",
              tick_timer::kName, scale, n);
  std::printf("%-26s %-10s %8s %8s %8s %10s %9s\n", "resource", "op", "p50",
              "p99", "p99.9", "max", "p99.9/p50");
  for (const latency_row& x : rows) {
    std::printf("%-26s %-10s %8.1f %8.1f %8.1f %10.1f %9.1f\n",
                x.resource.c_str(), x.op.c_str(), x.p.p50, x.p.p99, x.p.p999,
                x.p.max, x.p.p50 > 0 ? x.p.p999 / x.p.p50 : 0.0);
  }
  if (std::FILE* f = std::fopen(s.latency_path.c_str(), "w")) {
    std::fprintf(
        f,
        "{\n  \"timer\": \"%s\", \"ns_per_tick\": %.6f, \"samples\": %zu,"
        " \"workload\": \"MixedWorkingSet (working_set.h), warmed up"
        " one pass of the plan\",\n  \"rows\": [\n",
        tick_timer::kName, scale, n);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const latency_row& x = rows[i];
      std::fprintf(f,
                   "    {\"resource\": \"%s\", \"op\": \"%s\", \"p50\": %.2f,"
                   " \"p99\": %.2f, \"p999\": %.2f, \"max\": %.2f}%s\n",
                   x.resource.c_str(), x.op.c_str(), x.p.p50, x.p.p99, x.p.p999,
                   x.p.max, i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
    std::printf("latency: %s\n", s.latency_path.c_str());
  } else {
    std::perror(s.latency_path.c_str());
    return 1;
  }
  return 0;
}

// Idle mode (--idle-seconds S): what decay costs a process that does
// nothing. Every thread-safe strata resource of the benchmark is built, used
// by two threads that then sleep, and left idle with the default decay; the
// process's CPU time over S seconds of sleep is the scavenger's.
int run_idle(const settings& s) {
  std::vector<std::unique_ptr<bench_instance>> instances;
  for (const resource_entry& entry : resources()) {
    if (entry.thread_safe && !entry.peer.empty()) {
      instances.push_back(make_instance(entry.name));
    }
  }
  instances.push_back(make_instance(kStack));
  std::atomic<bool> done{false};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (auto& instance : instances) {
        std::vector<void*> blocks;
        for (std::size_t i = 0; i < 2000; ++i) {
          blocks.push_back(instance->resource->allocate(16 + 16 * (i % 64)));
        }
        for (std::size_t i = 0; i < blocks.size(); ++i) {
          instance->resource->deallocate(blocks[i], 16 + 16 * (i % 64));
        }
      }
      ready.fetch_add(1);
      while (!done.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
  }
  while (ready.load() < 2) std::this_thread::yield();
  const auto cpu = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) +
           static_cast<double>(t.tv_nsec) * 1e-9;
  };
  const double before = cpu();
  std::this_thread::sleep_for(std::chrono::duration<double>(s.idle_seconds));
  const double used = cpu() - before;
  done.store(true);
  for (std::thread& t : threads) t.join();
  std::printf(
      "idle: %zu resources, %.1f s asleep, %.4f s of CPU (%.3f%% of one core;"
      " the sleeping threads' own wakeups included)\n",
      instances.size(), s.idle_seconds, used, 100 * used / s.idle_seconds);
  return 0;
}

}  // namespace
}  // namespace strata::bench

int main(int argc, char** argv) {
  using namespace strata::bench;
  const settings s = parse(argc, argv);
  if (s.idle_seconds > 0) return run_idle(s);
  if (s.latency) return run_latency(s);
  if (!s.resource.empty()) return run_child(s);
  return run_parent(s);
}
