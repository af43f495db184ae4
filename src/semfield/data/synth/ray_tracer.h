// CPU ray tracer (Embree 3) for synthetic scenes: colour with hard shadows plus exact ground-truth maps.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <Eigen/Core>

#include "semfield/data/synth/synth_scene.h"
#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"

namespace semfield::synth {

/// Everything rendered for one camera; all maps are H x W (the camera's intrinsics).
struct SynthRender {
  /// H x W x 4, [0,1], straight (not premultiplied) alpha. Colour and alpha are anti-aliased with 2x2
  /// supersampling *inside* pixels whose centre sample hits; pixels whose centre misses are (0,0,0,0),
  /// so alpha == 0 exactly where instance == 0 and the masks agree with the id maps.
  Image rgba;
  Image depth;     ///< H x W x 1, z-depth (world units along the camera axis) of the centre sample, 0 = miss
  Image instance;  ///< H x W x 1, instance id of the centre sample (0 = miss, 1 = ground, 2.. objects)
  Image semantic;  ///< H x W x 1, class id of the centre sample (0 = void)
};

/// The first surface a ray meets.
struct SynthHit {
  double t = 0.0;            ///< ray parameter (distance for a unit direction)
  Eigen::Vector3d point;     ///< world position
  Eigen::Vector3d normal;    ///< unit shading normal (interpolated), facing the ray's origin
  Eigen::Vector3d geometric_normal;  ///< unit normal of the hit triangle, facing the ray's origin
  int object_index = 0;      ///< index into SynthScene::objects
  int part_index = 0;        ///< index into that object's parts
};

/// Owns an Embree scene built from a SynthScene's meshes (which must outlive the tracer). Tracing and
/// rendering are const and thread-safe; render() itself runs parallel_for over rows.
class RayTracer {
 public:
  explicit RayTracer(const SynthScene& scene);
  ~RayTracer();
  RayTracer(const RayTracer&) = delete;
  RayTracer& operator=(const RayTracer&) = delete;

  /// Closest hit along origin + t * direction, t > 0; nullopt for a miss.
  std::optional<SynthHit> trace(const Eigen::Vector3d& origin, const Eigen::Vector3d& direction) const;
  /// Shaded colour of a hit: textured albedo x (ambient + diffuse x visibility) in the "lambert" style. The "studio"
  /// style (SynthConfig::style) also needs the ray's unit `direction` (highlights) and a sample index `sample`, which
  /// turns its soft-shadow rays (a fixed pattern over the key light's disc, rotated per sample).
  Eigen::Vector3d shade(const SynthHit& hit, const Eigen::Vector3d& direction = Eigen::Vector3d::Zero(),
                        uint64_t sample = 0) const;
  /// Renders the camera's full image and ground-truth maps (rays from Camera::pixel_to_ray).
  SynthRender render(const Camera& camera) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace semfield::synth
