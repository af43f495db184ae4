// Cost of a GP-NeRF view (issue 26's "256x256 novel view with semantics from 8 reference views <= 4 s on 2 cores"):
// the reference views through the extractor, every ray through the transformers in 1,024-ray chunks (as
// GpnerfModel::render_full) and the perception head over the rendered semantic map. Arg 1: 1 = the fused inference
// kernels (kernels/gpnerf_forward.h), 0 = the LibTorch path (GpnerfNetwork::render with `record`, which keeps it).
// Default config, seeded weights, random source images. Figures in BENCHMARKS.md ("GP-NeRF").
// SEMFIELD_BENCH_THREADS sets the thread count (default 2).
#include <ATen/ATen.h>
#include <Eigen/Geometry>
#include <benchmark/benchmark.h>

#include "bench_main.h"
#include "semfield/data/synth/synth_scene.h"
#include "semfield/models/gpnerf/gpnerf_network.h"
#include "semfield/models/ibr/ibr_model.h"

namespace {

using namespace semfield;

Camera gp_orbit_camera(double angle, int side) {
  Camera c;
  c.intrinsics.width = c.intrinsics.height = side;
  c.intrinsics.fx = c.intrinsics.fy = 1.1 * side;
  c.intrinsics.cx = c.intrinsics.cy = side / 2.0;
  const Eigen::Vector3d eye(3 * std::cos(angle), 3 * std::sin(angle), 1.5);
  const Eigen::Vector3d back = eye.normalized(), right = Eigen::Vector3d::UnitZ().cross(back).normalized();
  c.c2w.block<3, 1>(0, 0) = right;
  c.c2w.block<3, 1>(0, 1) = back.cross(right);
  c.c2w.block<3, 1>(0, 2) = back;
  c.c2w.block<3, 1>(0, 3) = eye;
  return c;
}

void BM_GpnerfRenderView(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  const bool fused = state.range(1) != 0;
  GpnerfConfig config;
  config.classes = synth_class_names();
  const GpnerfNetwork net(config);
  std::vector<Camera> cams;
  for (int v = 0; v < 8; ++v) cams.push_back(gp_orbit_camera(0.25 * v, side));
  const at::Tensor images = at::rand({8, 3, side, side});
  SceneFrame frame;
  frame.aabb_min = Eigen::Vector3f::Constant(-1);
  frame.aabb_max = Eigen::Vector3f::Constant(1);
  const int64_t n = int64_t{side} * side;
  const Camera target = gp_orbit_camera(0.9, side);
  const at::Tensor origins =
      at::tensor({float(target.origin().x()), float(target.origin().y()), float(target.origin().z())})
          .expand({n, 3})
          .contiguous();
  at::Tensor dirs = -origins + 0.3f * (at::rand({n, 3}) - 0.5f);
  dirs = dirs / dirs.norm(2, 1, true);
  const IbrRays rays = ibr_rays(origins, dirs, frame, 4.0);
  at::NoGradGuard no_grad;
  const at::Tensor bg = at::ones({1024, 3});
  const int64_t d = config.extractor.semantic_channels;
  for (auto _ : state) {
    const GpnerfSources src = net.prepare(cams, images);
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
    ->Args({128, 1})
    ->Args({128, 0})
    ->Args({256, 1})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Iterations(1);

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
