// Benchmarks of rendering: ray generation, occupancy-grid ray marching, and whole views of a trained model
// (2 threads). The view benchmarks load the run folder named by $SEMFIELD_BENCH_RUN (default /tmp/lego_run,
// e.g. a 5-minute `semfield train --data lego_200` run) and are skipped when it is missing.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include <sys/resource.h>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/types.h>
#include <Eigen/Geometry>

#include "bench_main.h"
#include "semfield/models/radiance_model.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/kernels/composite.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/mesh/mesh_preview.h"
#include "semfield/mesh/mesh_raster.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/contraction.h"
#include "semfield/render/image_metrics.h"
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

/// The benchmark run, loaded once; nullptr (with the reason in `why`) when it cannot be loaded.
const semfield::LoadedRun* bench_run(std::string* why) {
  static std::unique_ptr<semfield::LoadedRun> run;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    const char* env = std::getenv("SEMFIELD_BENCH_RUN");
    const std::filesystem::path dir = env ? env : "/tmp/lego_run";
    try {
      run = std::make_unique<semfield::LoadedRun>(semfield::load_run(dir));
    } catch (const std::exception& e) {
      error = std::string("no trained run to render (set SEMFIELD_BENCH_RUN): ") + e.what();
    }
  }
  *why = error;
  return run.get();
}

/// The run's first test camera (first camera if there is no test split), resized to size x size.
semfield::Camera bench_camera(const semfield::LoadedRun& run, int size) {
  semfield::Camera cam = run.cameras.front().camera;
  for (const auto& c : run.cameras)
    if (c.split == semfield::Split::Test) {
      cam = c.camera;
      break;
    }
  const double sx = double(size) / cam.intrinsics.width, sy = double(size) / cam.intrinsics.height;
  cam.intrinsics.width = cam.intrinsics.height = size;
  cam.intrinsics.fx *= sx;
  cam.intrinsics.cx *= sx;
  cam.intrinsics.fy *= sy;
  cam.intrinsics.cy *= sy;
  return cam;
}

/// User + system CPU seconds of the whole process (every thread) so far.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/// A whole view of the trained model through render_view (the CLI's path: rays, RadianceModel::render,
/// images). Counters: field samples, rounds, and per-view milliseconds of the renderer's phases.
void BM_RenderView(benchmark::State& state) {
  std::string why;
  const semfield::LoadedRun* run = bench_run(&why);
  if (!run) {
    state.SkipWithError(why.c_str());
    return;
  }
  const semfield::Camera cam = bench_camera(*run, int(state.range(0)));
  const auto rays = semfield::kernels::generate_image_rays(cam);
  int64_t samples = 0;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    const semfield::RenderedView view = semfield::render_view(*run->model, cam, Eigen::Vector3f(1, 1, 1));
    samples = view.n_samples;
    benchmark::DoNotOptimize(view.rgb.pixels.data());
  }
  // CPU time of all threads per view: on a shared machine a steadier measure of the work than wall time.
  state.counters["cpu_ms"] = (process_cpu_seconds() - cpu_start) * 1e3 / double(state.iterations());
  // One more render for the phase breakdown (the same work as every iteration).
  const semfield::RayRenderOutput out = run->model->render(rays.origins, rays.directions, at::ones({3}));
  state.counters["samples"] = double(samples);
  state.counters["rounds"] = double(out.stats.n_rounds);
  state.counters["march_ms"] = out.stats.march_seconds * 1e3;
  state.counters["field_ms"] = out.stats.field_seconds * 1e3;
  state.counters["composite_ms"] = out.stats.composite_seconds * 1e3;
}
BENCHMARK(BM_RenderView)->ArgName("size")->Arg(200)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

/// The same view the pre-incremental way: march every occupied sample, evaluate the field on all of them in
/// chunks of render.chunk_rays rays, composite (the reference the incremental renderer is checked against).
void BM_RenderViewFullMarch(benchmark::State& state) {
  std::string why;
  const semfield::LoadedRun* run = bench_run(&why);
  if (!run) {
    state.SkipWithError(why.c_str());
    return;
  }
  const semfield::RadianceModel& model = semfield::hashgrid_model(*run, "render_bench");
  const auto rays = semfield::kernels::generate_image_rays(bench_camera(*run, int(state.range(0))));
  const int64_t R = rays.origins.size(0), chunk = model.config().render.chunk_rays;
  int64_t samples = 0;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    at::NoGradGuard no_grad;
    samples = 0;
    for (int64_t begin = 0; begin < R; begin += chunk) {
      const int64_t len = std::min(chunk, R - begin);
      const semfield::PackedSamples s =
          model.march(rays.origins.narrow(0, begin, len), rays.directions.narrow(0, begin, len), false, 0);
      const auto field = model.field().forward(model.to_unit_cube(s.positions), s.directions);
      const auto c = semfield::kernels::composite_forward(field.density, field.rgb, s.dts, s.ts, s.ray_offsets);
      samples += s.n_samples();
      benchmark::DoNotOptimize(c.values.data_ptr<float>());
    }
  }
  state.counters["cpu_ms"] = (process_cpu_seconds() - cpu_start) * 1e3 / double(state.iterations());
  state.counters["samples"] = double(samples);
}
BENCHMARK(BM_RenderViewFullMarch)->ArgName("size")->Arg(200)->Unit(benchmark::kMillisecond)->UseRealTime();

