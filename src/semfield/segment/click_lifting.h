// Clicks that follow the camera: a click is lifted to a 3D point through the view's rendered depth, then
// re-projected into other views, where it counts only if the point is visible there (a depth test).
#pragma once

#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include "semfield/geometry/camera.h"
#include "semfield/segment/prompts.h"

namespace semfield {

/// The 3D point (normalised scene coordinates) seen at a click (prompts.h conventions): the ray through the
/// click's position (x + 0.5, y + 0.5) at the z-depth of the click's pixel in `depth` ([H,W] z-depth in
/// normalised units along the camera axis, 0 = nothing rendered there, the camera's own size). nullopt when the
/// pixel has no depth (the click hit empty space).
std::optional<Eigen::Vector3d> lift_click(const Camera& camera, const at::Tensor& depth, const Eigen::Vector2d& click);

struct Reprojection {
  Eigen::Vector2d click{0, 0};  ///< in the target's click convention (pixel column/row, prompts.h)
  double depth = 0;             ///< the point's z-depth in the target camera
  bool in_front = false;        ///< depth > 0
  bool in_image = false;        ///< in front and inside the image
  bool visible = false;         ///< in the image and not occluded: depth <= rendered depth * (1 + tolerance)
};

/// Projects a 3D point into `target` and tests it against the target's rendered z-depth [H,W] (same units).
/// A pixel with no rendered depth (0) cannot occlude, so a point projecting there is visible. `tolerance` is
/// relative to the rendered depth (the lifted point sits on the rendered surface up to the depth's accuracy).
Reprojection reproject_point(const Camera& target, const at::Tensor& depth, const Eigen::Vector3d& point,
                             double tolerance = 0.03);

/// 3D points of prompts lifted in their source view.
struct LiftedPrompts {
  std::vector<Eigen::Vector3d> positive;  ///< clicks that hit a surface (others are dropped)
  std::vector<Eigen::Vector3d> negative;
};
LiftedPrompts lift_prompts(const Camera& camera, const at::Tensor& depth, const Prompts& prompts);
/// The lifted clicks visible in `target` as prompts of that view (no box).
Prompts reproject_prompts(const LiftedPrompts& lifted, const Camera& target, const at::Tensor& depth,
                          double tolerance = 0.03);

}  // namespace semfield
