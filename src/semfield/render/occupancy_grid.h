// Occupancy grid for empty-space skipping (instant-ngp): a density grid over the modelled box, refreshed by
// an exponential moving average of the field's density every few steps, thresholded into a bitfield.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

namespace semfield {

/// Maps positions [M,3] in normalised scene coordinates (uncontracted) to densities [M] (float32).
using DensityFn = std::function<at::Tensor(const at::Tensor& positions)>;

/// Defaults follow instant-ngp. Invalid values make the OccupancyGrid constructor throw UsageError.
struct OccupancyGridConfig {
  int resolution = 128;  ///< cells per axis, in [1, 512]
  double decay = 0.95;   ///< EMA decay of a cell's stored density per update that samples it, [0, 1]
  /// Occupancy threshold on the optical thickness of one smallest marching step: a cell is occupied when
  /// density > threshold / min_step_size (the min_step_size given to update()), i.e. when
  /// alpha = 1 - exp(-density * min_step_size) exceeds about `threshold` (instant-ngp: 0.01). While the mean
  /// stored density of the grid is below that, the mean is the threshold instead (instant-ngp's rule), so a
  /// young, still nearly transparent field keeps its denser cells rather than going empty.
  double threshold = 0.01;
  int warmup_steps = 256;          ///< before this step, every cell is resampled at every update
  int64_t batch_points = 1 << 16;  ///< points per density_fn call (bounds the field's working memory)
  uint64_t seed = 0;               ///< update() draws cells and jitter from (seed, step) only
};

/// The bitfield and its coarser copies, bit-packed so the ray marcher's lookups stay in cache, used to jump
/// over large empty regions. Level 0 is the bitfield; level l has resolution[l] = ceil(res / 2^l) cells per
/// axis (same index layout), a cell occupied if any level-0 cell it covers is; the last level has a single
/// cell. Cell c of a level is bit c % 64 of word c / 64.
struct OccupancyLevels {
  std::vector<int> resolution;
  std::vector<std::vector<uint64_t>> bits;  ///< [level][word]
  /// Bounding box of the occupied level-0 cells, in cell-index units: [occupied_min, occupied_max).
  /// Empty (min >= max on every axis) when no cell is occupied.
  int occupied_min[3] = {0, 0, 0};
  int occupied_max[3] = {0, 0, 0};

  int n_levels() const { return static_cast<int>(resolution.size()); }
  bool any_occupied() const { return occupied_min[0] < occupied_max[0]; }
  bool occupied(int level, int64_t cell) const {
    return (bits[static_cast<size_t>(level)][static_cast<size_t>(cell >> 6)] >> (cell & 63)) & 1u;
  }
  /// Builds the levels from a bitfield of res^3 cells (nonzero = occupied).
  static OccupancyLevels build(const uint8_t* bitfield, int res);
};

/// Cells: cell (i, j, k) (along x, y, z) has index (i * res + j) * res + k and covers, per axis,
/// grid_min + [i, i + 1] * (grid_max - grid_min) / res in grid space.
class OccupancyGrid {
 public:
  /// Grid over [aabb_min, aabb_max] (normalised coordinates); if `contracted`, the grid covers the
  /// contracted space [-2,2]^3 instead (the aabb is then unused) and lookups contract positions first.
  /// A starting grid has density 0 everywhere and nothing occupied (call fill() before marching).
  OccupancyGrid(const Eigen::Vector3f& aabb_min, const Eigen::Vector3f& aabb_max, bool contracted,
                const OccupancyGridConfig& config = {});

  /// One EMA update (instant-ngp): before warmup_steps all cells, afterwards a random quarter of the cells
  /// plus a quarter drawn (with replacement) from the occupied ones; each sampled at a uniformly jittered
  /// point inside the cell, mapped to normalised scene coordinates (uncontracted) for density_fn, which is
  /// called on batches of at most config.batch_points points. For each sampled cell (a cell drawn twice
  /// takes the larger of its two densities): density <- max(density * decay, new_density); cells not
  /// sampled keep their density. Then every cell's bit is recomputed with the threshold rule of
  /// OccupancyGridConfig::threshold, and the levels are rebuilt. Non-finite or negative densities from
  /// density_fn count as 0 (NaN) or are clamped (negative -> 0, +inf -> FLT_MAX).
  /// min_step_size: the marcher's smallest step (MarchConfig::min_step), in normalised world units, > 0.
  void update(const DensityFn& density_fn, int64_t step, double min_step_size);
  /// Marks every cell occupied (start of training). Densities are untouched, so the next update()
  /// recomputes the bits from them.
  void fill();

  bool occupied_at(const float* position) const;  ///< position in normalised (uncontracted) coordinates
  double occupancy_fraction() const;
  int resolution() const { return m_config.resolution; }
  bool contracted() const { return m_contracted; }
  const OccupancyGridConfig& config() const { return m_config; }
  const Eigen::Vector3f& grid_min() const { return m_min; }  ///< in grid space (contracted if contracted)
  const Eigen::Vector3f& grid_max() const { return m_max; }

  /// State for checkpoints: density float32 [res^3] and bitfield uint8 [res^3] (0 or 1), contiguous CPU.
  /// Writes must keep dtype, shape and contiguity. Taking the bitfield non-const marks the levels stale
  /// until refresh_levels() (call it after loading a checkpoint; the marcher stays correct either way).
  at::Tensor& density() { return m_density; }
  at::Tensor& bitfield() {
    m_levels_current = false;
    return m_bitfield;
  }
  const at::Tensor& density() const { return m_density; }
  const at::Tensor& bitfield() const { return m_bitfield; }

  /// The levels of the current bitfield, or nullptr if the bitfield was taken non-const since they were
  /// last built (the marcher then builds its own).
  const OccupancyLevels* levels() const { return m_levels_current ? &m_levels : nullptr; }
  void refresh_levels();

 private:
  OccupancyGridConfig m_config;
  bool m_contracted;
  Eigen::Vector3f m_min, m_max;
  at::Tensor m_density, m_bitfield;
  OccupancyLevels m_levels;
  bool m_levels_current = false;
};

}  // namespace semfield
