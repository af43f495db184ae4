// The radiance field as a trainable model: maps normalised scene points into the field's unit cube, keeps
// the occupancy grid, marches and composites rays (training with gradients, or incremental inference).
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/radiance_field.h"
#include "semfield/models/radiance_config.h"
#include "semfield/models/scene_frame.h"
#include "semfield/models/scene_model.h"
#include "semfield/render/incremental_renderer.h"
#include "semfield/render/occupancy_grid.h"
#include "semfield/render/ray_marcher.h"

namespace semfield {

/// The per-scene model (type "hashgrid"): instant-ngp's hash-grid radiance field optimised on one scene.
class RadianceModel final : public SceneModel {
 public:
  RadianceModel(const RadianceConfig& config, const SceneFrame& frame);

  /// Differentiable rendering of a ray batch (origins/dirs [R,3], background [R,3]) with jittered samples;
  /// with_distortion also gives each ray's distortion loss (out.distortion), differentiable.
  RayRenderOutput render_train(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background,
                               uint64_t seed, bool with_distortion = false);
  /// Inference with early ray termination (render/incremental_renderer.h): the same samples and result as
  /// compositing every sample march() gives, up to float rounding, at a fraction of the field evaluations.
  /// origins/dirs [R,3], background [3] or [R,3]. Thread-safe (const); uses parallel_threads() threads.
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                         const at::Tensor& background) const override;

  /// Compositing weights of the samples along rays origins/dirs [R,3] (inference, density only, with the
  /// incremental renderer's early termination; see WeightedSamples).
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const override;

  /// Occupancy-grid EMA update (call every train.grid_update_interval steps).
  void update_occupancy(int64_t step);
  double occupancy_fraction() const { return m_grid->occupancy_fraction(); }
  /// The occupancy grid (read-only: mesh extraction skips the space it marks empty).
  const OccupancyGrid* occupancy_grid() const override { return m_grid.get(); }
  std::string type() const override { return "hashgrid"; }

  /// Density at normalised scene points [N,3] (inference).
  at::Tensor density(const at::Tensor& points) const override;
  /// Density and colour at normalised scene points [N,3] seen along dirs [N,3] (inference).
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override;

  RadianceField& field() { return *m_field; }
  const RadianceField& field() const { return *m_field; }
  const RadianceConfig& config() const { return m_config; }
  const SceneFrame& frame() const override { return m_frame; }
  const MarchConfig& march_config() const { return m_march; }

  /// Samples along rays through occupied space (jittered for training).
  PackedSamples march(const at::Tensor& origins, const at::Tensor& dirs, bool jitter, uint64_t seed) const;

  /// Field + occupancy grid tensors ("field.*", "occupancy.*").
  TensorMap state() const override;
  nlohmann::json config_json() const override { return to_json(m_config); }
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
