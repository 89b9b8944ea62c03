// The benchmark driver: Google Benchmark's own main, plus the context the
// report needs (which standard peer each resource is compared with).

#include "benchmark/benchmark.h"

#include "bench_resources.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (const strata::bench::resource_entry& entry :
       strata::bench::resources()) {
    if (!entry.peer.empty()) {
      benchmark::AddCustomContext("peer:" + entry.name, entry.peer);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
