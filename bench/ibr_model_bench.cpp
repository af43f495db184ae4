// Costs of the image-conditioned model (issue 21): one training step (8 source views at 128x128, 512 target rays,
// encoder + coarse/fine passes + backward), the per-sample network, and rendering a whole view from 8 source views
// (the "256x256 in <= 3 s" target). Figures in BENCHMARKS.md ("Generalizable models").
// SEMFIELD_BENCH_THREADS sets the thread count (default 2).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "orbit_views.h"
#include "semfield/models/ibr/ibr_model.h"

namespace {

using namespace semfield;

/// The orbit scene with the default network.
struct Setup : bench::OrbitViews {
  IbrNetwork net{IbrConfig{}};
  explicit Setup(int side) : OrbitViews(side) {}
};

void BM_IbrTrainStep(benchmark::State& state) {
  Setup s(128);
  const int64_t n = state.range(0);
  const IbrRays rays = s.rays(n, 128);
  const at::Tensor bg = at::ones({n, 3}), target = at::rand({n, 3});
  for (auto _ : state) {
    const IbrSources src = s.net.prepare(s.cams, s.images);
    const IbrRenderOutput out = s.net.render(rays, src, bg, true, 1);
    (at::mse_loss(out.rgb, target) + at::mse_loss(out.rgb_coarse, target)).backward();
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n * 48), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_IbrPoints(benchmark::State& state) {
  Setup s(128);
  const int64_t n = state.range(0);
  const bool backward = state.range(1) != 0;
  IbrSources src;
  {
    at::NoGradGuard no_grad;
    src = s.net.prepare(s.cams, s.images);
  }
  if (backward) src.features.requires_grad_(true);
  const at::Tensor pts = at::rand({n, 3}) - 0.5f;
  at::Tensor dirs = at::rand({n, 3}) - 0.5f;
  dirs = dirs / dirs.norm(2, 1, true);
  for (auto _ : state) {
    if (backward) {
      const auto p = s.net.points(pts, dirs, src);
      (p.z.sum() + p.rgb.sum()).backward();
    } else {
      at::NoGradGuard no_grad;
      benchmark::DoNotOptimize(s.net.points(pts, dirs, src).z);
    }
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// A whole side x side view from 8 source views of the same size, as IbrModel::render does it (2048-ray chunks).
void BM_IbrRenderView(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  Setup s(side);
  at::NoGradGuard no_grad;
  const int64_t n = int64_t{side} * side;
  const IbrRays rays = s.rays(n, side);
  const at::Tensor bg = at::ones({2048, 3});
  for (auto _ : state) {
    const IbrSources src = s.net.prepare(s.cams, s.images);
    for (int64_t b = 0; b < n; b += 2048) {
      const int64_t k = std::min<int64_t>(2048, n - b);
      IbrRays chunk{rays.origins.narrow(0, b, k), rays.dirs.narrow(0, b, k), rays.near.narrow(0, b, k),
                    rays.far.narrow(0, b, k)};
      benchmark::DoNotOptimize(s.net.render(chunk, src, bg.narrow(0, 0, k), false, 0).rgb);
    }
  }
}

}  // namespace

BENCHMARK(BM_IbrTrainStep)->Arg(512)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_IbrPoints)->Args({24576, 0})->Args({24576, 1})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_IbrRenderView)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime()->Iterations(1);

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
