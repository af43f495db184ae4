// Run folder I/O.
#include "semfield/pipeline/run_folder.h"

#include <sstream>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"
#include "semfield/io/checkpoint.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/pipeline/scene_mapping.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr const char* kRunCheckpointKind = "radiance_field";

nlohmann::json spec_to_json(const RunSpec& spec) {
  return {{"data", fs::absolute(spec.data).lexically_normal().string()},
          {"downscale", spec.downscale},
          {"split_rule", spec.split_rule},
          {"config", to_json(spec.config)}};
}

RunSpec spec_from_json(const nlohmann::json& json, const fs::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  root.reject_unknown_keys({"data", "downscale", "split_rule", "config"});
  RunSpec spec;
  spec.data = root.at("data").as_string();
  spec.downscale = static_cast<int>(root.int_or("downscale", 1));
  spec.split_rule = root.string_or("split_rule", "auto");
  spec.config = radiance_config_from_json(root.at("config").raw(), origin);
  return spec;
}

nlohmann::json camera_to_json(const CameraRecord& record) {
  const Intrinsics& k = record.camera.intrinsics;
  nlohmann::json c2w = nlohmann::json::array();
  for (int r = 0; r < 4; ++r)
    c2w.push_back({record.camera.c2w(r, 0), record.camera.c2w(r, 1), record.camera.c2w(r, 2), record.camera.c2w(r, 3)});
  const Distortion& d = k.distortion;
  return {{"name", record.name},
          {"split", split_name(record.split)},
          {"width", k.width},
          {"height", k.height},
          {"fx", k.fx},
          {"fy", k.fy},
          {"cx", k.cx},
          {"cy", k.cy},
          {"model", static_cast<int>(k.model)},
          {"distortion", {d.k1, d.k2, d.k3, d.k4, d.p1, d.p2}},
          {"c2w", c2w}};
}

CameraRecord camera_from_json(const JsonNode& node) {
  CameraRecord record;
  record.name = node.at("name").as_string();
  record.split = parse_split(node.at("split").as_string());
  Intrinsics& k = record.camera.intrinsics;
  k.width = static_cast<int>(node.at("width").as_int());
  k.height = static_cast<int>(node.at("height").as_int());
  k.fx = node.at("fx").as_double();
  k.fy = node.at("fy").as_double();
  k.cx = node.at("cx").as_double();
  k.cy = node.at("cy").as_double();
  const int64_t model = node.at("model").as_int();
  if (model < 0 || model > 2) node.at("model").fail("unknown camera model");
  k.model = static_cast<CameraModel>(model);
  const auto d = node.at("distortion").as_doubles();
  if (d.size() != 6) node.at("distortion").fail("expected 6 coefficients");
  k.distortion = {d[0], d[1], d[2], d[3], d[4], d[5]};
  record.camera.c2w = node.at("c2w").as_matrix4();
  return record;
}

}  // namespace

void write_run_spec(const RunPaths& run, const RunSpec& spec) {
  write_file_atomic(run.config(), spec_to_json(spec).dump(2) + "\n");
}

RunSpec read_run_spec(const RunPaths& run) {
  const JsonNode node = JsonNode::parse_file(run.config());
  return spec_from_json(node.raw(), run.config());
}

void save_run_checkpoint(const RunPaths& run, const RunSpec& spec, const RadianceModel& model,
                         const std::vector<CameraRecord>& cameras, const TrainProgress& progress,
                         const TensorMap& optimizer_state) {
  Checkpoint checkpoint;
  checkpoint.kind = kRunCheckpointKind;
  nlohmann::json cams = nlohmann::json::array();
  for (const auto& c : cameras) cams.push_back(camera_to_json(c));
  checkpoint.metadata = {{"run", spec_to_json(spec)},
                         {"scene_frame", model.frame().to_json()},
                         {"cameras", cams},
                         {"step", progress.step},
                         {"elapsed_seconds", progress.elapsed_seconds}};
  for (const auto& [name, tensor] : model.state()) checkpoint.tensors["model." + name] = tensor;
  for (const auto& [name, tensor] : optimizer_state) checkpoint.tensors["optim." + name] = tensor;
  save_checkpoint(run.checkpoint(), checkpoint);
}

