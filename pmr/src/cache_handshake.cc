#include "strata/internal/cache_handshake.h"

#if defined(__linux__) && __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#define STRATA_HAS_MEMBARRIER 1
#endif

namespace strata::internal {

bool heavy_fence() noexcept {
#ifdef STRATA_HAS_MEMBARRIER
  // The expedited command interrupts only the CPUs running this process's
  // threads (a thread switched out passed a barrier then); the kernel needs
  // the process to register for it once.
  static const bool registered =
      syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
              0) == 0;
  return registered &&
         syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;
#endif
}

}  // namespace strata::internal
