// GNeSF's geometry encoding volume (../shared/papers/gnesf-*.txt §3, §4.2): a scene's source views lifted onto a
// voxel grid over its box, turned by a 3D CNN into a truncated signed distance field (TSDF) — the geometry that 3D
// segmentation needs: SDF-weighted rendering of semantics (Eq. 8, 9) and the visibility module's sign-change test
// (Fig. 2b: a view sees a point when the SDF along the segment from the camera to it does not cross into a surface
// before reaching it).
//
//   input   per voxel centre: the mean and variance, over the views that see it, of the views' encoder features
//           and colours bilinearly sampled at its projection, and the fraction of views that see it
//           ([1, 2 (C + 3) + 1, R, R, R]; the image encoder is the radiance network's, models/ibr)
//   3D CNN  a small U-Net with instance normalisation (1x1x1 stem, 3^3 convolutions at R, R/2, R/4, trilinear
//           upsampling with skips) -> a TSDF in [-1, 1] per voxel (tanh), in units of the truncation distance
//   SDF     at any point: trilinear interpolation of the TSDF times the truncation distance (normalised scene units);
//           +truncation outside the box
//
// Training (corpus): TSDF targets fused from the same views' depth maps (projective distances, truncated at
// `truncation_voxels` voxels, averaged over the views that observe a voxel; a depth-less pixel means free space along
// its ray), L1 over observed voxels with the near-surface ones weighted up. No depth is needed to apply a trained
// volume: it predicts the TSDF from the images alone. The authors' code (NeuralRecon's sparse coarse-to-fine volume,
// pretrained and frozen) is replaced by one dense level, sized for a CPU: 64^3 voxels, 16 base channels, ~0.5 s per
// training step on 2 cores.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"
#include "semfield/kernels/gather_project.h"

namespace semfield {

struct GeometryVolumeConfig {
  bool enabled = false;         ///< the "geometry" key is present in the gnesf config
  int resolution = 64;          ///< "resolution": voxels per side of the scene box
  int views = 16;               ///< "views": source views it is built from (spread around the scene)
  int channels = 16;            ///< "channels": the 3D CNN's width at full resolution (x2, x4 below)
  double truncation_voxels = 3; ///< "truncation_voxels": the TSDF's truncation distance, in voxels
  double near_weight = 5;       ///< "near_weight": training weight of voxels within the truncation band
  uint64_t seed = 0;            ///< "seed": initialisation
  void validate() const;        ///< UsageError naming the first key out of range
};

nlohmann::json to_json(const GeometryVolumeConfig& config);
GeometryVolumeConfig geometry_volume_config_from_json(const nlohmann::json& json, const std::string& origin);

/// The voxel grid over a box: R^3 cells, centres at lo + (i + 0.5) (hi - lo) / R; tensors [.., z, y, x].
struct VoxelGrid {
  Eigen::Vector3f lo{-1, -1, -1}, hi{1, 1, 1};
  int resolution = 64;
  float voxel_size() const { return (hi - lo).maxCoeff() / static_cast<float>(resolution); }
  /// Every voxel centre [R^3, 3] (x fastest).
  at::Tensor centres() const;
  /// grid_sampler's normalised coordinates (align_corners = false) of points [N,3] -> [N,3] in [-1, 1] inside.
  at::Tensor normalise(const at::Tensor& points) const;
};

/// The volume's input from source views: `features` [V,h,w,C] and `colours` [V,H,W,3] channels last (IbrSources),
/// cameras in the grid's frame -> [1, 2 (C + 3) + 1, R, R, R]. No gradients (the encoder is not trained through it).
at::Tensor geometry_volume_input(const SourceCameraBatch& cameras, const at::Tensor& features,
                                 const at::Tensor& colours, const VoxelGrid& grid);

/// TSDF targets fused from depth maps [V,H,W] (z-depth, 0 = nothing hit) of views `cameras` (same frame):
/// {target [R,R,R] in [-1, 1] (units of `truncation`), observed [R,R,R] bool}.
std::pair<at::Tensor, at::Tensor> fuse_tsdf(const SourceCameraBatch& cameras, const at::Tensor& depths,
                                            const VoxelGrid& grid, float truncation);

class GeometryVolume {
 public:
  GeometryVolume() = default;
  /// Seeded initialisation for inputs of `in_channels` channels.
  GeometryVolume(const GeometryVolumeConfig& config, int64_t in_channels);

