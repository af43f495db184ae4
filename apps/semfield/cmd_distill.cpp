// `semfield distill`: lift a 2D teacher (features or labels) into a field on top of a trained run.
#include <cstdlib>

#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/text_query.h"
#include "semfield/teachers/clip_teacher.h"
#include "semfield/teachers/teacher_cache.h"
#include "semfield/teachers/teacher.h"
#include "semfield/train/feature_trainer.h"

namespace semfield::cli {

namespace {

struct DistillArgs {
  std::string run, teacher, name, data, config, laser = "auto", classes, text_embeddings, teacher_cache;
  int64_t steps = -1;
  double time_budget = -1;
  int rays = -1;
  int eval_interval = -1;
  bool surface = false, no_augment = false, no_cache = false;
  double label_noise = -1, label_keep = -1;
  uint64_t seed = 0;
};

// Laser's class list: --classes with --text-embeddings or the CLIP teacher's text tower, else the classes.json and
// text_embeddings.npy that `semfield simulate-clip` (or a user) put beside precomputed maps (files:DIR).
void laser_classes(const DistillArgs& args, const TeacherSpec& spec, const LaserConfig& laser, DistillOptions& options) {
  namespace fs = std::filesystem;
  if (args.classes.empty() && !args.text_embeddings.empty())
    fail_usage("distill: --text-embeddings needs --classes (the names of its rows, in order)");
  if (!args.classes.empty()) {
    options.class_names = split_class_list(args.classes);
    const auto n = static_cast<int64_t>(options.class_names.size());
    if (!args.text_embeddings.empty()) {
      options.class_text = read_text_embeddings(args.text_embeddings, n);
    } else if (spec.is_clip()) {
      const ClipTeacher clip(spec.arg);
      options.class_text = clip.encode_text(options.class_names);
      std::vector<std::string> repeated;
      for (const std::string& name : options.class_names) repeated.push_back(repeat_text(name, laser.text_repeat));
      options.class_text_augmented = clip.encode_text(repeated);
    } else {
      fail_usage("distill: --classes with teacher {} needs --text-embeddings EMB.npy (no CLIP text tower)", spec.to_string());
    }
    return;
  }
  if (spec.kind == TeacherKind::Files) {
    const fs::path dir(spec.arg);
    std::error_code ec;
    if (fs::is_regular_file(dir / "classes.json", ec) && fs::is_regular_file(dir / "text_embeddings.npy", ec)) {
      const JsonNode root = JsonNode::parse_file(dir / "classes.json");
      const JsonNode list = root.at("classes");
      for (size_t i = 0; i < list.size(); ++i) options.class_names.push_back(list.at(i).as_string());
      if (options.class_names.empty()) list.fail("expected at least one class name");
      options.class_text = read_text_embeddings(dir / "text_embeddings.npy",
                                                static_cast<int64_t>(options.class_names.size()));
      log::info("Laser: {} classes from {} and text_embeddings.npy", options.class_names.size(),
                (dir / "classes.json").string());
      return;
    }
  }
  log::info("Laser: no class list (--classes): the label volume and the relevancy losses are off");
}

void run_distill(const DistillArgs& args) {
  DistillConfig config = args.config.empty() ? DistillConfig{} : load_distill_config(args.config);
  if (!args.teacher.empty()) config.teacher = args.teacher;
  if (config.teacher.empty()) fail_usage("distill: give --teacher SPEC (or a --config with \"teacher\")");
  const TeacherSpec teacher_spec = TeacherSpec::parse(config.teacher);
  if (args.steps >= 0) config.steps = args.steps;
  if (args.time_budget >= 0) config.time_budget = args.time_budget;
  if (args.rays > 0) config.rays_per_step = args.rays;
  if (args.eval_interval >= 0) config.eval_interval = args.eval_interval;
  if (args.surface) config.surface = true;
  if (args.no_augment) config.camera_augmentation = false;
  if (args.no_cache) config.cache = false;
  if (args.label_noise >= 0) config.label_noise = args.label_noise;
  if (args.label_keep >= 0) config.label_keep = args.label_keep;
  if (args.seed != 0) config.seed = args.seed;
  if (args.laser == "on") config.laser.enabled = true;
  else if (args.laser == "off") config.laser.enabled = false;
  else if (teacher_spec.is_clip() && args.config.empty()) config.laser.enabled = true;
  // Re-validate the combined settings with the same rules as a config file.
  config = distill_config_from_json(to_json(config), "command line");

  const LoadedRun loaded = load_run(args.run);
  // A foundation-model teacher needs only each training view's colour, once: those views are decoded one at a time
  // for the teacher pass (teacher_image), so a large capture's images never all sit in memory as floats. Other
  // teachers (labels, files, descriptors) read per-view extras and load everything.
  const std::shared_ptr<const Scene> held = run_scene(
      loaded, args.data, teacher_spec.is_foundation_model() ? std::optional<Split>(Split::Test) : std::nullopt);
  const Scene& scene = *held;
  const LabelDegradation degradation{config.label_noise, config.label_keep, config.seed};
  std::unique_ptr<Teacher> teacher = make_teacher(teacher_spec, scene, degradation);
  std::string cache_dir = args.teacher_cache;
  if (cache_dir.empty())
    if (const char* env = std::getenv("SEMFIELD_TEACHER_CACHE")) cache_dir = env;
  const CachedTeacher* cached = nullptr;
  if (!cache_dir.empty() && teacher_spec.is_foundation_model()) {
    auto wrapped = std::make_unique<CachedTeacher>(std::move(teacher), cache_dir, teacher_spec.arg);
    cached = wrapped.get();
    teacher = std::move(wrapped);
  }
  DistillOptions options;
  options.config = config;
  options.name = args.name.empty() ? default_distill_name(teacher_spec) : args.name;
  options.run_dir = args.run;
  if (config.laser.enabled) laser_classes(args, teacher_spec, config.laser, options);
  else if (!args.classes.empty() || !args.text_embeddings.empty())
    fail_usage("distill: --classes and --text-embeddings are for Laser's modules (--laser on)");
  DistillSummary summary;
  {
    const InterruptScope interrupt;
    options.stop_requested = interrupt.flag();
    summary = distill_field(scene, loaded, *teacher, options);
  }
  const FeatureEvalResult& r = summary.final_eval;
  std::printf("distilled %s into %s/distill/%s: %lld steps in %.1f s", teacher->spec().c_str(), args.run.c_str(),
              options.name.c_str(), static_cast<long long>(summary.steps), summary.seconds);
  if (r.feature_mse) std::printf(", held-out feature MSE %.5f", *r.feature_mse);
  if (r.miou) std::printf(", held-out mIoU %.4f accuracy %.4f", *r.miou, r.accuracy.value_or(0));
  std::printf("\n");
  if (summary.interrupted) std::printf("interrupted: checkpoint saved\n");
  if (cached != nullptr)
    std::printf("teacher cache %s: %lld maps read, %lld computed\n", cache_dir.c_str(),
                static_cast<long long>(cached->hits()), static_cast<long long>(cached->misses()));
}

}  // namespace

void add_distill_command(CLI::App& app) {
  auto args = std::make_shared<DistillArgs>();
  CLI::App* cmd = app.add_subcommand(
      "distill", "Distill a 2D teacher (features or labels) into a field rendered with a trained run's density");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--teacher", args->teacher,
                  "descriptor | labels:semantic | labels:instance | labels:DIR | files:DIR | sam:PATH | clip:PATH | sclip:PATH | "
                  "dino:PATH");
  cmd->add_option("--name", args->name, "Name of the field inside the run (default from the teacher)");
  cmd->add_option("--data", args->data, "Dataset folder (default: the run's)");
  cmd->add_option("--config", args->config, "JSON file of distillation settings (docs/config.md)");
  cmd->add_option("--steps", args->steps, "Training steps")->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  cmd->add_option("--time-budget", args->time_budget, "Stop after this many seconds")->check(CLI::NonNegativeNumber);
  cmd->add_option("--rays", args->rays, "Rays per step")->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--eval-interval", args->eval_interval, "Evaluate held-out views every N steps");
  cmd->add_flag("--surface", args->surface, "Render one surface point per ray (SAN Eq. 7) instead of quadrature");
  cmd->add_flag("--no-augment", args->no_augment, "No camera augmentation (ablation)");
  cmd->add_flag("--no-cache", args->no_cache, "No feature cache: run the teacher on every augmented view (ablation)");
  cmd->add_option("--label-noise", args->label_noise, "Corrupt this fraction of training label pixels (study)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--label-keep", args->label_keep, "Keep only this fraction of training label pixels (study)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", args->seed, "Random seed");
  cmd->add_option("--teacher-cache", args->teacher_cache,
                  "Foundation-model teachers: keep their maps in this folder, keyed by image, model and settings, and "
                  "read them back next time (default: $SEMFIELD_TEACHER_CACHE; none when unset)");
  cmd->add_option("--laser", args->laser,
                  "Laser's modules: on | off | auto (default: on for clip:PATH teachers without --config, else the "
                  "config's laser.enabled)")
      ->check(CLI::IsMember({"on", "off", "auto"}));
  cmd->add_option("--classes", args->classes, "Laser: the scene's class list, comma-separated (a,b,c)");
  cmd->add_option("--text-embeddings", args->text_embeddings,
                  "Laser: .npy [classes, dim] text embeddings of --classes in order (default: the CLIP teacher's text "
                  "tower; files:DIR reads DIR/classes.json + DIR/text_embeddings.npy when present)");
  cmd->callback([args] { run_distill(*args); });
}

}  // namespace semfield::cli
