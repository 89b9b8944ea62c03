// strata::synchronized_resource<R>: any memory resource made thread-safe by a
// std::mutex around every call, the simplest way to share a resource that is
// not thread-safe (a size_class_resource, a monotonic_arena) among threads
// that use it lightly. For heavy traffic, prefer a sync_pool_resource over it.
//
// It owns the R, built from the arguments given; get() reaches it (lock()
// holds the mutex for a multi-step operation such as reset()).
//
// Thread safety: thread-safe.
//
// Example:
//
//   strata::synchronized_resource<strata::size_class_resource> shared;
//   std::thread t([&] { std::pmr::vector<int> v(100, &shared); });
//   std::pmr::string s("from main, at the same time", &shared);
//   t.join();
#ifndef STRATA_ADAPTERS_SYNCHRONIZED_RESOURCE_H_
#define STRATA_ADAPTERS_SYNCHRONIZED_RESOURCE_H_

#include <cstddef>
#include <memory_resource>
#include <mutex>
#include <utility>

namespace strata {

template <class Resource>
class synchronized_resource final : public std::pmr::memory_resource {
 public:
  /// Builds the wrapped resource from `args`.
  template <class... Args>
  explicit synchronized_resource(Args&&... args)
      : resource_(std::forward<Args>(args)...) {}
  synchronized_resource(const synchronized_resource&) = delete;
  synchronized_resource& operator=(const synchronized_resource&) = delete;
  ~synchronized_resource() override = default;

  /// The wrapped resource; use it only while holding lock().
  [[nodiscard]] Resource& get() noexcept { return resource_; }
  /// Holds the mutex, for several steps on get() at once.
  [[nodiscard]] std::unique_lock<std::mutex> lock() {
    return std::unique_lock(mu_);
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    std::lock_guard guard(mu_);
    return static_cast<std::pmr::memory_resource&>(resource_).allocate(
        bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override {
    std::lock_guard guard(mu_);
    static_cast<std::pmr::memory_resource&>(resource_).deallocate(p, bytes,
                                                                  alignment);
  }
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::mutex mu_;
  Resource resource_;
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_SYNCHRONIZED_RESOURCE_H_
