// strata::reclaimable: the interface of a resource that keeps memory its users
// have given back, so that something above it can ask for that memory.
//
// Pools, caches and arenas that retain chunks hold bytes that no user holds:
// they make the next allocation fast, but they are also the first thing to
// give up when a process nears its memory budget. A resource that holds such
// bytes implements `reclaimable`; the governor (governor_resource) drives
// reclamation through this interface alone, the way a garbage-collected
// runtime scavenges its free spans.
//
// Thread safety: `cached_bytes()` may be called from any thread (a
// snapshot). `reclaim()` is as thread-safe as the resource that implements
// it, and says so with `reclaim_is_thread_safe()`: a governor reclaims a
// cache that is not only on the thread that allocates through it, never from
// its background thread or on another governor's behalf.
//
// Example:
//
//   void trim(strata::reclaimable& pool) {
//     using namespace std::chrono_literals;
//     strata::reclaim_result r =
//         pool.reclaim({.bytes = 1 << 20, .time_budget = 50us});
//     // r.bytes_freed went back to the pool's upstream; if r.more_remains,
//     // call again later to give up the rest.
//   }
#ifndef STRATA_RECLAIMABLE_H_
#define STRATA_RECLAIMABLE_H_

#include <chrono>
#include <cstddef>
#include <limits>

namespace strata {

/// What a caller asks of one `reclaimable::reclaim()` call.
struct reclaim_request {
  /// Give back at least this many bytes if the resource holds them; the
  /// resource may free a little more (it frees whole blocks, spans or chunks).
  /// The default asks for everything.
  std::size_t bytes = std::numeric_limits<std::size_t>::max();
  /// Stop after about this long, even if `bytes` has not been reached, so that
  /// one call bounds the pause it causes. The resource checks the clock between
  /// units of work, so one unit (one span, one chunk) may run past it. The
  /// default is no limit.
  std::chrono::nanoseconds time_budget = std::chrono::nanoseconds::max();
};

/// What one `reclaimable::reclaim()` call did.
struct reclaim_result {
  /// Bytes given back to the upstream by this call.
  std::size_t bytes_freed = 0;
  /// True when the resource still caches bytes it could give back: the call
  /// stopped on its byte target or its time budget, not because it ran dry.
  bool more_remains = false;
};

/// Implemented by every resource that retains memory its users gave back.
class reclaimable {
 public:
  /// Bytes held from the upstream that no user holds now: what `reclaim()`
  /// could give back. A snapshot; it may change as soon as it is read.
  [[nodiscard]] virtual std::size_t cached_bytes() const noexcept = 0;

  /// Gives cached bytes back to the upstream, up to `request.bytes` and within
  /// about `request.time_budget`, and reports what it freed. Never throws:
  /// giving memory back needs no memory.
  virtual reclaim_result reclaim(const reclaim_request& request) noexcept = 0;

  /// False for a resource used by one thread at a time (its reclaim() must
  /// run on that thread).
  [[nodiscard]] virtual bool reclaim_is_thread_safe() const noexcept {
    return true;
  }

 protected:
  reclaimable() = default;
  reclaimable(const reclaimable&) = default;
  reclaimable(reclaimable&&) = default;
  reclaimable& operator=(const reclaimable&) = default;
  reclaimable& operator=(reclaimable&&) = default;
  ~reclaimable() = default;
};

}  // namespace strata

#endif  // STRATA_RECLAIMABLE_H_