namespace {

constexpr const char* kAppliedKeys[] = {"model",      "model_name",   "model_type",     "data",       "downscale",
                                        "split_rule", "background",   "source_views",   "finetune_steps",
                                        "scene_frame", "semantic_maps", "source_view", "model_config",
                                        "instance_head", "key_backdrop"};

LoadedRun load_applied_run(const RunPaths& run) {
  LoadedRun loaded;
  const AppliedRunSpec spec = read_applied_run_spec(run);
  loaded.applied = spec;
  loaded.spec.data = spec.data;
  loaded.spec.downscale = spec.downscale;
  loaded.spec.split_rule = spec.split_rule;
  loaded.background = spec.background;
  LoadOptions load;
  load.downscale = spec.downscale;
  load.split_rule = SplitRule::parse(spec.split_rule);
  load.key_backdrop = spec.key_backdrop;
  auto scene = std::make_shared<Scene>(load_scene(spec.data, load));
  renormalize_scene(*scene, spec.frame.normalization);
  // A fine-tuned run's weights are its own (RUN/weights.safetensors): the model file gives only its type and config.
  const bool finetuned = spec.finetune_steps > 0;
  ModelFile file = read_model_file(spec.model, /*weights=*/!finetuned);
  ModelBinding binding;
  binding.config = file.config;
  if (finetuned) {
    // The fine-tuned model file holds its own config (fine-tuning may change it: apply --finetune-config).
    ModelFile tuned = read_model_file(run.weights());
    binding.config = tuned.config;
    binding.weights = std::move(tuned.weights);
  } else {
    binding.weights = std::move(file.weights);
  }
  binding.origin = finetuned ? run.weights().string() : spec.model.string();
  if (!spec.model_config.empty()) {
    binding.config.update(spec.model_config);
    binding.origin += " with " + run.config().string() + "'s model_config";
  }
  binding.frame = spec.frame;
  binding.scene = source_view_scene(scene, spec.source_view);
  binding.background = parse_background(spec.background);
  binding.source_views = spec.source_views;
  binding.semantic_maps = spec.semantic_maps;
  loaded.model = create_model(file.type, binding);
  loaded.cameras = camera_records(*scene);
  if (spec.source_view.empty()) loaded.scene = scene;  // the model holds it already: no extra memory
  loaded.progress.step = spec.finetune_steps;
  return loaded;
}

}  // namespace

void write_applied_run_spec(const RunPaths& run, const AppliedRunSpec& spec) {
  nlohmann::json json = {{"model", fs::absolute(spec.model).lexically_normal().string()},
                               {"model_name", spec.model_name},
                               {"model_type", spec.model_type},
                               {"data", fs::absolute(spec.data).lexically_normal().string()},
                               {"downscale", spec.downscale},
                               {"split_rule", spec.split_rule},
                               {"background", spec.background},
                               {"source_views", spec.source_views},
                               {"finetune_steps", spec.finetune_steps},
                               {"scene_frame", spec.frame.to_json()}};
  if (!spec.semantic_maps.empty()) json["semantic_maps"] = spec.semantic_maps;
  if (!spec.source_view.empty()) json["source_view"] = spec.source_view;
  if (spec.key_backdrop) json["key_backdrop"] = true;
  if (!spec.model_config.empty()) json["model_config"] = spec.model_config;
  if (spec.instance_head)
    json["instance_head"] = {{"ap75", spec.instance_head->ap75},
                             {"views", spec.instance_head->views},
                             {"split", spec.instance_head->split},
                             {"true_instances", spec.instance_head->true_instances},
                             {"predictions", spec.instance_head->predictions}};
  write_file_atomic(run.config(), json.dump(2) + "\n");
}

bool is_applied_run(const RunPaths& run) {
  std::error_code ec;
  if (!fs::is_regular_file(run.config(), ec)) return false;
  const JsonNode node = JsonNode::parse_file(run.config());
  return node.is_object() && node.has("model");
}

