// Training across the scenes of a corpus.
#include "semfield/train/corpus_trainer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <set>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/core/memory_info.h"
#include "semfield/core/progress.h"
#include "semfield/core/splitmix64.h"
#include "semfield/data/corpus.h"
#include "semfield/data/source_views.h"
#include "semfield/io/checkpoint.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/pipeline/evaluator.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/scene_mapping.h"
#include "semfield/teachers/simulated_segmenter.h"
#include "semfield/train/adam.h"
#include "semfield/train/distributed.h"
#include "semfield/train/training_loop.h"
#include "semfield/train/weight_average.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCorpusCheckpointKind = "corpus_model";

struct LoadedScene {
  std::string name;
  std::shared_ptr<Scene> scene;
  SceneFrame frame;
  std::vector<const View*> train;
  std::vector<Camera> cameras;  ///< of `train`
  /// Models with semantic inputs: the ground-truth maps of `train` and the class ids occurring in them.
  std::vector<LabelMap> labels;
  std::vector<int32_t> classes;
  /// Models with instance targets: the instance maps of `train`.
  std::vector<LabelMap> instances;
};

LoadedScene loaded_scene(std::string name, std::shared_ptr<Scene> scene, const LabelInputs& label_inputs,
                         bool need_depth = false, bool need_instances = false) {
  LoadedScene out;
  out.name = std::move(name);
  out.scene = std::move(scene);
  out.frame = SceneFrame::from_scene(*out.scene);
  out.train = out.scene->split(Split::Train);
  for (const View* v : out.train) {
    out.cameras.push_back(v->camera);
    if (need_depth && !v->depth)
      fail_input(v->image_path, "depth_file_path", "view {} has no depth map (the geometry volume trains on them)",
                 v->name);
  }
  if (need_instances)
    for (const View* v : out.train) {
      if (!v->instance)
        fail_input(v->image_path, "instance_path", "view {} has no instance map (the model's instance head trains on "
                   "them)", v->name);
      out.instances.push_back(label_map_from_image(*v->instance));
    }
  if (!label_inputs.needed) return out;
  const bool semantic = label_inputs.gt == "semantic";
  for (const View* v : out.train) {
    const std::optional<Image>& map = semantic ? v->semantic : v->instance;
    if (!map)
      fail_input(v->image_path, semantic ? "semantic_path" : "instance_path",
                 "view {} has no {} map (the model trains on them)", v->name, label_inputs.gt);
    out.labels.push_back(label_map_from_image(*map));
  }
  std::set<int32_t> classes;
  for (const LabelMap& m : out.labels)
    for (int32_t id : m.ids)
      if (id >= 0) classes.insert(id);
  out.classes.assign(classes.begin(), classes.end());
  return out;
}

// A model type that frames scenes itself (featurenerf: the cameras' look-at point at its camera distance) trains in the
// frame `apply` gives an unseen scene (ModelType::frame_scene; the generator's corpora are already in it).
void frame_for_model(LoadedScene& s, const CorpusModel& model) {
  if (!find_model_type(model.type()).frame_scene) return;
  s.frame = frame_scene_for_model(*s.scene, model.type(), model.config_json(), s.frame);
  for (size_t i = 0; i < s.train.size(); ++i) s.cameras[i] = s.train[i]->camera;
}

LoadedScene load_corpus_scene(const CorpusScene& entry, const Eigen::Vector3f& background,
                              const LabelInputs& label_inputs, bool need_depth, bool need_instances) {
  LoadOptions load;
  load.background = background.cast<double>();
  load.load_extras = label_inputs.needed || need_depth || need_instances;
  return loaded_scene(entry.name, std::make_shared<Scene>(load_scene(entry.path, load)), label_inputs, need_depth,
                      need_instances);
}

