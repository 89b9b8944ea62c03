#include "strata/adapters/system_resources.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "strata/internal/alignment.h"

namespace strata {
namespace {

constexpr std::size_t kLargestRequest = std::size_t{1} << 40;

}  // namespace

void* malloc_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  internal::check_request("malloc_resource", bytes, alignment);
  if (bytes > kLargestRequest) throw std::bad_alloc();
  const std::size_t size = std::max<std::size_t>(bytes, 1);
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else if (posix_memalign(&p, std::max(alignment, sizeof(void*)), size) !=
             0) {
    p = nullptr;
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void malloc_resource::do_deallocate(void* p, std::size_t /*bytes*/,
                                    std::size_t /*alignment*/) {
  std::free(p);
}

}  // namespace strata
