// strata::page_resource: whole pages from the operating system (mmap), given
// back to it (munmap) when they are freed, so the process's resident memory
// falls with them. The bottom of strata's recommended stacks: what a governor
// meter above it counts is then what the process holds for the stack, since
// nothing beneath pads a request or keeps a header per block, and nothing
// keeps freed memory for reuse (the caches above do that, and decay).
//
// Every request takes whole pages: it is an upstream for resources that ask
// for spans and large blocks (size_class_resource, sync_pool_resource, an
// arena's chunks), not a general-purpose allocator for small blocks. A request
// aligned beyond a page maps enough to slide to the alignment and unmaps the
// slack before and after, so no memory is held for the padding.
//
// Refuses requests above 1 TiB with std::bad_alloc without asking the system
// (no machine this runs on has that much, and the sanitizers abort on absurd
// sizes instead of failing them).
//
// Thread safety: thread-safe and stateless: any two instances are
// interchangeable, but do_is_equal is identity like every strata resource.
// system_pages() is one that lives as long as the process.
//
// Example:
//
//   strata::size_class_resource slabs({}, strata::system_pages());
//   // ... slabs' empty spans decay back to the OS.
#ifndef STRATA_PAGE_RESOURCE_H_
#define STRATA_PAGE_RESOURCE_H_

#include <cstddef>
#include <memory_resource>

namespace strata {

/// Whole pages from mmap, returned to the OS by munmap.
class page_resource final : public std::pmr::memory_resource {
 public:
  page_resource() = default;
  page_resource(const page_resource&) = delete;
  page_resource& operator=(const page_resource&) = delete;
  ~page_resource() override = default;

  /// The size of a page; every block occupies whole pages.
  [[nodiscard]] static std::size_t page_size() noexcept;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override;
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

/// A page_resource that is never destroyed: the default bottom of
/// resource_stack::builder.
[[nodiscard]] page_resource* system_pages() noexcept;

}  // namespace strata

#endif  // STRATA_PAGE_RESOURCE_H_
