// Benchmarks of the foundation-model ports at full size with random weights (timing does not depend on the
// values): SAM ViT-B image encoder at 1024 x 1024 and its mask decoder per click, CLIP ViT-B/16 image and text
// towers, DINO ViT-S/8 at 224. 2 threads (SEMFIELD_BENCH_THREADS overrides). Run: build/bench/foundation_bench.
// Each encoder iteration takes seconds: the heavy cases run a fixed, small number of iterations.
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "semfield/core/runtime_settings.h"
#include "semfield/foundation/clip_model.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/foundation/sam_model.h"
#include "semfield/kernels/caching_allocator.h"

namespace {

using namespace semfield::foundation;

void set_threads() {
  const char* env = std::getenv("SEMFIELD_BENCH_THREADS");
  at::set_num_threads(env ? std::atoi(env) : 2);
}

const SamModel& sam_vit_b() {
  static const SamModel model = [] {
    SamModel m(SamConfig::preset("vit_b"));
    m.weights().randomize(1, 0.02);
    return m;
  }();
  return model;
}

void BM_SamImageEncoderVitB(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const at::Tensor input = at::randn({1, 3, 1024, 1024});
  const SamModel& model = sam_vit_b();  // built outside the timed loop
  for (auto _ : state) benchmark::DoNotOptimize(model.image_encoder().forward(input));
  // ~0.49 TMAC: 12 blocks x 4096 tokens x 12 x 768^2 for the linear layers plus 4 global and 8 windowed attentions.
  state.counters["GFLOP/s"] = benchmark::Counter(2 * 0.49e12 / 1e9 * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SamImageEncoderVitB)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

void BM_SamMaskDecoderPerClick(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const SamModel& model = sam_vit_b();
  const SamImage image = model.from_embedding(at::randn({1, 256, 64, 64}), 768, 1024);
  SamPrompt prompt;
  prompt.points = {{400.0, 300.0}};
  prompt.labels = {1};
  prompt.multimask = true;
  for (auto _ : state) benchmark::DoNotOptimize(model.predict(image, prompt));
}
BENCHMARK(BM_SamMaskDecoderPerClick)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

const ClipModel& clip_vit_b16() {
  static const ClipModel model = [] {
    ClipModel m(ClipConfig::preset("ViT-B/16"));
    m.weights().randomize(2, 0.02);
    return m;
  }();
  return model;
}

void BM_ClipImageVitB16(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const at::Tensor input = at::randn({1, 3, 224, 224});
  const bool dense = state.range(0) != 0;
  const ClipModel& model = clip_vit_b16();
  for (auto _ : state) benchmark::DoNotOptimize(model.encode_image(input, dense));
}
BENCHMARK(BM_ClipImageVitB16)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_ClipTextVitB16(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const at::Tensor tokens = at::randint(1, 49405, {state.range(0), 77}, at::kLong);
  const ClipModel& model = clip_vit_b16();
  for (auto _ : state) benchmark::DoNotOptimize(model.encode_text(tokens));
}
BENCHMARK(BM_ClipTextVitB16)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_DinoVitS8At224(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  static const DinoModel model = [] {
    DinoModel m(DinoConfig::preset("vit_small8"));
    m.weights().randomize(3, 0.02);
    return m;
  }();
  const at::Tensor input = at::randn({1, 3, 224, 224});
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(input));
}
BENCHMARK(BM_DinoVitS8At224)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);  // as the CLI (runtime_settings.h)
  semfield::kernels::install_caching_cpu_allocator();  // as the CLI: large buffers are reused, not re-faulted
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
