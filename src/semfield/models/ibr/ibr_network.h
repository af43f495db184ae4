// The image-conditioned radiance network (IBRNet family; GNeSF's 2D branch, ../shared/papers/gnesf-*.txt §3):
// a scene is given by posed source images, never by per-scene weights.
//
//   encode      source images [V,3,H,W] -> ResUNet features [V,C,H/4,W/4] (trained from scratch)
//   points      every sample projected into every source view (with a validity mask: in front of the camera
//               and inside its image); its colour and feature bilinearly sampled there; with the difference of
//               the target and source viewing directions, a per-view MLP; the weighted mean and variance of
//               those across the valid views (how much the views agree: photo-consistency) fed back to each
//               view; visibility-aware weights then pool the views into one feature per sample, which gives a
//               per-point density; a colour is the softmax blend of the source colours with learned weights.
//   ray         an attention over the samples of each ray turns the per-sample features into the density
//               that is composited (a surface is where a ray's samples agree it is, not one point alone).
//   render      coarse samples stratified between the ray's entry into and exit from the scene box, fine
//               samples by importance from the coarse weights (no occupancy grid: nothing per scene), the
//               fine pass reusing the coarse samples' features; compositing over a background.
//
// The per-point density (before the ray attention) is trained with its own rendering loss: it is what queries
// at points without a ray (mesh extraction, SceneModel::density) read.
//
// Shapes: V source views, R rays, S samples per ray, N = R*S samples; views first ([V,N,...]) so the per-view
// MLPs are single matrix products and pooling is a reduction over dim 0.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include "semfield/core/tensor_state.h"
#include "semfield/encoders/resunet.h"
#include "semfield/fields/mlp.h"
#include "semfield/kernels/gather_project.h"
#include "semfield/kernels/ibr_aggregate.h"
#include "semfield/models/ibr/ibr_config.h"

namespace semfield {

/// A scene's source views as the network reads them: channels last, as the fused gather (kernels/gather_project.h)
/// reads one contiguous vector per tap.
struct IbrSources {
  SourceCameraBatch cameras;  ///< normalised scene frame
  at::Tensor colours;         ///< [V,H,W,3] in [0,1], composited over the background
  at::Tensor features;        ///< [V,H/4,W/4,C] encoder output
  int64_t size() const { return cameras.size(); }
};

/// Rays with the part of them that is sampled.
struct IbrRays {
  at::Tensor origins, dirs;  ///< [R,3], unit directions
  at::Tensor near, far;      ///< [R]; near == far where the ray misses the sampled region
};

struct IbrRenderOutput {
  at::Tensor rgb;         ///< [R,3] fine pass (the coarse pass when n_fine == 0), over the background
  at::Tensor opacity;     ///< [R]
  at::Tensor depth;       ///< [R] expected t
  at::Tensor rgb_coarse;  ///< [R,3] the coarse pass
  at::Tensor rgb_point;   ///< [R,3] compositing the per-point density (no ray attention) of the fine samples
  at::Tensor ts, dts;     ///< [R,S] the fine pass's samples (sorted) and their interval lengths
  at::Tensor weights;     ///< [R,S] their compositing weights
  int64_t n_samples = 0;  ///< samples evaluated (coarse + fine) over rays that meet the region
};

/// The per-view stage of the aggregation for N samples seen from V source views (views first): what the colour blend
/// and the density are computed from, and what other per-view votes (GNeSF's semantic voting: models/gnesf) read.
struct IbrViewFeatures {
  at::Tensor uv;           ///< [V,N,2] projections (pixels of each source image)
  at::Tensor valid;        ///< [V,N,1] float 0/1: in front of the camera and inside its image
  at::Tensor colours;      ///< [V,N,3] sampled source colours
  at::Tensor ray_diff;     ///< [V,N,4] target minus source viewing direction, and their cosine
  at::Tensor source_dirs;  ///< [V,N,3] unit directions from each source camera to the sample
  at::Tensor distance;     ///< [V,N,1] distance from each source camera to the sample (normalised units)
  at::Tensor g;            ///< [V,N,G] per-view features after the cross-view mean/variance mixing
  at::Tensor visibility;   ///< [V,N,1] the learned visibility weights pooling them (softmax over valid views)
  at::Tensor z;            ///< [N,D] the per-sample feature pooled from them (the ray attention's input)
  at::Tensor seen;         ///< [N] bool: seen by at least one view
};

class IbrNetwork {
 public:
  IbrNetwork() = default;
  /// Seeded initialisation (config.seed): the same config gives the same weights.
  explicit IbrNetwork(const IbrConfig& config);

  const IbrConfig& config() const { return m_config; }

  /// Source images [V,3,H,W] -> features [V,C,ceil(H/4),ceil(W/4)] (differentiable).
  at::Tensor encode(const at::Tensor& images) const;
  /// Source views ready to render from: images [V,3,H,W] encoded (differentiable), both channels last.
  IbrSources prepare(const std::vector<Camera>& cameras, const at::Tensor& images) const;

