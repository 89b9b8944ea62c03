// strata::resource_adaptor<Alloc>: any standard allocator as a
// std::pmr::memory_resource, the piece the Library Fundamentals TS proposed
// and the standard never took.
//
// It honours every power-of-two alignment. An alignment up to
// alignof(std::max_align_t) is asked of the allocator rebound to a unit of
// that size and alignment, which every allocator must align (so this holds
// for a polymorphic_allocator over an arena as well as for std::allocator).
// A larger one takes `alignment` extra bytes, and the allocator's own
// pointer is kept just before the block handed out.
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
  // The allocator guarantees a rebound type's alignment up to this.
  static constexpr std::size_t kLargestUnit = alignof(std::max_align_t);

  // What a request of `Align` is made of: one allocator element each.
  template <std::size_t Align>
  struct alignas(Align) unit {
    std::byte bytes[Align];
  };
  template <std::size_t Align>
  using unit_allocator =
      typename std::allocator_traits<Alloc>::template rebind_alloc<unit<Align>>;

  // Units for `bytes` (at least one, so a zero-size block is unique); the
  // caller has checked `bytes` against kMaxRequest, so this cannot wrap.
  static constexpr std::size_t units(std::size_t bytes, std::size_t align) {
    return bytes == 0 ? 1 : (bytes + align - 1) / align;
  }

  template <std::size_t Align>
  void* allocate_units(std::size_t bytes) {
    unit_allocator<Align> a(alloc_);
    return std::to_address(
        std::allocator_traits<unit_allocator<Align>>::allocate(
            a, units(bytes, Align)));
  }
  template <std::size_t Align>
  void deallocate_units(void* p, std::size_t bytes) {
    unit_allocator<Align> a(alloc_);
    std::allocator_traits<unit_allocator<Align>>::deallocate(
        a, static_cast<unit<Align>*>(p), units(bytes, Align));
  }

  // Calls `f.template operator()<A>()` with A the unit for `alignment`
  // (at most kLargestUnit).
  template <class F>
  static decltype(auto) with_unit(std::size_t alignment, F&& f) {
    switch (alignment) {
      case 1:
        return f.template operator()<1>();
      case 2:
        return f.template operator()<2>();
      case 4:
        return f.template operator()<4>();
      case 8:
        return f.template operator()<8>();
      default:
        return f.template operator()<kLargestUnit>();
    }
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    internal::check_request("resource_adaptor", bytes, alignment);
    if (alignment <= kLargestUnit) {
      return with_unit(
          alignment, [&]<std::size_t A>() { return allocate_units<A>(bytes); });
    }
    // Room to slide to the alignment, and for the original pointer before it.
    if (bytes > internal::kMaxRequest - sizeof(void*) ||
        alignment > internal::kMaxRequest - sizeof(void*) - bytes) {
      internal::throw_bad_size();
    }
    const std::size_t total = bytes + alignment + sizeof(void*);
    auto* raw = static_cast<std::byte*>(allocate_units<kLargestUnit>(total));
    const auto address = reinterpret_cast<std::uintptr_t>(raw + sizeof(void*));
    std::byte* p =
        raw + sizeof(void*) +
        ((alignment - (address & (alignment - 1))) & (alignment - 1));
    reinterpret_cast<std::byte**>(p)[-1] = raw;
    return p;
  }

  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override {
    if (alignment <= kLargestUnit) {
      with_unit(alignment,
                [&]<std::size_t A>() { deallocate_units<A>(p, bytes); });
      return;
    }
    std::byte* raw = static_cast<std::byte**>(p)[-1];
    deallocate_units<kLargestUnit>(raw, bytes + alignment + sizeof(void*));
  }

  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  allocator_type alloc_;
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_RESOURCE_ADAPTOR_H_