/// The bytes a loaded scene holds in memory: its views' pixels (colour and the extras loaded) and the label maps.
uint64_t loaded_scene_bytes(const LoadedScene& s) {
  uint64_t bytes = 0;
  const auto image = [&](const Image& i) { bytes += i.pixels.capacity() * sizeof(float); };
  for (const View& v : s.scene->views) {
    image(v.rgb);
    for (const std::optional<Image>* extra : {&v.mask, &v.depth, &v.instance, &v.semantic})
      if (*extra) image(**extra);
  }
  for (const std::vector<LabelMap>* maps : {&s.labels, &s.instances})
    for (const LabelMap& m : *maps) bytes += m.ids.capacity() * sizeof(m.ids[0]);
  return bytes;
}

/// After the first `loaded` of `entries` (holding `loaded_bytes`): fails when the rest cannot fit in the memory
/// available now, warns when they would take most of it. `ranks`: the ranks on this machine, each loading the corpus.
void check_corpus_memory(const std::vector<CorpusScene>& entries, size_t loaded, uint64_t loaded_bytes,
                         const char* what, int ranks) {
  const std::optional<uint64_t> available = available_memory_bytes();
  if (!available || loaded == 0) return;
  const MemoryProjection p = project_memory(loaded_bytes * static_cast<uint64_t>(ranks), loaded, entries.size(), *available);
  const fs::path corpus = entries.front().path.parent_path();
  const std::string summary = fmt::format(
      "{} scenes ({}): the other {} need at least {} at the {:.1f} MB per scene of the first {}{} ({} available now); "
      "every scene stays in memory while training", entries.size(), what, entries.size() - loaded,
      format_memory(p.needed), static_cast<double>(loaded_bytes) / static_cast<double>(loaded) / 1e6, loaded,
      ranks > 1 ? fmt::format(", times {} ranks on this machine", ranks) : std::string(), format_memory(p.available));
  if (p.exceeds())
    fail_input(corpus, "", "{} — too much for this machine: train on fewer scenes or fewer views per scene "
               "(`semfield synth --views`), or on a machine with more memory", summary);
  if (p.tight()) log::warn("{}: {} — the training itself may not fit beside them", corpus.string(), summary);
}

std::vector<LoadedScene> load_scenes(const std::vector<CorpusScene>& entries, const Eigen::Vector3f& background,
                                     const char* what, bool show_progress, size_t min_train_views, int ranks,
                                     const LabelInputs& label_inputs, bool need_depth = false,
                                     bool need_instances = false) {
  std::vector<LoadedScene> out;
  std::unique_ptr<ProgressBar> bar;
  if (show_progress) bar = std::make_unique<ProgressBar>(what, static_cast<int64_t>(entries.size()), "scene");
  // Every scene stays in memory for the whole run: after the first few, project what the rest will take and stop with
  // a clear error if it cannot fit, rather than minutes later by the kernel's OOM killer with no message.
  const size_t probe = std::min<size_t>(8, std::max<size_t>(1, entries.size() / 2));
  uint64_t probe_bytes = 0;
  for (const auto& entry : entries) {
    LoadedScene s = load_corpus_scene(entry, background, label_inputs, need_depth, need_instances);
    if (s.train.size() < min_train_views)
      fail_input(entry.path, "", fmt::format("{} training views; corpus training needs at least {}",
                                             s.train.size(), min_train_views));
    if (out.size() < probe) probe_bytes += loaded_scene_bytes(s);
    out.push_back(std::move(s));
    if (bar) bar->update(static_cast<int64_t>(out.size()));
    if (out.size() == probe && probe < entries.size()) check_corpus_memory(entries, probe, probe_bytes, what, ranks);
  }
  if (bar) bar->finish();
  return out;
}

// Validation of models with semantic or geometry inputs: their loss on this many fixed examples of the validation
// scenes, drawn from this seed (offset from the run's).
constexpr int kValidationExamples = 8;
constexpr uint64_t kValidationSeed = 0x5EED0001ull;

struct ExampleSpec {
  int rays = 512, source_views = 8, source_pool = 12;
  uint64_t seed = 0;
  LabelInputs labels;
  int geometry_views = 0;  ///< CorpusModel::geometry_views()
  bool target_views = false;  ///< CorpusModel::target_views()
  bool instances = false;     ///< CorpusModel::instance_targets()
};

