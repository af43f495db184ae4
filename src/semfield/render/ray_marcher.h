// Ray marching through the occupancy grid: produces packed samples in occupied space only.
#pragma once

#include <cstdint>
#include <memory>

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

/// Where one ray's marching stands, so that it can stop after a few samples and resume later.
struct RayMarchState {
  float t0 = 0.0f;         ///< start of the next interval
  float t_end = 0.0f;      ///< end of the marched range
  float cell_exit = 0.0f;  ///< midpoints before this lie in the occupied cell last looked up (bounded grids)
  float u = 0.5f;          ///< restart offset (jitter) of the ray, see march_rays
  int32_t n_samples = 0;   ///< samples emitted so far
  bool finished = true;    ///< no sample left to emit
};

/// Resumable marching of single rays, for renderers that march a few samples per ray at a time (incremental
/// inference with early ray termination). For a ray and MarchConfig, advancing it to the end through any
/// sequence of advance() calls emits exactly the samples march_rays gives it (bit-identical ts and dts, same
/// per-ray cap). Calls for different rays (and states) may run concurrently. The grid must outlive the
/// marcher and stay unchanged while it is used.
class RayMarcher {
 public:
  /// Throws UsageError for an invalid config (as march_rays).
  RayMarcher(const OccupancyGrid& grid, const MarchConfig& config);
  ~RayMarcher();
  RayMarcher(const RayMarcher&) = delete;
  RayMarcher& operator=(const RayMarcher&) = delete;

  /// State at the start of ray (origin, direction) (unit direction, 3 floats each); `u` in [0, 1) is the
  /// ray's restart offset (0.5 = no jitter). A ray that misses the occupied cells, or has a non-finite
  /// origin or direction, starts finished.
  RayMarchState start(const float* origin, const float* direction, float u = 0.5f) const;
  /// Emits the ray's next samples, at most `max_samples`: midpoint distances into ts and interval lengths
  /// into dts (room for max_samples each). Returns how many it wrote; updates `state` (finished once the
  /// ray has left the grid or reached max_samples_per_ray). origin/direction must be the start() ones.
  int advance(const float* origin, const float* direction, RayMarchState& state, int max_samples, float* ts,
              float* dts) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace semfield
