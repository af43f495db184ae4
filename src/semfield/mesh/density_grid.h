// Samples a radiance model's density on a dense grid over the region to mesh (chunked; the field's kernels
// run on every thread).
#pragma once

#include <cstdint>

#include <Eigen/Geometry>

#include "semfield/mesh/scalar_grid.h"
#include "semfield/models/scene_model.h"

namespace semfield {

struct DensityGridOptions {
  int resolution = 256;  ///< samples along the region's longest side, in [8, 2048]; spacing is uniform
  /// Evaluate only samples in or next to (one cell) occupied cells of the model's occupancy grid; the rest
  /// are 0. Exact for any surface the renderer can see (it marches the same grid) and several times faster
  /// in scenes that are mostly empty.
  bool occupied_only = true;
  int64_t batch_points = 1 << 17;  ///< samples per density call (bounds the field's working memory)
};

/// Region a model is meshed over, in normalised scene coordinates: its aabb when bounded; for an
/// unbounded (contracted) model, the aabb clipped to [-1,1]^3, where contraction is the identity.
Eigen::AlignedBox3f mesh_region(const SceneFrame& frame);

/// Density (per unit normalised length) at the samples of a grid spanning `box` (normalised coordinates;
/// first and last samples on the box faces). The outermost layer of samples is set to 0, so any surface
/// that leaves the box is closed by a cap on the box's faces instead of left open. Resolution out of
/// range -> UsageError.
ScalarGrid sample_density_grid(const SceneModel& model, const Eigen::AlignedBox3f& box,
                               const DensityGridOptions& options);

}  // namespace semfield
