// `semfield query`: text queries on a CLIP-distilled field — LERF relevancy maps per phrase and, for several
// phrases, a per-pixel class map with Laser's text augmentation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/mask_io.h"
#include "semfield/segment/segment_view.h"
#include "semfield/segment/text_query.h"
#include "semfield/teachers/simulated_segmenter.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "semfield/core/tensor_state.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/pipeline/class_map_eval.h"
#include "semfield/render/colormap.h"

namespace semfield::cli {

namespace {

struct QueryArgs {
  std::vector<std::string> texts, negatives;
  std::string run, out, field, views, view, classes, text_embeddings, points, standardise = "auto", label_volume = "on";
  int repeat = 2, max_side = 256;
  bool no_standardise = false, gt = false;
};

// The scene's semantic ground truth of a view as indices into the class list (0 = no class / not in the list),
// by the names of labels.json; undefined when the view has no semantic map.
at::Tensor query_truth(const Scene& scene, const std::string& view_name, const std::vector<std::string>& names) {
  for (const View& v : scene.views) {
    if (v.name != view_name || !v.semantic) continue;
    const LabelMap ids = label_map_from_image(*v.semantic);
    at::Tensor out = at::zeros({ids.height, ids.width}, at::kLong);
    int64_t* p = out.data_ptr<int64_t>();
    std::map<int, int64_t> index;
    for (const auto& [id, label] : scene.semantic_labels)
      for (size_t k = 0; k < names.size(); ++k)
        if (label.name == names[k]) index[id] = static_cast<int64_t>(k) + 1;
    for (size_t i = 0; i < ids.ids.size(); ++i) {
      const auto it = index.find(ids.ids[i]);
      p[i] = it == index.end() ? 0 : it->second;
    }
    return out;
  }
  return {};
}

at::Tensor valid_pixels(const at::Tensor& opacity, const Camera& camera) {
  return opacity.view({camera.intrinsics.height, camera.intrinsics.width}) >= 0.5f;
}

// `--classes`: one class map per view (8-bit PNG named like the view: 1-based index of the winning class, 0 =
// nothing), labels of 3D points, and with --gt the 3D-OVS scores against the scene's semantic maps.
void run_class_query(const QueryArgs& args, const LoadedRun& run, const std::vector<const CameraRecord*>& cameras) {
  namespace fs = std::filesystem;
  const std::vector<std::string> names = split_class_list(args.classes);
  const auto n_classes = static_cast<int64_t>(names.size());
  if (n_classes > 255) fail_usage("query: at most 255 classes fit an 8-bit class map, got {}", n_classes);
  const std::string field_name = choose_semantics(args.run, run, args.field, FieldUse::Classes);
  const LoadedDistill field = load_distilled(args.run, field_name, *run.model);
  const LaserParts* laser = field.model->laser();
  if (field.model->has_classes())
    fail_usage("query --classes: field '{}' is a label field; give a CLIP (or CLIP-like) feature field", field_name);
  // Text embeddings: the file, the field's own class list (by name), or the CLIP teacher's text tower.
  at::Tensor plain, augmented;
  std::string text_source;
  const bool clip_tower = field.teacher.is_clip();
  bool from_field = laser != nullptr && laser->class_text.defined();
  if (from_field)
    for (const std::string& n : names)
      from_field = from_field && std::find(laser->class_names.begin(), laser->class_names.end(), n) != laser->class_names.end();
  if (!args.text_embeddings.empty()) {
    plain = read_text_embeddings(args.text_embeddings, n_classes);
    text_source = args.text_embeddings;
  } else if (from_field) {
    std::vector<int64_t> rows;
    for (const std::string& n : names)
      rows.push_back(std::find(laser->class_names.begin(), laser->class_names.end(), n) - laser->class_names.begin());
    plain = laser->class_text.index_select(0, at::tensor(rows, at::kLong));
    text_source = "the field's class list";
  }
  const bool text_augmentation = laser != nullptr && laser->text_augmentation;
  const bool repeat_names = clip_tower && text_augmentation && args.repeat > 1 && args.text_embeddings.empty();
  // The CLIP text tower, loaded once, when the plain or the repeated names need it.
  std::optional<TextQuery> tower;
  if (clip_tower && (!plain.defined() || repeat_names)) tower.emplace(TextQuery::for_field(field));
  if (!plain.defined()) {
    if (!tower)
      fail_usage("query --classes: field '{}' was distilled from {}, which has no text tower, and its class list does "
                 "not hold every class; give --text-embeddings EMB.npy [{}, dim]",
                 field_name, field.teacher.to_string(), n_classes);
    plain = tower->encode(names);
    text_source = field.teacher.arg;
  }
  const int64_t dim = field.model->channels().front();
  if (plain.size(1) != dim)
    fail_usage("query --classes: text embeddings have {} channels but field '{}' has {}", plain.size(1), field_name, dim);
  augmented = plain;
  if (repeat_names) {
    std::vector<std::string> repeated;
    for (const std::string& n : names) repeated.push_back(repeat_text(n, args.repeat));
    augmented = tower->encode(repeated);
  }
  const bool standardise = args.standardise == "on" || (args.standardise == "auto" && text_augmentation);
  const LabelVolume* volume = laser != nullptr && args.label_volume == "on" ? laser->label_volume.get() : nullptr;

  const fs::path out(args.out);
  std::optional<Scene> scene;
  if (args.gt) scene.emplace(load_run_scene(run, ""));
  ClassMapScorer scorer(n_classes);
  double total_seconds = 0;
  fs::create_directories(out / "colour");
  nlohmann::json views = nlohmann::json::object();
  for (const CameraRecord* camera : cameras) {
    const int64_t h = camera->camera.intrinsics.height, w = camera->camera.intrinsics.width;
    const auto start = std::chrono::steady_clock::now();
    // The rendered rows as they come (no [C,H,W] transpose of 512-channel maps: that copy cost more than the render).
    const Camera working = working_camera(camera->camera, args.max_side);
    // With the label volume the classes come from its rendered output alone: the feature field is not evaluated.
    at::Tensor classes;
    if (volume != nullptr) {
      const kernels::Rays rays = kernels::generate_image_rays(working);
      const auto [values, opacity] = field.model->render_label_values(rays.origins, rays.directions);
      classes = label_volume_classes(*volume, values, opacity, plain, valid_pixels(opacity, working));
    } else {
      const SemanticRenderOutput rendered = field.model->render_view(working);
      classes = open_vocabulary_classes(rendered.maps[0], augmented, valid_pixels(rendered.opacity, working),
                                        standardise);
    }
    classes = resample_nearest(classes, h, w);
    const at::Tensor ids = classes + 1;  // 0 = nothing
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total_seconds += seconds;
    write_ids_png(out / (camera->name + ".png"), ids, 8);
    write_png(out / "colour" / (camera->name + ".png"), colorize_labels(ids));
    nlohmann::json entry = {{"seconds", seconds}};
    const at::Tensor counts = at::bincount(ids.reshape(-1), {}, n_classes + 1).narrow(0, 1, n_classes).contiguous();
    entry["pixels_per_class"] = std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + n_classes);
    const bool imageless = scene && std::any_of(scene->imageless.begin(), scene->imageless.end(),
                                                 [&](const ImagelessCamera& c) { return c.name == camera->name; });
    if (imageless) {
      log::info("query --gt: {} is a camera without an image: its class map is written, not scored", camera->name);
      entry["scored"] = false;
    } else if (scene) {
      const at::Tensor truth = query_truth(*scene, camera->name, names);
      if (!truth.defined()) fail_input(scene->root, camera->name, "--gt: view {} has no semantic map", camera->name);
      if (truth.size(0) != h || truth.size(1) != w)
        fail_input(scene->root, camera->name, "--gt: the semantic map is {}x{}, the view {}x{}", truth.size(1), truth.size(0), w, h);
      entry["miou"] = scorer.add(ids, truth);
    }
    views[camera->name] = entry;
  }
  nlohmann::json summary = {{"run", args.run}, {"field", field_name}, {"classes", names}, {"text_embeddings", text_source},
                            {"laser", laser != nullptr}, {"label_volume", volume != nullptr},
                            {"standardise", standardise}, {"repeat", augmented.is_same(plain) ? 1 : args.repeat},
                            {"seconds_per_view", cameras.empty() ? 0.0 : total_seconds / static_cast<double>(cameras.size())},
                            {"views", views}};
  if (!args.points.empty()) {
    const at::Tensor world = array_to_tensor(read_npy(args.points)).to(at::kFloat);
    if (world.dim() != 2 || world.size(1) != 3 || !at::isfinite(world).all().item<bool>())
      fail_input(args.points, "", "expected finite points [N, 3] (world coordinates), got {}", describe_tensor(world));
    const at::Tensor points = run.model->frame().to_normalised(world);
    at::Tensor point_classes;
    if (volume != nullptr) {
      point_classes = volume->logits(field.model->point_label_features(points), plain).argmax(1);
    } else {
      const at::Tensor f = field.model->point_outputs(points)[0];
      point_classes = classify_features(f, augmented, {}, standardise);
    }
    write_npy(out / "points_labels.npy", tensor_to_array((point_classes + 1).to(at::kInt)));
    summary["points"] = {{"file", args.points}, {"count", points.size(0)}};
  }
  if (scene) {
    const ClassMapScore score = scorer.result();
    if (score.views == 0)
      fail_usage("query --gt: none of the views asked for has an image (cameras without one have no ground truth)");
    if (score.pairs == 0)
      fail_usage("query --gt: no pixel of the scene's semantic maps belongs to one of --classes (classes are matched to "
                 "labels.json by name; the scene names {})",
                 [&] {
                   std::string names_text;
                   for (const auto& [id, label] : scene->semantic_labels)
                     if (id > 0) names_text += (names_text.empty() ? "" : ", ") + label.name;
                   return names_text.empty() ? std::string("none") : names_text;
                 }());
    summary["score"] = score.to_json();
    std::printf("3D-OVS scores over %lld views: mIoU %.4f, accuracy %.4f\n", static_cast<long long>(score.views),
                score.miou, score.accuracy);
  }
  write_file_atomic(out / "query.json", summary.dump(2) + "\n");
  std::printf("class maps of %zu views -> %s (8-bit <view>.png: 1-based class index, 0 = nothing)\n", cameras.size(),
              args.out.c_str());
}

void run_query(const QueryArgs& args) {
  if (args.texts.empty() == args.classes.empty())
    fail_usage("query: give --text phrases (relevancy maps) or --classes a,b,c (class maps), not both");
  if (args.classes.empty() && (!args.text_embeddings.empty() || !args.points.empty() || args.gt))
    fail_usage("query: --text-embeddings, --points and --gt go with --classes");
  for (const std::string& t : args.texts)
    if (t.find_first_not_of(" \t") == std::string::npos) fail_usage("query: --text phrases must not be empty");
  if (!args.view.empty() && !args.views.empty()) fail_usage("query: give --view or --views, not both");
  const LoadedRun run = load_run(args.run);
  std::vector<const CameraRecord*> cameras;
  if (!args.view.empty()) cameras.push_back(&find_camera(run.cameras, args.view));
  else cameras = split_cameras(run.cameras, args.views.empty() ? "test" : args.views);
  if (!args.classes.empty()) return run_class_query(args, run, cameras);

  const std::string field_name = choose_semantics(args.run, run, args.field, FieldUse::Query);
  const LoadedDistill field = load_distilled(args.run, field_name, *run.model);
  TextQueryOptions options;
  options.repeat = args.repeat;
  options.standardise = !args.no_standardise;
  if (!args.negatives.empty()) options.negatives = args.negatives;
  TextQuery query = TextQuery::for_field(field, options);

  const std::filesystem::path out(args.out);
  nlohmann::json summary = {{"run", args.run}, {"field", field_name}, {"phrases", args.texts},
                            {"negatives", options.negatives}, {"repeat", options.repeat},
                            {"standardise", options.standardise}};
  nlohmann::json views = nlohmann::json::object();
  for (const CameraRecord* camera : cameras) {
    const int64_t h = camera->camera.intrinsics.height, w = camera->camera.intrinsics.width;
    const SegmentView view =
        render_field_view(*field.model, working_camera(camera->camera, args.max_side), camera->name, 0);
    const TextQueryResult result = query.run(view.maps, view.opacity, args.texts);
    const at::Tensor classes = resample_nearest(result.classes, h, w);
    nlohmann::json counts = nlohmann::json::array();
    for (size_t k = 0; k < args.texts.size(); ++k) {
      write_scalar_png(out / fmt::format("{}_relevancy_{}.png", camera->name, k),
                       resample_bilinear(result.relevancy[k], h, w));
      const at::Tensor mask = classes == static_cast<int64_t>(k);
      write_mask_png(out / fmt::format("{}_mask_{}.png", camera->name, k), mask);
      counts.push_back(mask.sum().item<int64_t>());
    }
    if (args.texts.size() > 1) {
      // Class k is drawn in label colour k + 1 (colour 0 is reserved for "nothing"); empty pixels are black.
      write_png(out / fmt::format("{}_classes.png", camera->name), colorize_labels(at::where(classes >= 0, classes + 1,
                                                                                          classes)));
    }
    views[camera->name] = {{"pixels_per_phrase", counts}};
    std::printf("%s: %s\n", camera->name.c_str(), counts.dump().c_str());
  }
  summary["views"] = views;
  write_file_atomic(out / "query.json", summary.dump(2) + "\n");
}

}  // namespace

