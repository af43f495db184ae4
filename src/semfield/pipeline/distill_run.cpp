// Distilled fields inside a run folder.
#include "semfield/pipeline/distill_run.h"

#include <algorithm>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/io/checkpoint.h"
#include "semfield/pipeline/run_folder.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDistillCheckpointKind = "feature_field";

const char* kind_name(TeacherOutputKind kind) { return kind == TeacherOutputKind::Labels ? "labels" : "features"; }

}  // namespace

DistillPaths distill_paths(const fs::path& run_dir, const std::string& name) {
  const bool valid = !name.empty() && name != "." && name != ".." &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                     });
  if (!valid) fail_usage("distilled field name '{}' must be a plain name (letters, digits, '-', '_', '.')", name);
  return {run_dir / "distill" / name};
}

std::string default_distill_name(const TeacherSpec& teacher) {
  const std::string kind = teacher_kind_name(teacher.kind);
  if (teacher.kind == TeacherKind::Labels && (teacher.arg == "semantic" || teacher.arg == "instance"))
    return "labels-" + teacher.arg;
  if (teacher.kind == TeacherKind::Labels || teacher.kind == TeacherKind::Files) {
    std::string stem = fs::path(teacher.arg).lexically_normal().filename().string();
    if (stem.empty()) stem = fs::path(teacher.arg).lexically_normal().parent_path().filename().string();
    std::string clean;
    for (const char c : stem) clean += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
    return clean.empty() ? kind : kind + "-" + clean;
  }
  return kind;
}

std::string default_distill_name(const std::string& teacher_spec) {
  return default_distill_name(TeacherSpec::parse(teacher_spec));
}

std::vector<std::string> list_distilled(const fs::path& run_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  const fs::path root = run_dir / "distill";
  if (!fs::is_directory(root, ec)) return names;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_directory() && fs::is_regular_file(entry.path() / "checkpoint.ckpt"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::pair<int64_t, int64_t>> MapGrid::for_image(int64_t height, int64_t width) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& [h, w] : sizes)
    out.emplace_back(std::max<int64_t>(1, (h * height + image_height / 2) / std::max<int64_t>(image_height, 1)),
                     std::max<int64_t>(1, (w * width + image_width / 2) / std::max<int64_t>(image_width, 1)));
  return out;
}

void save_distill_checkpoint(const DistillPaths& paths, const DistillConfig& config, const FeatureModel& model,
                             const DistillState& state, const MapGrid& grid, const TensorMap& optimizer_state) {
  Checkpoint checkpoint;
  checkpoint.kind = kDistillCheckpointKind;
  checkpoint.metadata = {{"config", to_json(config)},
                         {"channels", model.field().config().channels},
                         {"output_kind", kind_name(model.kind())},
                         {"map_grid", {{"image", {grid.image_height, grid.image_width}}, {"maps", grid.sizes}}},
                         {"step", state.step},
                         {"elapsed_seconds", state.elapsed_seconds}};
  for (const auto& [name, tensor] : model.field().state()) checkpoint.tensors["field." + name] = tensor;
  if (const LaserParts* laser = model.laser()) {
    checkpoint.metadata["laser_classes"] = laser->class_names;
    if (laser->class_text.defined()) checkpoint.tensors["laser.class_text"] = laser->class_text;
    if (laser->adapter)
      for (const auto& [name, tensor] : laser->adapter->state()) checkpoint.tensors["laser.adapter." + name] = tensor;
    if (laser->attention)
      for (const auto& [name, tensor] : laser->attention->state()) checkpoint.tensors["laser.attention." + name] = tensor;
    if (laser->label_volume)
      for (const auto& [name, tensor] : laser->label_volume->state()) checkpoint.tensors["laser.labels." + name] = tensor;
  }
  for (const auto& [name, tensor] : optimizer_state) checkpoint.tensors["optim." + name] = tensor;
  save_checkpoint(paths.checkpoint(), checkpoint);
}

