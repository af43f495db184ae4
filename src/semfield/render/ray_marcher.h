// Ray marching through the occupancy grid: produces packed samples in occupied space only.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/render/occupancy_grid.h"

namespace semfield {

/// Distances are in normalised world units along unit ray directions. Invalid values (near < 0,
/// far <= near, min_step <= 0, max_step < min_step, cone_angle < 0, max_samples_per_ray < 0, non-finite
/// numbers other than far) make march_rays throw UsageError.
struct MarchConfig {
  float near = 0.0f;                             ///< minimum t
  float far = 1e10f;                             ///< maximum t (further clipped by the grid's box)
  float min_step = 1.7320508f * 2.0f / 1024.0f;  ///< smallest dt (instant-ngp: sqrt(3)*box/1024)
  float cone_angle = 0.0f;  ///< dt = clamp(t * cone_angle, min_step, max_step); 1/256 for unbounded
  float max_step = 1e10f;
  int max_samples_per_ray = 1024;
  bool jitter = false;  ///< random offset of the first sample within a step (training)
  uint64_t seed = 0;    ///< jitter of ray r depends only on (seed, r)
};

/// Packed samples in the layout of kernels/composite.h.
struct PackedSamples {
  at::Tensor positions;    ///< [S,3] normalised (uncontracted) scene coordinates of sample midpoints
  at::Tensor directions;   ///< [S,3] the sample's ray direction
  at::Tensor ts;           ///< [S] midpoint distance along the ray
  at::Tensor dts;          ///< [S] interval length
  at::Tensor ray_offsets;  ///< int64 [R+1]
  int64_t n_samples() const { return ts.size(0); }
};

/// Marches rays origins/directions [R,3] (unit directions, float32 CPU) through the grid's box, emitting a
/// sample wherever the grid cell at the sample point is occupied. Multithreaded over rays; the result does
/// not depend on the thread count.
///
/// A ray is marched over [t_start, t_end] = [near, far] clipped to the grid's box (bounded grids) or
/// [near, far] (contracted grids, whose box holds all of space; cells are looked up at the contracted
/// point), and further to the bounding box of the occupied cells (contracted grids: when that box lies in
/// the unit cube). It is cut into intervals [t0, t0 + dt) with dt = clamp(t0 * cone_angle, min_step,
/// max_step) (min_step if cone_angle = 0); the last is shortened to end at t_end. An interval whose midpoint
/// lies in an occupied cell becomes a sample (ts = midpoint, dts = length); otherwise marching jumps past the
/// largest empty cell of the grid's mip levels containing the midpoint and restarts there. Each restart
/// (and the start) places the first midpoint u * dt after the entry point, u = 1/2 without jitter and
/// uniform in [0, 1) per ray with jitter (so with jitter the first interval may begin up to dt/2 before
/// near). Without jitter, the dts of a ray through a fully occupied grid add up to its chord exactly.
/// At most max_samples_per_ray samples per ray, front to back.
PackedSamples march_rays(const at::Tensor& origins, const at::Tensor& directions, const OccupancyGrid& grid,
                         const MarchConfig& config);

}  // namespace semfield
