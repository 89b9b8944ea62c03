// Upstreams over the system's own allocators:
//
//   strata::malloc_resource  aligned blocks from malloc / posix_memalign,
//                            given back with free. What new_delete_resource
//                            does, without operator new's handler loop.
//   strata::page_resource    whole pages from mmap, given back to the OS with
//                            munmap (strata/page_resource.h, in the core since
//                            resource_stack uses it; included here too).
//
// malloc_resource refuses requests above 1 TiB with std::bad_alloc without
// asking the system (no machine this runs on has that much, and the sanitizers
// abort on absurd sizes instead of failing them).
//
// Thread safety: thread-safe. Both are stateless: any two instances are
// interchangeable, but do_is_equal is identity like every strata resource.
//
// Example:
//
//   strata::page_resource pages;
//   strata::monotonic_arena arena({.initial_size = 1 << 20}, &pages);
//   // ... arena.release() gives the pages back to the OS.
#ifndef STRATA_ADAPTERS_SYSTEM_RESOURCES_H_
#define STRATA_ADAPTERS_SYSTEM_RESOURCES_H_

#include <cstddef>
#include <memory_resource>

#include "strata/page_resource.h"  // page_resource, moved to the core

namespace strata {

/// Blocks from malloc (posix_memalign for alignments above max_align_t).
class malloc_resource final : public std::pmr::memory_resource {
 public:
  malloc_resource() = default;
  malloc_resource(const malloc_resource&) = delete;
  malloc_resource& operator=(const malloc_resource&) = delete;
  ~malloc_resource() override = default;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override;
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_SYSTEM_RESOURCES_H_
