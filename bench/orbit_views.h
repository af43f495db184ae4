// The scene the generalizable models' benchmarks render (ibr_model_bench, gpnerf_bench; ibr_bench's cameras): 8
// cameras on an orbit around the unit box, random source images, and target rays from a ninth orbit camera through
// the box.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <Eigen/Geometry>

#include "semfield/models/ibr/ibr_model.h"

namespace semfield::bench {

/// A side x side camera at `angle` on a radius-3 orbit, 1.5 above the box, looking at the origin; focal length `focal`
/// pixels (<= 0: 1.1 side).
inline Camera orbit_camera(double angle, int side, double focal = 0) {
  Camera c;
  c.intrinsics.width = c.intrinsics.height = side;
  c.intrinsics.fx = c.intrinsics.fy = focal > 0 ? focal : 1.1 * side;
  c.intrinsics.cx = c.intrinsics.cy = side / 2.0;
  const Eigen::Vector3d eye(3 * std::cos(angle), 3 * std::sin(angle), 1.5);
  const Eigen::Vector3d back = eye.normalized(), right = Eigen::Vector3d::UnitZ().cross(back).normalized();
  c.c2w.block<3, 1>(0, 0) = right;
  c.c2w.block<3, 1>(0, 1) = back.cross(right);
  c.c2w.block<3, 1>(0, 2) = back;
  c.c2w.block<3, 1>(0, 3) = eye;
  return c;
}

struct OrbitViews {
  std::vector<Camera> cams;  ///< 8 source cameras, 0.25 rad apart
  at::Tensor images;         ///< [8,3,side,side] uniform random
  SceneFrame frame;          ///< the box [-1,1]^3

  explicit OrbitViews(int side) {
    for (int v = 0; v < 8; ++v) cams.push_back(orbit_camera(0.25 * v, side));
    images = at::rand({8, 3, side, side});
    frame.aabb_min = Eigen::Vector3f::Constant(-1);
    frame.aabb_max = Eigen::Vector3f::Constant(1);
  }

  /// n rays from the target camera (angle 0.9) towards the box centre, jittered.
  IbrRays rays(int64_t n, int side) const {
    const Camera target = orbit_camera(0.9, side);
    const at::Tensor origins = at::tensor({float(target.origin().x()), float(target.origin().y()),
                                           float(target.origin().z())}).expand({n, 3}).contiguous();
    at::Tensor dirs = -origins + 0.3f * (at::rand({n, 3}) - 0.5f);
    dirs = dirs / dirs.norm(2, 1, true);
    return ibr_rays(origins, dirs, frame, 4.0);
  }
};

}  // namespace semfield::bench