AppliedRunSpec read_applied_run_spec(const RunPaths& run) {
  const JsonNode root = JsonNode::parse_file(run.config());
  root.reject_unknown_keys(std::vector<std::string>(std::begin(kAppliedKeys), std::end(kAppliedKeys)));
  AppliedRunSpec spec;
  spec.model = root.at("model").as_string();
  spec.model_name = root.string_or("model_name", "");
  spec.model_type = root.string_or("model_type", "");
  spec.data = root.at("data").as_string();
  spec.downscale = static_cast<int>(root.int_or("downscale", 1));
  spec.split_rule = root.string_or("split_rule", "auto");
  spec.background = root.string_or("background", "white");
  spec.key_backdrop = root.bool_or("key_backdrop", false);
  spec.source_views = static_cast<int>(root.int_or("source_views", 0));
  spec.finetune_steps = root.int_or("finetune_steps", 0);
  spec.frame = SceneFrame::from_json(root.at("scene_frame").raw(), run.config().string());
  spec.semantic_maps = root.string_or("semantic_maps", "");
  spec.source_view = root.string_or("source_view", "");
  if (const auto mc = root.find("model_config")) {
    if (!mc->is_object()) mc->fail("expected an object of the model type's config keys");
    spec.model_config = mc->raw();
  }
  if (const auto ih = root.find("instance_head")) {
    ih->reject_unknown_keys({"ap75", "views", "split", "true_instances", "predictions"});
    InstanceHeadCheck check;
    check.ap75 = ih->at("ap75").as_double();
    check.views = static_cast<int>(ih->int_or("views", 0));
    check.split = ih->string_or("split", "");
    check.true_instances = ih->int_or("true_instances", 0);
    check.predictions = ih->int_or("predictions", 0);
    if (!(check.ap75 >= 0.0 && check.ap75 <= 1.0)) ih->at("ap75").fail("expected an AP in [0, 1]");
    if (check.views < 0) ih->at("views").fail("expected a count of views");
    if (check.split != "test" && check.split != "train" && !check.split.empty())
      ih->at("split").fail("expected test or train");
    spec.instance_head = check;
  }
  return spec;
}

std::shared_ptr<const Scene> source_view_scene(std::shared_ptr<const Scene> scene, const std::string& source_view) {
  if (source_view.empty()) return scene;
  const View* found = nullptr;
  for (const Split split : {Split::Train, Split::Val, Split::Test})  // a training view first
    for (const View* v : scene->split(split))
      if (!found && v->name == source_view) found = v;
  if (!found) {
    std::vector<std::string> names;
    for (const View& v : scene->views)
      if (names.size() < 8) names.push_back(v.name);
    fail_usage("--source-view: no view named '{}' in {} (views: {}{})", source_view, scene->root.string(),
               fmt::join(names, ", "), scene->views.size() > names.size() ? ", ..." : "");
  }
  // Every field but the views (copying them first would copy every image of a large capture).
  auto sub = std::make_shared<Scene>();
  sub->root = scene->root;
  sub->format = scene->format;
  sub->instance_labels = scene->instance_labels;
  sub->semantic_labels = scene->semantic_labels;
  sub->normalization = scene->normalization;
  sub->aabb = scene->aabb;
  sub->unbounded = scene->unbounded;
  sub->near = scene->near;
  sub->far = scene->far;
  sub->background = scene->background;
  sub->bounds = scene->bounds;
  sub->labels_error = scene->labels_error;
  sub->views.push_back(*found);
  sub->views.back().split = Split::Train;
  return sub;
}

LoadedRun load_run(const fs::path& run_dir) {
  const RunPaths run{run_dir};
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) fail_input(run_dir, "", "run folder not found");
  if (!fs::exists(run.checkpoint(), ec) && is_applied_run(run)) return load_applied_run(run);
  if (!fs::exists(run.checkpoint(), ec))
    fail_input(run.checkpoint(), "", "no checkpoint in this run folder (train it first with `semfield train`)");
  Checkpoint checkpoint = load_checkpoint(run.checkpoint(), kRunCheckpointKind);
  const std::string origin = run.checkpoint().string();
  const JsonNode meta = JsonNode::parse_text(checkpoint.metadata.dump(), origin + " (metadata)");
  LoadedRun loaded;
  loaded.spec = spec_from_json(meta.at("run").raw(), origin);
  ModelBinding binding;
  binding.frame = SceneFrame::from_json(meta.at("scene_frame").raw(), origin);
  binding.config = to_json(loaded.spec.config);
  binding.origin = origin;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    if (name.rfind("model.", 0) == 0) binding.weights[name.substr(6)] = tensor;
    if (name.rfind("optim.", 0) == 0) loaded.optimizer_state[name.substr(6)] = tensor;
  }
  loaded.model = create_model("hashgrid", binding);
  loaded.background = loaded.spec.config.render.background;
  const JsonNode cams = meta.at("cameras");
  for (size_t i = 0; i < cams.size(); ++i) loaded.cameras.push_back(camera_from_json(cams.at(i)));
  loaded.progress.step = meta.at("step").as_int();
  loaded.progress.elapsed_seconds = meta.at("elapsed_seconds").as_double();
  return loaded;
}

