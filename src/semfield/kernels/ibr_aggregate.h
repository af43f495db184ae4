// Fused inference of the image-conditioned network (per-sample aggregation and the ray attention) (models/ibr/ibr_network.h, IbrNetwork::points) for
// inference: projection, bilinear gathers, the per-view MLPs, the cross-view mean / variance, the visibility pooling
// and the colour blend of a block of samples in one pass, with every intermediate in cache.
//
// Why: through LibTorch ops the per-sample network is ~40 passes over [V, N, 32] tensors (cat, relu, mean/var,
// masked softmax, broadcasts), each 8 MB at N = 65,536 samples and 8 views, and the per-view GEMMs of width 16-32 run
// below a third of the machine's rate: a 256x256 view (3.1 M samples x 8 views) took 9.6 s. Here 32 samples x V views
// go through everything in ~200 KB of buffers, the GEMMs are register tiles (small_gemm.h) and the ops between them
// are single loops. bench/ibr_model_bench BM_IbrRenderView measures the view; BENCHMARKS.md has the figures.
//
// Forward only: training differentiates IbrNetwork::points' LibTorch path (with its own fused gather and MLP
// kernels), which stays the reference this kernel is tested against (tests/unit/models/ibr_model_test.cpp,
// IbrFused.*). IbrNetwork::points takes this kernel when no gradient is needed on a CPU float32 tensor.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/kernels/gather_project.h"

namespace semfield::kernels {

/// A small network: weights[i] [out_i, in_i] (torch::nn::Linear layout), biases empty or one [out_i] per layer,
/// ReLU between layers (not after the last).
struct SmallMlpWeights {
  std::vector<at::Tensor> weights, biases;
};

/// The weights of any network with `weights()` / `biases()` in that layout (fields/mlp.h's Mlp): shared handles.
template <class Network>
SmallMlpWeights small_mlp_weights(const Network& mlp) {
  return {mlp.weights(), mlp.biases()};
}

/// The weights of IbrNetwork::points (shapes: C feature channels, H view hidden, G view features, D point features).
struct IbrPointWeights {
  SmallMlpWeights view;          ///< [C + 3 colour + 4 ray difference + 1 constant] -> H, bias-free; ReLU after it
  at::Tensor mix_view;           ///< [H, H]: the per-view part of the mixing layer
  at::Tensor mix_stats;          ///< [H, 2H]: its per-sample part, on the views' [mean, variance]
  at::Tensor mix_bias;           ///< [H]; ReLU after the mixing layer
  SmallMlpWeights view2;         ///< H -> G + 1 (G features, ReLU after them; 1 visibility logit), bias-free
  SmallMlpWeights point;         ///< [mean, variance] of the pooled view features 2G -> D; ReLU after it
  SmallMlpWeights sigma;         ///< D -> 1; softplus after it
  SmallMlpWeights colour;        ///< [G, 4 ray difference, 1 constant] -> 1 blend logit, bias-free
};

struct IbrPointsForward {
  at::Tensor z;            ///< [N, D] per-sample features
  at::Tensor sigma_point;  ///< [N] per-point density (0 where no view sees the sample)
  at::Tensor rgb;          ///< [N, 3] softmax blend of the source colours
  at::Tensor valid;        ///< [N] bool: seen by at least one source view
  /// With view_outputs: the per-view stage (IbrViewFeatures of models/ibr/ibr_network.h), for votes over the views
  /// (GNeSF). Undefined otherwise.
  at::Tensor uv;           ///< [V, N, 2] projections
  at::Tensor view_valid;   ///< [V, N, 1] float 0/1
  at::Tensor ray_diff;     ///< [V, N, 4]
  at::Tensor source_dirs;  ///< [V, N, 3]
  at::Tensor distance;     ///< [V, N, 1]
  at::Tensor g;            ///< [V, N, G] per-view features after the mixing (ReLU)
  at::Tensor visibility;   ///< [V, N, 1] the visibility weights pooling them
};

/// IbrNetwork::points' forward: positions [N,3] seen along unit directions dirs [N,3], source cameras (V views),
/// channels-last colours [V,H,W,3] and features [V,h,w,C]; with view_outputs also the per-view stage. CPU float32;
/// not differentiable.
IbrPointsForward ibr_points_forward(const at::Tensor& positions, const at::Tensor& dirs,
                                    const SourceCameraBatch& cameras, const at::Tensor& colours_hwc,
                                    const at::Tensor& features_hwc, const IbrPointWeights& weights,
                                    bool view_outputs = false);

/// The weights of IbrNetwork::ray_density: an attention over each ray's samples (D point features, P positional
/// channels).
struct IbrRayWeights {
  SmallMlpWeights query, key;  ///< [z, positional encoding of t_rel] (D + P) -> D, bias-free
  SmallMlpWeights value;       ///< D -> D, bias-free
  SmallMlpWeights out;         ///< D -> D, added to z (residual)
  SmallMlpWeights sigma;       ///< relu(z + out) -> 1; softplus after it
  int positional_freqs = 4;    ///< P = 2 x this: sin, cos of t_rel at pi, 2 pi, 4 pi, ...
};

/// IbrNetwork::ray_density's forward: z [R,S,D], t_rel [R,S], valid [R,S] bool -> density [R,S] (0 where not valid).
/// One block of rays at a time: the [S,S] attention of a ray stays in L1 (LibTorch's bmm + masked_fill + softmax made
/// three passes over R x S x S floats, 600 MB at a 256x256 view). CPU float32; not differentiable.
at::Tensor ibr_ray_density_forward(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid,
                                   const IbrRayWeights& weights);

}  // namespace semfield::kernels
