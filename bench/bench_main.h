// The main() every Google Benchmark executable here shares: set up as the CLI does, then run.
#pragma once

#include <algorithm>
#include <cstdlib>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "semfield/core/parallel.h"
#include "semfield/core/runtime_settings.h"
#include "semfield/kernels/caching_allocator.h"

namespace semfield::bench {

/// As the CLI: idle worker threads sleep (re-exec), SEMFIELD_BENCH_THREADS threads (default 2) for LibTorch and
/// semfield's own loops, and the caching allocator (fresh activations' page faults would otherwise dominate).
inline int run_benchmarks(int argc, char** argv) {
  reexec_with_runtime_settings(argv);
  const char* threads = std::getenv("SEMFIELD_BENCH_THREADS");
  const int n = threads ? std::max(1, std::atoi(threads)) : 2;
  at::set_num_threads(n);
  set_parallel_threads(n);
  kernels::install_caching_cpu_allocator();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace semfield::bench