LoadedDistill load_distilled(const fs::path& run_dir, const std::string& name, const SceneModel& radiance) {
  const DistillPaths paths = distill_paths(run_dir, name);
  std::error_code ec;
  if (!fs::is_regular_file(paths.checkpoint(), ec)) {
    const auto names = list_distilled(run_dir);
    std::string available;
    for (const auto& n : names) available += (available.empty() ? "" : ", ") + n;
    fail_input(paths.checkpoint(), "", "no distilled field '{}' in this run ({}); run `semfield distill` first", name,
               names.empty() ? "it has none" : "it has: " + available);
  }
  const Checkpoint checkpoint = load_checkpoint(paths.checkpoint(), kDistillCheckpointKind);
  const std::string origin = paths.checkpoint().string();
  const JsonNode meta = JsonNode::parse_text(checkpoint.metadata.dump(), origin + " (metadata)");
  LoadedDistill out;
  out.name = name;
  out.config = distill_config_from_json(meta.at("config").raw(), origin + " (metadata config)");
  try {
    out.teacher = TeacherSpec::parse(out.config.teacher);
  } catch (const UsageError& e) {
    meta.at("config").at("teacher").fail(e.what());
  }
  const JsonNode channels = meta.at("channels");
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t c = channels.at(i).as_int();
    if (c < 1 || c > (1 << 16)) channels.at(i).fail("expected a channel count in 1..65536");
    out.config.field.channels.push_back(c);
  }
  if (out.config.field.channels.empty()) channels.fail("expected at least one scale");
  const std::string kind = meta.at("output_kind").as_string();
  if (kind != "labels" && kind != "features") meta.at("output_kind").fail("expected \"labels\" or \"features\"");
  out.model = std::make_unique<FeatureModel>(out.config.field,
                                             kind == "labels" ? TeacherOutputKind::Labels : TeacherOutputKind::Features,
                                             out.config.surface, radiance, out.config.seed);
  TensorMap field_state;
  for (const auto& [tensor_name, tensor] : checkpoint.tensors) {
    if (tensor_name.rfind("field.", 0) == 0) field_state[tensor_name.substr(6)] = tensor;
    if (tensor_name.rfind("optim.", 0) == 0) out.optimizer_state[tensor_name.substr(6)] = tensor;
  }
  out.model->field().load_state(field_state, origin);
  if (out.config.laser.enabled) {
    std::vector<std::string> classes;
    if (auto node = meta.find("laser_classes"))
      for (size_t i = 0; i < node->size(); ++i) classes.push_back(node->at(i).as_string());
    const auto text = checkpoint.tensors.find("laser.class_text");
    if ((text == checkpoint.tensors.end()) != classes.empty())
      fail_input(paths.checkpoint(), "laser_classes", "class names and class text embeddings must come together");
    out.model->attach_laser(out.config.laser, classes, text == checkpoint.tensors.end() ? at::Tensor() : text->second,
                            out.config.seed);
    LaserParts& laser = *out.model->laser();
    auto prefixed = [&](const std::string& prefix) {
      TensorMap part;
      for (const auto& [tensor_name, tensor] : checkpoint.tensors)
        if (tensor_name.rfind(prefix, 0) == 0) part[tensor_name.substr(prefix.size())] = tensor;
      return part;
    };
    if (laser.adapter) laser.adapter->load_state(prefixed("laser.adapter."), origin);
    if (laser.attention) laser.attention->load_state(prefixed("laser.attention."), origin);
    if (laser.label_volume) laser.label_volume->load_state(prefixed("laser.labels."), origin);
  }
  const JsonNode grid = meta.at("map_grid");
  const JsonNode image = grid.at("image");
  out.grid.image_height = image.at(0).as_int();
  out.grid.image_width = image.at(1).as_int();
  const JsonNode sizes = grid.at("maps");
  for (size_t i = 0; i < sizes.size(); ++i) out.grid.sizes.emplace_back(sizes.at(i).at(0).as_int(), sizes.at(i).at(1).as_int());
  if (out.grid.image_height < 1 || out.grid.image_width < 1 || out.grid.sizes.size() != out.config.field.channels.size())
    grid.fail("expected an image size and one map size per scale");
  out.state.step = meta.at("step").as_int();
  out.state.elapsed_seconds = meta.at("elapsed_seconds").as_double();
  return out;
}

nlohmann::json class_counts_json(const SemanticSource& source, const at::Tensor& ids, const std::string& count_key) {
  const std::vector<std::string> names = source.class_names();
  const at::Tensor counts = at::bincount(ids.to(at::kLong).reshape({-1}), {}, source.channels().front());
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t k = 0; k < counts.numel(); ++k) {
    const int64_t c = counts[k].item<int64_t>();
    if (c == 0) continue;
    nlohmann::json entry = {{"id", k}, {count_key, c}};
    if (static_cast<size_t>(k) < names.size()) entry["name"] = names[static_cast<size_t>(k)];
    classes.push_back(entry);
  }
  return {{"classes", classes}};
}

const SemanticSource& class_label_source(const LoadedRun& run, const std::filesystem::path& run_dir,
                                         const std::string& name, std::optional<LoadedDistill>& holder,
                                         const std::string& what) {
  if (name == kModelSemantics) {
    const SemanticSource* own = run_semantic_source(run);
    if (own == nullptr)
      fail_usage("{} semantics: the run's model has no semantics (a gnesf model applied with --teacher labels:..., a "
                 "gp-nerf model); "
                 "for a distilled label field give its name", what);
    if (!own->has_classes())
      fail_usage("{} semantics: the run's model ({}) renders features, not classes; give a label field's name", what,
                 own->scene_model().type());
    return *own;
  }
  holder.emplace(load_distilled(run_dir, name, *run.model));
  if (!holder->model->has_classes()) fail_usage("{} {}: a feature field has no classes", what, name);
  return *holder->model;
}

std::string model_semantics_description(const std::string& model_type) {
  return fmt::format("the run model's own semantics (model:{})", model_type);
}

std::string RunSemantics::origin() const {
  if (field) return field->config.teacher;
  return "model:" + (source != nullptr ? source->scene_model().type() : std::string("none"));
}

}  // namespace semfield
