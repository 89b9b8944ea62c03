#include "working_set.h"

#include <random>

namespace strata::bench {
namespace {

// A uniform draw from [lo, hi].
std::uint32_t uniform(std::mt19937& rng, std::uint32_t lo, std::uint32_t hi) {
  return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
}

std::uint32_t draw_size(std::mt19937& rng) {
  const std::uint32_t kind = uniform(rng, 0, 99);
  if (kind < 60) return uniform(rng, 8, 128);
  if (kind < 90) return uniform(rng, 129, 1024);
  return uniform(rng, 1025, 8192);
}

}  // namespace

const working_set_plan& mixed_plan() {
  static const working_set_plan plan = [] {
    std::mt19937 rng(20261126);
    working_set_plan result;
    for (std::size_t i = 0; i < kLive; ++i) {
      result.initial.push_back(draw_size(rng));
    }
    for (std::size_t i = 0; i < kSteps; ++i) {
      result.steps.push_back({uniform(rng, 0, kLive - 1), draw_size(rng)});
    }
    return result;
  }();
  return plan;
}

working_set::working_set(std::size_t first_step)
    : plan_(mixed_plan()), live_(kLive), next_(first_step) {}

void working_set::fill(std::pmr::memory_resource* r) {
  for (std::size_t i = 0; i < kLive; ++i) {
    live_[i] = {r->allocate(plan_.initial[i], kAlign), plan_.initial[i]};
  }
}

std::size_t working_set::live_bytes() const {
  std::size_t bytes = 0;
  for (const block& b : live_) bytes += b.size;
  return bytes;
}

void working_set::clear(std::pmr::memory_resource* r) {
  for (block& b : live_) {
    if (b.p != nullptr) r->deallocate(b.p, b.size, kAlign);
    b = {};
  }
}

}  // namespace strata::bench
