// strata::resource_adaptor<Alloc>: any standard allocator as a
// std::pmr::memory_resource, the piece the Library Fundamentals TS proposed
// and the standard never took.
//
// It rebinds the allocator to bytes and honours every power-of-two alignment,
// also beyond what the allocator itself guarantees (alignof(max_align_t) for
// std::allocator): such a request takes `alignment` extra bytes, and the
// allocator's own pointer is kept just before the block handed out.
//
// Thread safety: as the allocator's (std::allocator: thread-safe).
//
// Example:
//
//   strata::resource_adaptor<std::allocator<int>> heap;
//   std::pmr::vector<int> v({1, 2, 3}, &heap);   // memory from std::allocator
#ifndef STRATA_ADAPTERS_RESOURCE_ADAPTOR_H_
#define STRATA_ADAPTERS_RESOURCE_ADAPTOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>

#include "strata/internal/alignment.h"

namespace strata {

/// A memory_resource over a copy of `Alloc`, rebound to bytes.
template <class Alloc>
class resource_adaptor final : public std::pmr::memory_resource {
 public:
  using allocator_type =
      typename std::allocator_traits<Alloc>::template rebind_alloc<std::byte>;

  resource_adaptor() = default;
  explicit resource_adaptor(const Alloc& alloc) : alloc_(alloc) {}
  resource_adaptor(const resource_adaptor&) = delete;
  resource_adaptor& operator=(const resource_adaptor&) = delete;
  ~resource_adaptor() override = default;

  /// A copy of the allocator this resource uses.
  [[nodiscard]] allocator_type get_allocator() const { return alloc_; }

 private:
  using traits = std::allocator_traits<allocator_type>;
  // What the allocator guarantees without help.
  static constexpr std::size_t kNatural = alignof(std::max_align_t);

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    internal::check_alignment("resource_adaptor", alignment);
    if (alignment <= kNatural) {
      return std::to_address(traits::allocate(alloc_, bytes + (bytes == 0)));
    }
    // Room to slide to the alignment, and for the original pointer before it.
    if (bytes > SIZE_MAX - alignment - sizeof(void*)) {
      internal::throw_bad_size();
    }
    const std::size_t total = bytes + alignment + sizeof(void*);
    std::byte* raw = std::to_address(traits::allocate(alloc_, total));
    const auto address = reinterpret_cast<std::uintptr_t>(raw + sizeof(void*));
    std::byte* p =
        raw + sizeof(void*) +
        ((alignment - (address & (alignment - 1))) & (alignment - 1));
    reinterpret_cast<std::byte**>(p)[-1] = raw;
    return p;
  }

  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override {
    if (alignment <= kNatural) {
      traits::deallocate(alloc_, static_cast<std::byte*>(p),
                         bytes + (bytes == 0));
      return;
    }
    std::byte* raw = static_cast<std::byte**>(p)[-1];
    traits::deallocate(alloc_, raw, bytes + alignment + sizeof(void*));
  }

  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  allocator_type alloc_;
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_RESOURCE_ADAPTOR_H_
