// The normalised scene frame of docs/formats.md: where the models work, and what region they model.
#pragma once

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
/// scale_n = 2 scale, offset_n = 2 offset - 1; aabb = [-aabb_scale, aabb_scale]^3, unbounded if
/// aabb_scale > 1.
/// RealCapture: centred on the mean camera position, scaled so the farthest camera is at distance 1
/// (scale 1 when all cameras coincide); aabb = [-2,2]^3 (mip-NeRF 360 contracted space), unbounded.
SceneFraming compute_framing(const ParsedScene& scene);

}  // namespace semfield
