// Lifting 2D masks into a 3D selection (votes of the voxels on the surface a view sees) and rendering a selection
// back into any view as a mask, through the radiance model's compositing weights.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"
#include "semfield/models/scene_model.h"
#include "semfield/segment/selection.h"

namespace semfield {

struct VoteOptions {
  /// A voxel is on the surface a pixel sees when its z-depth is within this many voxel edges of the pixel's
  /// rendered z-depth (plus `relative_band` of that depth); voxels behind it are occluded, voxels in front of it
  /// empty space: neither gets a vote.
  double band_voxels = 1.5;
  double relative_band = 0.01;
  double weight = 1.0;  ///< vote weight of this mask
};

/// Adds one view's evidence: every voxel on the visible surface (above) whose centre projects into the image
/// gets `weight` x the pixel's opacity as a positive vote if mask[pixel] is set, as a negative vote otherwise.
/// mask bool [H,W], depth [H,W] (z-depth, 0 = nothing), opacity [H,W], all at the camera's resolution.
/// Returns the number of voxels that received a vote.
int64_t vote_mask(Selection& selection, const Camera& camera, const at::Tensor& mask, const at::Tensor& depth,
                  const at::Tensor& opacity, const VoteOptions& options = {});

/// Rendered selection: per pixel, the fraction of the ray's compositing weight that falls in selected voxels,
/// [H,W] float in [0,1] (0 for rays of opacity below 0.5, which show empty space).
at::Tensor render_selection(const Selection& selection, const SceneModel& model, const Camera& camera);
/// bool [H,W]: pixels whose rendered selection fraction exceeds 0.5.
at::Tensor selection_mask(const Selection& selection, const SceneModel& model, const Camera& camera);

/// An empty selection over the model's box with `resolution` voxels along its longest side.
Selection empty_selection(const SceneModel& model, int64_t resolution = 128);

}  // namespace semfield
