// Segmentation benchmarks. Latencies (google-benchmark, 2 threads; SEMFIELD_BENCH_THREADS overrides): click -> mask
// at 512 x 512 once a view is rendered, for the weight-free similarity segmenter, the label segmenter and SAM's
// full-size (ViT-B; the decoder is the same for every SAM size) mask decoder on a rendered embedding, beside SAM's
// own image encoder + decoder on a 512 x 512 image. Random weights and synthetic feature maps: the costs do not
// depend on the values. With SEMFIELD_SEGMENT_RUN=RUN (and SEMFIELD_SEGMENT_FIELD, default "descriptor") it also
// times rendering a 512 x 512 view of that run's field and a click on it.
//
// `segment_bench iou RUN SCENE FIELD [FIELD...]` instead runs the IoU protocol (click_benchmark.h) on a
// generated scene and prints per-object and mean IoU over the held-out views; bench/segment_iou.sh drives it (FIELD
// `semantics`: the run model's own, e.g. a gp-nerf run's instance head; `semantics@class`: its classes). With
// SEMFIELD_IOU_DUMP=DIR it also writes, per field, object and view, DIR/<field>/<object>_<view>.png: the view's image
// dimmed, correct pixels green, wrongly selected red, missed blue (the prompted view's name ends in "_prompted").
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "semfield/models/radiance_model.h"
#include "semfield/core/parallel.h"
#include "semfield/core/runtime_settings.h"
#include "semfield/foundation/sam_model.h"
#include "semfield/io/image.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/click_benchmark.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/label_segmenter.h"
#include "semfield/segment/sam_segmenter.h"
#include "semfield/segment/similarity_segmenter.h"

