// Cameras for tests: a pinhole camera placed by eye and target.
#pragma once

#include <cmath>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "semfield/geometry/camera.h"

namespace semfield::test {

/// A pinhole camera at `eye` looking at `target` (OpenGL axes: it looks along its -z), its image's up
/// towards world +z, or +y when it looks (nearly) straight up or down. Principal point at the image centre.
inline Camera look_at(const Eigen::Vector3d& eye, const Eigen::Vector3d& target, int width, int height, double focal) {
  const Eigen::Vector3d back = (eye - target).normalized();
  const Eigen::Vector3d up = std::fabs(back.z()) > 0.99 ? Eigen::Vector3d::UnitY() : Eigen::Vector3d::UnitZ();
  const Eigen::Vector3d right = up.cross(back).normalized();
  Camera camera;
  camera.intrinsics.width = width;
  camera.intrinsics.height = height;
  camera.intrinsics.fx = camera.intrinsics.fy = focal;
  camera.intrinsics.cx = width / 2.0;
  camera.intrinsics.cy = height / 2.0;
  camera.c2w.block<3, 1>(0, 0) = right;
  camera.c2w.block<3, 1>(0, 1) = back.cross(right);
  camera.c2w.block<3, 1>(0, 2) = back;
  camera.c2w.block<3, 1>(0, 3) = eye;
  return camera;
}

/// A square size x size image.
inline Camera look_at(const Eigen::Vector3d& eye, const Eigen::Vector3d& target, int size = 64, double focal = 60) {
  return look_at(eye, target, size, size, focal);
}

/// A side x side camera on a circle of radius 3 at height 1 around world z, `angle` radians along it, looking at the
/// origin with focal length 1.2 side: the small generalizable networks' source and target cameras (models tests).
inline Camera orbit_camera(double angle, int side = 32) {
  return look_at(Eigen::Vector3d(3.0 * std::cos(angle), 3.0 * std::sin(angle), 1.0), Eigen::Vector3d::Zero(), side,
                 side, 1.2 * side);
}

}  // namespace semfield::test
