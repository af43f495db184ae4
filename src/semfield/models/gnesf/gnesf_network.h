// GNeSF's network (../shared/papers/gnesf-*.txt §3): the image-conditioned radiance network (models/ibr) gives the
// geometry (density, compositing weights) and the per-view features; a semantic head turns the source views' 2D
// semantic maps into the semantics of every 3D sample by soft voting:
//
//   per view i    F'_i = the radiance network's per-view feature after the cross-view mean/variance mixing
//                 (IbrViewFeatures::g), with the sample's pooled feature M(x) (IbrViewFeatures::z, the geometry
//                 feature), the displacement x - o_i from the source camera (unit direction and distance), the
//                 change of viewing direction against the target ray, and the radiance network's own visibility
//                 weight of the view
//   f_v           an MLP of those -> a voting score v_i and (visibility module) a gate in [0,1]
//   vote          w_i = valid_i gate_i exp(v_i) / sum_j valid_j gate_j exp(v_j)  (Eq. 4: softmax over valid views)
//   semantics     s(x) = sum_i w_i S_i(pi_i(x)): the views' class probabilities bilinearly sampled at the sample's
//                 projection ("prob"), or softmax(sum_i w_i log(S_i + eps)) ("logit")
//   rendering     S(r) = sum_m w_m s(x_m) over the fine samples' compositing weights (Eq. 5, 7), plus the ray's
//                 remaining transmittance times the background's semantics: the class distribution along the
//                 source maps' image borders (what the views show where their rays leave an object-centred scene).
//
// The head never sees a class id: any label set the maps carry (K = their channels) is voted on, so a model trained
// on one set of classes segments scenes labelled with another. "direct" is the paper's baseline instead: a semantic
// head on M(x) predicting a fixed set of classes (Table 4, "Predict Directly").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/mlp.h"
#include "semfield/models/gnesf/geometry_volume.h"
#include "semfield/models/gnesf/gnesf_config.h"
#include "semfield/models/ibr/ibr_network.h"

namespace semfield {

/// The source views' 2D semantic maps as the vote reads them: per-class probabilities, channels last (the fused
/// gather's layout, kernels/gather_project.h). An unlabelled pixel has all K entries 0 and gives no vote.
struct SemanticMaps {
  at::Tensor probs;  ///< [V,h,w,K] float32; each map covers its view's whole image (h, w may be smaller)
  int64_t classes() const { return probs.defined() ? probs.size(3) : 0; }
};

/// Integer ids [V,h,w] (-1 or >= k: unlabelled) -> one-hot maps of k classes.
SemanticMaps semantic_maps_from_ids(const at::Tensor& ids, int64_t k);

/// Eq. 4's vote over V views for N samples: weights [V,N,1] = valid gate exp(score) / sum over the views of the same,
/// scores [V,N,1], gate_logits [V,N,1] (the visibility module's gate is sigmoid(gate_logits); undefined = no gate),
/// valid [V,N,1] float 0/1. Invalid views get exactly 0; a sample no view sees gets 0 everywhere.
at::Tensor soft_vote_weights(const at::Tensor& scores, const at::Tensor& gate_logits, const at::Tensor& valid);

/// A scene's geometry from the geometry volume (geometry_volume.h): its TSDF over the scene box.
struct SdfVolume {
  at::Tensor tsdf;         ///< [1,1,R,R,R] in [-1, 1]
  VoxelGrid grid;
  float truncation = 0;    ///< the TSDF's unit, normalised scene units
  bool defined() const { return tsdf.defined(); }
  /// SDF at points [N,3] (normalised scene units; +truncation outside the box).
  at::Tensor sdf(const at::Tensor& points) const { return sample_sdf(tsdf, grid, truncation, points); }
};

struct GnesfRenderOutput {
  IbrRenderOutput radiance;
  /// [R,K] rendered class probabilities (rows sum to 1 where the views label what the ray sees, less where they
  /// leave it unlabelled).
  at::Tensor semantics;
};

class GnesfNetwork {
 public:
  GnesfNetwork() = default;
  /// Seeded initialisation: the radiance network from config.radiance.seed, the head from config.seed.
  explicit GnesfNetwork(const GnesfConfig& config);