  const GeometryVolumeConfig& config() const { return m_config; }
  bool defined() const { return m_stem.weight.defined(); }
  /// input [1, in, R, R, R] -> TSDF [1, 1, R, R, R] in [-1, 1] (differentiable w.r.t. the parameters).
  at::Tensor forward(const at::Tensor& input) const;
  /// L1 of a predicted TSDF [1,1,R,R,R] against fuse_tsdf's targets over observed voxels, near-surface ones
  /// (|target| < 1) weighted by config.near_weight; 0 (with a graph) when nothing is observed.
  at::Tensor loss(const at::Tensor& tsdf, const at::Tensor& target, const at::Tensor& observed) const;

  /// Saved and restored as part of the model that holds it (GnesfNetwork: "geometry.<name>").
  NamedTensors named_parameters() const;
  std::vector<at::Tensor> parameters() const;

 private:
  struct Conv {
    at::Tensor weight, bias;
    int64_t stride = 1;
  };
  struct Norm {
    at::Tensor weight, bias;
  };
  GeometryVolumeConfig m_config;
  Conv m_stem, m_enc0, m_down1, m_enc1, m_down2, m_enc2, m_up1, m_up0, m_head;
  Norm m_norm_stem, m_norm0, m_norm_down1, m_norm1, m_norm_down2, m_norm2, m_norm_up1, m_norm_up0;
};

/// SDF (normalised scene units) at points [N,3] from a TSDF grid [1,1,R,R,R]: trilinear, times `truncation`;
/// +truncation outside the grid. Differentiable w.r.t. tsdf.
at::Tensor sample_sdf(const at::Tensor& tsdf, const VoxelGrid& grid, float truncation, const at::Tensor& points);

/// The visibility module's sign-change test: per view (camera centres [V,3]) and point [N,3], whether the segment from
/// the camera to the point stays outside every surface — no sample of it (`samples` evenly spaced from where it
/// enters the grid to `margin` short of the point) has a negative SDF. [V,N] bool.
at::Tensor sdf_visible(const at::Tensor& tsdf, const VoxelGrid& grid, float truncation, const at::Tensor& origins,
                       const at::Tensor& points, float margin, int samples = 32);

/// Density from an SDF (VolSDF's Laplace CDF): sigma = alpha Psi_beta(-s), beta half a voxel, alpha = 20 so that
/// sigma is 10 — the default surface level of `semfield mesh` (SceneMeshOptions::kDefaultThreshold) — exactly on the
/// zero level set, rising to 20 inside.
at::Tensor sdf_density(const at::Tensor& sdf, float voxel_size);

/// Compositing weights [R,S] of samples at distances ts [R,S] (sorted, unit ray directions) with SDF values sdf [R,S]
/// of a TSDF truncated at `truncation`: VolSDF's density sigma = Psi_beta(-s) / beta (beta half a voxel), Psi shifted
/// and rescaled to reach 0 at +truncation (free space), alpha_i = 1 - exp(-sigma_i delta_i) with delta_i the sample
/// spacing, w_i = T_i alpha_i. Volume rendering with the geometry volume's density (view synthesis).
at::Tensor sdf_composite_weights(const at::Tensor& sdf, const at::Tensor& ts, float voxel_size, float truncation);

/// Eq. 8, 9: per ray the weights [R,S] of its samples at sdf [R,S] (sorted along the ray): w = sigmoid(s / tr)
/// sigmoid(-s / tr), kept up to `window` beyond the ray's first crossing into a surface (+ to -) and zero beyond it,
/// normalised to sum 1; all zero for a ray that crosses no surface.
at::Tensor sdf_render_weights(const at::Tensor& sdf, const at::Tensor& ts, float tr, float window);

}  // namespace semfield
