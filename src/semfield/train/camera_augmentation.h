// Camera augmentation (SAN section 4.3): novel training poses interpolated between nearby training cameras.
#pragma once

#include <random>
#include <vector>

#include "semfield/geometry/camera.h"

namespace semfield {

/// Pose between a (t = 0) and b (t = 1): rotation by quaternion slerp, centre by linear interpolation;
/// intrinsics (and distortion) of a.
Camera interpolate_cameras(const Camera& a, const Camera& b, double t);

/// Draws a training camera, one of its `neighbours` nearest others (by camera centre), and t uniform in
/// [0, 1]; the result is resized so its longer side is at most max_side pixels. Needs >= 1 camera (with one,
/// returns it resized).
Camera random_interpolated_camera(const std::vector<Camera>& cameras, std::mt19937_64& rng, int max_side,
                                  int neighbours = 4);

}  // namespace semfield
