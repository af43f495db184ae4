// Rendering views for segmentation.
#include "semfield/segment/segment_view.h"

#include <chrono>
#include <utility>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/progress.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/scene_model.h"

namespace semfield {

at::Tensor ray_distance_to_z_depth(const at::Tensor& t, const at::Tensor& directions, const at::Tensor& opacity,
                                   const Camera& camera) {
  const at::Tensor z = kernels::z_from_ray_distance(camera, directions, t);
  return at::where(opacity >= 0.5f, z, at::zeros_like(z));
}

SegmentView render_field_view(const SemanticSource& source, const Camera& camera, const std::string& name,
                              size_t scale, SemanticRenderOutput* outputs) {
  const auto start = std::chrono::steady_clock::now();
  SemanticRenderOutput rendered = source.render_view(camera);
  SegmentView view = field_view_of(rendered, camera, name, scale);
  view.render_seconds = seconds_since(start);
  if (outputs != nullptr) *outputs = std::move(rendered);
  return view;
}

SegmentView field_view_of(const SemanticRenderOutput& out, const Camera& camera, const std::string& name,
                          size_t scale) {
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  SEMFIELD_ASSERT(scale < out.maps.size(), "scale out of range");
  SEMFIELD_ASSERT(out.opacity.numel() == h * w, "outputs of one ray per pixel of the view");
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  SegmentView view;
  view.name = name;
  view.camera = camera;
  view.maps = out.maps[scale].view({h, w, -1}).permute({2, 0, 1}).contiguous();
  view.opacity = out.opacity.view({h, w}).contiguous();
  view.depth = ray_distance_to_z_depth(out.median_depth, rays.directions, out.opacity, camera).view({h, w});
  return view;
}

SegmentView render_depth_view(const SceneModel& model, const Camera& camera, const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const WeightedSamples samples = model.render_weights(rays.origins, rays.directions);
  const at::Tensor t = median_depth(samples);
  SegmentView view;
  view.name = name;
  view.camera = camera;
  view.opacity = samples.opacity.view({h, w}).contiguous();
  view.depth = ray_distance_to_z_depth(t, rays.directions, samples.opacity, camera).view({h, w});
  view.render_seconds = seconds_since(start);
  return view;
}

}  // namespace semfield