namespace {

using namespace semfield;

constexpr int kSide = 512;

void set_threads() {
  const char* env = std::getenv("SEMFIELD_BENCH_THREADS");
  const int n = env ? std::atoi(env) : 2;
  at::set_num_threads(n);
  set_parallel_threads(n);
}

// An untrained radiance + feature model pair: the segmenters need one to exist, the timed clicks never render.
struct Models {
  RadianceModel radiance;
  FeatureModel features;
  explicit Models(int64_t channels, TeacherOutputKind kind)
      : radiance(small_config(), SceneFrame{}), features(feature_config(channels), kind, false, radiance, 1) {}
  static RadianceConfig small_config() {
    RadianceConfig c;
    c.field.grid.log2_table_size = 12;
    c.render.grid_resolution = 16;
    return c;
  }
  static FeatureFieldConfig feature_config(int64_t channels) {
    FeatureFieldConfig c;
    c.grid.log2_table_size = 12;
    c.channels = {channels};
    return c;
  }
};

Camera square_camera() {
  Camera camera;
  camera.intrinsics.width = camera.intrinsics.height = kSide;
  camera.intrinsics.fx = camera.intrinsics.fy = kSide;
  camera.intrinsics.cx = camera.intrinsics.cy = kSide / 2.0;
  camera.c2w(2, 3) = 3;
  return camera;
}

// A rendered-looking 512 x 512 view: smooth background features and five discs of distinct features (the clicked
// one covers ~8 % of the image), a depth plane and full opacity.
SegmentView synthetic_view(int64_t channels) {
  at::manual_seed(0);
  SegmentView view;
  view.name = "bench";
  view.camera = square_camera();
  at::Tensor maps = at::randn({channels, 8, 8});
  maps = at::upsample_bilinear2d(maps.unsqueeze(0), {kSide, kSide}, false)[0];
  const at::Tensor ys = at::arange(kSide, at::kFloat).view({-1, 1}), xs = at::arange(kSide, at::kFloat).view({1, -1});
  for (int k = 0; k < 5; ++k) {
    const float cx = 80.0f + 90.0f * k, cy = 256.0f, r = k == 0 ? 80.0f : 40.0f;
    const at::Tensor disc = ((xs - cx).pow(2) + (ys - cy).pow(2)) < r * r;
    maps.permute({1, 2, 0}).index_put_({disc}, 3.0f * at::randn({channels}));
  }
  maps += 0.1f * at::randn({channels, kSide, kSide});
  view.maps = unit_features(maps, at::zeros({channels}), at::ones({channels}));
  view.depth = at::full({kSide, kSide}, 2.0f);
  view.opacity = at::ones({kSide, kSide});
  return view;
}

/// prepared:1 — the view went through SimilaritySegmenter::precompute (as prepare() does: its whitening and
/// whitened features), so the click costs only what depends on the prompts; prepared:0 — a new view per click.
void BM_SimilarityClick512(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const Models models(24, TeacherOutputKind::Features);
  SimilaritySegmenter segmenter(models.features);
  SegmentView view = synthetic_view(24);
  const bool prepared = state.range(0) != 0;
  if (prepared) segmenter.precompute(view);
  Prompts prompts;
  prompts.positive = {{80, 256}};
  int64_t pixels = 0;
  for (auto _ : state) {
    if (!prepared) {
      state.PauseTiming();
      view.maps = view.maps.clone();  // another tensor: nothing of the last click is reused
      state.ResumeTiming();
    }
    pixels = segmenter.segment(view, prompts).sum().item<int64_t>();
  }
  state.counters["mask_pixels"] = static_cast<double>(pixels);
}
BENCHMARK(BM_SimilarityClick512)->ArgName("prepared")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_LabelClick512(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const Models models(6, TeacherOutputKind::Labels);
  LabelSegmenter segmenter(models.features);
  SegmentView view = synthetic_view(6);
  view.maps = view.maps.argmax(0, true).to(at::kFloat);
  Prompts prompts;
  prompts.positive = {{80, 256}};
  for (auto _ : state) benchmark::DoNotOptimize(segmenter.segment(view, prompts));
}
BENCHMARK(BM_LabelClick512)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

std::shared_ptr<const foundation::SamModel> sam_vit_b() {
  static const auto model = [] {
    auto m = std::make_shared<foundation::SamModel>(foundation::SamConfig::preset("vit_b"));
    m->weights().randomize(1, 0.02);
    return std::shared_ptr<const foundation::SamModel>(m);
  }();
  return model;
}

void BM_SamDecoderOnRenderedEmbeddingClick512(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const Models models(256, TeacherOutputKind::Features);
  SamSegmenter segmenter(models.features, sam_vit_b());
  SegmentView view;
  view.name = "bench";
  view.camera = square_camera();
  view.maps = at::randn({256, 64, 64});
  view.depth = at::full({kSide, kSide}, 2.0f);
  view.opacity = at::ones({kSide, kSide});
  Prompts prompts;
  prompts.positive = {{200, 300}};
  for (auto _ : state) benchmark::DoNotOptimize(segmenter.segment(view, prompts));
}
BENCHMARK(BM_SamDecoderOnRenderedEmbeddingClick512)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_SamEncoderAndDecoder512(benchmark::State& state) {
  set_threads();
  at::InferenceMode guard;
  const auto sam = sam_vit_b();
  const at::Tensor image = at::randint(0, 256, {kSide, kSide, 3}, at::kByte);
  foundation::SamPrompt prompt;
  prompt.points = {{200.0, 300.0}};
  prompt.labels = {1};
  for (auto _ : state) {
    const foundation::SamImage embedded = sam->set_image(image);
    benchmark::DoNotOptimize(sam->predict(embedded, prompt));
  }
}
BENCHMARK(BM_SamEncoderAndDecoder512)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

// A trained run's field, with its first test camera resized to 512 x 512.
struct RunField {
  LoadedRun run;
  LoadedDistill field;
  Camera camera;
};

const RunField* run_field() {
  static const std::unique_ptr<RunField> loaded = []() -> std::unique_ptr<RunField> {
    const char* run = std::getenv("SEMFIELD_SEGMENT_RUN");
    if (!run) return nullptr;
    const char* name = std::getenv("SEMFIELD_SEGMENT_FIELD");
    auto out = std::make_unique<RunField>();
    out->run = load_run(run);
    out->field = load_distilled(run, name ? name : "descriptor", *out->run.model);
    out->camera = find_camera(out->run.cameras, "test:0").camera;
    out->camera.intrinsics = out->camera.intrinsics.resized(kSide, kSide);
    return out;
  }();
  return loaded.get();
}

void BM_RunRenderView512(benchmark::State& state) {
  set_threads();
  const RunField* rf = run_field();
  if (!rf) return state.SkipWithError("set SEMFIELD_SEGMENT_RUN to time a trained run");
  const std::unique_ptr<Segmenter> segmenter = make_segmenter(rf->field);
  for (auto _ : state) benchmark::DoNotOptimize(segmenter->prepare(rf->camera, "test:0"));
}
BENCHMARK(BM_RunRenderView512)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void BM_RunClick512(benchmark::State& state) {
  set_threads();
  const RunField* rf = run_field();
  if (!rf) return state.SkipWithError("set SEMFIELD_SEGMENT_RUN to time a trained run");
  const std::unique_ptr<Segmenter> segmenter = make_segmenter(rf->field);
  const SegmentView view = segmenter->prepare(rf->camera, "test:0");
  // Click the centre of the largest opaque region's bounding box: the scene's middle.
  Prompts prompts;
  prompts.positive = {{kSide / 2.0, kSide / 2.0}};
  int64_t pixels = 0;
  for (auto _ : state) pixels = segmenter->segment(view, prompts).sum().item<int64_t>();
  state.counters["mask_pixels"] = static_cast<double>(pixels);
}
BENCHMARK(BM_RunClick512)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

// The view's image dimmed to a third, with the mask against the truth over it: green where both are set, red where
// only the mask is, blue where only the truth is.
void write_mask_comparison(const std::filesystem::path& path, const View& view, const at::Tensor& mask,
                           const at::Tensor& truth) {
  const Image& rgb = view.rgb;
  Image out(rgb.width, rgb.height, 3);
  const at::Tensor m = mask.contiguous(), t = truth.contiguous();
  const bool* mp = m.data_ptr<bool>();
  const bool* tp = t.data_ptr<bool>();
  for (int y = 0; y < rgb.height; ++y)
    for (int x = 0; x < rgb.width; ++x) {
      const size_t i = static_cast<size_t>(y) * rgb.width + x;
      const float alpha = rgb.channels == 4 ? rgb.at(x, y, 3) : 1.0f;
      for (int c = 0; c < 3; ++c) out.at(x, y, c) = (rgb.at(x, y, c) * alpha + (1 - alpha)) / 3.0f;
      const int colour = mp[i] && tp[i] ? 1 : mp[i] ? 0 : tp[i] ? 2 : -1;
      if (colour >= 0) out.at(x, y, colour) = std::min(1.0f, out.at(x, y, colour) + 0.67f);
    }
  write_png(path, out);
}

int run_iou(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: segment_bench iou RUN SCENE FIELD[@no-beneath|@no-plane] [FIELD...] (FIELD "
                         "`semantics[@class]`: the run model's own)\n");
    return 2;
  }
  set_threads();
  const LoadedRun run = load_run(argv[2]);
  const Scene scene = load_run_scene(run, argv[3]);
  const std::vector<int64_t> objects = object_instances(scene);
  const char* dump = std::getenv("SEMFIELD_IOU_DUMP");
  for (int f = 4; f < argc; ++f) {
    // FIELD@VARIANT: an ablation of the similarity segmenter (no-beneath, no-plane) on the same field.
    const std::string spec = argv[f];
    const size_t at = spec.find('@');
    // `semantics`: the run model's own, with the method `semfield segment` takes (gp-nerf with an instance head:
    // label-instance, or label-class where apply measured the head below kInstanceHeadMinAp); @class: label-class;
    // @instance: label-instance.
    std::optional<RunSemantics> own;
    std::optional<LoadedDistill> field;
    if (spec.substr(0, at) == kModelSemantics)
      own.emplace(load_semantics(argv[2], run, kModelSemantics, FieldUse::Segment));
    else
      field.emplace(load_distilled(argv[2], spec.substr(0, at), *run.model));
    std::unique_ptr<Segmenter> segmenter;
    if (own) {
      const std::string variant = at == std::string::npos ? "auto" : spec.substr(at + 1);
      if (variant != "auto" && variant != "class" && variant != "instance") {
        std::fprintf(stderr, "unknown variant '%s' of semantics (expected class or instance)\n", variant.c_str());
        return 2;
      }
      segmenter = make_segmenter(*own, segment_method_for(run, kModelSemantics, variant));
    } else if (at == std::string::npos) {
      segmenter = make_segmenter(*field);
    } else {
      SimilarityOptions options;
      const std::string variant = spec.substr(at + 1);
      if (variant == "no-beneath") {
        options.beneath.enabled = false;
      } else if (variant == "no-plane") {
        options.exclude_support_plane = false;
      } else {
        std::fprintf(stderr, "unknown variant '%s' (expected no-beneath or no-plane)\n", variant.c_str());
        return 2;
      }
      segmenter = std::make_unique<SimilaritySegmenter>(*field->model, options);
    }
    double sum = 0;
    for (const int64_t id : objects) {
      const ObjectClickResult r = segment_object_by_click(*segmenter, *run.model, scene, id);
      std::printf("%-18s object %lld: click %s (%.0f,%.0f)  prompted IoU %.3f  held-out IoU", argv[f],
                  static_cast<long long>(id), r.prompted_view.c_str(), r.click.x(), r.click.y(), r.prompted_iou);
      for (const auto& [name, iou] : r.view_iou) std::printf(" %s %.3f", name.c_str(), iou);
      std::printf("  mean %.3f  (click %.1f ms)\n", r.mean_iou, r.click_ms);
      sum += r.mean_iou;
      if (dump) {
        const std::filesystem::path dir = std::filesystem::path(dump) / spec;
        std::filesystem::create_directories(dir);
        const View& prompted = scene.find_view(r.prompted_view);
        write_mask_comparison(dir / fmt::format("{}_{}_prompted.png", id, prompted.name), prompted, r.prompted_mask,
                              instance_mask(prompted, id));
        for (size_t k = 0; k < r.view_masks.size(); ++k) {
          const View& view = scene.find_view(r.view_iou[k].first);
          write_mask_comparison(dir / fmt::format("{}_{}.png", id, view.name), view, r.view_masks[k],
                                instance_mask(view, id));
        }
      }
    }
    std::printf("%-18s %s: mean IoU over %zu objects x held-out views: %.4f\n", argv[f], segmenter->method().c_str(),
                objects.size(), objects.empty() ? 0.0 : sum / static_cast<double>(objects.size()));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Measure what the CLI runs: its thread wait settings and its caching allocator (without it, fresh activations'
  // page faults are timed).
  reexec_with_runtime_settings(argv);
  kernels::install_caching_cpu_allocator();
  if (argc > 1 && std::strcmp(argv[1], "iou") == 0) {
    try {
      return run_iou(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
