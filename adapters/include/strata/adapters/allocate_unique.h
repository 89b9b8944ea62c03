// strata::allocate_unique: a std::unique_ptr to an object built in a memory
// resource, whose deleter remembers the resource, so the object is destroyed
// and its memory freed there (std::make_unique always uses the heap; a
// unique_ptr with the default deleter would call delete on pmr memory).
//
// Arrays are supported: allocate_unique<T[]>(resource, n) value-initialises n
// elements, and the deleter remembers n.
//
// Thread safety: as the resource's.
//
// Example:
//
//   strata::monotonic_arena arena;
//   auto order = strata::allocate_unique<Order>(&arena, 42, "buy");
//   auto prices = strata::allocate_unique<double[]>(&arena, 64);
//   // both freed into the arena when they go out of scope
#ifndef STRATA_ADAPTERS_ALLOCATE_UNIQUE_H_
#define STRATA_ADAPTERS_ALLOCATE_UNIQUE_H_

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <utility>

namespace strata {

/// Destroys and frees a T (or a T[] of a remembered size) in its resource.
template <class T>
class pmr_deleter {
 public:
  pmr_deleter() = default;
  explicit pmr_deleter(std::pmr::memory_resource* resource) noexcept
      : resource_(resource) {}
  /// Lets a unique_ptr<Derived> become a unique_ptr<Base> (Base needs a
  /// virtual destructor; the size freed is T's, so T must be the object's
  /// own type or share its size).
  template <class U>
  requires std::is_convertible_v<U*, T*> pmr_deleter(
      const pmr_deleter<U>& other)
  noexcept  // NOLINT(google-explicit-constructor)
      : resource_(other.resource()) {}

  void operator()(T* p) const noexcept {
    p->~T();
    resource_->deallocate(p, sizeof(T), alignof(T));
  }
  [[nodiscard]] std::pmr::memory_resource* resource() const noexcept {
    return resource_;
  }

 private:
  std::pmr::memory_resource* resource_ = nullptr;
};

template <class T>
class pmr_deleter<T[]> {
 public:
  pmr_deleter() = default;
  pmr_deleter(std::pmr::memory_resource* resource, std::size_t count) noexcept
      : resource_(resource), count_(count) {}

  void operator()(T* p) const noexcept {
    std::destroy_n(p, count_);
    resource_->deallocate(p, sizeof(T) * count_, alignof(T));
  }
  [[nodiscard]] std::pmr::memory_resource* resource() const noexcept {
    return resource_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

 private:
  std::pmr::memory_resource* resource_ = nullptr;
  std::size_t count_ = 0;
};

/// A unique_ptr whose deleter frees into the resource it came from.
template <class T>
using pmr_unique_ptr = std::unique_ptr<T, pmr_deleter<T>>;

/// Builds a T from `args` in `resource`. Throws what the resource or T's
/// constructor throws; nothing leaks.
template <class T, class... Args>
requires(!std::is_array_v<T>) pmr_unique_ptr<T> allocate_unique(
    std::pmr::memory_resource* resource, Args&&... args) {
  void* memory = resource->allocate(sizeof(T), alignof(T));
  try {
    T* object = ::new (memory) T(std::forward<Args>(args)...);
    return pmr_unique_ptr<T>(object, pmr_deleter<T>(resource));
  } catch (...) {
    resource->deallocate(memory, sizeof(T), alignof(T));
    throw;
  }
}

/// Builds `count` value-initialised T in `resource`. Throws std::bad_alloc
/// for a count whose size overflows, and what the resource or T throws.
template <class T>
requires std::is_unbounded_array_v<T> pmr_unique_ptr<T> allocate_unique(
    std::pmr::memory_resource* resource, std::size_t count) {
  using element = std::remove_extent_t<T>;
  if (count > SIZE_MAX / sizeof(element)) throw std::bad_alloc();
  void* memory = resource->allocate(sizeof(element) * count, alignof(element));
  try {
    element* first = static_cast<element*>(memory);
    std::uninitialized_value_construct_n(first, count);
    return pmr_unique_ptr<T>(first, pmr_deleter<T>(resource, count));
  } catch (...) {
    resource->deallocate(memory, sizeof(element) * count, alignof(element));
    throw;
  }
}

/// The same, with the resource of a polymorphic_allocator.
template <class T, class U, class... Args>
pmr_unique_ptr<T> allocate_unique(
    const std::pmr::polymorphic_allocator<U>& alloc, Args&&... args) {
  return allocate_unique<T>(alloc.resource(), std::forward<Args>(args)...);
}

}  // namespace strata

#endif  // STRATA_ADAPTERS_ALLOCATE_UNIQUE_H_
