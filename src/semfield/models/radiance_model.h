// The radiance field as a trainable model: maps normalised scene points into the field's unit cube, keeps
// the occupancy grid, marches and composites rays (training with gradients, or chunked inference).
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/radiance_field.h"
#include "semfield/models/radiance_config.h"
#include "semfield/models/scene_frame.h"
#include "semfield/render/occupancy_grid.h"
#include "semfield/render/ray_marcher.h"

namespace semfield {

struct RayRenderOutput {
  at::Tensor rgb;      ///< [R,3], composited over the background
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R] expected ray distance t (normalised units); 0 where nothing is hit
  int64_t n_samples = 0;
};

class RadianceModel {
 public:
  RadianceModel(const RadianceConfig& config, const SceneFrame& frame);

  /// Differentiable rendering of a ray batch (origins/dirs [R,3], background [R,3]) with jittered samples.
  RayRenderOutput render_train(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background,
                               uint64_t seed);
  /// Inference in chunks of config.render.chunk_rays; background [3] or [R,3].
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background) const;

  /// Occupancy-grid EMA update (call every train.grid_update_interval steps).
  void update_occupancy(int64_t step);
  double occupancy_fraction() const { return m_grid->occupancy_fraction(); }

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
                                    const at::Tensor& background, bool differentiable) const;

  RadianceConfig m_config;
  SceneFrame m_frame;
  MarchConfig m_march;
  std::unique_ptr<RadianceField> m_field;
  std::unique_ptr<OccupancyGrid> m_grid;
};

}  // namespace semfield
