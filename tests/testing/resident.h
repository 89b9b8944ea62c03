// The resident memory of this process, for tests that check memory really
// goes back to the OS.
#ifndef STRATA_TESTS_TESTING_RESIDENT_H_
#define STRATA_TESTS_TESTING_RESIDENT_H_

#include <cstddef>
#include <fstream>

#include "strata/page_resource.h"

namespace strata::testing {

/// Resident pages of this process, from /proc/self/statm, in bytes.
inline std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0;
  std::size_t resident = 0;
  statm >> size >> resident;
  return resident * page_resource::page_size();
}

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_RESIDENT_H_