void add_query_command(CLI::App& app) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand(
      "query", "Text queries on a CLIP-distilled field: relevancy maps per phrase and a per-pixel class map");
  cmd->add_option("--run", args->run, "Run folder with a CLIP-distilled field")->required();
  cmd->add_option("--text", args->texts, "A phrase (repeatable: several phrases give a class map)");
  cmd->add_option("--classes", args->classes,
                  "Class-list mode: a,b,c -> <view>.png per view (8-bit, 1-based index of the class, 0 = nothing)");
  cmd->add_option("--text-embeddings", args->text_embeddings,
                  "With --classes: .npy [classes, dim] text embeddings in the order of --classes (default: the field's "
                  "class list, or its CLIP teacher's text tower)");
  cmd->add_option("--points", args->points, "With --classes: .npy [N,3] world points -> points_labels.npy (int32, 1-based)");
  cmd->add_flag("--gt", args->gt, "With --classes: score against the scene's semantic maps (labels.json names; 3D-OVS mIoU)");
  cmd->add_option("--standardise", args->standardise,
                  "With --classes: per-class standardisation on | off | auto (auto: as the field's Laser text augmentation)")
      ->check(CLI::IsMember({"on", "off", "auto"}));
  cmd->add_option("--label-volume", args->label_volume,
                  "With --classes: on = classify with the field's Laser label volume when it has one; off = with the "
                  "rendered features (ablation)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--views", args->views, "Views of this split (train | val | test; default test)");
  cmd->add_option("--view", args->view, "One view instead: image stem (r_12) or split:index (test:0)");
  cmd->add_option("--field", args->field, "The CLIP field to use (default: the run's first CLIP field)");
  cmd->add_option("--negative", args->negatives,
                  "Canonical negative phrase for the relevancy (repeatable; default object, things, stuff, texture)");
  cmd->add_option("--repeat", args->repeat, "Laser's text repetition for the class map (1 = off)")
      ->check(CLI::Range(1, 8));
  cmd->add_flag("--no-standardise", args->no_standardise, "Skip the per-class standardisation of relevancy maps");
  cmd->add_option("--max-side", args->max_side, "Render features at most this many pixels on a side (upsampled after)")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--out", args->out,
                  "Output folder: <view>_relevancy_<k>.png, <view>_mask_<k>.png, <view>_classes.png, query.json")
      ->required();
  cmd->callback([args] { run_query(*args); });
}

}  // namespace semfield::cli
