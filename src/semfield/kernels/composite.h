// Volume compositing of packed ray samples (colour, depth, opacity, or any C-channel feature) with a
// hand-written backward pass, an autograd wrapper and a plain-LibTorch reference.
//
// Packed layout (as in nerfacc): ray r owns samples [ray_offsets[r], ray_offsets[r+1]), front to back.
// For sample i of a ray: alpha_i = 1 - exp(-sigma_i * dt_i), T_i = prod_{j<i} (1 - alpha_j),
// w_i = T_i * alpha_i. Outputs per ray: values = sum_i w_i v_i, opacity = sum_i w_i,
// depth = sum_i w_i t_i (t_i = sample midpoint distance along the ray).
// Samples after T drops below `transmittance_min` contribute nothing (same rule in forward and backward).
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

struct CompositeOutputs {
  at::Tensor values;   ///< [R, C]
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R]
  at::Tensor weights;  ///< [S]  w_i (0 past early termination); differentiable through the autograd wrapper
};

constexpr double kTransmittanceMin = 1e-4;

/// sigmas [S] >= 0, values [S, C], dts [S] > 0, ts [S], ray_offsets int64 [R+1] (offsets[0] = 0,
/// offsets[R] = S, non-decreasing). float32 CPU tensors.
CompositeOutputs composite_forward(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                                   const at::Tensor& ts, const at::Tensor& ray_offsets,
                                   double transmittance_min = kTransmittanceMin);

struct CompositeGrads {
  at::Tensor dL_dsigmas;  ///< [S]
  at::Tensor dL_dvalues;  ///< [S, C]
};

/// Backward given the forward's inputs and outputs and the upstream gradients (any may be undefined =
/// zero). Uses the suffix-sum form: dL/dsigma_i = dt_i * (T_{i+1} * g_i - sum_{j>i} w_j g_j) where
/// g_i = <dL/dvalues, v_i> + dL/dopacity + dL/ddepth * t_i + dL/dweights_i (T_{i+1} = T_i (1 - alpha_i)).
/// dL_dweights [S] is the gradient of a loss on the weights output (the distortion loss), if any.
CompositeGrads composite_backward(const at::Tensor& dL_dvalues, const at::Tensor& dL_dopacity,
                                  const at::Tensor& dL_ddepth, const at::Tensor& sigmas,
                                  const at::Tensor& values, const at::Tensor& dts, const at::Tensor& ts,
                                  const at::Tensor& ray_offsets, const CompositeOutputs& forward,
                                  double transmittance_min = kTransmittanceMin,
                                  const at::Tensor& dL_dweights = {});

/// Autograd-aware compositing, differentiable w.r.t. sigmas and values.
CompositeOutputs composite(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                           const at::Tensor& ts, const at::Tensor& ray_offsets,
                           double transmittance_min = kTransmittanceMin);

/// Plain LibTorch reference (per-ray loop with cumprod), differentiable, for tests. Does not apply the
/// early-termination rule, so tests use inputs whose transmittance stays above transmittance_min or
/// compare with transmittance_min = 0.
CompositeOutputs composite_reference(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                                     const at::Tensor& ts, const at::Tensor& ray_offsets);

}  // namespace semfield::kernels
