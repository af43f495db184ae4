// apply_model: bind a generalizable model to a scene (and optionally fine-tune it there).
#include "semfield/train/apply.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/progress.h"
#include "semfield/data/backdrop.h"
#include "semfield/data/scene.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/models/semantic_source.h"
#include "semfield/pipeline/instance_ap.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/scene_mapping.h"
#include "semfield/teachers/label_teacher.h"

namespace semfield {

namespace {

// `--model-config` over `config`: the type must accept the keys and values and, with `weights`, still take exactly
// those weights (a key that changes a shape, or removes a part whose weights would then be dropped unused, is refused).
void check_model_config(const std::string& type, nlohmann::json config, const nlohmann::json& overrides,
                        const TensorMap* weights) {
  config.update(overrides);
  const std::unique_ptr<CorpusModel> model = create_trainable_model(type, config, "--model-config");
  if (weights == nullptr) return;
  model->load_state(*weights, "--model-config");
  const TensorMap state = model->state();
  for (const auto& [name, t] : *weights)
    if (state.count(name) == 0)
      fail_usage("--model-config: the model would no longer use its weight {} (the keys remove a part of it)", name);
}

// Views an instance head is measured on after fine-tuning (spread over the split).
constexpr size_t kInstanceHeadViews = 4;

// A fine-tuned instance head measured on the run as written (its model config, source views and frame, as every later
// command loads it): AP@0.75 of its instance maps on up to kInstanceHeadViews views with ground-truth instance maps —
// test views where the scene labels them (held out from fine-tuning), else training views (whose own image is then
// among the sources: an optimistic figure). Unset for a run without an instance head or views with instance maps.
std::optional<InstanceHeadCheck> measure_instance_head(const RunPaths& run) {
  const auto start = std::chrono::steady_clock::now();
  const LoadedRun loaded = load_run(run.root);
  const SemanticSource* source = run_semantic_source(loaded);
  if (source == nullptr || !source->has_instances()) return std::nullopt;
  // The scene the run was applied to, as load_run held it (else, with --source-view, loaded again).
  const std::shared_ptr<const Scene> bound = run_scene(loaded);
  const Scene& scene = *bound;
  const std::unique_ptr<LabelTeacher> truth = make_label_teacher("labels:instance", scene);
  for (const Split split : {Split::Test, Split::Train}) {
    std::vector<const View*> labelled;
    for (const View* view : scene.split(split))
      if (truth->covers(*view)) labelled.push_back(view);
    if (labelled.empty()) continue;
    std::vector<const View*> views;
    const size_t n = std::min(kInstanceHeadViews, labelled.size());
    for (size_t i = 0; i < n; ++i) views.push_back(labelled[i * labelled.size() / n]);
    const InstanceAp ap = score_instance_head(*source, *truth, views);
    const InstanceHeadCheck check{ap.ap(), static_cast<int>(n), split == Split::Test ? "test" : "train",
                                  ap.true_instances(), ap.predictions()};
    log::info("instance head: AP@0.75 {:.3f} on {} {} views ({} instances, {} predicted; {:.1f} s)", check.ap75,
              check.views, check.split, check.true_instances, check.predictions, seconds_since(start));
    return check;
  }
  return std::nullopt;
}

}  // namespace

int64_t default_head_steps(int64_t finetune_steps_taken, int64_t view_pixels) {
  if (finetune_steps_taken <= 0) return 0;
  constexpr double kReferencePixels = 128.0 * 128.0;
  const double scale = view_pixels > kReferencePixels ? kReferencePixels / static_cast<double>(view_pixels) : 1.0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(0.5 * static_cast<double>(finetune_steps_taken) * scale)));
}

