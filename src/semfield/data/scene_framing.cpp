// The normalised scene frame of docs/formats.md.
#include "semfield/data/scene_framing.h"

#include <cmath>

#include <Eigen/Eigenvalues>

namespace semfield {

SceneFraming compute_framing(const ParsedScene& scene) {
  SceneFraming out;
  if (scene.framing == Framing::UnitCube) {
    out.normalization.scale = 2.0 * scene.unit_cube_scale;
    out.normalization.offset = 2.0 * scene.unit_cube_offset - Eigen::Vector3d::Ones();
    set_unit_cube_box(scene.aabb_scale.value_or(1.0), &out);
    return out;
  }
  Eigen::Vector3d centre = Eigen::Vector3d::Zero();
  for (const FrameRecord& frame : scene.frames) centre += frame.camera.origin();
  if (!scene.frames.empty()) centre /= static_cast<double>(scene.frames.size());
  double farthest = 0.0;
  for (const FrameRecord& frame : scene.frames) farthest = std::max(farthest, (frame.camera.origin() - centre).norm());
  out.normalization.scale = farthest > 1e-9 ? 1.0 / farthest : 1.0;
  out.normalization.offset = -out.normalization.scale * centre;
  out.aabb = Eigen::AlignedBox3d(Eigen::Vector3d::Constant(-2.0), Eigen::Vector3d::Constant(2.0));
  out.unbounded = true;
  return out;
}

void set_unit_cube_box(double aabb_scale, SceneFraming* framing) {
  framing->aabb = Eigen::AlignedBox3d(Eigen::Vector3d::Constant(-aabb_scale), Eigen::Vector3d::Constant(aabb_scale));
  framing->unbounded = aabb_scale > 1.0;
}

std::optional<CamerasLookAt> cameras_look_at(const std::vector<Camera>& cameras) {
  if (cameras.size() < 2) return std::nullopt;
  // Minimise sum_i |(I - d_i d_i^T)(c - o_i)|^2: (sum_i P_i) c = sum_i P_i o_i with P_i the projection off axis i.
  Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero();
  for (const Camera& camera : cameras) {
    const Eigen::Vector3d d = camera.forward().normalized();
    const Eigen::Matrix3d p = Eigen::Matrix3d::Identity() - d * d.transpose();
    a += p;
    b += p * camera.origin();
  }
  const double n = static_cast<double>(cameras.size());
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eigen(a);
  if (eigen.info() != Eigen::Success || !(eigen.eigenvalues()(0) > 1e-3 * n)) return std::nullopt;
  CamerasLookAt out;
  out.centre = a.ldlt().solve(b);
  double ahead = 0.0;
  for (const Camera& camera : cameras) {
    out.distance += (out.centre - camera.origin()).norm();
    ahead += (out.centre - camera.origin()).dot(camera.forward().normalized());
  }
  out.distance /= n;
  if (!(ahead > 0.0) || !std::isfinite(out.distance) || !(out.distance > 0.0)) return std::nullopt;
  return out;
}

}  // namespace semfield
