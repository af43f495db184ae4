// Fused inference of FeatureNeRF's per-point network (models/featurenerf/featurenerf_network.h,
// FeatureNerfNetwork::points): per block of samples the projection into each source view, the bilinear gather of the
// view's injections (3 W channels), the positional encoding of the point in that camera's frame, the three injected
// ReLU layers, the mean over the views, v_NeRF and the heads (sigma, canonical coordinate, colour, distilled feature),
// every intermediate in cache.
//
// Why: through LibTorch ops a 2,048-ray chunk of 12 samples made [N, 768] gathers and several [N, 256] activations
// (~75 MB and ~25 MB each), and a 128² novel-view descriptor map ran at ~30 % of the FMA peak on an AVX2-only VM
// (1.06-1.26 s per map against the 1 s; BENCHMARKS.md "FeatureNeRF"). Here 48 samples go through everything
// with the GEMMs in register tiles (small_gemm.h).
//
// Forward only: training differentiates FeatureNerfNetwork's LibTorch path, which stays the reference this kernel is
// tested against in fp32 (tests/unit/models/featurenerf_test.cpp; with `--layer-precision bf16` its layers round like
// the other fused kernels', layer_precision.h). FeatureNerfNetwork takes it when no gradient is needed on CPU float32
// tensors (SEMFIELD_FUSED_FEATURENERF=0 keeps the LibTorch path, for benchmarks).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/kernels/gather_project.h"

namespace semfield::kernels {

/// The per-point network: L0 (positional encoding -> W), L1, L2 (W -> W), each followed by + its third of the
/// injections and a ReLU; L3 (W -> F: v_NeRF); head [4, F] on relu(v_NeRF) (sigma before softplus, canonical
/// coordinate); view [3 + Dt, F + 3] on [relu(v_NeRF), the direction in the first source camera's frame] (colour
/// before the sigmoid, the distilled feature). Weights in torch::nn::Linear's [out, in] layout, biases [out].
struct FeatureNerfPointWeights {
  std::vector<at::Tensor> lin_w, lin_b;  ///< 4 each
  at::Tensor head_w, head_b, view_w, view_b;
  int pe_frequencies = 0;  ///< sin / cos of x base 2^k, k < pe_frequencies, after x itself
  double pe_base = 1.0;
  double world_scale = 1.0;  ///< the encoded camera-frame point is (R_v x + t_v) / world_scale
};

struct FeatureNerfPointsForward {
  at::Tensor internal;  ///< [N, F]
  at::Tensor sigma;     ///< [N] (with heads)
  at::Tensor coord;     ///< [N, 3] (with heads)
  at::Tensor rgb;       ///< [N, 3] (with heads)
  at::Tensor feature;   ///< [N, Dt] (with heads and Dt > 0)
};

/// x, dirs [N, 3] float32 (normalised frame; dirs read with `heads` only), injections_hwc [V, h, w, 3 W] over images
/// of cameras.sizes. The camera-frame point is (R_v x + t_v) / world_scale.
FeatureNerfPointsForward featurenerf_points_forward(const at::Tensor& x, const at::Tensor& dirs,
                                                    const SourceCameraBatch& cameras, const at::Tensor& injections_hwc,
                                                    const FeatureNerfPointWeights& weights, bool heads);

}  // namespace semfield::kernels
