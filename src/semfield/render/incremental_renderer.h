// Inference rendering with early ray termination (instant-ngp's scheme): rays are marched a few samples at a
// time in rounds, the field is evaluated on each round's batch, and rays stop once they are opaque.
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>

#include "semfield/kernels/composite.h"
#include "semfield/render/occupancy_grid.h"
#include "semfield/render/ray_marcher.h"

namespace semfield {

/// How the rounds are cut. Each round marches n_steps samples per alive ray, n_steps = clamp(round_samples /
/// alive rays, 1, max_steps): one sample per ray while many rays are alive, so that a ray is evaluated
/// little past the point where it turns opaque; more as rays retire, so that the field still gets batches
/// worth a call. Memory is bounded by max(round_samples, max_rays) samples per round (about 60 bytes each
/// here) plus the field's working memory for field_batch samples per thread.
struct IncrementalConfig {
  /// A ray stops after the sample that brings its transmittance below this (kernels::composite's rule).
  double transmittance_min = kernels::kTransmittanceMin;
  int64_t round_samples = 1 << 15;  ///< target samples per round; >= 1
  int max_steps = 16;               ///< most samples per ray and round; >= 1
  /// Most samples per field call. A round of S samples is evaluated in slices of about S / 8 samples (at
  /// least 8192, at most this), in parallel; the slicing depends on S only, not on the thread count; >= 1.
  int64_t field_batch = 1 << 16;
  /// Rays are rendered in independent chunks of at most this many (bounds the per-ray state); >= 1.
  int64_t max_rays = 1 << 18;
};

/// Field callbacks. Positions [M,3] are normalised scene coordinates (uncontracted), directions [M,3] unit;
/// results are float32 CPU tensors: densities [M] >= 0 (per unit length) and, for SampleFieldFn, the values
/// to composite [M,C]. Callbacks are called concurrently from several threads on disjoint batches (see
/// parallel_slices), so they must be thread-safe; LibTorch ops inside them run single-threaded.
using SampleDensityFn = std::function<at::Tensor(const at::Tensor& positions)>;
using SampleFieldFn =
    std::function<std::pair<at::Tensor, at::Tensor>(const at::Tensor& positions, const at::Tensor& directions)>;

/// Where a render's time went (seconds, summed over rounds) and how much work it did.
struct IncrementalStats {
  int64_t n_rounds = 0;
  int64_t n_samples = 0;         ///< samples at which the field was evaluated
  double march_seconds = 0;      ///< starting rays, marching and packing sample positions
  double field_seconds = 0;      ///< the field callback
  double composite_seconds = 0;  ///< compositing, retiring rays, compacting the alive set (and packing kept samples)
};

struct IncrementalOutput {
  at::Tensor values;   ///< [R,C] sum_i w_i v_i (not over a background)
  at::Tensor opacity;  ///< [R] sum_i w_i
  at::Tensor depth;    ///< [R] sum_i w_i t_i (normalised units along unit directions)
  IncrementalStats stats;
};

/// Renders rays origins/directions [R,3] (float32 CPU, unit directions) through `grid` with `march` (its
/// jitter is ignored: inference marches unjittered), compositing the C = `channels` values `field` gives.
/// The samples are exactly march_rays'; the result equals kernels::composite_forward over all of them (same
/// termination rule) up to float rounding, but the field is only evaluated up to where each ray turns
/// opaque (plus at most the rest of that round's steps). Work runs on parallel_threads() threads; the
/// result does not depend on their number. Bad configs throw UsageError.
IncrementalOutput render_incremental(const at::Tensor& origins, const at::Tensor& directions,
                                     const OccupancyGrid& grid, const MarchConfig& march, const SampleFieldFn& field,
                                     int channels, const IncrementalConfig& config = {});

/// The samples of a density-only incremental render (same samples and termination as render_incremental)
/// that carry weight w_i = T_i * alpha_i >= min_weight (>= 0), packed per ray front to back, with their
/// positions and directions; opacity and depth sum over the kept samples only, so they are consistent with
/// `weights`.
struct IncrementalWeights {
  PackedSamples samples;
  at::Tensor weights;  ///< [S]
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R]
  IncrementalStats stats;
};
IncrementalWeights march_weights_incremental(const at::Tensor& origins, const at::Tensor& directions,
                                             const OccupancyGrid& grid, const MarchConfig& march,
                                             const SampleDensityFn& density, float min_weight,
                                             const IncrementalConfig& config = {});

}  // namespace semfield
