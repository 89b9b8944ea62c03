#include "strata/page_resource.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include <sys/mman.h>
#include <unistd.h>

#include "strata/internal/alignment.h"

namespace strata {
namespace {

constexpr std::size_t kLargestRequest = std::size_t{1} << 40;

// Bytes of whole pages that hold `bytes` (at least one page).
std::size_t page_span(std::size_t bytes) {
  const std::size_t page = page_resource::page_size();
  return (std::max<std::size_t>(bytes, 1) + page - 1) & ~(page - 1);
}

}  // namespace

std::size_t page_resource::page_size() noexcept {
  static const auto size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

void* page_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  internal::check_request("page_resource", bytes, alignment);
  if (bytes > kLargestRequest) throw std::bad_alloc();
  const std::size_t size = page_span(bytes);
  // Pages are page-aligned; a stricter alignment maps enough to slide to it
  // and unmaps the slack before and after.
  const std::size_t extra = alignment > page_size() ? alignment : 0;
  void* mapped = mmap(nullptr, size + extra, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<std::byte*>(mapped);
  if (extra == 0) return base;
  const auto address = reinterpret_cast<std::uintptr_t>(base);
  const std::size_t head =
      (alignment - (address & (alignment - 1))) & (alignment - 1);
  if (head != 0) munmap(base, head);
  if (extra - head != 0) munmap(base + head + size, extra - head);
  return base + head;
}

void page_resource::do_deallocate(void* p, std::size_t bytes,
                                  std::size_t /*alignment*/) {
  munmap(p, page_span(bytes));
}

page_resource* system_pages() noexcept {
  // Never destroyed: stacks built on it may outlive every static. Placed
  // in static storage, so making it allocates nothing.
  alignas(page_resource) static std::byte storage[sizeof(page_resource)];
  static auto* const pages = new (storage) page_resource;
  return pages;
}

}  // namespace strata
