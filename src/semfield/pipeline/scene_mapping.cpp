// Re-normalisation of a loaded scene.
#include "semfield/pipeline/scene_mapping.h"

#include "semfield/models/registry.h"

namespace semfield {

void renormalize_scene(Scene& scene, const Normalization& target) {
  const Normalization source = scene.normalization;
  const double ratio = target.scale / source.scale;
  for (View& view : scene.views) {
    const Eigen::Vector3d origin = view.camera.c2w.block<3, 1>(0, 3);
    view.camera.c2w.block<3, 1>(0, 3) = target.apply(source.invert(origin));
    if (view.depth)
      for (float& d : view.depth->pixels) d = static_cast<float>(d * ratio);
  }
  for (ImagelessCamera& c : scene.imageless) {
    const Eigen::Vector3d origin = c.camera.c2w.block<3, 1>(0, 3);
    c.camera.c2w.block<3, 1>(0, 3) = target.apply(source.invert(origin));
  }
  const Eigen::Vector3d lo = target.apply(source.invert(scene.aabb.min()));
  const Eigen::Vector3d hi = target.apply(source.invert(scene.aabb.max()));
  scene.aabb = Eigen::AlignedBox3d(lo, hi);
  scene.near *= ratio;  // normalised distances (0 = from the box) scale with the frame
  scene.far *= ratio;
  scene.normalization = target;
}

SceneFrame frame_scene_for_model(Scene& scene, const std::string& model_type, const nlohmann::json& config,
                                 const SceneFrame& own) {
  const ModelType& type = find_model_type(model_type);
  if (!type.frame_scene) return own;
  const SceneFrame frame = type.frame_scene(scene, config, own);
  renormalize_scene(scene, frame.normalization);
  return frame;
}

}  // namespace semfield
