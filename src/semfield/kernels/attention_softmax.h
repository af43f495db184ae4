// The memory-bound middle of attention, fused: scale, additive mask, SAM's decomposed relative-position terms and
// the row softmax in one pass over the logits (plus one pass in L1 per row), instead of five full passes with
// LibTorch ops (mul_, mask add, two broadcast add_ and _softmax_out). In SAM ViT-B's global attention the logits are
// 12 x 4096 x 4096 floats per block (805 MB), so each avoided pass saves ~0.1 s per block on 2 cores.
// Inference only (the foundation-model forward passes): there is no backward.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

/// In place over logits [B, R, N] (float32, contiguous), whose rows are query rows row0 .. row0+R of an attention
/// with Nq query rows:
///   x[b, r, n] = x[b, r, n] * scale + mask[row0 + r, n] + rel_h[b, row0 + r, n / W] + rel_w[b, row0 + r, n % W]
/// then softmax over n. mask [Nq, N], rel_h [B, Nq, H] and rel_w [B, Nq, W] (H * W = N) are optional (undefined
/// tensors); rel_h and rel_w come together. Multithreaded over rows; AVX-512 or AVX2 with a scalar fallback.
void biased_softmax_rows_(at::Tensor& logits, double scale, const at::Tensor& mask, const at::Tensor& rel_h,
                          const at::Tensor& rel_w, int64_t row0);

/// The same with LibTorch ops (the reference the kernel is tested against).
void biased_softmax_rows_reference_(at::Tensor& logits, double scale, const at::Tensor& mask,
                                    const at::Tensor& rel_h, const at::Tensor& rel_w, int64_t row0);

/// out = x + y and normed = LayerNorm(out) over the last dimension (biased variance, eps inside the root), in one
/// pass: the transformer block's residual add followed by its next pre-norm. x, y [.., C] float32 contiguous of
/// the same shape; weight, bias [C]. Returns {out, normed}.
std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight,
                                                 const at::Tensor& bias, double eps);

/// The same with LibTorch ops.
std::pair<at::Tensor, at::Tensor> add_layer_norm_reference(const at::Tensor& x, const at::Tensor& y,
                                                           const at::Tensor& weight, const at::Tensor& bias,
                                                           double eps);

}  // namespace semfield::kernels