  const GnesfConfig& config() const { return m_config; }
  const IbrNetwork& radiance() const { return m_radiance; }
  IbrNetwork& radiance() { return m_radiance; }
  /// Classes of the output for maps of `map_classes` classes (direct: its own closed set).
  int64_t output_classes(int64_t map_classes) const;

  /// Voting weights [V,N,1] of samples from their per-view features: zero for views that do not see a sample,
  /// summing to 1 over the others (0 for a sample no view sees). Differentiable w.r.t. the head.
  at::Tensor vote_weights(const IbrViewFeatures& f) const;
  /// Semantics of samples [N,K] from their per-view features and the source views' maps (class probabilities).
  at::Tensor point_semantics(const IbrViewFeatures& f, const SemanticMaps& maps, const SourceCameraBatch& cameras) const;
  /// Semantics [R,K] of what rays see beyond the scene (the background): the class distribution along the source
  /// maps' borders (direct: a learned distribution).
  at::Tensor background_semantics(int64_t rays, const SemanticMaps& maps) const;
  /// Renders rays (IbrNetwork::render) with their semantics [R,K]: Eq. 5 over the fine pass's samples of compositing
  /// weight >= min_weight (and, when max_samples > 0, only each ray's max_samples heaviest: a surface's semantics
  /// barely change across the samples it spreads its weight over), the kept samples' weights scaled to the ray's whole
  /// opacity, plus the remaining transmittance times the background's semantics. With `sdf` and "semantic_weights":
  /// "sdf", the samples' weights are Eq. 8-9's from the SDF instead (sdf_render_weights: sigmoid(s/tr)
  /// sigmoid(-s/tr), tr one voxel, up to two voxels beyond the first surface, normalised; rays that meet no surface
  /// show the background).
  GnesfRenderOutput render(const IbrRays& rays, const IbrSources& sources, const SemanticMaps& maps,
                           const at::Tensor& background, bool train, uint64_t seed, float min_weight,
                           int max_samples = 0, const SdfVolume* sdf = nullptr) const;

  /// Whether the config has a geometry volume.
  bool has_geometry() const { return m_geometry.defined(); }
  const GeometryVolume& geometry_volume() const { return m_geometry; }
  /// The grid of the geometry volume over a scene box.
  VoxelGrid geometry_grid(const Eigen::Vector3f& lo, const Eigen::Vector3f& hi) const;
  /// The geometry volume's input from source views (geometry_volume_input; features by the radiance network's
  /// encoder) and its TSDF (differentiable w.r.t. the volume's parameters when grad mode is on).
  at::Tensor geometry_input(const IbrSources& sources, const VoxelGrid& grid) const;
  SdfVolume geometry(const at::Tensor& input, const VoxelGrid& grid) const;

  /// What corpus training updates: the head's and the geometry volume's parameters (and the radiance network's when
  /// config.train_radiance); the geometry volume's alone when config.train_geometry_only.
  std::vector<at::Tensor> parameters() const;
  /// Moves every tensor (radiance network, head, geometry volume) to `device` (a GPU, on a CUDA build of LibTorch):
  /// renders and training steps then run there through the LibTorch paths; tests/unit/models/device_test.cpp.
  void to(const at::Device& device);
  /// Every tensor: "radiance.*", "head.*", "geometry.*" (with a geometry volume).
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  TensorMap state() const;
  /// `without_geometry`: a state of the same model without a geometry volume (the volume keeps its weights).
  void load_state(const TensorMap& state, const std::string& origin, bool without_geometry = false);

 private:
  GnesfConfig m_config;
  IbrNetwork m_radiance;
  Mlp m_vote;                 ///< f_v: [g, z, source dir, distance, ray difference, visibility] -> score, gate
  Mlp m_direct;               ///< direct: z -> class logits
  at::Tensor m_direct_background;  ///< direct: [K] background class logits
  GeometryVolume m_geometry;  ///< undefined without config.geometry
};

}  // namespace semfield
