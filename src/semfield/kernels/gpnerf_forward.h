// Fused inference of GP-NeRF's transformers (models/gpnerf/gpnerf_network.h, GpnerfNetwork::render and
// point_density): per block of samples the projection into the reference views, the bilinear gathers, the key MLP,
// every view transformer (FAT) with its reuse for the semantic field, the position MLPs, every ray transformer (RAT)
// with its reuse for the rendered semantics, and the colour, with every intermediate in cache.
//
// Why: through LibTorch ops each view-transformer layer makes ~10 [V, N, W] tensors (keys, values, positions, logits,
// their products) per 1,024-ray chunk, 33 MB each at 8 views: a 256x256 view took 41.6 s, memory-bound. Here one
// ray's S x V rows (~100-200 KB) go through everything, the GEMMs are register tiles (small_gemm.h), and the work is
// cut where the algebra allows it without changing the function (up to float rounding):
//   - every layer's keys only enter the attention MLP's first layer (W -> W/8): A1 (Wk k - Wq x + pos_fc(p)) is
//     computed as (A1 Wk) k - (A1 Wq) x + (A1 P2) relu(P1 p + p1) + A1 p2, so the [V, N, W] keys and the per-sample
//     query are never formed; the products with k are folded through the key MLP's last layer, so one GEMM per
//     block gives k, every layer's values and every layer's attention terms;
//   - the rendered semantics S_sem(r) = mean_s sum_l A_RAT,l f_l only need each head's mean attention over the
//     queries (mean_s A[s, t]), an S-vector per head, instead of the [S, S] x [S, D] product per layer;
//   - the semantic field of each sample (f_sem, training's depth-guided loss) and the recorded attention maps are not
//     formed: inference does not read them.
// bench/gpnerf_bench BM_GpnerfRenderView (fused against the LibTorch path) and `semfield render` on a 256^2 view
// measure it; BENCHMARKS.md ("GP-NeRF") has the figures.
//
// Forward only: training differentiates GpnerfNetwork's LibTorch path, which stays the reference these kernels are
// tested against (tests/unit/kernels/gpnerf_forward_test.cpp). GpnerfNetwork takes them when no gradient is needed
// on CPU float32 tensors (SEMFIELD_FUSED_GPNERF=0 keeps the LibTorch path, for benchmarks).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/kernels/gather_project.h"
#include "semfield/kernels/ibr_aggregate.h"

namespace semfield::kernels {

/// One view transformer (W channels): LayerNorms (weight, bias; eps 1e-6), the query / key / value maps [W, W]
/// (bias-free), pos_fc 4 -> P -> W and attn_fc W -> A -> W (two layers with biases each), out_fc W -> W (one layer
/// with bias) and the feed-forward ff (two layers with biases).
struct GpnerfViewLayerWeights {
  at::Tensor norm_w, norm_b, ff_norm_w, ff_norm_b, wq, wk, wv;
  SmallMlpWeights pos_fc, attn_fc, out_fc, ff;
};

/// One ray transformer: LayerNorms, query / key / value maps [W, W] (bias-free), out_fc (one layer), ff.
struct GpnerfRayLayerWeights {
  at::Tensor norm_w, norm_b, ff_norm_w, ff_norm_b, wq, wk, wv;
  SmallMlpWeights out_fc, ff;
};

/// The transformers' weights (GpnerfNetwork's "transformer.*" parameters).
struct GpnerfTransformerWeights {
  SmallMlpWeights rgbfeat;                   ///< [F_rgb C, colour 3] -> W -> W (the per-view keys k)
  std::vector<GpnerfViewLayerWeights> view;  ///< L layers
  std::vector<GpnerfRayLayerWeights> ray;    ///< L layers
  std::vector<SmallMlpWeights> position;     ///< one per even layer: [q W, encoding E] -> W -> W
  SmallMlpWeights point;                     ///< W -> W -> 4 (density logit, colour logits)
  at::Tensor final_norm_w, final_norm_b;
  SmallMlpWeights rgb;  ///< blend: W -> 1 (the samples' pooling score / opacity logit); else W -> 3
  bool blend = true;    ///< GpnerfConfig::colour is not "mlp" (per-sample colours of the views, a W -> 1 score)
  /// GpnerfConfig::colour is "alpha" or "density" (with blend): the rays forward returns the samples' scores and
  /// colours (GpnerfRaysForward::sample_score / sample_rgb) for the caller's compositing instead of a colour
  bool per_sample = false;
  /// false: no ray colour at all (GpnerfConfig::colour "ibr": a head of its own colours the ray); the rays forward
  /// then skips the colour layer and the view pooling and leaves rgb, sample_score and sample_rgb undefined
  bool colour = true;
  int heads = 4;        ///< ray-attention heads (they divide W and the semantic width D)
  /// GpnerfConfig::blend_weights "learned" (with blend): [the last view layer's attention logits (W), the view's ray
  /// difference (4)] -> H -> 1, the log-factor m_v of each view's colour weight (mean attention x exp(m_v),
  /// renormalised over the views); no layers = the attention's mean alone
  SmallMlpWeights blend_weights;
};

/// The reference views as the network reads them: cameras (normalised scene frame) and channels-last maps.
struct GpnerfSourceMaps {
  const SourceCameraBatch* cameras = nullptr;
  at::Tensor colours;   ///< [V,H,W,3] in [0,1]
  at::Tensor rgb;       ///< [V,h,w,C] F_rgb
  at::Tensor semantic;  ///< [V,h,w,D] F_sem (may be undefined for gpnerf_points_forward)
};

struct GpnerfPointsForward {
  at::Tensor sigma;  ///< [N] the point head's density (0 where no view sees the point)
  at::Tensor rgb;    ///< [N,3] its colour
};

/// GpnerfNetwork::point_density: points [N,3] seen along unit directions [N,3] through the first view transformer
/// and the point head. CPU float32; not differentiable.
GpnerfPointsForward gpnerf_points_forward(const at::Tensor& positions, const at::Tensor& dirs,
                                          const GpnerfSourceMaps& sources, const GpnerfTransformerWeights& weights);

struct GpnerfRaysForward {
  at::Tensor rgb;        ///< [R,3] the transformers' colour (undefined with per_sample: the caller composites, and
                         ///< without colour)
  at::Tensor sample_score;  ///< per_sample: [R,S] the colour layer's score per sample; else undefined
  at::Tensor sample_rgb;    ///< per_sample: [R,S,3] the samples' colours pooled over the views; else undefined
  at::Tensor semantic;   ///< [R,D] mean over the samples of sum_l s_l (S_sem before the adaptor)
  at::Tensor sigma;      ///< [R,S] the point head's density after the first view transformer (0 where unseen)
  at::Tensor rgb_point;  ///< [R,S,3] its colour
  at::Tensor valid;      ///< [R,S] bool: samples some reference view sees
};

/// GpnerfNetwork::render's pass over the fine samples: positions [R,S,3] of each ray's S samples, ray directions
/// [R,3] (unit), the position MLPs' encoding [R,S,E] (gp_position_encoding of t and the direction). CPU float32; not
/// differentiable.
GpnerfRaysForward gpnerf_rays_forward(const at::Tensor& positions, const at::Tensor& dirs, const at::Tensor& encoding,
                                      const GpnerfSourceMaps& sources, const GpnerfTransformerWeights& weights);

}  // namespace semfield::kernels
