// The two-thread hand-off stress: each of two threads allocates blocks of
// mixed sizes and alignments from one resource, writes a pattern into each
// and passes it through a bounded queue to the other thread, which checks
// the pattern and frees the block. Both directions run at once, so every
// block is allocated on one thread and freed on the other while both keep
// allocating: the traffic that crosses thread caches, rings and counters.
//
//   strata::testing::expect_clean_handoff(pool, {.blocks = 20000});
//
// Bounded in iterations, not in time. The threads wait on a condition
// variable with a deadline far beyond any healthy run, so a hang fails the
// test instead of stalling CI.
#ifndef STRATA_TESTS_TESTING_HANDOFF_H_
#define STRATA_TESTS_TESTING_HANDOFF_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory_resource>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "testing/pattern.h"

namespace strata::testing {

/// What a hand-off stress asks of the resource.
struct handoff_options {
  /// Blocks each thread sends to the other.
  std::size_t blocks = 20000;
  /// Blocks waiting in each direction's queue, at most.
  std::size_t queue_capacity = 32;
  /// Sizes are drawn from 1 to max_size, skewed towards small ones.
  std::size_t max_size = 2048;
  /// Alignments are powers of two from 1 to max_alignment.
  std::size_t max_alignment = 256;
  /// When set, three requests in four are exactly (fixed_size,
  /// fixed_alignment): the block a fixed-size pool serves.
  std::size_t fixed_size = 0;
  std::size_t fixed_alignment = alignof(std::max_align_t);
  /// How long a thread waits for the other before the run is declared hung.
  std::chrono::seconds deadline = std::chrono::seconds(60);
};

/// What a hand-off stress saw.
struct handoff_result {
  std::size_t sent = 0;        ///< blocks handed over, both directions
  std::size_t checked = 0;     ///< blocks received, checked and freed
  std::size_t corrupted = 0;   ///< received blocks whose pattern changed
  std::size_t misaligned = 0;  ///< blocks less aligned than asked
  bool hung = false;           ///< a thread waited past the deadline
  std::string error;           ///< what a thread threw, if any

  [[nodiscard]] bool ok() const {
    return corrupted == 0 && misaligned == 0 && !hung && error.empty();
  }
  [[nodiscard]] std::string describe() const {
    return "sent " + std::to_string(sent) + ", checked " +
           std::to_string(checked) + ", corrupted " +
           std::to_string(corrupted) + ", misaligned " +
           std::to_string(misaligned) + (hung ? ", hung" : "") +
           (error.empty() ? "" : ", error: " + error);
  }
};

namespace internal_handoff {

struct block {
  void* p;
  std::size_t size;
  std::size_t alignment;
  std::uint64_t seed;
};

// A skewed size: half up to 64 bytes, a quarter up to 512, the rest up to
// max_size.
inline std::size_t draw_size(std::mt19937_64& rng, std::size_t max_size) {
  const std::uint64_t pick = rng() % 4;
  const std::size_t cap = pick < 2   ? std::min<std::size_t>(64, max_size)
                          : pick < 3 ? std::min<std::size_t>(512, max_size)
                                     : max_size;
  return 1 + static_cast<std::size_t>(rng() % cap);
}

inline std::size_t draw_alignment(std::mt19937_64& rng,
                                  std::size_t max_alignment) {
  std::size_t shifts = 0;
  while ((std::size_t{2} << shifts) <= max_alignment) ++shifts;
  // Mostly the usual alignments, sometimes a strict one.
  const std::size_t shift = rng() % 4 == 0
                                ? static_cast<std::size_t>(rng() % (shifts + 1))
                                : std::min<std::size_t>(3, shifts);
  return std::size_t{1} << shift;
}

}  // namespace internal_handoff

/// Runs the hand-off stress on `resource` from two new threads and returns
/// what they saw. Every block is freed before it returns, also on failure
/// (blocks still queued when a thread gives up are freed by the caller's
/// thread once both threads have ended).
inline handoff_result run_handoff(std::pmr::memory_resource& resource,
                                  const handoff_options& options = {}) {
  using internal_handoff::block;
  std::mutex mu;
  std::condition_variable changed;
  std::deque<block> queues[2];  // queues[i]: blocks on their way to thread i
  bool stop = false;            // a thread failed: both leave
  handoff_result result;
  const auto deadline = std::chrono::steady_clock::now() + options.deadline;

  auto check_and_free = [&](const block& b, std::size_t& corrupted) {
    if (!has_pattern(b.p, b.size, b.seed)) ++corrupted;
    resource.deallocate(b.p, b.size, b.alignment);
  };

  auto run = [&](int self) {
    const int other = 1 - self;
    std::mt19937_64 rng(static_cast<std::uint64_t>(self) + 1);
    std::size_t sent = 0;
    std::size_t received = 0;
    std::size_t corrupted = 0;
    std::size_t misaligned = 0;
    std::optional<block> pending;
    std::vector<block> got;
    std::string error;
    bool hung = false;
    try {
      while (sent < options.blocks || received < options.blocks) {
        if (!pending && sent < options.blocks) {
          block b{};
          if (options.fixed_size != 0 && rng() % 4 != 0) {
            b.size = options.fixed_size;
            b.alignment = options.fixed_alignment;
          } else {
            b.size = internal_handoff::draw_size(rng, options.max_size);
            b.alignment =
                internal_handoff::draw_alignment(rng, options.max_alignment);
          }
          b.seed = (static_cast<std::uint64_t>(self) << 32) | sent;
          b.p = resource.allocate(b.size, b.alignment);
          if (!is_aligned(b.p, b.alignment)) ++misaligned;
          fill_pattern(b.p, b.size, b.seed);
          pending = b;
        }
        {
          std::unique_lock lock(mu);
          const bool ready = changed.wait_until(lock, deadline, [&] {
            return stop || !queues[self].empty() ||
                   (pending && queues[other].size() < options.queue_capacity);
          });
          if (stop) break;
          if (!ready) {
            hung = true;
            stop = true;
            changed.notify_all();
            break;
          }
          if (pending && queues[other].size() < options.queue_capacity) {
            queues[other].push_back(*pending);
            pending.reset();
            ++sent;
          }
          got.assign(queues[self].begin(), queues[self].end());
          queues[self].clear();
        }
        changed.notify_all();
        for (const block& b : got) check_and_free(b, corrupted);
        received += got.size();
      }
    } catch (const std::exception& e) {
      error = e.what();
      std::lock_guard lock(mu);
      stop = true;
      changed.notify_all();
    }
    if (pending) check_and_free(*pending, corrupted);
    std::lock_guard lock(mu);
    result.sent += sent;
    result.checked += received;
    result.corrupted += corrupted;
    result.misaligned += misaligned;
    result.hung = result.hung || hung;
    if (!error.empty()) result.error = error;
  };

  std::thread a(run, 0);
  std::thread b(run, 1);
  a.join();
  b.join();
  for (std::deque<block>& q : queues) {
    for (const block& left : q) check_and_free(left, result.corrupted);
    q.clear();
  }
  return result;
}

/// Runs the hand-off stress and fails the test unless every block sent was
/// received intact and aligned.
inline void expect_clean_handoff(std::pmr::memory_resource& resource,
                                 const handoff_options& options = {}) {
  const handoff_result r = run_handoff(resource, options);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.sent, 2 * options.blocks) << r.describe();
  EXPECT_EQ(r.checked, 2 * options.blocks) << r.describe();
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_HANDOFF_H_
