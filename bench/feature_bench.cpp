// Benchmarks of distilled-field rendering (2 threads): SAM's 64x64 x 256-channel embedding for a 512x512
// view (SAN Eq. 6 quadrature and Eq. 7 surface mode), a full-resolution 512x512 feature render, and the
// built-in descriptor teacher. Loads the run named by $SEMFIELD_BENCH_RUN (default /tmp/lego_run, e.g. a
// 5-minute `semfield train --data lego_200` run); skipped when it is missing. Head weights are untrained:
// the cost does not depend on their values.
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "semfield/core/runtime_settings.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/models/feature_model.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/teachers/descriptor_teacher.h"

namespace {

struct Fixture {
  semfield::LoadedRun run;
  std::unique_ptr<semfield::FeatureModel> quadrature, surface;
  semfield::Camera camera;  // a test camera at 512x512
};

Fixture* fixture() {
  static std::unique_ptr<Fixture> f = [] {
    const char* env = std::getenv("SEMFIELD_BENCH_RUN");
    const std::filesystem::path dir = env != nullptr ? env : "/tmp/lego_run";
    std::unique_ptr<Fixture> out;
    if (!std::filesystem::exists(dir / "checkpoint.ckpt")) return out;
    out = std::make_unique<Fixture>();
    out->run = semfield::load_run(dir);
    semfield::FeatureFieldConfig config;
    config.channels = {256};
    out->quadrature = std::make_unique<semfield::FeatureModel>(config, semfield::TeacherOutputKind::Features, false,
                                                               *out->run.model, 0);
    out->surface = std::make_unique<semfield::FeatureModel>(config, semfield::TeacherOutputKind::Features, true,
                                                            *out->run.model, 0);
    for (const auto& c : out->run.cameras)
      if (c.split == semfield::Split::Test) {
        out->camera = c.camera;
        break;
      }
    out->camera.intrinsics = out->camera.intrinsics.resized(512, 512);
    return out;
  }();
  return f.get();
}

void BM_FeatureMap(benchmark::State& state) {
  Fixture* f = fixture();
  if (f == nullptr) {
    state.SkipWithError("no run at $SEMFIELD_BENCH_RUN (default /tmp/lego_run)");
    return;
  }
  const int size = static_cast<int>(state.range(0));
  const bool surface = state.range(1) != 0;
  const semfield::Camera cam = semfield::camera_for_map(f->camera, size, size);
  for (auto _ : state) benchmark::DoNotOptimize(semfield::render_features(surface ? *f->surface : *f->quadrature, cam));
  state.counters["rays/s"] = benchmark::Counter(double(size) * size * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FeatureMap)
    ->ArgNames({"map", "surface"})
    ->Args({64, 0})
    ->Args({64, 1})
    ->Args({512, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_DescriptorTeacher(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const at::Tensor image = at::rand({size, size, 3});
  const semfield::DescriptorTeacher teacher;
  for (auto _ : state) benchmark::DoNotOptimize(teacher.compute({image, nullptr}));
}
BENCHMARK(BM_DescriptorTeacher)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);  // as the CLI (runtime_settings.h)
  at::set_num_threads(2);
  semfield::set_parallel_threads(2);
  semfield::kernels::install_caching_cpu_allocator();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
