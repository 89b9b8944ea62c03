#include "strata/decay.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "strata/internal/scavenger.h"

namespace strata {
namespace {

using std::chrono::nanoseconds;
using std::chrono::steady_clock;

class steady_decay_clock final : public decay_clock {
 public:
  [[nodiscard]] nanoseconds now() const noexcept override {
    return steady_clock::now().time_since_epoch();
  }
};

constexpr nanoseconds kMinTick = std::chrono::milliseconds(10);
constexpr nanoseconds kMaxTick = std::chrono::seconds(1);
// Walks may take 1 part in kShare of one core over time, in bursts of up to
// kBurst: the walk that gives back a phase's worth of memory runs when due,
// and the sleeps after it pay for it.
constexpr int kShare = 100;
constexpr nanoseconds kBurst = std::chrono::milliseconds(100);

class scavenger {
 public:
  void add(internal::decay_target* target, nanoseconds tick) {
    tick = std::clamp<nanoseconds>(tick, kMinTick, kMaxTick);
    std::unique_lock lock(mu_);
    targets_.push_back({target, tick});
    if (!started_) {
      // Detached: the scavenger lives as long as the process, and a
      // resource destroyed at exit unregisters itself first.
      std::thread([this] { loop(); }).detach();
      started_ = true;
    }
    if (tick < tick_) {
      tick_ = tick;
      wake_.notify_one();
    }
  }

  void remove(internal::decay_target* target) noexcept {
    {
      std::lock_guard lock(mu_);
      std::erase_if(targets_,
                    [&](const entry& e) { return e.target == target; });
      tick_ = kMaxTick;
      for (const entry& e : targets_) tick_ = std::min(tick_, e.tick);
    }
    // A walk that took `target` before it left the list ends first.
    std::lock_guard walking(walk_mu_);
  }

  void wake() noexcept {
    if (kicked_.load(std::memory_order_relaxed)) return;
    {
      std::lock_guard lock(mu_);
      kicked_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_one();
  }

  std::size_t run_once() noexcept {
    std::lock_guard walking(walk_mu_);
    const auto start = steady_clock::now();
    std::size_t released = 0;
    // The list may change while a target runs (a pool made or destroyed
    // elsewhere); each target is taken from it under the lock, and a removed
    // one waits on walk_mu_ until this walk ends.
    for (std::size_t i = 0;; ++i) {
      internal::decay_target* target = nullptr;
      {
        std::lock_guard lock(mu_);
        if (i >= targets_.size()) break;
        target = targets_[i].target;
      }
      released += target->decay_idle();
    }
    const auto end = steady_clock::now();
    const nanoseconds took = end - start;
    std::lock_guard lock(mu_);
    ++stats_.passes;
    stats_.bytes_released += released;
    stats_.busy += took;
    credit_ = std::min(kBurst, credit_ + (end - credited_at_) / kShare) - took;
    credited_at_ = end;
    return released;
  }

  scavenger_stats stats() noexcept {
    std::lock_guard lock(mu_);
    scavenger_stats s = stats_;
    s.resources = targets_.size();
    return s;
  }

 private:
  struct entry {
    internal::decay_target* target;
    nanoseconds tick;
  };

  [[noreturn]] void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      // In debt: sleep until the share has paid it back.
      const nanoseconds wait = credit_ >= nanoseconds::zero()
                                   ? tick_
                                   : std::max(tick_, -credit_ * kShare);
      wake_.wait_for(lock, wait, [this] {
        return kicked_.load(std::memory_order_relaxed);
      });
      kicked_.store(false, std::memory_order_relaxed);
      if (targets_.empty()) continue;
      lock.unlock();
      run_once();
      lock.lock();
    }
  }

  std::mutex walk_mu_;  // held through a walk
  std::mutex mu_;       // guards the rest
  std::condition_variable wake_;
  std::vector<entry> targets_;
  nanoseconds tick_ = kMaxTick;
  nanoseconds credit_ = kBurst;  // walking time the share allows now
  steady_clock::time_point credited_at_ = steady_clock::now();
  scavenger_stats stats_;
  bool started_ = false;
  std::atomic<bool> kicked_{false};  // set under mu_; read without it first
};

scavenger& the_scavenger() {
  // Never destroyed: its thread may run while statics are torn down. In
  // static storage, so making it allocates nothing.
  alignas(scavenger) static std::byte storage[sizeof(scavenger)];
  static auto* const instance = new (storage) scavenger;
  return *instance;
}

}  // namespace

const decay_clock* decay_clock::steady() noexcept {
  // Never destroyed, like the scavenger that reads it; placed in static
  // storage, so making it allocates nothing.
  alignas(
      steady_decay_clock) static std::byte storage[sizeof(steady_decay_clock)];
  static const auto* const clock = new (storage) steady_decay_clock;
  return clock;
}

std::size_t scavenger_run_once() noexcept { return the_scavenger().run_once(); }

scavenger_stats get_scavenger_stats() noexcept {
  return the_scavenger().stats();
}

namespace internal {

void register_decay_target(decay_target* target, decay_time decay) {
  if (decay == kNeverDecay) return;
  the_scavenger().add(target, decay_tick(decay));
}

void register_periodic_target(decay_target* target,
                              std::chrono::nanoseconds tick) {
  the_scavenger().add(target, tick);
}

void wake_scavenger() noexcept { the_scavenger().wake(); }

void unregister_decay_target(decay_target* target) noexcept {
  the_scavenger().remove(target);
}

}  // namespace internal
}  // namespace strata