at::Tensor label_tensor(const LabelMap& map) {
  return at::from_blob(const_cast<int32_t*>(map.ids.data()), {map.height, map.width}, at::kInt).to(at::kLong);
}

/// Example `index` of step `step`: a scene, a target view, its source views, random target pixels.
CorpusExample make_example(const std::vector<LoadedScene>& scenes, const ExampleSpec& options, int64_t step,
                           int index, const Eigen::Vector3f& background) {
  SplitMix64 rng(splitmix64_at(options.seed * 0x100000001B3ull + static_cast<uint64_t>(step) * 4099u +
                               static_cast<uint64_t>(index)));
  const LoadedScene& s = scenes[static_cast<size_t>(rng.index(static_cast<int>(scenes.size())))];
  const int target = rng.index(static_cast<int>(s.train.size()));
  SourceViewOptions sv;
  sv.count = options.source_views;
  const std::vector<int> sources = sample_source_views(s.cameras[static_cast<size_t>(target)], s.cameras, sv,
                                                       options.source_pool, rng.next_u64(), target);
  CorpusExample ex;
  std::vector<at::Tensor> colours;
  for (int i : sources) {
    ex.source_cameras.push_back(s.cameras[static_cast<size_t>(i)]);
    colours.push_back(view_colours(*s.train[static_cast<size_t>(i)], background));
  }
  ex.source_colours = at::stack(colours);
  if (options.labels.needed && options.labels.sources) {
    // The sources' maps as a 2D segmenter would give them: their ground truth through the simulated segmenter at a
    // severity drawn per example (its confusion partners keyed by the example, its other draws by the view too).
    const double severity = rng.uniform(options.labels.severity_min, options.labels.severity_max);
    const uint64_t segmenter_seed = rng.next_u64();
    std::vector<at::Tensor> maps;
    for (int i : sources)
      maps.push_back(label_tensor(simulate_segmentation(s.labels[static_cast<size_t>(i)], s.classes, severity,
                                                        segmenter_seed, static_cast<uint64_t>(i))));
    ex.source_labels = at::stack(maps);
  }
  const View& view = *s.train[static_cast<size_t>(target)];
  const int w = view.rgb.width, h = view.rgb.height;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(rng.next_u64());
  // Models that read the whole target view fuse rendered pixels into it: distinct pixels (at most all of them).
  const at::Tensor pixel =
      options.target_views
          ? at::randperm(static_cast<int64_t>(w) * h, gen, at::kLong)
                .narrow(0, 0, std::min<int64_t>(options.rays, static_cast<int64_t>(w) * h))
          : at::randint(static_cast<int64_t>(w) * h, {options.rays}, gen, at::kLong);
  const int64_t n_rays = pixel.size(0);
  const at::Tensor uv = at::stack({at::remainder(pixel, w), at::div(pixel, w, "floor")}, 1).to(at::kFloat) + 0.5f;
  const kernels::Rays rays = kernels::generate_rays(kernels::CameraBatch::from_cameras({view.camera}),
                                                    at::zeros({n_rays}, at::kLong), uv);
  ex.origins = rays.origins;
  ex.dirs = rays.directions;
  const at::Tensor target_image = view_colours(view, background);
  ex.target = target_image.reshape({3, -1}).index_select(1, pixel).t().contiguous();
  ex.background = at::tensor({background.x(), background.y(), background.z()}).expand({n_rays, 3});
  if (options.labels.needed)
    ex.target_labels = label_tensor(s.labels[static_cast<size_t>(target)]).reshape({-1}).index_select(0, pixel);
  if (options.target_views) {
    ex.target_camera = view.camera;
    ex.target_image = target_image;
    ex.ray_pixels = pixel;
    if (options.labels.needed) {
      ex.target_label_map = label_tensor(s.labels[static_cast<size_t>(target)]);
      const auto& names = options.labels.gt == "semantic" ? s.scene->semantic_labels : s.scene->instance_labels;
      for (const auto& [id, label] : names) {
        if (id < 0 || id > 65535) continue;
        if (ex.label_names.size() <= static_cast<size_t>(id)) ex.label_names.resize(static_cast<size_t>(id) + 1);
        ex.label_names[static_cast<size_t>(id)] = label.name;
      }
    }
    if (options.instances) ex.target_instance_map = label_tensor(s.instances[static_cast<size_t>(target)]);
    if (view.depth) ex.target_depth_map = image_to_tensor(*view.depth);
  }
  ex.frame = s.frame;
  ex.scene_name = s.name;
  ex.target_name = view.name;
  if (options.geometry_views > 0) {
    // Views spread around the scene from a random first one, with their depth maps (the geometry volume's targets).
    std::vector<at::Tensor> geo_colours, geo_depths;
    for (int i : spread_views(s.cameras, options.geometry_views, rng.index(static_cast<int>(s.cameras.size())))) {
      const View& g = *s.train[static_cast<size_t>(i)];
      ex.geometry_cameras.push_back(g.camera);
      geo_colours.push_back(view_colours(g, background));
      geo_depths.push_back(image_to_tensor(*g.depth));
    }
    ex.geometry_colours = at::stack(geo_colours);
    ex.geometry_depths = at::stack(geo_depths);
  }
  return ex;
}

