// The radiance field as a trainable model: maps normalised scene points into the field's unit cube, keeps
// the occupancy grid, marches and composites rays (training with gradients, or incremental inference).
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/radiance_field.h"
#include "semfield/models/radiance_config.h"
#include "semfield/models/scene_frame.h"
#include "semfield/render/incremental_renderer.h"
#include "semfield/render/occupancy_grid.h"
#include "semfield/render/ray_marcher.h"

namespace semfield {

struct RayRenderOutput {
  at::Tensor rgb;      ///< [R,3], composited over the background
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R] expected ray distance t (normalised units); 0 where nothing is hit
  at::Tensor distortion;  ///< [R] each ray's distortion loss: render_train(with_distortion) only
  int64_t n_samples = 0;   ///< samples the field was evaluated at
  IncrementalStats stats;  ///< render() only: rounds and where the time went
};

/// Inference samples that carry compositing weight, for rendering other per-point quantities (features,
/// labels) with the density of this model. Front-to-back per ray; a ray stops when its transmittance falls
/// below the termination threshold (kernels::kTransmittanceMin). weights[i] = T_i * (1 - exp(-sigma_i * dt_i)).
/// Samples with weight below kMinSampleWeight are dropped; opacity and depth sum over the kept samples only,
/// so they are exactly consistent with `weights`, and differ from a composite of every sample by the ray's
/// dropped weight (measured on lego_200: at most ~1e-3, typically ~1e-5).
struct WeightedSamples {
  static constexpr float kMinSampleWeight = 1e-5f;
  PackedSamples samples;  ///< positions, directions, ts, dts, ray_offsets [R+1] (only kept samples)
  at::Tensor weights;     ///< [S]
  at::Tensor opacity;     ///< [R] sum of weights
  at::Tensor depth;       ///< [R] expected t (sum w*t), normalised units
};

/// Per ray, the distance of the sample at which its cumulative weight first reaches half its opacity: the median of
/// where the ray terminates [R] (normalised units; 0 for rays without weight). Where a ray grazes a silhouette and
/// splits its weight between an object and what lies behind it, the expected distance (depth / opacity) falls in the
/// empty space between the two; the median lies on one of them.
at::Tensor median_depth(const WeightedSamples& samples);

class RadianceModel {
 public:
  RadianceModel(const RadianceConfig& config, const SceneFrame& frame);

  /// Differentiable rendering of a ray batch (origins/dirs [R,3], background [R,3]) with jittered samples;
  /// with_distortion also gives each ray's distortion loss (out.distortion), differentiable.
  RayRenderOutput render_train(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background,
                               uint64_t seed, bool with_distortion = false);
  /// Inference with early ray termination (render/incremental_renderer.h): the same samples and result as
  /// compositing every sample march() gives, up to float rounding, at a fraction of the field evaluations.
  /// origins/dirs [R,3], background [3] or [R,3]. Thread-safe (const); uses parallel_threads() threads.
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background) const;

  /// Compositing weights of the samples along rays origins/dirs [R,3] (inference, density only, with the
  /// incremental renderer's early termination; see WeightedSamples).
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const;

  /// Occupancy-grid EMA update (call every train.grid_update_interval steps).
  void update_occupancy(int64_t step);
  double occupancy_fraction() const { return m_grid->occupancy_fraction(); }
  /// The occupancy grid (read-only: mesh extraction skips the space it marks empty).
  const OccupancyGrid& occupancy_grid() const { return *m_grid; }

  /// Normalised scene points [N,3] -> the field's unit cube (contracted if unbounded).
  at::Tensor to_unit_cube(const at::Tensor& points) const;
  /// Density at normalised scene points [N,3] (inference).
  at::Tensor density(const at::Tensor& points) const;

  RadianceField& field() { return *m_field; }
  const RadianceField& field() const { return *m_field; }
  const RadianceConfig& config() const { return m_config; }
  const SceneFrame& frame() const { return m_frame; }
  const MarchConfig& march_config() const { return m_march; }

  /// Samples along rays through occupied space (jittered for training).
  PackedSamples march(const at::Tensor& origins, const at::Tensor& dirs, bool jitter, uint64_t seed) const;

  /// Field + occupancy grid tensors ("field.*", "occupancy.*").
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  RayRenderOutput composite_samples(const PackedSamples& samples, const RadianceField::Output& field_out,
                                    const at::Tensor& background, bool differentiable,
                                    bool with_distortion = false) const;

  RadianceConfig m_config;
  SceneFrame m_frame;
  MarchConfig m_march;
  std::unique_ptr<RadianceField> m_field;
  std::unique_ptr<OccupancyGrid> m_grid;
};

}  // namespace semfield
