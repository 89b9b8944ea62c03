// strata::scoped_default_resource: installs a memory resource as the
// process-wide default (std::pmr::get_default_resource()) for as long as it
// lives, and puts the previous default back when it goes out of scope, so a
// test, a subsystem's start-up or main() can switch the default without
// forgetting to restore it.
//
// Thread safety: the default resource is process-wide; installing and
// restoring it are atomic (std::pmr::set_default_resource), but which
// resource a concurrent get_default_resource() sees is a race by nature.
// Scopes must end in the reverse order of their start, as scopes do.
//
// Example:
//
//   strata::size_class_resource slabs;
//   {
//     strata::scoped_default_resource use(&slabs);
//     std::pmr::vector<int> v(100);   // from slabs: the default now
//   }                                 // the previous default is back
#ifndef STRATA_SCOPED_DEFAULT_RESOURCE_H_
#define STRATA_SCOPED_DEFAULT_RESOURCE_H_

#include <memory_resource>

namespace strata {

class scoped_default_resource {
 public:
  /// Installs `resource` (which must outlive this scope) as the default.
  explicit scoped_default_resource(std::pmr::memory_resource* resource) noexcept
      : previous_(std::pmr::set_default_resource(resource)) {}
  scoped_default_resource(const scoped_default_resource&) = delete;
  scoped_default_resource& operator=(const scoped_default_resource&) = delete;
  /// Restores the default that was installed before.
  ~scoped_default_resource() { std::pmr::set_default_resource(previous_); }

  /// The default this scope replaced, and will restore.
  [[nodiscard]] std::pmr::memory_resource* previous() const noexcept {
    return previous_;
  }

 private:
  std::pmr::memory_resource* const previous_;
};

}  // namespace strata

#endif  // STRATA_SCOPED_DEFAULT_RESOURCE_H_
