// What averaging gradients across ranks costs: ProcessGroup::all_reduce_mean (Gloo, loopback) for float32 buffers
// of 1, 4 and 16 MB, as one contiguous tensor (reduced in place) and as 64 tensors (packed into one buffer first).
// Usage: distributed_bench [nproc=2] [iterations=20]
// Run plainly, it starts nproc copies of itself on 127.0.0.1 (launch_local_workers) and rank 0 prints the table;
// run under torchrun-style variables (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT) it is one rank of that job.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/runtime_settings.h"
#include "semfield/train/distributed.h"

using namespace semfield;

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// Median seconds of `iterations` all_reduce_mean calls on `tensors` (after 3 untimed ones); every rank runs the same
/// calls in the same order.
double time_all_reduce(ProcessGroup& group, std::vector<at::Tensor>& tensors, int iterations) {
  std::vector<double> seconds;
  for (int i = 0; i < 3 + iterations; ++i) {
    group.all_reduce_mean(tensors);
    if (i >= 3) seconds.push_back(group.last_all_reduce_seconds());
  }
  return median(seconds);
}

}  // namespace

int main(int argc, char** argv) {
  reexec_with_runtime_settings(argv);
  const int nproc = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const int iterations = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  try {
    if (std::getenv("WORLD_SIZE") == nullptr) {
      return launch_local_workers(nproc, std::vector<std::string>(argv, argv + argc), 0, std::chrono::seconds(600));
    }
    at::set_num_threads(1);  // the ranks share the machine's cores
    DistributedOptions options = distributed_options_from_env();
    options.timeout = std::chrono::seconds(120);
    ProcessGroup group(options);
    if (group.is_main())
      std::printf("all_reduce_mean, %d ranks on loopback (Gloo), median of %d\n%8s %10s %12s %10s %12s\n",
                  group.world_size(), iterations, "MB", "1 tensor", "GB/s (bus)", "64 tensors", "GB/s (bus)");
    for (const int64_t megabytes : {1, 4, 16}) {
      const int64_t numel = megabytes * 1024 * 1024 / 4;
      std::vector<at::Tensor> whole{at::randn({numel})};
      std::vector<at::Tensor> pieces = at::randn({numel}).chunk(64);
      for (at::Tensor& p : pieces) p = p.clone();  // separate tensors, as a model's gradients are
      const double t_whole = time_all_reduce(group, whole, iterations);
      const double t_pieces = time_all_reduce(group, pieces, iterations);
      // Bus bandwidth as nccl-tests define it: a ring all-reduce moves 2 (n-1)/n of the buffer through each rank.
      const double bus = 2.0 * (group.world_size() - 1) / group.world_size() * static_cast<double>(numel * 4);
      if (group.is_main())
        std::printf("%8lld %8.2f ms %12.2f %7.2f ms %12.2f\n", static_cast<long long>(megabytes), t_whole * 1e3,
                    bus / t_whole * 1e-9, t_pieces * 1e3, bus / t_pieces * 1e-9);
    }
    group.barrier();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
