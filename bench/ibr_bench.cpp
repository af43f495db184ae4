// Costs of the image-conditioned model's building blocks on the CPU (issue 21): the ResUNet encoder over a scene's
// source views, and projecting samples into every source view with bilinear gathers of colours and features (the
// LibTorch reference, sample_maps, against the fused channels-last kernel, gather_bilinear).
// Figures in BENCHMARKS.md ("Generalizable models"). SEMFIELD_BENCH_THREADS sets the thread count (default 2).
#include <cmath>
#include <cstdlib>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "orbit_views.h"
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

// Eight 128x128 source cameras around the origin, looking at it.
SourceCameraBatch bench_source_cameras(int64_t views, int64_t side) {
  std::vector<Camera> cameras;
  for (int v = 0; v < views; ++v) cameras.push_back(bench::orbit_camera(0.3 * v, static_cast<int>(side), 150));
  return SourceCameraBatch::from_cameras(cameras);
}

// N samples projected into 8 views, gathering 3 colour + 32 feature channels (features at 1/4 resolution).
void BM_ProjectGather(benchmark::State& state) {
  const int64_t n = state.range(0), side = 128, views = 8;
  const SourceCameraBatch batch = bench_source_cameras(views, side);
  const at::Tensor colours = at::rand({views, 3, side, side}), features = at::rand({views, 32, side / 4, side / 4});
  const at::Tensor points = at::rand({n, 3}) - 0.5f;
  at::NoGradGuard no_grad;
  auto step = [&] {
    const Projection p = project_points(points, batch);
    benchmark::DoNotOptimize(sample_maps(colours, p.uv, batch.sizes));
    benchmark::DoNotOptimize(sample_maps(features, p.uv, batch.sizes));
  };
  step();  // warm-up: the caching allocator then holds the blocks, so 1M-sample runs (1 iteration) time no page faults
  for (auto _ : state) step();
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// The same with the fused gather on channels-last maps (converted once, outside the loop, as callers keep them).
void BM_ProjectGatherFused(benchmark::State& state) {
  const int64_t n = state.range(0), side = 128, views = 8;
  const SourceCameraBatch batch = bench_source_cameras(views, side);
  const at::Tensor colours = at::rand({views, side, side, 3}), features = at::rand({views, side / 4, side / 4, 32});
  const at::Tensor points = at::rand({n, 3}) - 0.5f;
  at::NoGradGuard no_grad;
  auto step = [&] {
    const Projection p = project_points(points, batch);
    benchmark::DoNotOptimize(gather_bilinear(colours, p.uv, batch.sizes));
    benchmark::DoNotOptimize(gather_bilinear(features, p.uv, batch.sizes));
  };
  step();  // warm-up, as above
  for (auto _ : state) step();
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// The gather alone (uv of N samples in 8 views precomputed), reference (sample_maps on [V,C,h,w]) against fused
// (gather_bilinear on [V,h,w,C]): 3 colour channels from 128x128 maps + 32 feature channels from 32x32 maps, 35
// channels per (sample, view). Args: N, fused (0/1), backward: 0 forward only (no autograd graph), 1 forward +
// backward to the feature maps (training an encoder; colours and uv need no gradient), 2 to the feature maps and uv.
// Counter gathers/s: (sample, view) pairs of 35 channels per second.
void BM_Gather(benchmark::State& state) {
  const int64_t n = state.range(0), side = 128, views = 8;
  const bool fused = state.range(1) != 0;
  const int64_t backward = state.range(2);
  const SourceCameraBatch batch = bench_source_cameras(views, side);
  const at::Tensor points = at::rand({n, 3}) - 0.5f;
  const at::Tensor uv_values = project_points(points, batch).uv.detach();
  const at::Tensor colours_chw = at::rand({views, 3, side, side}), features_chw = at::rand({views, 32, side / 4, side / 4});
  const at::Tensor colours = fused ? colours_chw.permute({0, 2, 3, 1}).contiguous() : colours_chw;
  const at::Tensor features = (fused ? features_chw.permute({0, 2, 3, 1}).contiguous() : features_chw)
                                  .requires_grad_(backward >= 1);
  const at::Tensor uv = uv_values.clone().requires_grad_(backward >= 2);
  const at::Tensor g_colours = at::rand({views, n, 3}), g_features = at::rand({views, n, 32});
  auto gather = [&](const at::Tensor& maps) {
    return fused ? gather_bilinear(maps, uv, batch.sizes) : sample_maps(maps, uv, batch.sizes);
  };
  auto step = [&] {
    if (backward == 0) {
      at::NoGradGuard no_grad;
      benchmark::DoNotOptimize(gather(colours));
      benchmark::DoNotOptimize(gather(features));
    } else {
      const at::Tensor c = gather(colours), f = gather(features);
      torch::autograd::variable_list inputs{features};
      if (backward == 2) inputs.push_back(uv);
      const auto grads = backward == 2 ? torch::autograd::grad({c, f}, inputs, {g_colours, g_features})
                                       : torch::autograd::grad({f}, inputs, {g_features});
      benchmark::DoNotOptimize(grads);
    }
  };
  step();  // warm-up, as in BM_ProjectGather
  for (auto _ : state) step();
  state.counters["gathers/s"] =
      benchmark::Counter(static_cast<double>(n * views), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_ResUNet)->Args({128, 0})->Args({128, 1})->Args({256, 0})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ProjectGather)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ProjectGatherFused)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_Gather)
    ->ArgsProduct({{1 << 16, 1 << 20}, {0, 1}, {0, 1}})
    ->Args({1 << 20, 1, 2})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
