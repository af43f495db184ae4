// One camera view rendered for segmentation: the maps a segmenter reads plus the view's depth and opacity,
// rendered once so that every further click on the view is cheap.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

struct SegmentView {
  std::string name;
  Camera camera;        ///< the view at its image resolution H x W (normalised scene coordinates)
  at::Tensor maps;      ///< [C,h,w] float32 what the segmenter reads (rendered features or label logits at H x W,
                        ///< or a rendered SAM embedding grid)
  /// [H,W] float32 z-depth along the camera axis of where each ray's median termination lies (scene_model.h
  /// median_depth: on one surface at silhouettes, where the expected depth blends two), normalised units; 0 where
  /// opacity < 0.5
  at::Tensor depth;
  at::Tensor opacity;   ///< [H,W] float32 in [0,1]
  double render_seconds = 0;

  int width() const { return camera.intrinsics.width; }
  int height() const { return camera.intrinsics.height; }
};

/// Renders scale `scale` of a semantic source (features or class logits) at the camera's own resolution (one ray
/// per pixel centre), with depth and opacity from the same compositing weights. `outputs`, where given, receives the
/// rendered outputs themselves (e.g. a source's instance logits).
SegmentView render_field_view(const SemanticSource& source, const Camera& camera, const std::string& name,
                              size_t scale = 0, SemanticRenderOutput* outputs = nullptr);
/// The same view from outputs already rendered for every pixel of `camera` (row-major), e.g. by
/// render_view_with_canonical_positions; render_seconds stays 0.
SegmentView field_view_of(const SemanticRenderOutput& out, const Camera& camera, const std::string& name,
                          size_t scale = 0);

/// Depth and opacity only (density of the radiance model); `maps` stays undefined.
SegmentView render_depth_view(const SceneModel& model, const Camera& camera, const std::string& name);

/// Ray distance t [R] (normalised units) -> z-depth [R] for unit ray directions [R,3] of `camera`
/// (kernels::z_from_ray_distance); rays with opacity < 0.5 get 0.
at::Tensor ray_distance_to_z_depth(const at::Tensor& t, const at::Tensor& directions, const at::Tensor& opacity,
                                   const Camera& camera);

}  // namespace semfield
