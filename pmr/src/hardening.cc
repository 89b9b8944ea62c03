#include "strata/internal/hardening.h"

#include <chrono>
#include <cstdint>
#include <random>

#include "strata/internal/errors.h"

namespace strata::internal {
namespace {

// Mixes the bits of `x` (splitmix64's finaliser), so nearby pools get
// unrelated keys.
std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t process_secret() noexcept {
  static const std::uint64_t secret = [] {
    std::uint64_t s = static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    try {
      std::random_device device;
      s ^= (std::uint64_t{device()} << 32) | device();
    } catch (...) {  // no entropy source: the clock and addresses remain
    }
    return mix(s);
  }();
  return secret;
}

}  // namespace

std::uintptr_t new_hardening_key(const void* owner) noexcept {
  return static_cast<std::uintptr_t>(
      mix(process_secret() ^ reinterpret_cast<std::uintptr_t>(owner)));
}

void report_double_free(std::string_view resource, const void* p) noexcept {
  report_misuse(resource, p, "double free (hardened build)");
}

}  // namespace strata::internal