const SemanticSource* run_semantic_source(const LoadedRun& run) {
  const auto* source = dynamic_cast<const SemanticSource*>(run.model.get());
  return source != nullptr && source->has_semantics() ? source : nullptr;
}

RadianceModel& hashgrid_model(const LoadedRun& run, const std::string& what) {
  auto* model = dynamic_cast<RadianceModel*>(run.model.get());
  if (!model)
    fail_usage("{} needs a run trained per scene with `semfield train` (model type hashgrid); this run's model is "
               "of type {}",
               what, run.model ? run.model->type() : std::string("none"));
  return *model;
}

std::vector<CameraRecord> camera_records(const Scene& scene) {
  std::vector<CameraRecord> out;
  for (const auto& view : scene.views) out.push_back({view.name, view.split, view.camera});
  for (const auto& c : scene.imageless) out.push_back({c.name, c.split, c.camera});  // targets without an image
  return out;
}

const CameraRecord& find_camera(const std::vector<CameraRecord>& cameras, const std::string& name) {
  for (const auto& c : cameras)
    if (c.name == name) return c;
  const auto colon = name.find(':');
  if (colon != std::string::npos) {
    const Split split = parse_split(name.substr(0, colon));
    const std::string index_text = name.substr(colon + 1);
    size_t consumed = 0;
    long index = -1;
    try {
      index = std::stol(index_text, &consumed);
    } catch (const std::exception&) {
      consumed = 0;
    }
    if (consumed != index_text.size() || index < 0) fail_usage("view '{}': bad index '{}'", name, index_text);
    long seen = 0;
    for (const auto& c : cameras)
      if (c.split == split && seen++ == index) return c;
    fail_usage("view '{}': the {} split has only {} views", name, split_name(split), seen);
  }
  std::vector<std::string> examples;
  for (size_t i = 0; i < cameras.size() && i < 4; ++i) examples.push_back(cameras[i].name);
  fail_usage("unknown view '{}' (views are named by image stem, e.g. {}, or split:index, e.g. test:0)", name,
             fmt::join(examples, ", "));
}

Eigen::Vector3f parse_background(const std::string& text) {
  if (text == "white") return Eigen::Vector3f::Ones();
  if (text == "black") return Eigen::Vector3f::Zero();
  Eigen::Vector3f c;
  std::istringstream in(text);
  char sep1 = 0, sep2 = 0;
  if (in >> c.x() >> sep1 >> c.y() >> sep2 >> c.z() && sep1 == ',' && sep2 == ',' && in.peek() == EOF &&
      c.minCoeff() >= 0 && c.maxCoeff() <= 1)
    return c;
  fail_usage("background '{}': expected white, black or r,g,b with components in [0,1]", text);
}

Scene load_run_scene(const LoadedRun& run, const fs::path& data, std::optional<Split> pixels_only_for) {
  LoadOptions load;
  load.pixels_only_for = pixels_only_for;
  load.downscale = run.spec.downscale;
  load.split_rule = SplitRule::parse(run.spec.split_rule);
  load.key_backdrop = run.applied && run.applied->key_backdrop;
  Scene scene = load_scene(data.empty() ? run.spec.data : data, load);
  // Folders are normalised by their own loader; express them in the run's frame.
  renormalize_scene(scene, run.model->frame().normalization);
  return scene;
}

std::shared_ptr<const Scene> run_scene(const LoadedRun& run, const fs::path& data,
                                       std::optional<Split> pixels_only_for) {
  if (run.scene != nullptr) {
    if (data.empty()) return run.scene;
    std::error_code ec1, ec2;
    const fs::path asked = fs::weakly_canonical(data, ec1);
    const fs::path own = fs::weakly_canonical(run.spec.data, ec2);
    if (!ec1 && !ec2 && asked == own) return run.scene;
    // The same folder by another route canonical paths do not reveal (a bind mount): the same device and inode.
    std::error_code ec3;
    if (fs::equivalent(data, run.spec.data, ec3) && !ec3) return run.scene;
  }
  return std::make_shared<const Scene>(load_run_scene(run, data, pixels_only_for));
}

}  // namespace semfield
