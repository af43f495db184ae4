// Benchmarks of the sampling side of rendering: ray generation and occupancy-grid ray marching (2 threads).
#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>
#include <Eigen/Geometry>

#include "semfield/kernels/ray_generation.h"
#include "semfield/render/contraction.h"
#include "semfield/render/occupancy_grid.h"
#include "semfield/render/ray_marcher.h"

namespace {

using semfield::Camera;
using semfield::CameraModel;

/// A square camera at `eye` looking at the origin (OpenGL axes), with the [-1,1]^3 box filling the view.
Camera look_at_origin(int size, const Eigen::Vector3d& eye, CameraModel model = CameraModel::Pinhole) {
  Camera cam;
  cam.intrinsics.width = size;
  cam.intrinsics.height = size;
  cam.intrinsics.fx = cam.intrinsics.fy = 1.1 * size;
  cam.intrinsics.cx = cam.intrinsics.cy = 0.5 * size;
  cam.intrinsics.model = model;
  if (model == CameraModel::OpenCV) {
    cam.intrinsics.distortion.k1 = -0.1;
    cam.intrinsics.distortion.k2 = 0.02;
    cam.intrinsics.distortion.p1 = 0.001;
  }
  const Eigen::Vector3d back = eye.normalized();  // camera +z points away from the target
  const Eigen::Vector3d right = Eigen::Vector3d::UnitY().cross(back).normalized();
  const Eigen::Vector3d up = back.cross(right);
  cam.c2w.block<3, 1>(0, 0) = right;
  cam.c2w.block<3, 1>(0, 1) = up;
  cam.c2w.block<3, 1>(0, 2) = back;
  cam.c2w.block<3, 1>(0, 3) = eye;
  return cam;
}

const Eigen::Vector3d kEye(2.0, 1.2, 2.2);

void BM_GenerateImageRays(benchmark::State& state) {
  const Camera cam = look_at_origin(int(state.range(0)), kEye, CameraModel(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(semfield::kernels::generate_image_rays(cam));
  state.counters["rays/s"] = benchmark::Counter(double(state.range(0) * state.range(0)) * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GenerateImageRays)
    ->ArgNames({"size", "model"})
    ->Args({200, int(CameraModel::Pinhole)})
    ->Args({512, int(CameraModel::Pinhole)})
    ->Args({512, int(CameraModel::OpenCV)})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// Occupancy shapes: 0 = solid sphere (~10 % of the cells), 1 = thin spherical shell (a surface, as a trained
/// scene's grid looks), 2 = contracted grid with a solid sphere inside and a distant shell, marched with
/// instant-ngp's unbounded cone angle.
semfield::OccupancyGrid make_grid(int shape) {
  semfield::OccupancyGridConfig config;
  config.resolution = 128;
  const bool contracted = shape == 2;
  semfield::OccupancyGrid grid(Eigen::Vector3f(-1, -1, -1), Eigen::Vector3f(1, 1, 1), contracted, config);
  const int res = config.resolution;
  uint8_t* bits = grid.bitfield().data_ptr<uint8_t>();
  const float radius = std::cbrt(0.1f * 8.0f * 3.0f / (4.0f * float(M_PI)));
  for (int i = 0; i < res; ++i)
    for (int j = 0; j < res; ++j)
      for (int k = 0; k < res; ++k) {
        Eigen::Vector3f p = grid.grid_min() + (Eigen::Vector3f(i, j, k) + Eigen::Vector3f::Constant(0.5f)) *
                                                  (grid.grid_max() - grid.grid_min())[0] / float(res);
        if (contracted) semfield::uncontract_point(p.data(), p.data());
        const float r = p.norm();
        bool occupied = false;
        if (shape == 0) occupied = r < radius;
        if (shape == 1) occupied = std::fabs(r - radius) < 0.03f;
        if (shape == 2) occupied = r < 0.5f || (r > 8.0f && r < 12.0f);
        bits[(int64_t(i) * res + j) * res + k] = occupied;
      }
  grid.refresh_levels();
  return grid;
}

void BM_MarchRays(benchmark::State& state) {
  const int size = int(state.range(0));
  const int shape = int(state.range(1));
  const semfield::OccupancyGrid grid = make_grid(shape);
  const auto rays = semfield::kernels::generate_image_rays(look_at_origin(size, kEye));
  semfield::MarchConfig config;
  if (shape == 2) {
    config.cone_angle = 1.0f / 256.0f;
    config.far = 1000.0f;
  }
  int64_t samples = 0;
  for (auto _ : state) {
    const semfield::PackedSamples s = semfield::march_rays(rays.origins, rays.directions, grid, config);
    samples = s.n_samples();
    benchmark::DoNotOptimize(s.ts.data_ptr<float>());
  }
  state.counters["occupancy"] = grid.occupancy_fraction();
  state.counters["samples"] = double(samples);
  state.counters["samples/s"] =
      benchmark::Counter(double(samples) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MarchRays)
    ->ArgNames({"size", "shape"})
    ->Args({512, 0})
    ->Args({512, 1})
    ->Args({512, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// The same view marched the way a renderer feeds a field: batches of `batch` rays. Smaller outputs are
/// recycled by malloc instead of being page-faulted in afresh, which dominates whole-view calls.
void BM_MarchRaysBatched(benchmark::State& state) {
  const int size = 512;
  const int64_t batch = state.range(0);
  const semfield::OccupancyGrid grid = make_grid(int(state.range(1)));
  const auto rays = semfield::kernels::generate_image_rays(look_at_origin(size, kEye));
  const int64_t R = rays.origins.size(0);
  int64_t samples = 0;
  for (auto _ : state) {
    samples = 0;
    for (int64_t begin = 0; begin < R; begin += batch) {
      const int64_t end = std::min(R, begin + batch);
      const semfield::PackedSamples s = semfield::march_rays(rays.origins.slice(0, begin, end),
                                                             rays.directions.slice(0, begin, end), grid, {});
      samples += s.n_samples();
      benchmark::DoNotOptimize(s.ts.data_ptr<float>());
    }
  }
  state.counters["samples"] = double(samples);
  state.counters["samples/s"] =
      benchmark::Counter(double(samples) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MarchRaysBatched)
    ->ArgNames({"batch", "shape"})
    ->Args({16384, 0})
    ->Args({16384, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_OccupancyLevels(benchmark::State& state) {
  const semfield::OccupancyGrid grid = make_grid(0);
  for (auto _ : state)
    benchmark::DoNotOptimize(
        semfield::OccupancyLevels::build(grid.bitfield().data_ptr<uint8_t>(), grid.resolution()));
}
BENCHMARK(BM_OccupancyLevels)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(2);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
