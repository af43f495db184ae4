// The normalised scene frame of docs/formats.md.
#include "semfield/data/scene_framing.h"

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

}  // namespace semfield
