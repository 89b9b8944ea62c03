// The benchmark driver: Google Benchmark's own main, plus the context the
// report needs (which standard peer each resource is compared with).

#include <string>

#include "benchmark/benchmark.h"

#include "bench_resources.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string order;
  for (const strata::bench::resource_entry& entry :
       strata::bench::resources()) {
    if (!entry.peer.empty()) {
      benchmark::AddCustomContext("peer:" + entry.name, entry.peer);
    }
    order += (order.empty() ? "" : ",") + entry.name;
  }
  // Repetitions run interleaved at random; the report restores this order.
  benchmark::AddCustomContext("resource_order", order);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
