// strata::test_resource: a memory resource that checks how it is used, for
// tests (ours and our users') and for debugging a stack in the field.
//
// It wraps an upstream and passes every request through, while it records
// each live block (pointer, size, alignment) and detects the mistakes that
// corrupt a heap silently:
//
//   - a deallocation of a pointer it never handed out,
//   - a double free,
//   - a deallocation whose size or alignment differs from the allocation,
//   - a write past the end of a block: `guard_bytes` of a known pattern follow
//     every block and are checked when it is freed,
//   - blocks still live at destruction or at `expect_no_leaks()`.
//
// Each defect is fatal with a message naming the resource, the pointer and what
// was wrong (`defect_action::abort`, the default), or recorded for a test to
// assert on (`defect_action::record`). A bad deallocation never reaches the
// upstream in a form that could corrupt it: a foreign pointer or a double free
// is dropped, a block freed with the wrong size is freed with the right one.
//
// `fail_after(n)` makes the n-th next allocation throw std::bad_alloc, which
// drives exception-safety loops: run a scenario with the 1st, 2nd, ...
// allocation failing until it completes, and check after each failure that
// nothing leaked.
//
// Unlike BDE's bslma::TestAllocator it is a std::pmr::memory_resource over any
// upstream, and unlike the standard resources it never trusts its caller.
//
// Upstream: every allocation is one upstream allocation of the requested size
// plus `guard_bytes`, at the requested alignment; every valid deallocation
// returns exactly that block.
//
// Thread safety: thread-safe. One std::mutex guards the bookkeeping and every
// upstream call, so the upstream need not be thread-safe.
//
// Example:
//
//   strata::test_resource checker({.defects = strata::defect_action::record});
//   {
//     std::pmr::vector<int> v({1, 2, 3}, &checker);
//     v.push_back(4);
//   }
//   assert(checker.expect_no_leaks());
//   checker.fail_after(1);  // the next allocation throws std::bad_alloc
//   try {
//     std::pmr::vector<int> w(100, &checker);
//   } catch (const std::bad_alloc&) {
//   }
//   assert(checker.defects().empty());
#ifndef STRATA_ADAPTERS_TEST_RESOURCE_H_
#define STRATA_ADAPTERS_TEST_RESOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace strata {

/// The kinds of misuse a test_resource detects.
enum class defect_kind {
  unknown_pointer,     ///< freed a pointer this resource never handed out
  double_free,         ///< freed a block that was already freed
  size_mismatch,       ///< freed with a size other than the allocation's
  alignment_mismatch,  ///< freed with an alignment other than the allocation's
  overrun,             ///< wrote into the guard bytes past the block's end
  leak,                ///< still live at expect_no_leaks() or destruction
};

/// The name of `kind`, such as "double free".
[[nodiscard]] std::string_view to_string(defect_kind kind) noexcept;

/// One detected misuse.
struct defect {
  defect_kind kind = defect_kind::unknown_pointer;
  /// The pointer that was passed to deallocate (or the leaked block).
  const void* pointer = nullptr;
  /// Size and alignment the caller passed (for a leak: the block's own).
  std::size_t size = 0;
  std::size_t alignment = 0;
  /// Size and alignment the block was allocated with; 0 when unknown.
  std::size_t allocated_size = 0;
  std::size_t allocated_alignment = 0;
  /// A readable sentence, the same one that defect_action::abort prints.
  std::string message;
};

/// What a test_resource does when it detects a defect.
enum class defect_action {
  abort,   ///< print the message to stderr and abort the process
  record,  ///< keep it in defects() and carry on
};

/// Options of a test_resource.
struct test_resource_options {
  /// Names the resource in every message.
  std::string_view name = "test_resource";
  /// What a detected defect does.
  defect_action defects = defect_action::abort;
  /// Bytes of a known pattern after each block, checked on deallocation.
  std::size_t guard_bytes = 16;
  /// Fill new blocks with 0xA5 and freed blocks with 0xDD, so code that reads
  /// memory it never wrote, or after freeing it, sees garbage at once.
  bool scribble = true;
  /// An allocation larger than this throws std::bad_alloc without reaching
  /// the upstream, as a heap that refuses would. Tests set it so that absurd
  /// sizes fail the same way under sanitizers, whose operator new aborts on
  /// them instead of throwing.
  std::size_t max_allocation = SIZE_MAX;
};

/// Counters of a test_resource, as one snapshot.
struct test_resource_stats {
  std::size_t allocations = 0;         ///< successful allocate calls
  std::size_t deallocations = 0;       ///< valid deallocate calls
  std::size_t failed_allocations = 0;  ///< allocate calls that threw
  std::size_t blocks_in_use = 0;       ///< live blocks
  std::size_t bytes_in_use = 0;        ///< sum of live blocks' sizes
  std::size_t peak_bytes_in_use = 0;   ///< highest bytes_in_use seen
  std::size_t largest_block = 0;       ///< largest size ever allocated
  std::size_t defects = 0;             ///< defects detected so far
};

/// A checking resource; see the comment at the top of this file.
class test_resource final : public std::pmr::memory_resource {
 public:
  /// Wraps `upstream`. Requires: `upstream` outlives this resource.
  explicit test_resource(
      const test_resource_options& options = {},
      std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  test_resource(const test_resource&) = delete;
  test_resource& operator=(const test_resource&) = delete;
  /// Reports blocks still live as leaks (fatal with defect_action::abort;
  /// printed to stderr with defect_action::record, and then freed).
  ~test_resource() override;

  /// Makes the n-th next allocation throw std::bad_alloc, once; n == 1 is the
  /// very next one. n == 0 disarms a pending failure.
  void fail_after(std::size_t n);

  /// Records every live block as a `leak` defect (or aborts, with
  /// defect_action::abort) and returns true if there was none.
  bool expect_no_leaks();

  /// The defects recorded so far, oldest first.
  [[nodiscard]] std::vector<defect> defects() const;
  /// Forgets the recorded defects.
  void clear_defects();

  /// A snapshot of the counters.
  [[nodiscard]] test_resource_stats stats() const;
  /// Shorthand for stats().bytes_in_use.
  [[nodiscard]] std::size_t bytes_in_use() const;
  /// Shorthand for stats().blocks_in_use.
  [[nodiscard]] std::size_t blocks_in_use() const;

  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept {
    return upstream_;
  }
  [[nodiscard]] std::string_view name() const noexcept { return name_; }

 private:
  struct block {
    std::size_t size;
    std::size_t alignment;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override;
  [[nodiscard]] bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override;

  // Records or aborts; called with mu_ held.
  void report(defect d);
  // Gives a live block back to the upstream; called with mu_ held.
  void release_block(void* p, const block& b) noexcept;
  std::string describe_leaks() const;

  const std::string name_;
  const defect_action action_;
  const std::size_t guard_bytes_;
  const bool scribble_;
  const std::size_t max_allocation_;
  std::pmr::memory_resource* const upstream_;

  mutable std::mutex mu_;
  absl::flat_hash_map<const void*, block> live_;
  // Pointers freed and not handed out again, to tell a double free from a
  // foreign pointer. Bounded: when it grows past a limit it is cleared, and a
  // later double free of a forgotten pointer is reported as unknown_pointer.
  absl::flat_hash_set<const void*> freed_;
  std::vector<defect> defects_;
  test_resource_stats stats_;
  std::size_t fail_countdown_ = 0;
};

}  // namespace strata

#endif  // STRATA_ADAPTERS_TEST_RESOURCE_H_
