// `semfield demo`: the main job on the built-in scene — generate it, load it back, train a radiance field,
// render and evaluate, lift its instance labels into a 3D label field, then select one object with a click and
// export its mesh; then the shipped generalizable model renders the same scene, which it never saw, from its photos
// alone (no per-scene training), and the shipped GNeSF model segments it from its views' 2D semantic maps.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/synth/synth_writer.h"
#include "semfield/core/file_util.h"
#include "semfield/core/progress.h"
#include "semfield/mesh/mesh_io.h"
#include "semfield/models/model_file.h"
#include "semfield/pipeline/evaluator.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/mesh/selection_faces.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/colormap.h"
#include "semfield/segment/click_benchmark.h"
#include "semfield/segment/segmenter.h"
#include "semfield/teachers/simulated_segmenter.h"
#include "semfield/teachers/teacher.h"
#include "semfield/pipeline/feature_evaluator.h"
#include "semfield/train/apply.h"
#include "semfield/train/feature_trainer.h"
#include "semfield/train/pixel_sampler.h"
#include "semfield/train/trainer.h"

namespace semfield::cli {

namespace {

// Step floors under the demo's time budgets (a busy machine would otherwise leave a field too coarse to use).
constexpr int64_t kDemoMinTrainSteps = 200;
constexpr int64_t kDemoMinDistillSteps = 30;

struct DemoArgs {
  std::string out = "demo_out";
  int resolution = 96;
  int views = 40;
  int objects = 5;
  uint64_t seed = 0;
  int64_t steps = 3000;
  double time_budget = 90;
  double distill_budget = 40;
  std::string model = "ibr-synth";
  std::string semantic_model = "gnesf-synth";
};

/// The model file of a demo step, or nullopt (the step announced as skipped) when it is not there.
std::optional<std::filesystem::path> shipped_model_or_skip(const std::string& name, const char* step) {
  try {
    return resolve_model(name, default_models_dir());
  } catch (const UsageError& e) {
    std::printf("== %s skipped: %s\n", step, e.what());
    return std::nullopt;
  }
}

struct UnseenSemanticsResult {
  bool ran = false;
  double input_miou = 0;  ///< the simulated 2D segmenter's maps of the source views
  std::optional<double> miou, accuracy;  ///< GNeSF's semantic maps of the test views
  double seconds = 0;
};

// Step 8: GNeSF segments the same unseen scene from its source views' 2D semantic maps (a simulated 2D segmenter's,
// at 2D mIoU 0.75: a measuring instrument standing in for a real segmenter), no per-scene training.
UnseenSemanticsResult run_unseen_semantics_step(const DemoArgs& args, const std::filesystem::path& scene_dir,
                                                const std::filesystem::path& out) {
  UnseenSemanticsResult result;
  const std::optional<std::filesystem::path> model_path = shipped_model_or_skip(args.semantic_model, "8/8");
  if (!model_path) return result;
  const ModelFile file = read_model_file(*model_path, false);
  std::printf("== 8/8 segmenting the scene with %s (%s) from its views' 2D semantic maps (simulated segmenter at "
              "mIoU 0.75), no per-scene training\n",
              file.name.c_str(), file.type.c_str());
  const auto start = std::chrono::steady_clock::now();
  const Scene scene = load_scene(scene_dir);
  const std::vector<const View*> sources = scene.split(Split::Train);
  std::vector<LabelMap> truth;
  for (const View* v : sources) {
    if (!v->semantic) fail_input(v->image_path, "semantic_path", "the demo scene has no semantic maps");
    truth.push_back(label_map_from_image(*v->semantic));
  }
  const SimulatedSegmenter segmenter(truth, 0.75, 1);
  const std::filesystem::path maps = out / "unseen_maps";
  std::vector<LabelMap> noisy;
  for (size_t i = 0; i < sources.size(); ++i) {
    noisy.push_back(segmenter.segment(truth[i], i));
    write_png(maps / (sources[i]->name + ".png"), label_map_to_image(noisy.back()), 16, ImageRange::Raw);
  }
  result.input_miou = score_segmentation(noisy, truth).miou;
  const RunPaths run{out / "unseen_semantics"};
  ApplyOptions options;
  options.model = *model_path;
  options.data = scene_dir;
  options.out = run.root;
  options.semantic_maps = TeacherSpec{TeacherKind::Labels, maps.string()}.to_string();
  apply_model(options);
  const LoadedRun loaded = load_run(run.root);
  const std::shared_ptr<const Scene> held = run_scene(loaded);  // the scene load_run holds: not loaded again
  const Scene& normalised = *held;
  const std::unique_ptr<Teacher> truth_teacher = make_teacher(TeacherSpec{TeacherKind::Labels, "semantic"}, normalised);
  const FeatureEvalResult eval = evaluate_features(*run_semantic_source(loaded), *truth_teacher,
                                                   normalised.split(Split::Test), parse_background(loaded.background),
                                                   run.eval_dir() / "renders", "semantics");
  write_file_atomic(run.eval_dir() / "metrics.json", eval.to_json().dump(2) + "\n");
  result.miou = eval.miou;
  result.accuracy = eval.accuracy;
  result.seconds = seconds_since(start);
  result.ran = true;
  std::printf("GNeSF on the unseen scene: 2D input maps mIoU %.3f -> novel-view semantic maps mIoU %.3f, accuracy "
              "%.3f over %zu test views (%.1f s) -> %s\n",
              result.input_miou, result.miou.value_or(0), result.accuracy.value_or(0), eval.views.size(),
              result.seconds, (run.eval_dir() / "renders").c_str());
  return result;
}

struct UnseenResult {
  bool ran = false;
  EvalResult eval;
  double seconds = 0;
};

// Step 7: the generalizable model applied to the demo scene (generated with a seed no training corpus used).
UnseenResult run_unseen_step(const DemoArgs& args, const std::filesystem::path& scene_dir,
                             const std::filesystem::path& out) {
  UnseenResult result;
  const std::optional<std::filesystem::path> model_path = shipped_model_or_skip(args.model, "7/8");
  if (!model_path) return result;
  const ModelFile file = read_model_file(*model_path, false);
  std::printf("== 7/8 rendering the scene with the generalizable model %s (%s), trained on other scenes: no "
              "per-scene training\n",
              file.name.c_str(), file.type.c_str());
  const auto start = std::chrono::steady_clock::now();
  const RunPaths run{out / "unseen_run"};
  ApplyOptions options;
  options.model = *model_path;
  options.data = scene_dir;
  options.out = run.root;
  apply_model(options);
  const LoadedRun loaded = load_run(run.root);
  const std::shared_ptr<const Scene> held = run_scene(loaded);  // the scene load_run holds: not loaded again
  const Scene& normalised = *held;
  result.eval = evaluate(*loaded.model, normalised.split(Split::Test), parse_background(loaded.background),
                         run.eval_dir(), true);
  result.seconds = seconds_since(start);
  result.ran = true;
  write_file_atomic(run.eval_dir() / "metrics.json", result.eval.to_json().dump(2) + "\n");
  std::printf("generalizable model on the unseen scene: test PSNR %.2f dB, SSIM %.4f over %zu views (%.1f s "
              "including loading and encoding the source views) -> %s\n",
              result.eval.psnr, result.eval.ssim, result.eval.views.size(), result.seconds,
              run.eval_dir().c_str());
  return result;
}

void print_scene_summary(const Scene& scene) {
  const View& first = scene.views.front();
  std::printf("scene %s (%s): %zu train / %zu test views, %dx%d, fx %.1f, %zu instances, %zu classes\n",
              scene.root.c_str(), scene.format.c_str(), scene.count(Split::Train), scene.count(Split::Test),
              first.camera.intrinsics.width, first.camera.intrinsics.height, first.camera.intrinsics.fx,
              scene.instance_labels.size(), scene.semantic_labels.size());
  for (const auto& [id, label] : scene.instance_labels)
    std::printf("  instance %2d  %-14s class %s\n", id, label.name.c_str(), label.class_name.c_str());
}

void run_demo(const DemoArgs& args) {
  const std::filesystem::path out(args.out);
  const std::filesystem::path scene_dir = out / "scene";
  const std::filesystem::path run_dir = out / "run";

  std::printf("== 1/8 generating the built-in tabletop scene into %s\n", scene_dir.c_str());
  SynthConfig synth;
  synth.n_objects = args.objects;
  synth.n_views = args.views;
  synth.resolution = args.resolution;
  synth.seed = args.seed;
  write_synth_scene(synth, scene_dir);

  std::printf("== 2/8 loading it back\n");
  const Scene scene = load_scene(scene_dir);
  print_scene_summary(scene);

  std::printf("== 3/8 training a radiance field (%lld steps or %.0f s)\n", static_cast<long long>(args.steps),
              args.time_budget);
  TrainOptions options;
  options.spec.data = scene_dir;
  options.spec.config.train.steps = args.steps;
  options.spec.config.train.time_budget = args.time_budget;
  options.spec.config.train.checkpoint_interval = 0;
  // A ~100x100 scene has ~400k training pixels: 2^16 samples per step gives many more steps per second
  // than the default 2^18 (sized for 800x800 captures) and converges faster in wall-clock time.
  options.spec.config.train.target_samples = 1 << 16;
  options.run_dir = run_dir;
  options.image_memory_bytes = default_image_memory_cap();
  TrainSummary summary = train_radiance_field(scene, options);
  // A busy machine can spend the budget on a few dozen steps, too few for a surface to click on and mesh (step 6):
  // train on to a floor of steps then, without the budget (an idle 2-core Zen 3 VM fits 260-500 steps in the 90 s).
  const int64_t min_steps = std::min<int64_t>(kDemoMinTrainSteps, args.steps);
  if (summary.steps < min_steps) {
    std::printf("   only %lld steps in %.0f s (a busy machine?): training on to %lld steps\n",
                static_cast<long long>(summary.steps), summary.seconds, static_cast<long long>(min_steps));
    options.resume = true;
    options.spec.config.train.steps = min_steps;
    options.spec.config.train.time_budget = 0;
    const TrainSummary first = summary;
    summary = train_radiance_field(scene, options);
    summary.steps += first.steps;  // the resumed run reports its own part
    summary.seconds += first.seconds;
  }

  std::printf("== 4/8 rendering an orbit\n");
  const LoadedRun loaded = load_run(run_dir);
  std::vector<Camera> dataset;
  for (const auto& c : loaded.cameras) dataset.push_back(c.camera);
  const auto orbit = orbit_cameras(dataset, 8);
  for (size_t i = 0; i < orbit.size(); ++i) {
    const RenderedView view = render_view(*loaded.model, orbit[i], Eigen::Vector3f::Ones());
    write_png(out / "orbit" / fmt::format("orbit_{:02}.png", i), view.rgb);
    write_png(out / "orbit" / fmt::format("orbit_{:02}_depth.png", i), apply_turbo(view.depth));
  }
  std::printf("== 5/8 distilling the instance labels into a 3D label field (%.0f s)\n", args.distill_budget);
  DistillOptions distill;
  const TeacherSpec instances{TeacherKind::Labels, "instance"};
  distill.config.teacher = instances.to_string();
  distill.config.time_budget = args.distill_budget;
  distill.name = default_distill_name(instances);
  distill.run_dir = run_dir;
  const std::unique_ptr<Teacher> teacher = make_teacher(instances, scene);
  DistillSummary labels = distill_field(scene, loaded, *teacher, distill);
  if (labels.steps < kDemoMinDistillSteps) {  // as above (80-230 steps fit the 40 s on that VM): again, by steps
    std::printf("   only %lld steps in %.0f s (a busy machine?): distilling again for %lld steps\n",
                static_cast<long long>(labels.steps), labels.seconds, static_cast<long long>(kDemoMinDistillSteps));
    distill.config.steps = kDemoMinDistillSteps;
    distill.config.time_budget = 0;
    labels = distill_field(scene, loaded, *teacher, distill);
  }
  const LoadedDistill field = load_distilled(run_dir, distill.name, *loaded.model);
  for (size_t i = 0; i < orbit.size(); ++i) {
    const RenderedFeatures rendered = render_features(*field.model, orbit[i]);
    write_png(out / "orbit" / fmt::format("orbit_{:02}_instances.png", i), colorize_labels(rendered.maps[0].argmax(0)));
  }

  std::printf("== 6/8 selecting one object with a click and exporting its mesh\n");
  const Scene normalised = load_run_scene(loaded, scene_dir);
  const std::vector<int64_t> objects = object_instances(normalised);
  if (objects.empty()) fail_usage("demo: the generated scene shows no object");
  const int64_t object_id = objects.front();
  const std::unique_ptr<Segmenter> segmenter = make_segmenter(field);
  const ObjectClickResult click = segment_object_by_click(*segmenter, *loaded.model, normalised, object_id);
  SceneMeshOptions mesh_options;
  mesh_options.colors = false;  // only the object is coloured
  const SceneMesh scene_mesh = extract_scene_mesh(*loaded.model, mesh_options);
  const TriangleMesh object = finish_mesh_for_export(
      *loaded.model, cut_object(scene_mesh.mesh, faces_in_selection(scene_mesh.mesh, click.selection)), scene_mesh.spacing);
  const std::filesystem::path mesh_path = out / "object.ply";
  write_mesh(mesh_path, object);
  const auto label = scene.instance_labels.find(static_cast<int>(object_id));
  const std::string object_name = label == scene.instance_labels.end() ? "object" : label->second.name;
  std::printf("clicked %s at (%.0f, %.0f) in %s: IoU %.3f there, mean IoU %.3f over %zu held-out views\n",
              object_name.c_str(), click.click.x(), click.click.y(), click.prompted_view.c_str(), click.prompted_iou,
              click.mean_iou, click.view_iou.size());
  std::printf("object mesh: %lld faces (%s) -> %s\n", static_cast<long long>(object.n_faces()),
              edge_stats(object).watertight() ? "watertight" : "open", mesh_path.c_str());

  const UnseenResult unseen = run_unseen_step(args, scene_dir, out);
  const UnseenSemanticsResult semantics = run_unseen_semantics_step(args, scene_dir, out);

  std::printf("\ndemo done: test PSNR %.2f dB, SSIM %.4f over %zu held-out views after %lld steps (%.1f s, "
              "%.2f M samples/s)\n  instance label field: held-out mIoU %.4f, accuracy %.4f (%lld steps, %.1f s)\n"
              "  click segmentation of %s: mean held-out IoU %.3f; its mesh: %s\n"
              "  renders: %s/eval  orbit: %s/orbit  metrics: %s/eval/metrics.json, %s/distill/%s/eval/metrics.json\n",
              summary.final_eval.psnr, summary.final_eval.ssim, summary.final_eval.views.size(),
              static_cast<long long>(summary.steps), summary.seconds, summary.samples_per_second / 1e6,
              labels.final_eval.miou.value_or(0), labels.final_eval.accuracy.value_or(0),
              static_cast<long long>(labels.steps), labels.seconds, object_name.c_str(), click.mean_iou,
              mesh_path.c_str(), run_dir.c_str(), out.c_str(), run_dir.c_str(),
              run_dir.c_str(), distill.name.c_str());
  if (unseen.ran)
    std::printf("  generalizable model %s, no per-scene training: test PSNR %.2f dB, SSIM %.4f (%.1f s)\n",
                args.model.c_str(), unseen.eval.psnr, unseen.eval.ssim, unseen.seconds);
  if (semantics.ran)
    std::printf("  GNeSF %s from 2D maps of mIoU %.3f, no per-scene training: test mIoU %.3f, accuracy %.3f (%.1f s)\n",
                args.semantic_model.c_str(), semantics.input_miou, semantics.miou.value_or(0),
                semantics.accuracy.value_or(0), semantics.seconds);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand("demo", "Run the main job on the built-in synthetic scene");
  cmd->add_option("--out", args->out, "Output folder (scene, run, renders)");
  cmd->add_option("--res", args->resolution, "Image resolution of the generated scene")->check(CLI::Range(16, 1024));
  cmd->add_option("--views", args->views, "Training views")->check(CLI::Range(4, 1000));
  cmd->add_option("--objects", args->objects, "Objects on the table")->check(CLI::Range(1, 20));
  cmd->add_option("--seed", args->seed, "Scene seed");
  cmd->add_option("--steps", args->steps, "Training steps")->check(CLI::Range(1, 1000000));
  cmd->add_option("--time-budget", args->time_budget, "Training time budget in seconds");
  cmd->add_option("--distill-budget", args->distill_budget, "Label-field distillation time budget in seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--model", args->model,
                  "Generalizable model of step 7 (a name in models/ or a file; step skipped if absent)");
  cmd->add_option("--semantic-model", args->semantic_model,
                  "GNeSF model of step 8 (a name in models/ or a file; step skipped if absent)");
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace semfield::cli
