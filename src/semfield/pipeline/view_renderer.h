// Renders whole camera views from a radiance model into images (RGB, z-depth, opacity).
#pragma once

#include <Eigen/Core>

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"
#include "semfield/models/scene_model.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

struct RenderedView {
  Image rgb;      ///< H x W x 3 in [0,1], over the background
  Image depth;    ///< H x W x 1 z-depth in normalised scene units (0 where opacity < 0.5)
  Image opacity;  ///< H x W x 1 in [0,1]
  int64_t n_samples = 0;
  double seconds = 0;
};

RenderedView render_view(const SceneModel& model, const Camera& camera, const Eigen::Vector3f& background);

/// The pictures of a view from SemanticSource::render_view_with_colour's outputs of `camera` (its rgb, opacity and
/// depth — the expected ray distance given a hit, Σ w t / opacity); depth as render_view's (z-depth where opacity >
/// 0.5). `seconds` is left 0.
RenderedView view_from_colour_pass(const Camera& camera, const SemanticRenderOutput& out);

/// `n` cameras on a circle around the vertical axis through the dataset cameras' look-at centre, at their
/// mean distance and elevation, with the intrinsics of `reference`. "Up" is the mean camera up vector.
std::vector<Camera> orbit_cameras(const std::vector<Camera>& dataset, int n);

/// Composites an RGBA image over a background (RGB images are returned unchanged).
Image composite_over(const Image& rgba, const Eigen::Vector3f& background);

}  // namespace semfield