  struct PointOutput {
    at::Tensor z;            ///< [N,D] per-sample features (input of the ray attention)
    at::Tensor sigma_point;  ///< [N] per-point density (no ray context)
    at::Tensor rgb;          ///< [N,3] softmax blend of the source colours
    at::Tensor valid;        ///< [N] bool: seen by at least one source view
  };
  /// Samples positions [N,3] seen along target ray directions dirs [N,3]. Without gradients on a CPU this runs the
  /// fused kernel (kernels/ibr_aggregate.h), otherwise points_reference.
  PointOutput points(const at::Tensor& positions, const at::Tensor& dirs, const IbrSources& sources) const;
  /// The same through the fused kernel (CPU float32, no gradients).
  PointOutput points_fused(const at::Tensor& positions, const at::Tensor& dirs, const IbrSources& sources) const;
  /// The same through LibTorch ops (differentiable; any device): the reference of the fused kernel.
  PointOutput points_reference(const at::Tensor& positions, const at::Tensor& dirs, const IbrSources& sources) const;

  /// The per-view stage of points (for votes over the views: GNeSF). Without gradients on a CPU this runs the fused
  /// kernel, otherwise view_features_reference (LibTorch ops, differentiable; any device), its reference.
  IbrViewFeatures view_features(const at::Tensor& positions, const at::Tensor& dirs, const IbrSources& sources) const;
  IbrViewFeatures view_features_fused(const at::Tensor& positions, const at::Tensor& dirs,
                                      const IbrSources& sources) const;
  IbrViewFeatures view_features_reference(const at::Tensor& positions, const at::Tensor& dirs,
                                          const IbrSources& sources) const;

  /// Density [R,S] from per-sample features z [R,S,D] by attention over each ray's samples; t_rel [R,S] is each
  /// sample's position along the sampled interval (0 at near, 1 at far), valid [R,S] masks samples no view sees
  /// (their density is 0 and they are not attended to).
  at::Tensor ray_density(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid) const;
  /// The same through the fused kernel (CPU float32, no gradients) and through LibTorch ops (its reference).
  at::Tensor ray_density_fused(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid) const;
  at::Tensor ray_density_reference(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid) const;

  /// Renders rays over background [R,3]. train: stratified jitter and random importance samples from `seed`;
  /// otherwise bin midpoints and evenly spaced importance samples (deterministic).
  IbrRenderOutput render(const IbrRays& rays, const IbrSources& sources, const at::Tensor& background, bool train,
                         uint64_t seed) const;

  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<at::Tensor> parameters() const;
  /// Moves the weights to `device` (a GPU, on a CUDA build of LibTorch): prepare, render and training steps then run
  /// there through the LibTorch paths (the fused kernels are CPU-only); tests/unit/models/device_test.cpp.
  void to(const at::Device& device);
  TensorMap state() const;
  /// InputError(origin, name) for a missing or mismatched tensor.
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  kernels::IbrPointWeights point_weights() const;
  /// Whether inference on `inputs` may take the fused kernels (models/fused_inference.h; SEMFIELD_FUSED_IBR=0 keeps
  /// the LibTorch path).
  bool use_fused(std::initializer_list<const at::Tensor*> inputs) const;

  IbrConfig m_config;
  ResUNet m_encoder;
  Mlp m_view_mlp;       ///< [feature, colour, ray difference, 1] -> H (bias-free: the fused MLP kernel)
  /// [h, mean, var] -> H -> G + 1 (per-view feature, visibility logit). Its first layer is split into the per-view
  /// part (H x H) and the per-sample part (H x 2H, computed once per sample and broadcast over the views): the same
  /// function as one layer over the concatenation at 1/3 of its cost.
  at::Tensor m_mix_view_weight, m_mix_stats_weight, m_mix_bias;
  Mlp m_view_mlp2;      ///< H -> G + 1 (bias-free)
  Mlp m_point_mlp;      ///< [mean, var] of the pooled view features -> D
  Mlp m_sigma_point;    ///< D -> 1
  Mlp m_colour_mlp;     ///< [g, ray difference, 1] -> 1 blend logit (bias-free)
  Mlp m_query, m_key, m_value, m_attn_out;  ///< ray attention (D + positional encoding -> D)
  Mlp m_sigma_ray;      ///< D -> 1
};

/// Where rays enter and leave the box [lo, hi] (normalised frame), scaled about its centre by `scale`: near/far
/// [R] (near >= 0; near == far for rays that miss it).
std::pair<at::Tensor, at::Tensor> ray_box_bounds(const at::Tensor& origins, const at::Tensor& dirs,
                                                 const Eigen::Vector3f& lo, const Eigen::Vector3f& hi, float scale);

}  // namespace semfield
