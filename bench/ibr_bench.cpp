// Costs of the image-conditioned model's building blocks on the CPU (issue 21): the ResUNet encoder over a scene's
// source views, and projecting samples into every source view with bilinear gathers of colours and features.
// Figures in BENCHMARKS.md ("Generalizable models"). SEMFIELD_BENCH_THREADS sets the thread count (default 2).
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <Eigen/Geometry>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "semfield/core/thread_waits.h"
#include "semfield/encoders/resunet.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/kernels/gather_project.h"

namespace {

using namespace semfield;

// Eight 128x128 source views through the default encoder (base 32, out 32): forward only (applying a model to a
// scene) and forward + backward (a training step's share).
void BM_ResUNet(benchmark::State& state) {
  const ResUNet net(ResUNetConfig{}, 1);
  const int64_t side = state.range(0);
  const bool backward = state.range(1) != 0;
  const at::Tensor images = at::rand({8, 3, side, side});
  for (auto _ : state) {
    if (backward) {
      const at::Tensor f = net.forward(images);
      f.sum().backward();
    } else {
      at::NoGradGuard no_grad;
      benchmark::DoNotOptimize(net.forward(images));
    }
  }
}

// N samples projected into 8 views, gathering 3 colour + 32 feature channels (features at 1/4 resolution).
void BM_ProjectGather(benchmark::State& state) {
  const int64_t n = state.range(0), side = 128, views = 8;
  std::vector<Camera> cameras;
  for (int v = 0; v < views; ++v) {
    Camera c;
    c.intrinsics.width = c.intrinsics.height = static_cast<int>(side);
    c.intrinsics.fx = c.intrinsics.fy = 150;
    c.intrinsics.cx = c.intrinsics.cy = side / 2.0;
    const double a = 0.3 * v;
    const Eigen::Vector3d eye(3 * std::cos(a), 3 * std::sin(a), 1.5);
    const Eigen::Vector3d back = eye.normalized(), right = Eigen::Vector3d::UnitZ().cross(back).normalized();
    c.c2w.block<3, 1>(0, 0) = right;
    c.c2w.block<3, 1>(0, 1) = back.cross(right);
    c.c2w.block<3, 1>(0, 2) = back;
    c.c2w.block<3, 1>(0, 3) = eye;
    cameras.push_back(c);
  }
  const SourceCameraBatch batch = SourceCameraBatch::from_cameras(cameras);
  const at::Tensor colours = at::rand({views, 3, side, side}), features = at::rand({views, 32, side / 4, side / 4});
  const at::Tensor points = at::rand({n, 3}) - 0.5f;
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    const Projection p = project_points(points, batch);
    benchmark::DoNotOptimize(sample_maps(colours, p.uv, batch.sizes));
    benchmark::DoNotOptimize(sample_maps(features, p.uv, batch.sizes));
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_ResUNet)->Args({128, 0})->Args({128, 1})->Args({256, 0})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ProjectGather)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