ApplyResult apply_model(const ApplyOptions& options) {
  const FinetuneOptions& ft = options.finetune;
  ModelFile file = read_model_file(options.model, /*weights=*/ft.steps > 0 || !options.model_config.empty());
  const ModelType& type = find_model_type(file.type);
  if (!type.image_conditioned)
    fail_usage("model {} is of type {}, which is trained per scene (`semfield train`), not applied", file.name,
               file.type);
  const Eigen::Vector3f background = parse_background(options.background);  // checked before the scene loads
  LoadOptions load;
  load.downscale = options.downscale;
  load.split_rule = SplitRule::parse(options.split_rule);
  load.key_backdrop = options.key_backdrop;
  auto scene = std::make_shared<Scene>(load_scene(options.data, load));
  log::info("loaded {} ({}): {} train (source) / {} test views", options.data.string(), scene->format,
            scene->count(Split::Train), scene->count(Split::Test));
  ApplyResult result;
  result.model_name = file.name;
  result.model_type = file.type;
  AppliedRunSpec& spec = result.spec;
  spec.data = options.data;
  spec.downscale = options.downscale;
  spec.split_rule = options.split_rule;
  spec.model = std::filesystem::absolute(options.model).lexically_normal();
  spec.model_name = file.name;
  spec.model_type = file.type;
  spec.background = options.background;
  spec.key_backdrop = options.key_backdrop;
  spec.source_views = options.source_views;
  if (options.source_views > 0 && options.source_view.empty() &&
      static_cast<size_t>(options.source_views) > scene->count(Split::Train))
    log::warn("--source-views {}: {} has {} training (source) views; every view is rendered from those {}",
              options.source_views, options.data.string(), scene->count(Split::Train), scene->count(Split::Train));
  spec.frame = SceneFrame::from_scene(*scene);
  if (spec.frame.unbounded && !type.frame_scene && ft.steps == 0) {
    // Rays of an unbounded frame are sampled over a box `unbounded_extent` times wider, in a scene unlike the
    // corpus's: say so unless the model's training scenes were of that kind too (or it is fine-tuned on this one).
    const nlohmann::json trained =
        file.info.is_object() ? file.info.value("trained_on", nlohmann::json::object()) : nlohmann::json();
    const nlohmann::json beyond =
        trained.is_object() ? trained.value("unbounded_scenes", nlohmann::json()) : nlohmann::json();
    if (!beyond.is_number() || beyond.get<double>() <= 0)
      log::warn("{}: the scene's content reaches beyond the box [-1, 1]^3 (its frame is unbounded), and {}: expect "
                "lower quality than on scenes like its corpus (`semfield eval` measures it)",
                options.data.string(),
                beyond.is_number() ? fmt::format("none of model {}'s training scenes did", file.name)
                                   : fmt::format("model {}'s record does not say that any of its training scenes did "
                                                 "(trained_on.unbounded_scenes)",
                                                 file.name));
  }
  if (!spec.frame.has_alpha && !background.isApprox(Eigen::Vector3f::Ones()))
    log::warn("--background {}: the images of {} have no alpha channel, so nothing is composited over it; their "
              "backgrounds stay as photographed", options.background, options.data.string());
  {
    // The source views the model reads (--source-view: that one; an unknown name is refused now, listing names).
    const std::shared_ptr<const Scene> sources = source_view_scene(scene, options.source_view);
    if (options.key_backdrop) {
      const std::vector<const View*> views = sources->split(Split::Train);
      const auto with_alpha =
          std::count_if(views.begin(), views.end(), [](const View* v) { return has_transparency(v->rgb); });
      if (with_alpha == 0)
        log::warn("--key-backdrop: no source view of {} has a uniform backdrop to key out (or alpha of its own); the "
                  "images are used as they are", options.data.string());
      else if (with_alpha < static_cast<int64_t>(views.size()))
        log::warn("--key-backdrop: only {} of {} source views have alpha now; the others' borders are not one uniform "
                  "colour (the object touches the image's edge, or the backdrop is noisy) and keep their backdrop",
                  with_alpha, views.size());
      else
        log::info("--key-backdrop: {} of {} source views have alpha (a uniform backdrop keyed out, or their own)",
                  with_alpha, views.size());
      for (const View* v : views) {
        // A key that took (nearly) everything: the object's colour is the backdrop's.
        if (!has_transparency(v->rgb) || v->rgb.channels != 4) continue;
        int64_t opaque = 0;
        for (size_t i = 3; i < v->rgb.pixels.size(); i += 4) opaque += v->rgb.pixels[i] > 0.5f;
        if (opaque * 100 < static_cast<int64_t>(v->rgb.pixels.size() / 4))
          log::warn("--key-backdrop: source view {} is keyed to less than 1 % opaque pixels: its object is (nearly) "
                    "the backdrop's colour; give it with alpha instead", v->name);
      }
    }
    // An RGB source image of an object on a solid backdrop other than the background RGBA images are composited over
    // (the one the generator's corpora were rendered over unless --background says otherwise): the model reads that
    // backdrop as part of the scene. Said once, for the first such source view.
    const Eigen::Vector3d backdrop_expected = background.cast<double>();
    for (const View* view : sources->split(Split::Train)) {
      if (has_transparency(view->rgb)) continue;
      const std::optional<Eigen::Vector3d> border = uniform_border_colour(view->rgb);
      if (border && (*border - backdrop_expected).cwiseAbs().maxCoeff() > 0.1) {
        log::warn("{}: source view {} has no transparency and a uniform border of colour ({:.2f}, {:.2f}, {:.2f}), "
                  "not the --background {} that RGBA images are composited over (and the models' corpora were "
                  "rendered over): the model reads that backdrop as part of the scene. --key-backdrop keys it out (or "
                  "give the images with alpha, or the backdrop in the --background colour)",
                  options.data.string(), view->name, border->x(), border->y(), border->z(), options.background);
        break;
      }
    }
  }
  if (!options.source_view.empty()) spec.source_view = options.source_view;
  if (!options.semantic_maps.empty()) {
    if (!type.semantic_maps)
      fail_usage("model {} (type {}) takes no 2D semantic maps: drop --teacher", file.name, file.type);
    TeacherSpec maps = TeacherSpec::parse(options.semantic_maps);
    if (maps.kind != TeacherKind::Labels)
      fail_usage("--teacher for {} must be labels:semantic, labels:instance or labels:DIR, not {}", file.type,
                 maps.to_string());
    if (maps.arg != "semantic" && maps.arg != "instance")
      maps.arg = std::filesystem::absolute(maps.arg).lexically_normal().string();
    // Every source view needs its map: fail now, naming the view, rather than when the run is read.
    const std::unique_ptr<LabelTeacher> teacher = make_label_teacher(maps, *scene);
    for (const View* view : scene->split(Split::Train))
      if (!teacher->covers(*view))
        fail_input(view->image_path, "", "source view {} has no 2D map in {}", view->name, maps.to_string());
    spec.semantic_maps = maps.to_string();
  } else if (type.semantic_maps) {
    log::warn("model {} (type {}) votes over the source views' 2D semantic maps; without --teacher labels:... the run "
              "renders radiance only", file.name, file.type);
  }
  if (!options.finetune_config.empty() && ft.steps == 0)
    fail_usage("--finetune-config changes the model for fine-tuning: give --finetune-steps too");
  if (options.finetune_head_steps < -1)
    fail_usage("--finetune-head-steps must be >= 0 (or -1: half the fine-tuning's)");
  if (options.finetune_head_steps > 0 && ft.steps == 0)
    fail_usage("--finetune-head-steps trains the heads after fine-tuning: give --finetune-steps too");
  if (type.semantic_maps && ft.steps > 0)
    fail_usage("fine-tuning a {} model on a scene needs that scene's ground-truth semantics; it is not supported",
               file.type);
  std::unique_ptr<CorpusModel> model;
  nlohmann::json finetune_config = file.config;
  if (ft.steps > 0) {
    // Created before the run folder: a refusal below leaves nothing behind. The config: the file's, then the type's
    // keys for fine-tuning on one scene (gp-nerf: a finer encoding), then --finetune-config's (the user's win).
    // A file already fine-tuned on a scene (a continuation) has them: not applied twice.
    model = create_trainable_model(file.type, file.config, options.model.string());
    const nlohmann::json scene_keys =
        file.info.contains("finetuned_from") ? nlohmann::json() : model->scene_finetune_config();
    nlohmann::json taken = nlohmann::json::object();
    if (scene_keys.is_object())
      for (const auto& [key, value] : scene_keys.items())
        if (!options.finetune_config.contains(key) && !(file.config.contains(key) && file.config.at(key) == value))
          taken[key] = value;
    if (!taken.empty()) {
      finetune_config.update(taken);
      log::info("fine-tuning with {} (the model type's default for one scene; --finetune-config overrides it)",
                taken.dump());
    }
    if (!options.finetune_config.empty()) finetune_config.update(options.finetune_config);
  }
  const bool config_changed = finetune_config != file.config;
  if (ft.steps > 0 && config_changed)
    model = create_trainable_model(file.type, finetune_config, options.model.string());
  if (!options.model_config.empty()) {
    if (!options.model_config.is_object())
      fail_usage("--model-config must be a JSON object of the model type's config keys");
    // Before any fine-tuning: unknown keys and bad values, and (when fine-tuning changes the config, which the weights
    // may not fit yet) the weights; after fine-tuning, the fine-tuned weights again below.
    check_model_config(file.type, finetune_config, options.model_config, config_changed ? nullptr : &file.weights);
    spec.model_config = options.model_config;
  }
  if (type.frame_scene) {
    // A type that frames the scene itself (featurenerf: object-centric, in its corpora's units), from the config it
    // renders with; every later command reads the frame from the run (load_applied_run renormalises the same way).
    nlohmann::json config = finetune_config;
    if (options.model_config.is_object()) config.update(options.model_config);
    spec.frame = frame_scene_for_model(*scene, file.type, config, spec.frame);
    if (spec.frame.model_unit_scale > 0) {
      const Normalization& n = spec.frame.normalization;
      const Eigen::Vector3d centre = -n.offset / n.scale + Eigen::Vector3d::Zero();
      log::info("{}: the scene framed on its cameras' look-at point ({:.3f}, {:.3f}, {:.3f}), its units read at {:.4g}x "
                "(the cameras as far from the object as in the model's training corpora)",
                file.type, centre.x() + 0.0, centre.y() + 0.0, centre.z() + 0.0, n.scale / spec.frame.model_unit_scale);
    }
  }
  if (ft.steps > 0 && options.finetune_head_steps > 0 && model->head_stage_config().is_null())
    fail_usage("--finetune-head-steps: model {} (type {}) has no head stage (gp-nerf has: its perception heads)",
               file.name, file.type);
  const RunPaths run{options.out};
  std::filesystem::create_directories(run.root);
  if (ft.steps > 0) {
    // A changed config starts from the model's weights where they fit (gp-nerf: an added instance head starts fresh).
    if (!config_changed)
      model->load_state(file.weights, options.model.string());
    else
      model->initialise_from(file.type, file.config, file.weights, options.model.string());
    const bool head_stage = !model->head_stage_config().is_null();
    FinetuneOptions tune = ft;
    tune.background = options.background;
    if (options.source_views > 0) tune.source_views = options.source_views;
    tune.source_pool = std::max(tune.source_pool, tune.source_views);
    result.finetune = finetune_on_scene(*model, scene, spec.frame, tune);
    int64_t head_steps = options.finetune_head_steps;
    if (head_steps < 0) {
      int64_t pixels = 0;  // the largest training view's: a head step renders one whole
      for (const View* view : scene->split(Split::Train))
        pixels = std::max(pixels, static_cast<int64_t>(view->camera.intrinsics.width) * view->camera.intrinsics.height);
      head_steps = head_stage && ft.time_budget <= 0 ? default_head_steps(result.finetune.steps, pixels) : 0;
    }
    spec.finetune_steps = result.finetune.steps;
    ModelFile tuned;
    tuned.name = file.name + "+finetuned";
    tuned.type = file.type;
    tuned.config = model->config_json();  // the fine-tuning's: a head stage changes weights, not the model
    tuned.weights = model->state();
    if (!options.model_config.empty() && config_changed)  // the weights unchecked above
      check_model_config(file.type, tuned.config, options.model_config, &tuned.weights);
    const bool interrupted = ft.stop_requested != nullptr && ft.stop_requested->load();
    if (head_steps > 0 && !interrupted) {
      // The heads fitted to what they decode on a novel view: the maps the fine-tuned model renders of the scene's
      // training views (each rendered from its nearest other views, the target never among its own sources), with the
      // run's --model-config (sample counts) as its renders will have it.
      // The keys the stage sets (gp-nerf's head_input) win over --model-config's.
      const nlohmann::json stage_config = model->head_stage_config();
      const nlohmann::json tuned_config = model->config_json();
      nlohmann::json head_config = stage_config;
      head_config.update(options.model_config);
      for (const auto& [key, value] : stage_config.items())
        if (!tuned_config.contains(key) || tuned_config.at(key) != value) head_config[key] = value;
      std::unique_ptr<CorpusModel> heads = create_trainable_model(file.type, head_config, options.model.string());
      heads->load_state(tuned.weights, options.model.string());
      FinetuneOptions stage = tune;
      stage.steps = head_steps;
      stage.time_budget = 0;
      stage.seed = tune.seed + 1;
      log::info("head stage: {} steps of the heads alone on the rendered maps of the scene's training views",
                stage.steps);
      result.head_stage = finetune_on_scene(*heads, scene, spec.frame, stage);
      tuned.weights = heads->state();
    }
    tuned.info = {{"finetuned_from", spec.model.string()},
                  {"scene", std::filesystem::absolute(options.data).lexically_normal().string()},
                  {"steps", result.finetune.steps},
                  {"seconds", result.finetune.seconds}};
    // What it has been trained on: the model's corpus, then this scene (counted among unbounded scenes if it is one).
    if (file.info.is_object() && file.info.contains("trained_on") && file.info["trained_on"].is_object())
      tuned.info["trained_on"] = file.info["trained_on"];
    if (spec.frame.unbounded) {
      nlohmann::json& count = tuned.info["trained_on"]["unbounded_scenes"];
      count = (count.is_number_integer() ? count.get<int64_t>() : 0) + 1;
    }
    if (result.head_stage.steps > 0) {
      tuned.info["head_steps"] = result.head_stage.steps;
      tuned.info["head_seconds"] = result.head_stage.seconds;
    }
    write_model_file(run.weights(), tuned);
    log::info("fine-tuned {} steps in {:.1f} s{}", result.finetune.steps, result.finetune.seconds,
              result.head_stage.steps > 0 ? fmt::format(", then the heads {} steps in {:.1f} s",
                                                        result.head_stage.steps, result.head_stage.seconds)
                                          : std::string());
    if (model->instance_targets()) {
      // Measured on the run as written (then written again with the figure); a failure to measure leaves the run
      // usable without it (clicks then select instances), and says why.
      write_applied_run_spec(run, spec);
      try {
        spec.instance_head = measure_instance_head(run);
      } catch (const Error& e) {
        log::warn("the instance head could not be measured on the scene's labelled views: {}", e.what());
      }
      if (spec.instance_head && spec.instance_head->ap75 < kInstanceHeadMinAp)
        log::warn("the instance head does not yet tell the scene's objects apart (AP@0.75 {:.3f} < {}): clicks on this "
                  "run select classes (`--method instance` forces instances); fine-tune longer for instances",
                  spec.instance_head->ap75, kInstanceHeadMinAp);
    }
  } else {
    std::error_code ec;
    std::filesystem::remove(run.weights(), ec);  // a re-apply without fine-tuning must not pick up old weights
  }
  write_applied_run_spec(run, spec);
  return result;
}

}  // namespace semfield