nlohmann::json options_json(const CorpusTrainOptions& o) {
  return {{"corpus", fs::absolute(o.corpus).lexically_normal().string()},
          {"model_type", o.model_type},
          {"model_config", o.model_config},
          {"name", o.name},
          {"steps", o.steps},
          {"time_budget", o.time_budget},
          {"lr", o.lr},
          {"lr_final_fraction", o.lr_final_fraction},
          {"ema", o.ema},
          {"rays", o.rays},
          {"batch", o.batch},
          {"source_views", o.source_views},
          {"source_pool", o.source_pool},
          {"eval_interval", o.eval_interval},
          {"val_scenes", o.val_scenes},
          {"val_views", o.val_views},
          {"val_every", o.val_every},
          {"checkpoint_interval", o.checkpoint_interval},
          {"seed", o.seed},
          {"background", o.background},
          {"init", o.init_model.empty() ? std::string() : fs::absolute(o.init_model).lexically_normal().string()}};
}

}  // namespace

void CorpusTrainOptions::validate() const {
  if (steps < 1) fail_usage("--steps must be at least 1 (got {})", steps);
  if (rays < 1) fail_usage("--rays must be at least 1 (got {})", rays);
  if (batch < 1) fail_usage("--batch must be at least 1 (got {})", batch);
  if (source_views < 1) fail_usage("--source-views must be at least 1 (got {})", source_views);
  if (source_pool < source_views)
    fail_usage("--source-pool ({}) must be at least --source-views ({})", source_pool, source_views);
  if (!(lr > 0)) fail_usage("--lr must be positive");
  if (!(lr_final_fraction > 0 && lr_final_fraction <= 1)) fail_usage("lr_final_fraction must be in (0, 1]");
  if (!(ema >= 0 && ema < 1)) fail_usage("--ema must be in [0, 1) (got {})", ema);
  if (local_ranks < 1) fail_usage("local_ranks must be at least 1 (got {})", local_ranks);
}


