// The part of a scene a trained model must remember: where the modelled region is and how the dataset's
// coordinates were normalised, so other views of the same scene can be mapped into the model's frame.
#pragma once

#include <ATen/core/Tensor.h>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"

namespace semfield {

struct SceneFrame {
  Eigen::Vector3f aabb_min{-1, -1, -1}, aabb_max{1, 1, 1};  ///< normalised coordinates
  bool unbounded = false;
  Normalization normalization;  ///< file coordinates -> normalised
  bool has_alpha = false;       ///< training images were RGBA
  /// Normalised units per world unit as models that read absolute positions (featurenerf: points in the source
  /// camera's frame, in world units) read them; 0: normalization.scale, i.e. the files' own units. Set where a model
  /// type frames the scene in its training corpora's units (ModelType::frame_scene).
  double model_unit_scale = 0.0;
  double world_scale() const { return model_unit_scale > 0 ? model_unit_scale : normalization.scale; }

  static SceneFrame from_scene(const Scene& scene);
  /// Points in the scene's file (world) coordinates -> the normalised frame: Normalization::apply on every row of a
  /// [..., 3] floating-point tensor (its dtype and device kept; differentiable).
  at::Tensor to_normalised(const at::Tensor& file_points) const;
  /// The normalised frame -> file coordinates: Normalization::invert on every row.
  at::Tensor to_file(const at::Tensor& normalised_points) const;
  /// The normalised frame -> the model's units (model_unit_scale: normalised / model_unit_scale, the origin kept);
  /// without them, to_file.
  at::Tensor to_model(const at::Tensor& normalised_points) const;
  nlohmann::json to_json() const;
  /// Throws InputError(origin, "scene_frame.<key>", ...) for malformed metadata.
  static SceneFrame from_json(const nlohmann::json& json, const std::string& origin);
};

}  // namespace semfield
