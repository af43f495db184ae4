// The normalised scene frame of docs/formats.md: where the models work, and what region they model.
#pragma once

#include <optional>
#include <vector>

#include <Eigen/Geometry>

#include "semfield/data/parsed_scene.h"
#include "semfield/data/scene.h"

namespace semfield {

struct SceneFraming {
  Normalization normalization;  ///< file world -> normalised
  Eigen::AlignedBox3d aabb;     ///< normalised coordinates
  bool unbounded = false;
};

/// UnitCube: instant-ngp maps p -> scale p + offset into [0,1]^3, which semfield maps to [-1,1]^3:
/// scale_n = 2 scale, offset_n = 2 offset - 1; the box is unit_cube_box(aabb_scale) with the file's
/// aabb_scale, or 1 when it gives none (load_scene then infers one: scene_bounds.h).
/// RealCapture: centred on the mean camera position, scaled so the farthest camera is at distance 1
/// (scale 1 when all cameras coincide); aabb = [-2,2]^3 (mip-NeRF 360 contracted space), unbounded.
SceneFraming compute_framing(const ParsedScene& scene);

/// Where object-centric cameras look: the point nearest every camera's optical axis in the least-squares sense
/// (cameras in one world frame, any scale), and the cameras' mean distance from it.
struct CamerasLookAt {
  Eigen::Vector3d centre = Eigen::Vector3d::Zero();
  double distance = 0.0;
};
/// nullopt when the axes do not fix a point (fewer than two cameras, or all axes nearly parallel: the normal
/// equations' smallest eigenvalue below 1e-3 of the camera count), or when it lies behind a camera on average.
std::optional<CamerasLookAt> cameras_look_at(const std::vector<Camera>& cameras);

/// Sets a UnitCube framing's box: aabb = [-aabb_scale, aabb_scale]^3, unbounded (contracted beyond
/// [-1,1]^3) when aabb_scale > 1.
void set_unit_cube_box(double aabb_scale, SceneFraming* framing);

}  // namespace semfield