CorpusTrainSummary train_corpus(const CorpusTrainOptions& options, ProcessGroup* group) {
  options.validate();
  const int world = group ? group->world_size() : 1;
  const int rank = group ? group->rank() : 0;
  const bool main_rank = rank == 0;
  if (options.batch % world != 0)
    fail_usage("--batch ({}) must be a multiple of the number of ranks ({})", options.batch, world);
  const RunPaths run{options.run_dir};
  const Eigen::Vector3f background = parse_background(options.background);
  CorpusOptions corpus_options;
  corpus_options.val_every = options.val_every;
  const Corpus corpus = load_corpus(options.corpus, corpus_options);
  if (corpus.train.empty()) fail_input(options.corpus, "", "the corpus has no training scenes");
  const bool show = options.show_progress && main_rank;
  std::string name = options.name.empty() ? fs::absolute(run.root).lexically_normal().filename().string()
                                          : options.name;

  // A resumed run continues the checkpoint's model (its config, not the command line's).
  std::optional<Checkpoint> resumed;
  if (options.resume) resumed = load_checkpoint(run.checkpoint(), kCorpusCheckpointKind);
  nlohmann::json model_config = options.model_config;
  LoopProgress progress;
  TensorMap resumed_weights, resumed_optim, resumed_ema;
  int64_t ema_updates = 0;
  if (resumed) {
    const std::string origin = run.checkpoint().string();
    for (const auto& [key, tensor] : resumed->tensors) {
      if (key.rfind("model.", 0) == 0) resumed_weights[key.substr(6)] = tensor;
      if (key.rfind("optim.", 0) == 0) resumed_optim[key.substr(6)] = tensor;
      if (key.rfind("ema.", 0) == 0) resumed_ema[key.substr(4)] = tensor;
    }
    const JsonNode meta = JsonNode::parse_text(resumed->metadata.dump(), origin + " (metadata)");
    if (meta.at("model_type").as_string() != options.model_type)
      fail_input(run.checkpoint(), "model_type",
                 fmt::format("the checkpoint holds a model of type {}, not {}", meta.at("model_type").as_string(),
                             options.model_type));
    model_config = meta.at("model_config").raw();
    // Without --name a resumed run keeps the name it was started with (not the folder's, which may be a copy's).
    if (const auto started = meta.find("options"); options.name.empty() && started) {
      const std::string started_name = started->string_or("name", "");
      if (!started_name.empty()) name = started_name;
    }
    progress.step = meta.at("step").as_int();
    progress.elapsed_seconds = meta.at("elapsed_seconds").as_double();
    if (!resumed_ema.empty()) ema_updates = meta.at("ema_updates").as_int();
  }
  std::unique_ptr<CorpusModel> model =
      create_trainable_model(options.model_type, model_config, run.config().string());
  if (!resumed && !options.init_model.empty()) {
    const ModelFile init = read_model_file(options.init_model);
    model->initialise_from(init.type, init.config, init.weights, options.init_model.string());
    if (main_rank) log::info("initialised from {} ({}, type {})", options.init_model.string(), init.name, init.type);
  }
  const LabelInputs label_inputs = model->label_inputs();
  std::vector<LoadedScene> scenes =
      load_scenes(corpus.train, background, "load train", show, static_cast<size_t>(options.source_views) + 1,
                  options.local_ranks, label_inputs, model->geometry_views() > 0, model->instance_targets());
  // Recorded in the model file (before a type frames the scenes its own way): `apply` warns when a scene reaches
  // beyond the box and none of these did.
  const auto unbounded_scenes = static_cast<int64_t>(
      std::count_if(scenes.begin(), scenes.end(), [](const LoadedScene& s) { return s.frame.unbounded; }));
  for (LoadedScene& s : scenes) frame_for_model(s, *model);
  std::vector<CorpusScene> val_entries(corpus.val.begin(),
                                       corpus.val.begin() + std::min<size_t>(corpus.val.size(), options.val_scenes));
  std::vector<LoadedScene> val_scenes =
      main_rank ? load_scenes(val_entries, background, "load val", show, 1, 1, label_inputs,
                              model->geometry_views() > 0, model->instance_targets())
                : std::vector<LoadedScene>{};
  for (LoadedScene& s : val_scenes) frame_for_model(s, *model);
  const std::vector<at::Tensor> params = model->parameters();
  DenseAdam adam(params);
  adam.set_lr_scales(model->lr_scales());
  if (resumed) {
    model->load_state(resumed_weights, run.checkpoint().string());
    adam.load_state(resumed_optim, "adam.", run.checkpoint().string());
    if (main_rank) log::info("resuming {} from step {}", run.root.string(), progress.step);
  }
  if (group && world > 1) {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> handles;
    for (const auto& p : params) handles.push_back(p.detach());
    group->broadcast(handles, 0);
  }
  // The weights' moving average (rank 0 only: every rank holds the same weights, only rank 0 validates and saves).
  WeightAverage average(main_rank ? options.ema : 0.0, params);
  if (main_rank && !average.enabled() && !resumed_ema.empty())
    log::warn("the checkpoint holds a weight average (--ema {}); without --ema this run drops it and saves the trained "
              "weights", resumed->metadata.value("ema", 0.0));
  if (average.enabled()) {
    if (resumed_ema.empty()) {
      if (resumed) log::info("--ema: the checkpoint holds no average; it starts from the step-{} weights", progress.step);
    } else {
      average.load(resumed_ema, ema_updates, run.checkpoint().string());
    }
  }
  if (main_rank) {
    fs::create_directories(run.root);
    nlohmann::json config = options_json(options);
    config["model_config"] = model->config_json();
    write_file_atomic(run.config(), config.dump(2) + "\n");
  }

  double last_val = 0;
  auto save = [&] {
    if (!main_rank) return;
    Checkpoint ckpt;
    ckpt.kind = kCorpusCheckpointKind;
    const LoopProgress p = progress;
    nlohmann::json saved_options = options_json(options);
    saved_options["name"] = name;  // the effective name, so a later --resume keeps it
    ckpt.metadata = {{"model_type", options.model_type},
                     {"model_config", model->config_json()},
                     {"options", saved_options},
                     {"step", p.step},
                     {"elapsed_seconds", p.elapsed_seconds}};
    for (const auto& [key, tensor] : model->state()) ckpt.tensors["model." + key] = tensor;
    for (const auto& [key, tensor] : adam.state("adam.")) ckpt.tensors["optim." + key] = tensor;
    if (average.enabled()) {
      ckpt.metadata["ema"] = average.decay();
      ckpt.metadata["ema_updates"] = average.updates();
      for (const auto& [key, tensor] : average.state()) ckpt.tensors["ema." + key] = tensor;
    }
    save_checkpoint(run.checkpoint(), ckpt);
    // The model file holds the average when there is one.
    const WeightAverage::Swap swap = average.swap_in();
    ModelFile file;
    file.name = name;
    file.type = options.model_type;
    file.config = model->config_json();
    file.weights = model->state();
    std::vector<std::string> train_names;
    for (const auto& s : corpus.train) train_names.push_back(s.name);
    file.info = {{"trained_on", {{"corpus", fs::absolute(options.corpus).lexically_normal().string()},
                                 {"train_scenes", corpus.train.size()},
                                 {"unbounded_scenes", unbounded_scenes},
                                 {"val_scenes", corpus.val.size()}}},
                 {"steps", p.step},
                 {"train_seconds", p.elapsed_seconds},
                 {"ranks", world},
                 {"val_psnr", last_val},
                 {"options", options_json(options)}};
    if (average.enabled()) file.info["ema"] = {{"decay", average.decay()}, {"updates", average.updates()}};
    write_model_file(run.root / "model.safetensors", file);
  };
  auto validate = [&](TrainingLoop& loop) {
    if (!main_rank || val_scenes.empty()) return;
    const WeightAverage::Swap swap = average.swap_in();  // validation measures what model.safetensors holds
    double psnr = 0, ssim = 0;
    int n = 0;
    for (const auto& s : val_scenes) {
      const auto tests = s.scene->split(Split::Test);
      std::vector<const View*> views(tests.begin(), tests.begin() + std::min<size_t>(tests.size(), options.val_views));
      if (views.empty()) continue;
      const auto bound = model->bind(s.scene, s.frame, background, options.source_views);
      const EvalResult r = evaluate(*bound, views, background, {}, false);
      psnr += r.psnr * static_cast<double>(views.size());
      ssim += r.ssim * static_cast<double>(views.size());
      n += static_cast<int>(views.size());
    }
    if (n == 0) return;
    last_val = psnr / n;
    nlohmann::json entry = {{"val_psnr", last_val}, {"val_ssim", ssim / n}, {"val_views", n}};
    // Models with inputs beyond colours (semantic maps, a geometry volume): their own training loss on the same
    // fixed examples of the validation scenes (what PSNR does not measure: the vote's cross-entropy, the TSDF's L1).
    size_t fewest = val_scenes.front().train.size();
    for (const auto& s : val_scenes) fewest = std::min(fewest, s.train.size());
    const int others = static_cast<int>(fewest) - 1;  // a target's possible sources
    if ((label_inputs.needed || model->geometry_views() > 0 || model->target_views()) && others >= 1) {
      at::NoGradGuard no_grad;
      const ExampleSpec val_spec{options.rays, std::min(options.source_views, others),
                                 std::min(options.source_pool, others), options.seed + kValidationSeed, label_inputs,
                                 model->geometry_views(), model->target_views(), model->instance_targets()};
      double sum = 0;
      for (int i = 0; i < kValidationExamples; ++i)
        sum += model->loss(make_example(val_scenes, val_spec, 0, i, background), kValidationSeed + i).loss.item<double>();
      entry["val_loss"] = sum / kValidationExamples;
      log::info("step {}: validation loss {:.4f} ({} examples)", loop.step(), sum / kValidationExamples,
                kValidationExamples);
    }
    loop.log(entry);
    log::info("step {}: validation psnr {:.2f} ssim {:.4f} ({} views of {} unseen scenes)", loop.step(), last_val,
              ssim / n, n, val_scenes.size());
  };

  TrainingLoopOptions lo;
  lo.steps = options.steps;
  lo.time_budget = options.time_budget;
  lo.eval_interval = options.eval_interval;
  lo.checkpoint_interval = options.checkpoint_interval;
  lo.label = "train-corpus";
  lo.show_progress = show;
  lo.write_log = main_rank;
  lo.stop_requested = options.stop_requested;
  TrainingLoop loop(lo, progress, run.progress(), options.resume);
  // Where validation starts: the curve in progress.jsonl begins at the untrained model.
  if (!options.resume && options.eval_interval > 0) loop.pause([&] { validate(loop); });
  CorpusTrainSummary summary;
  double loss_ema = 0, mse_ema = 0, samples = 0;
  const int per_rank = options.batch / world;
  const ExampleSpec spec{options.rays, options.source_views, options.source_pool, options.seed, label_inputs,
                         model->geometry_views(), model->target_views(), model->instance_targets()};
  while (true) {
    // All ranks must agree to stop together (a budget or Ctrl-C seen by one rank only would hang the others).
    bool go = loop.next();
    if (group && world > 1) {
      std::vector<at::Tensor> flag = {at::full({1}, go ? 1.0f : 0.0f)};
      group->all_reduce_mean(flag);
      go = flag[0].item<float>() > 0.999f;
    }
    if (!go) break;
    const int64_t step = loop.step();
    double step_mse = 0;
    for (int k = 0; k < per_rank; ++k) {
      const int index = rank + k * world;
      const CorpusExample ex = make_example(scenes, spec, step, index, background);
      const CorpusLoss l = model->loss(ex, splitmix64_at(options.seed + static_cast<uint64_t>(step) * 131 + index));
      (l.loss / static_cast<double>(per_rank)).backward();
      step_mse += l.mse / per_rank;
      samples += static_cast<double>(l.samples);
      loss_ema = step == loop.first_step() && k == 0 ? l.loss.item<double>()
                                                     : 0.95 * loss_ema + 0.05 * l.loss.item<double>();
    }
    if (group && world > 1) {
      group->average_gradients(params);
      summary.all_reduce_seconds += group->last_all_reduce_seconds();
    }
    kernels::AdamHyper hyper{loop.exponential_lr(options.lr, options.lr_final_fraction), 0.9, 0.999, 1e-8, 0.0};
    adam.step(hyper);
    average.update();
    mse_ema = step == loop.first_step() ? step_mse : 0.95 * mse_ema + 0.05 * step_mse;
    const double psnr = mse_ema > 0 ? -10.0 * std::log10(mse_ema) : 0.0;
    loop.end_step(fmt::format("loss {:.4f} psnr {:.2f} val {:.2f} {:.2f} Msamples/s", loss_ema, psnr, last_val,
                              loop.session_seconds() > 0 ? samples / loop.session_seconds() / 1e6 : 0.0),
                  {{"loss", loss_ema}, {"train_psnr", psnr}, {"lr", hyper.lr}});
    progress = loop.progress();
    if (loop.eval_due()) loop.pause([&] { validate(loop); });
    if (loop.checkpoint_due()) loop.pause(save);
  }
  loop.finish();
  progress = loop.progress();
  summary.interrupted = loop.interrupted();
  summary.steps = progress.step - loop.first_step();
  summary.seconds = loop.session_seconds();
  if (!summary.interrupted && (options.eval_interval == 0 || progress.step % options.eval_interval != 0))
    validate(loop);
  save();
  summary.val_psnr = last_val;
  if (main_rank)
    log::info("trained {} steps in {}{}; {}", summary.steps, format_duration(summary.seconds),
              summary.interrupted ? " (interrupted)" : "", (run.root / "model.safetensors").string());
  return summary;
}

}  // namespace semfield