/// The viewer's quick frames: the scene mesh (extracted once per grid resolution) rasterised, the field
/// composited at `samples` points around each pixel's surface point (mesh/mesh_preview.h). Counters: the
/// PSNR of the preview against the exact render of the same camera, and the mesh's extraction time.
void BM_MeshPreview(benchmark::State& state) {
  std::string why;
  const semfield::LoadedRun* run = bench_run(&why);
  if (!run) {
    state.SkipWithError(why.c_str());
    return;
  }
  static std::map<int, std::unique_ptr<semfield::MeshPreview>> previews;
  semfield::MeshPreviewOptions options;
  options.resolution = int(state.range(2));
  auto& preview = previews[options.resolution];
  if (!preview) preview = std::make_unique<semfield::MeshPreview>(*run->model, options);
  const semfield::MeshPreview& mesh = *preview;
  const semfield::Camera cam = bench_camera(*run, int(state.range(0)));
  const Eigen::Vector3f white(1, 1, 1);
  semfield::RenderedView view;
  for (auto _ : state) {
    view = mesh.render(cam, white, int(state.range(1)));
    benchmark::DoNotOptimize(view.rgb.pixels.data());
  }
  const semfield::RenderedView exact = semfield::render_view(*run->model, cam, white);
  state.counters["psnr_vs_exact"] = semfield::psnr(view.rgb, exact.rgb);
  state.counters["faces"] = double(mesh.mesh().n_faces());
  state.counters["extract_s"] = mesh.extract_seconds();
}
BENCHMARK(BM_MeshPreview)
    ->ArgNames({"size", "samples", "grid"})
    ->Args({512, 4, 192})
    ->Args({512, 2, 192})
    ->Args({512, 1, 192})
    ->Args({256, 4, 192})
    ->Args({512, 4, 128})
    ->Args({512, 4, 256})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// The preview mesh's z-buffer alone (mesh/mesh_raster.h) on 1 and 2 threads.
void BM_MeshRaster(benchmark::State& state) {
  std::string why;
  const semfield::LoadedRun* run = bench_run(&why);
  if (!run) {
    state.SkipWithError(why.c_str());
    return;
  }
  static std::unique_ptr<semfield::MeshPreview> preview;
  if (!preview) preview = std::make_unique<semfield::MeshPreview>(*run->model);
  const semfield::Camera cam = bench_camera(*run, int(state.range(0)));
  const int threads = semfield::parallel_threads();
  semfield::set_parallel_threads(int(state.range(1)));
  for (auto _ : state) {
    const semfield::Image depth = semfield::rasterize_depth(preview->mesh(), cam);
    benchmark::DoNotOptimize(depth.pixels.data());
  }
  semfield::set_parallel_threads(threads);
  state.counters["faces"] = double(preview->mesh().n_faces());
}
BENCHMARK(BM_MeshRaster)->ArgNames({"size", "threads"})->Args({256, 1})->Args({256, 2})->Args({512, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

/// Density-only weights of a view (what feature and label rendering build on).
void BM_RenderWeights(benchmark::State& state) {
  std::string why;
  const semfield::LoadedRun* run = bench_run(&why);
  if (!run) {
    state.SkipWithError(why.c_str());
    return;
  }
  const auto rays = semfield::kernels::generate_image_rays(bench_camera(*run, int(state.range(0))));
  int64_t kept = 0;
  for (auto _ : state) {
    const semfield::WeightedSamples w = run->model->render_weights(rays.origins, rays.directions);
    kept = w.samples.n_samples();
    benchmark::DoNotOptimize(w.weights.data_ptr<float>());
  }
  state.counters["kept_samples"] = double(kept);
}
BENCHMARK(BM_RenderWeights)->ArgName("size")->Arg(200)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return semfield::bench::run_benchmarks(argc, argv); }
