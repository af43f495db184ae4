// What every scene model does, whatever it is made of: the per-scene hash-grid field optimised on one scene, or a
// generalizable model conditioned on a scene's source images. Everything above models/ (view rendering and
// evaluation, feature fields, segmentation, meshes, the viewer) takes a SceneModel, never a concrete model.
//
// Coordinates are the scene's normalised frame (SceneFrame: the dataset's cameras mapped by its Normalization);
// ray directions are unit vectors; distances t are in normalised units.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"

#include "semfield/models/scene_frame.h"
#include "semfield/render/incremental_renderer.h"
#include "semfield/render/ray_marcher.h"

namespace semfield {

class OccupancyGrid;

struct RayRenderOutput {
  at::Tensor rgb;      ///< [R,3], composited over the background
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R] expected ray distance t (normalised units); 0 where nothing is hit
  at::Tensor distortion;  ///< [R] each ray's distortion loss: render_train(with_distortion) only
  int64_t n_samples = 0;   ///< samples the field was evaluated at
  IncrementalStats stats;  ///< render() of the hash-grid model only: rounds and where the time went
};

/// Inference samples that carry compositing weight, for rendering other per-point quantities (features,
/// labels) with the density of a model. Front-to-back per ray. weights[i] = T_i * (1 - exp(-sigma_i * dt_i)).
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
/// The same for rays with S samples each: ts, weights [R,S] (sorted along each ray).
at::Tensor median_depth(const at::Tensor& ts, const at::Tensor& weights);

struct PointRadiance {
  at::Tensor density;  ///< [N]
  at::Tensor rgb;      ///< [N,3]
};

class SceneModel {
 public:
  virtual ~SceneModel() = default;

  /// The registry's key of this model's type ("hashgrid", "ibr", ...): models/registry.h.
  virtual std::string type() const = 0;
  /// The normalised frame of the scene this model renders (its box, boundedness, normalisation).
  virtual const SceneFrame& frame() const = 0;

  /// Inference: colour over `background` ([3] or [R,3]), opacity and expected depth of rays origins/dirs [R,3].
  /// Thread-safe (const); uses parallel_threads() threads.
  virtual RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                                 const at::Tensor& background) const = 0;
  /// Compositing weights of the samples along rays (inference; see WeightedSamples): what feature and label
  /// fields composite their per-point values with.
  virtual WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const = 0;
  /// Volume density at points [N,3] -> [N] (inference).
  virtual at::Tensor density(const at::Tensor& points) const = 0;
  /// Density [N] and emitted colour [N,3] in [0,1] at points [N,3] seen along unit directions [N,3] (inference):
  /// mesh vertex colours and previews.
  virtual PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const = 0;
  /// Normalised scene points [N,3] -> the unit cube of the frame's box (contracted if unbounded): where grid
  /// fields attached to this model (feature and label fields) index their grids.
  at::Tensor to_unit_cube(const at::Tensor& points) const;

  /// Its weights by name (what its registry entry's create() takes back: models/registry.h).
  virtual TensorMap state() const = 0;
  /// Its type's config as JSON (the registry entry parses it back).
  virtual nlohmann::json config_json() const = 0;

  /// Space the model knows to be empty (mesh extraction skips it), or nullptr when it keeps no such grid.
  virtual const OccupancyGrid* occupancy_grid() const { return nullptr; }
};

}  // namespace semfield
