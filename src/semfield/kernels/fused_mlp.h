// Fused CPU MLP: a bias-free ReLU network evaluated a block of rows at a time through all its layers, so
// the hidden activations stay in cache instead of making one pass over memory per layer.
//
// Why: the radiance field's two small MLPs (width 64) took ~80 % of a training step through LibTorch — one
// GEMM, one ReLU and, in autograd, several saved [N, 64] activations per layer, each a pass over ~67 MB at
// 2^18 samples. Here a 128-row block goes through every layer in L2; the backward pass recomputes the
// block's activations instead of storing them (cheaper than reading them back from memory, and nothing of
// size N x width is kept between forward and backward). Weight gradients are summed per thread chunk, then
// over chunks in a fixed order, so results do not depend on scheduling. This is tiny-cuda-nn's
// "fully fused" idea on a CPU; the inner products are AVX-512 register tiles (scalar loops otherwise).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

/// y = W_L relu(... relu(W_1 relu(W_0 x))): x [N, in] float32, weights[i] [out_i, in_i] (torch::nn::Linear
/// layout, in_0 = in, in_{i+1} = out_i), no biases, no activation on the output. Returns [N, out_L].
at::Tensor fused_mlp_forward(const at::Tensor& x, const std::vector<at::Tensor>& weights);

struct FusedMlpGrads {
  at::Tensor dx;                     ///< [N, in]; undefined unless asked for
  std::vector<at::Tensor> dweights;  ///< one per weight, its shape
};
/// Gradients of sum(dy * y) for the forward above, recomputing the activations block by block.
FusedMlpGrads fused_mlp_backward(const at::Tensor& dy, const at::Tensor& x, const std::vector<at::Tensor>& weights,
                                 bool need_dx);

/// Autograd-aware version of fused_mlp_forward: differentiable w.r.t. x and every weight.
at::Tensor fused_mlp(const at::Tensor& x, const std::vector<at::Tensor>& weights);

/// The same network with LibTorch ops (mm + relu), for the gradient tests and other devices.
at::Tensor mlp_reference(const at::Tensor& x, const std::vector<at::Tensor>& weights);

}  // namespace semfield::kernels
