// A time budget for one reclaim() call: reclaimers check it between units of
// work. An unbounded budget never reads the clock.
#ifndef STRATA_INTERNAL_DEADLINE_H_
#define STRATA_INTERNAL_DEADLINE_H_

#include <algorithm>
#include <chrono>

namespace strata::internal {

class deadline {
 public:
  /// Budgets this long or longer (nanoseconds::max() among them) never end.
  static constexpr std::chrono::nanoseconds kForever =
      std::chrono::hours(24 * 365);

  explicit deadline(std::chrono::nanoseconds budget)
      : unbounded_(budget >= kForever),
        end_(unbounded_
                 ? clock::time_point::max()
                 : clock::now() +
                       std::chrono::duration_cast<clock::duration>(budget)) {}

  /// True once the budget is spent.
  [[nodiscard]] bool passed() const {
    return !unbounded_ && clock::now() >= end_;
  }
  /// What is left of the budget (kForever when it never ends).
  [[nodiscard]] std::chrono::nanoseconds left() const {
    if (unbounded_) return kForever;
    return std::max(std::chrono::nanoseconds::zero(),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                        end_ - clock::now()));
  }

 private:
  using clock = std::chrono::steady_clock;
  bool unbounded_;
  clock::time_point end_;
};

}  // namespace strata::internal

#endif  // STRATA_INTERNAL_DEADLINE_H_
