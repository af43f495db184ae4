// The distortion loss of Mip-NeRF 360 (Barron et al. 2022) on packed ray samples, with a hand-written
// backward pass, an autograd wrapper and a plain-LibTorch reference.
//
// Why: a radiance field trained on photometric error alone may leave semi-transparent haze where few rays
// constrain it (under a table top, between its legs); marching cubes turns that haze into faces that belong to
// no surface. The loss pulls each ray's weights together into one short interval, so haze that a ray passes
// through before or after its surface costs something.
//
// Per ray, with weights w_i (as composited), interval midpoints m_i and widths d_i, front to back:
//   L = sum_{i,j} w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 d_i.
// Midpoints increase along a ray, so the double sum is 2 sum_i w_i (m_i W_i - M_i) with the prefix sums
// W_i = sum_{j<i} w_j and M_i = sum_{j<i} w_j m_j: O(samples) per ray instead of O(samples^2).
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

/// weights [S], midpoints [S] (non-decreasing within each ray), widths [S], ray_offsets int64 [R+1] (the packed
/// layout of composite.h). float32 CPU tensors. Returns the loss of each ray [R].
at::Tensor distortion_forward(const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                              const at::Tensor& ray_offsets);

/// dL/dweights [S] given the upstream gradient dL/dloss [R]:
/// dL/dw_k = g_r (2 sum_j w_j |m_k - m_j| + 2/3 w_k d_k), the sum split at k into prefix and suffix sums.
at::Tensor distortion_backward(const at::Tensor& dL_dloss, const at::Tensor& weights, const at::Tensor& midpoints,
                               const at::Tensor& widths, const at::Tensor& ray_offsets);

/// Autograd-aware: differentiable with respect to the weights.
at::Tensor distortion(const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                      const at::Tensor& ray_offsets);

/// Plain LibTorch reference (the O(samples^2) double sum per ray), differentiable, for tests.
at::Tensor distortion_reference(const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                                const at::Tensor& ray_offsets);

}  // namespace semfield::kernels
