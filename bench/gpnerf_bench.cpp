// Cost of a GP-NeRF view (issue 26's "256x256 novel view with semantics from 8 reference views <= 4 s on 2 cores"):
// the reference views through the extractor, every ray through the transformers in 1,024-ray chunks (as
// GpnerfModel::render_full) and the perception head over the rendered semantic map. Arg 1: 1 = the fused inference
// kernels (kernels/gpnerf_forward.h), 0 = the LibTorch path (GpnerfNetwork::render with `record`, which keeps it).
// Arg 2: 1 = the fused kernels' linear layers in bf16 (`--layer-precision bf16`, kernels/layer_precision.h).
// Default config, seeded weights, random source images. Figures in BENCHMARKS.md ("GP-NeRF").
// SEMFIELD_BENCH_THREADS sets the thread count (default 2).
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "orbit_views.h"
#include "semfield/data/synth/synth_scene.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/models/gpnerf/gpnerf_network.h"

namespace {

using namespace semfield;

void BM_GpnerfRenderView(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  const bool fused = state.range(1) != 0;
  const kernels::ScopedLayerPrecision precision(state.range(2) != 0 ? Precision::BFloat16
                                                                   : Precision::Float32);
  GpnerfConfig config;
  config.classes = synth_class_names();
  // Every ray through the transformers: seeded weights give an arbitrary proposal, so the empty-ray skip is measured on
  // generated scenes with the shipped model instead (bench/gpnerf_unseen.sh).
  config.fine_min_opacity = 0;
  const GpnerfNetwork net(config);
  const bench::OrbitViews scene(side);
  const int64_t n = int64_t{side} * side;
  const IbrRays rays = scene.rays(n, side);
  at::NoGradGuard no_grad;
  const at::Tensor bg = at::ones({1024, 3});
  const int64_t d = config.extractor.semantic_channels;
  for (auto _ : state) {
    const GpnerfSources src = net.prepare(scene.cams, scene.images);
    at::Tensor map = at::empty({n, d});
    for (int64_t b = 0; b < n; b += 1024) {
      const int64_t k = std::min<int64_t>(1024, n - b);
      IbrRays chunk{rays.origins.narrow(0, b, k), rays.dirs.narrow(0, b, k), rays.near.narrow(0, b, k),
                    rays.far.narrow(0, b, k)};
      map.narrow(0, b, k).copy_(net.render(chunk, src, bg.narrow(0, 0, k), false, 0, /*record=*/!fused).semantic);
    }
    benchmark::DoNotOptimize(net.decode(map.t().reshape({1, d, side, side})));
  }
}

}  // namespace

BENCHMARK(BM_GpnerfRenderView)
    ->Args({128, 1, 0})
    ->Args({128, 0, 0})
    ->Args({256, 1, 0})
    ->Args({256, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Iterations(1);

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
