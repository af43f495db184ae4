// Benchmarks of the hand-written CPU kernels (hash grid, fused MLP, compositing, sparse Adam) at training batch sizes,
// on 2 threads by default (SEMFIELD_BENCH_THREADS overrides). Run: build/bench/kernels_bench.
// "Time" is wall time; "CPU" is the CPU time of the whole process (all threads), so on a machine shared
// with other jobs CPU / threads estimates the uncontended wall time (idle worker threads sleep, as in the CLI:
// runtime_settings.h, so their spinning is not counted).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/kernels/composite.h"
#include "semfield/kernels/fused_mlp.h"
#include "semfield/kernels/hash_grid.h"
#include "semfield/kernels/label_volume.h"
#include "semfield/kernels/max_dot.h"
#include "semfield/kernels/sparse_adam.h"

namespace {

using semfield::kernels::AdamHyper;
using semfield::kernels::HashGridSpec;

constexpr int64_t kPoints = int64_t(1) << 18;

/// instant-ngp's default: 16 levels, F = 2, T = 2^19, base 16, finest 2048.
HashGridSpec ngp_spec() {
  HashGridSpec spec;
  spec.per_level_scale = HashGridSpec::scale_for(16, 2048, 16);
  return spec;
}

/// Arg 0: uniform random points (worst case: no locality at any level). Arg 1: 4096 rays x 64 samples
/// marched through the unit cube, as a training batch produces them (neighbouring samples share cells).
at::Tensor bench_points(int64_t kind) {
  at::manual_seed(0);
  if (kind == 0) return at::rand({kPoints, 3});
  const int64_t rays = kPoints / 64;
  const at::Tensor origin = at::rand({rays, 1, 3});
  const at::Tensor d = at::randn({rays, 1, 3});
  const at::Tensor dir = d / d.norm(2, -1, true);
  const at::Tensor t = at::linspace(0, 1.2, 64).view({1, 64, 1});
  return (origin + t * dir).clamp(0, 1).view({kPoints, 3}).contiguous();
}

void BM_HashGridForward(benchmark::State& state) {
  const HashGridSpec spec = ngp_spec();
  const at::Tensor params = at::rand({spec.n_params()}) * 2e-4 - 1e-4;
  const at::Tensor xyz = bench_points(state.range(0));
  for (auto _ : state) {
    at::Tensor out = semfield::kernels::hash_grid_forward(xyz, params, spec);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kPoints);
}

void BM_HashGridBackward(benchmark::State& state) {
  const HashGridSpec spec = ngp_spec();
  const at::Tensor xyz = bench_points(state.range(0));
  const at::Tensor dL = at::randn({kPoints, spec.n_output_dims()});
  at::Tensor grad = at::zeros({spec.n_params()});
  const at::Tensor touched = at::zeros({spec.n_entries()}, at::kByte);
  for (auto _ : state) {
    semfield::kernels::hash_grid_backward(dL, xyz, spec, grad, touched);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kPoints);
  state.counters["touched_entries"] = double(touched.sum().item<int64_t>());
}

void BM_HashGridForwardBackward(benchmark::State& state) {
  const HashGridSpec spec = ngp_spec();
  const at::Tensor params = at::rand({spec.n_params()}) * 2e-4 - 1e-4;
  const at::Tensor xyz = bench_points(state.range(0));
  const at::Tensor dL = at::randn({kPoints, spec.n_output_dims()});
  at::Tensor grad = at::zeros({spec.n_params()});
  const at::Tensor touched = at::zeros({spec.n_entries()}, at::kByte);
  for (auto _ : state) {
    at::Tensor out = semfield::kernels::hash_grid_forward(xyz, params, spec);
    benchmark::DoNotOptimize(out.data_ptr());
    semfield::kernels::hash_grid_backward(dL, xyz, spec, grad, touched);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kPoints);
}

struct RayBatch {
  at::Tensor sigmas, values, dts, ts, offsets;
};

RayBatch ray_batch(int64_t rays, int64_t samples, int64_t C) {
  at::manual_seed(1);
  const int64_t S = rays * samples;
  RayBatch b;
  b.sigmas = at::rand({S}) * 10;
  b.values = at::rand({S, C});
  b.dts = at::full({S}, 1.f / float(samples));
  b.ts = (at::arange(S) % samples).to(at::kFloat) / float(samples);
  b.offsets = at::arange(0, S + 1, samples, at::kLong);
  return b;
}

/// Args: rays, samples per ray, channels.
void BM_CompositeForwardBackward(benchmark::State& state) {
  const int64_t R = state.range(0), n = state.range(1), C = state.range(2);
  const RayBatch b = ray_batch(R, n, C);
  const at::Tensor gv = at::randn({R, C}), go = at::randn({R}), gd = at::randn({R});
  for (auto _ : state) {
    const auto fwd = semfield::kernels::composite_forward(b.sigmas, b.values, b.dts, b.ts, b.offsets);
    const auto grads =
        semfield::kernels::composite_backward(gv, go, gd, b.sigmas, b.values, b.dts, b.ts, b.offsets, fwd);
    benchmark::DoNotOptimize(grads.dL_dvalues.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * R * n);
}

void BM_CompositeForward(benchmark::State& state) {
  const int64_t R = state.range(0), n = state.range(1), C = state.range(2);
  const RayBatch b = ray_batch(R, n, C);
  for (auto _ : state) {
    const auto fwd = semfield::kernels::composite_forward(b.sigmas, b.values, b.dts, b.ts, b.offsets);
    benchmark::DoNotOptimize(fwd.values.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * R * n);
}

/// Sparse Adam over the entries that 2^18 points' backward touches (arg: point distribution as above).
void BM_SparseAdam(benchmark::State& state) {
  const HashGridSpec spec = ngp_spec();
  const at::Tensor xyz = bench_points(state.range(0));
  at::Tensor params = at::rand({spec.n_params()});
  at::Tensor grad = at::zeros({spec.n_params()});
  at::Tensor exp_avg = at::zeros({spec.n_params()}), exp_avg_sq = at::zeros({spec.n_params()});
  at::Tensor steps = at::zeros({spec.n_entries()}, at::kInt);
  at::Tensor touched = at::zeros({spec.n_entries()}, at::kByte);
  semfield::kernels::hash_grid_backward(at::randn({kPoints, spec.n_output_dims()}), xyz, spec, grad, touched);
  const at::Tensor touched_once = touched.clone(), grad_once = grad.clone();
  const int64_t n_touched = touched_once.sum().item<int64_t>();
  for (auto _ : state) {
    state.PauseTiming();
    touched.copy_(touched_once);
    grad.copy_(grad_once);
    state.ResumeTiming();
    semfield::kernels::sparse_adam_step(params, grad, exp_avg, exp_avg_sq, steps, touched, spec.n_features,
                                        AdamHyper{});
  }
  state.SetItemsProcessed(state.iterations() * n_touched);
  state.counters["touched_entries"] = double(n_touched);
}

/// The radiance field's two MLPs on 2^18 samples (density 32 -> 64 -> 16, colour 31 -> 64 -> 64 -> 3), forward
/// only (arg 1 = 0) or forward + backward (arg 1 = 1); arg 0 picks the fused kernel (1) or LibTorch's mm/relu
/// with autograd (0). Reports GFLOP/s (a multiply-add = 2 FLOPs; the fused backward's recomputed forward not
/// counted, so the figures compare directly).
void BM_RadianceMlps(benchmark::State& state) {
  const bool fused = state.range(0) != 0, backward = state.range(1) != 0;
  at::manual_seed(0);
  const std::vector<at::Tensor> density = {(at::randn({64, 32}) * 0.25).requires_grad_(backward),
                                           (at::randn({16, 64}) * 0.18).requires_grad_(backward)};
  const std::vector<at::Tensor> color = {(at::randn({64, 31}) * 0.25).requires_grad_(backward),
                                         (at::randn({64, 64}) * 0.18).requires_grad_(backward),
                                         (at::randn({3, 64}) * 0.18).requires_grad_(backward)};
  const at::Tensor x = at::randn({kPoints, 32}).requires_grad_(backward);
  const at::Tensor sh = at::randn({kPoints, 16});
  for (auto _ : state) {
    const auto run = fused ? semfield::kernels::fused_mlp : semfield::kernels::mlp_reference;
    const at::Tensor h = run(x, density);
    const at::Tensor rgb = run(at::cat({sh, h.narrow(1, 1, 15)}, 1), color);
    if (backward) (rgb.sum() + h.select(1, 0).sum()).backward();
    benchmark::DoNotOptimize(rgb.data_ptr());
  }
  const double macs = 32 * 64 + 64 * 16 + 31 * 64 + 64 * 64 + 64 * 3;
  const double flops_per_pass = 2.0 * macs * static_cast<double>(kPoints);
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_pass * (backward ? 3.0 : 1.0) * 1e-9 *
                                                     static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}

// The similarity segmenter's per-pixel best match: a 512 x 512 map of 24 channels against 13 unit vectors (4 + 1
// object and 8 background appearance centroids), the kernel (arg 1) or LibTorch's matmul + max (arg 0).
void BM_MaxDot(benchmark::State& state) {
  at::manual_seed(0);
  const at::Tensor features = at::randn({24, 512 * 512}), rows = at::randn({13, 24});
  for (auto _ : state) {
    const at::Tensor best = state.range(0) ? semfield::kernels::max_dot(features, rows)
                                           : semfield::kernels::max_dot_reference(features, rows);
    benchmark::DoNotOptimize(best.data_ptr<float>());
  }
}
BENCHMARK(BM_MaxDot)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// Laser's label volume at one chunk of a 256^2 class map: 32,768 rays of ~17 weighted samples (rank 16, 64 cells),
// fused kernel (1) against grid_sampler_2d + index_add (0).
void BM_LabelVolumeComposite(benchmark::State& state) {
  at::manual_seed(0);
  const int64_t rays = 32768, per_ray = 17;
  const at::Tensor planes = at::randn({3, 16, 64, 64}), lines = at::randn({3, 16, 64});
  const at::Tensor points = at::rand({rays * per_ray, 3}), weights = at::rand({rays * per_ray});
  const at::Tensor offsets = at::arange(rays + 1, at::kLong) * per_ray;
  for (auto _ : state) {
    const at::Tensor out =
        state.range(0) ? semfield::kernels::composite_label_values(planes, lines, points, weights, offsets, 1e-4f)
                       : semfield::kernels::composite_label_values_reference(planes, lines, points, weights, offsets,
                                                                             1e-4f);
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
}
BENCHMARK(BM_LabelVolumeComposite)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

BENCHMARK(BM_RadianceMlps)
    ->ArgNames({"fused", "backward"})
    ->Args({1, 0})
    ->Args({0, 0})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_HashGridForward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_HashGridBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_HashGridForwardBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_CompositeForward)->Args({4096, 64, 3})->Args({4096, 48, 256})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_CompositeForwardBackward)
    ->Args({4096, 64, 3})
    ->Args({4096, 48, 256})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_SparseAdam)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
