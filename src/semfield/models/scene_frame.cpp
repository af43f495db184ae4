// SceneFrame construction and JSON round trip.
#include "semfield/models/scene_frame.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"

namespace semfield {

SceneFrame SceneFrame::from_scene(const Scene& scene) {
  SceneFrame frame;
  frame.aabb_min = scene.aabb.min().cast<float>();
  frame.aabb_max = scene.aabb.max().cast<float>();
  frame.unbounded = scene.unbounded;
  frame.normalization = scene.normalization;
  for (const auto& view : scene.views) frame.has_alpha = frame.has_alpha || view.has_alpha();
  return frame;
}

namespace {

at::Tensor frame_offset(const Normalization& n, const at::Tensor& like) {
  SEMFIELD_ASSERT(like.dim() >= 1 && like.size(-1) == 3, "points must be [..., 3]");
  return at::tensor({n.offset.x(), n.offset.y(), n.offset.z()}, at::kDouble).to(like.options());
}

}  // namespace

at::Tensor SceneFrame::to_normalised(const at::Tensor& file_points) const {
  return file_points * normalization.scale + frame_offset(normalization, file_points);
}

at::Tensor SceneFrame::to_file(const at::Tensor& normalised_points) const {
  return (normalised_points - frame_offset(normalization, normalised_points)) / normalization.scale;
}

at::Tensor SceneFrame::to_model(const at::Tensor& normalised_points) const {
  if (!(model_unit_scale > 0)) return to_file(normalised_points);
  return normalised_points / model_unit_scale;
}

nlohmann::json SceneFrame::to_json() const {
  nlohmann::json json = {
      {"aabb_min", {aabb_min.x(), aabb_min.y(), aabb_min.z()}},
      {"aabb_max", {aabb_max.x(), aabb_max.y(), aabb_max.z()}},
      {"unbounded", unbounded},
      {"normalization_scale", normalization.scale},
      {"normalization_offset", {normalization.offset.x(), normalization.offset.y(), normalization.offset.z()}},
      {"has_alpha", has_alpha}};
  if (model_unit_scale > 0) json["model_unit_scale"] = model_unit_scale;  // absent: the files' units (older runs)
  return json;
}

SceneFrame SceneFrame::from_json(const nlohmann::json& json, const std::string& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  auto vec3 = [&](const char* key) {
    const auto v = root.at(key).as_doubles();
    if (v.size() != 3) root.at(key).fail("expected 3 numbers");
    return Eigen::Vector3d(v[0], v[1], v[2]);
  };
  SceneFrame frame;
  frame.aabb_min = vec3("aabb_min").cast<float>();
  frame.aabb_max = vec3("aabb_max").cast<float>();
  if ((frame.aabb_max - frame.aabb_min).minCoeff() <= 0) root.at("aabb_max").fail("aabb is empty");
  frame.unbounded = root.at("unbounded").as_bool();
  frame.normalization.scale = root.at("normalization_scale").as_double();
  if (frame.normalization.scale <= 0) root.at("normalization_scale").fail("expected > 0");
  frame.normalization.offset = vec3("normalization_offset");
  frame.has_alpha = root.bool_or("has_alpha", false);
  frame.model_unit_scale = root.double_or("model_unit_scale", 0.0);
  if (!(frame.model_unit_scale >= 0)) root.at("model_unit_scale").fail("expected >= 0 (0: the files' units)");
  return frame;
}

}  // namespace semfield