namespace semfield {

CorpusTrainSummary finetune_on_scene(CorpusModel& model, std::shared_ptr<Scene> scene, const SceneFrame& frame,
                                     const FinetuneOptions& options) {
  if (options.steps < 1) fail_usage("fine-tuning needs at least 1 step (got {})", options.steps);
  const Eigen::Vector3f background = parse_background(options.background);
  // Models with semantic inputs fine-tune on the scene's own ground-truth maps (loaded_scene names a view without).
  LoadedScene s = loaded_scene("scene", std::move(scene), model.label_inputs(), false, model.instance_targets());
  s.frame = frame;
  if (s.train.size() < 2) fail_input(s.scene->root, "", "fine-tuning needs at least 2 training views");
  const std::vector<LoadedScene> scenes = {s};
  const int source_views = std::min<int>(options.source_views, static_cast<int>(s.train.size()) - 1);
  const int source_pool =
      std::min<int>(std::max(options.source_pool, source_views), static_cast<int>(s.train.size()) - 1);
  const ExampleSpec spec{options.rays, source_views, source_pool, options.seed,
                         model.label_inputs(), 0, model.target_views(), model.instance_targets()};
  const std::vector<at::Tensor> params = model.parameters();
  DenseAdam adam(params);
  adam.set_lr_scales(model.lr_scales());
  TrainingLoopOptions lo;
  lo.steps = options.steps;
  lo.time_budget = options.time_budget;
  lo.label = "finetune";
  lo.show_progress = options.show_progress;
  lo.write_log = false;
  lo.log_interval = 0;
  lo.stop_requested = options.stop_requested;
  TrainingLoop loop(lo, {}, {}, false);
  double mse_ema = 0;
  while (loop.next()) {
    const int64_t step = loop.step();
    const CorpusExample ex = make_example(scenes, spec, step, 0, background);
    const CorpusLoss l = model.loss(ex, splitmix64_at(options.seed * 977 + static_cast<uint64_t>(step)));
    l.loss.backward();
    adam.step({loop.exponential_lr(options.lr, options.lr_final_fraction), 0.9, 0.999, 1e-8, 0.0});
    mse_ema = step == 0 ? l.mse : 0.95 * mse_ema + 0.05 * l.mse;
    loop.end_step(fmt::format("psnr {:.2f}", mse_ema > 0 ? -10 * std::log10(mse_ema) : 0.0), {});
  }
  loop.finish();
  CorpusTrainSummary summary;
  summary.steps = loop.step();
  summary.seconds = loop.session_seconds();
  summary.interrupted = loop.interrupted();
  return summary;
}

}  // namespace semfield
