// Per-pixel best match of a feature map against a few vectors: the similarity segmenter's inner loop (prompt
// similarity, nearest appearance centroid), hand-written because LibTorch's matmul + max spends most of its time on
// the tiny GEMM's packing and the [K, N] temporary: 13 vectors against a 512 x 512 x 24 map took 16.6 ms that way and
// 2.8 ms here, on 2 cores of an AVX2 VM (kernels_bench BM_MaxDot).
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

/// For features [C, N] (channel-major, float32, contiguous; e.g. a [C,H,W] map viewed flat) and rows [K, C]:
/// out[p] = max_k sum_c rows[k, c] * features[c, p], float32 [N]; -inf for K = 0. Multithreaded over pixels.
at::Tensor max_dot(const at::Tensor& features, const at::Tensor& rows);

/// The same with LibTorch ops (the reference the kernel is tested against).
at::Tensor max_dot_reference(const at::Tensor& features, const at::Tensor& rows);

}  // namespace semfield::kernels
