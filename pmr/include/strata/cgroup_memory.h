// strata::read_cgroup_memory: the memory limits of the cgroup the process
// runs in, for a budget that follows its container's (see
// governor_options::cgroup_fraction).
//
// cgroup v2: memory.max (the limit) and memory.high (where the kernel starts
// throttling: a soft limit) of the process's cgroup and its ancestors, the
// smallest of each; "max" is no limit. cgroup v1, where the memory
// controller has its own hierarchy: memory.limit_in_bytes and
// memory.soft_limit_in_bytes, where a value of 2^62 or more is no limit.
// The process's cgroup is the one /proc/self/cgroup names; a directory that
// is not there (a container that mounts its own cgroup as the root) is read
// at the root instead.
//
// Example:
//
//   strata::cgroup_memory m = strata::read_cgroup_memory();
//   if (m.limit) std::printf("container limit: %zu bytes\n", *m.limit);
#ifndef STRATA_CGROUP_MEMORY_H_
#define STRATA_CGROUP_MEMORY_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace strata {

/// Where the cgroup files are read; tests point these at fixture files.
/// The strings must outlive whatever keeps the paths (a governor's options).
struct cgroup_paths {
  /// The process's membership, in /proc/<pid>/cgroup's format.
  std::string_view self = "/proc/self/cgroup";
  /// Where the cgroup file systems are mounted.
  std::string_view root = "/sys/fs/cgroup";
};

/// A cgroup's memory limits; empty where there is none (or none is found).
struct cgroup_memory {
  std::optional<std::size_t> limit;       ///< memory.max
  std::optional<std::size_t> soft_limit;  ///< memory.high
};

/// Reads the limits of the calling process's cgroup. Never throws for a
/// missing or unreadable file: that limit is then empty.
[[nodiscard]] cgroup_memory read_cgroup_memory(const cgroup_paths& paths = {});

}  // namespace strata

#endif  // STRATA_CGROUP_MEMORY_H_
