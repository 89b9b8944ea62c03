// The process-wide scavenger behind strata/decay.h: thread-safe resources
// register here, and one background thread asks each of them, every tick, to
// give back what has been idle longer than its decay.
#ifndef STRATA_INTERNAL_SCAVENGER_H_
#define STRATA_INTERNAL_SCAVENGER_H_

#include <chrono>
#include <cstddef>

#include "strata/decay.h"

namespace strata::internal {

/// What a resource registered with the scavenger implements.
class decay_target {
 public:
  /// Gives back what has been idle longer than the resource's decay and
  /// returns the bytes given back. Called from the scavenger's thread or a
  /// scavenger_run_once() caller, never two at once.
  virtual std::size_t decay_idle() noexcept = 0;

 protected:
  decay_target() = default;
  decay_target(const decay_target&) = default;
  decay_target(decay_target&&) = default;
  decay_target& operator=(const decay_target&) = default;
  decay_target& operator=(decay_target&&) = default;
  ~decay_target() = default;
};

/// Adds `target`, walked about every `decay` / 8 (clamped to the
/// scavenger's shortest and longest tick); starts the
/// background thread the first time. A decay of kNeverDecay registers
/// nothing. Throws std::bad_alloc, or std::system_error if the thread
/// cannot start.
void register_decay_target(decay_target* target, decay_time decay);

/// Adds `target`, walked about every `tick` (no faster than the shortest
/// tick): for work
/// other than decay that runs on the same thread (a governor's background
/// reclaimer). Throws as register_decay_target().
void register_periodic_target(decay_target* target,
                              std::chrono::nanoseconds tick);

/// Makes the background thread walk now rather than at its next tick (and
/// whatever its CPU cap says): for a governor whose footprint just passed
/// its soft mark. Cheap when a wake is already pending.
void wake_scavenger() noexcept;

/// Removes `target`; returns once no walk is running on it. Call it before
/// the target starts to come apart, holding none of its locks.
void unregister_decay_target(decay_target* target) noexcept;

/// `decay` in nanoseconds, at most about a century (longer decays, and
/// kNeverDecay, would overflow them and never come anyway).
[[nodiscard]] constexpr std::chrono::nanoseconds decay_nanoseconds(
    decay_time decay) noexcept {
  constexpr decay_time kCentury = std::chrono::hours(24 * 365 * 100);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      decay < kCentury ? decay : kCentury);
}

/// How often memory decaying over `decay` is looked at: an eighth of it.
[[nodiscard]] constexpr std::chrono::nanoseconds decay_tick(
    decay_time decay) noexcept {
  return decay_nanoseconds(decay) / 8;
}

/// Memory stamped idle at or before this instant is due to go back (none
/// when `decay` is kNeverDecay).
[[nodiscard]] constexpr std::chrono::nanoseconds due_before(
    std::chrono::nanoseconds now, decay_time decay) noexcept {
  if (decay == kNeverDecay) return std::chrono::nanoseconds::min();
  return now - decay_nanoseconds(decay);
}

/// The resource's clock: the one its options name, else the steady clock.
[[nodiscard]] inline const decay_clock* clock_or_steady(
    const decay_clock* clock) noexcept {
  return clock != nullptr ? clock : decay_clock::steady();
}

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_SCAVENGER_H_
