// The fused CPU inference kernels' shared parts (ibr_aggregate.cpp, gpnerf_forward.cpp): small linear layers packed
// for the register-tiled GEMM (small_gemm.h), networks of them, bilinear taps in the fused gather's semantics
// (gather_project.h; tap_blocks.h) and a masked softmax over views. Private to src/semfield/kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/kernels/ibr_aggregate.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/kernels/simd_ops.h"
#include "semfield/kernels/small_gemm.h"
#include "semfield/kernels/tap_blocks.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "may be used uninitialized" once
// inlined (a false positive in the system header; see simd_ops.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels::detail {

inline int64_t padded16(int64_t n) { return (n + 15) / 16 * 16; }

/// One linear layer as the kernels read it: its first `full` (a multiple of 16) output columns through the register
/// tiles (wt = W^T [in, full]); the last out - full (< 16) columns as dot products with W's rows (rest).
/// With bf16 (layer_precision.h) the tiles' weights and inputs are rounded to bfloat16: where the build has
/// AVX512-BF16 the tiles read wt2, wt rounded as k-pairs (gemm_bf16's layout), else wt_rounded (float). wt itself
/// stays as it was (kernels that read it directly, outside the tiles, keep float weights), and so do the last
/// columns (rest).
struct Layer {
  int64_t in = 0, out = 0, full = 0;
  std::vector<float> wt, rest, bias;
  bool bf16 = false;
  std::vector<float> wt_rounded;
  std::vector<uint16_t> wt2;
};

/// Switches a packed layer's tiles to bf16 arithmetic (see Layer).
inline void make_bf16(Layer& l) {
  l.bf16 = true;
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  const int64_t pairs = (l.in + 1) / 2;
  l.wt2.assign(static_cast<size_t>(pairs * l.full * 2), 0);
  for (int64_t k = 0; k < l.in; ++k)
    for (int64_t n = 0; n < l.full; ++n)
      l.wt2[static_cast<size_t>(((k / 2) * l.full + n) * 2 + (k % 2))] =
          float_to_bf16(l.wt[static_cast<size_t>(k * l.full + n)]);
#else
  l.wt_rounded.resize(l.wt.size());
  std::transform(l.wt.begin(), l.wt.end(), l.wt_rounded.begin(), round_to_bf16);
#endif
}

/// With `allow_bf16` false the layer stays float whatever the precision (layers some kernel reads outside the tiles).
inline Layer pack_layer(const char* op, const char* name, const at::Tensor& weight, const at::Tensor* bias,
                        bool allow_bf16 = true) {
  check_dtype(op, name, weight, at::kFloat);
  check_dim(op, name, weight, 2);
  const at::Tensor w = weight.detach().contiguous();
  Layer l;
  l.out = w.size(0);
  l.in = w.size(1);
  l.full = l.out / 16 * 16;
  const float* p = w.data_ptr<float>();
  l.wt.assign(static_cast<size_t>(l.in * l.full), 0.0f);
  for (int64_t r = 0; r < l.full; ++r)
    for (int64_t c = 0; c < l.in; ++c) l.wt[static_cast<size_t>(c * l.full + r)] = p[r * l.in + c];
  l.rest.assign(p + l.full * l.in, p + l.out * l.in);
  if (bias != nullptr && bias->defined()) {
    TORCH_CHECK(bias->numel() == l.out, op, ": the bias of ", name, " must have ", l.out,
                " elements, got ", bias->numel());
    const at::Tensor b = bias->detach().to(at::kFloat).contiguous();
    l.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + l.out);
  }
  if (allow_bf16 && fused_layer_precision() == Precision::BFloat16) make_bf16(l);
  return l;
}

inline std::vector<Layer> pack_net(const char* op, const char* name, const SmallMlpWeights& net) {
  TORCH_CHECK(!net.weights.empty(), op, ": ", name, " has no layers");
  TORCH_CHECK(net.biases.empty() || net.biases.size() == net.weights.size(), op, ": ", name,
              " needs one bias per layer or none");
  std::vector<Layer> layers;
  for (size_t i = 0; i < net.weights.size(); ++i) {
    const std::string layer = std::string(name) + ".weight" + std::to_string(i);
    layers.push_back(pack_layer(op, layer.c_str(), net.weights[i], net.biases.empty() ? nullptr : &net.biases[i]));
    TORCH_CHECK(i == 0 || layers[i].in == layers[i - 1].out, op, ": ", layer, " takes ", layers[i].in,
                " inputs but the layer before gives ", layers[i - 1].out);
  }
  return layers;
}

/// C[r, 0:out) = A[r, 0:in) W^T (+ bias) for r < rows (row strides lda, ldc), ReLU when asked.
inline void apply_layer(const Layer& l, const float* A, int64_t lda, int64_t rows, float* C, int64_t ldc, bool relu) {
  const bool has_bias = !l.bias.empty();
  // The bias is the accumulators' starting value: no pass over C for it (nor for the ReLU).
  if (l.full > 0 && l.bf16) {
    // The inputs rounded to bf16 once per call (a pass of rows x in floats against the tiles' rows x in x full
    // multiply-adds), into a per-thread buffer the calls reuse.
#if defined(__AVX512BF16__) && defined(__AVX512F__)
    assert(!l.wt2.empty());  // packed by make_bf16 with the same instruction set as this call
    thread_local std::vector<uint32_t> pairs_buffer;
    const int64_t pairs = (l.in + 1) / 2;
    if (static_cast<int64_t>(pairs_buffer.size()) < rows * pairs)
      pairs_buffer.resize(static_cast<size_t>(rows * pairs));
    to_bf16_pairs(A, lda, rows, l.in, pairs_buffer.data(), pairs);
    gemm_bf16(pairs_buffer.data(), pairs, rows, pairs, l.wt2.data(), l.full, l.full, C, ldc, relu,
              has_bias ? l.bias.data() : nullptr);
#else
    assert(!l.wt_rounded.empty());
    thread_local std::vector<float> rounded;
    if (static_cast<int64_t>(rounded.size()) < rows * l.in) rounded.resize(static_cast<size_t>(rows * l.in));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < l.in; ++k) rounded[static_cast<size_t>(r * l.in + k)] = round_to_bf16(A[r * lda + k]);
    gemm(rounded.data(), l.in, 1, rows, l.in, l.wt_rounded.data(), l.full, l.full, C, ldc, false, relu,
         has_bias ? l.bias.data() : nullptr);
#endif
  } else if (l.full > 0) {
    gemm(A, lda, 1, rows, l.in, l.wt.data(), l.full, l.full, C, ldc, false, relu, has_bias ? l.bias.data() : nullptr);
  }
  if (l.full == l.out) return;
  int64_t r = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // The last columns (a logit, a density: out - full is 1 in every model) 8 rows at a time: 8 accumulators, then one
  // transposing reduction instead of a horizontal sum per row (a dot call per row and column was ~5 % of a 256x256
  // IBR view on an AVX2-only Zen 3).
  const int64_t in8 = l.in / 8 * 8;
  for (; r + 8 <= rows; r += 8)
    for (int64_t j = l.full; j < l.out; ++j) {
      const float* w = l.rest.data() + (j - l.full) * l.in;
      __m256 acc[8];
      for (int q = 0; q < 8; ++q) acc[q] = _mm256_setzero_ps();
      for (int64_t k = 0; k < in8; k += 8) {
        const __m256 wk = _mm256_loadu_ps(w + k);
        for (int q = 0; q < 8; ++q) acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(A + (r + q) * lda + k), wk, acc[q]);
      }
      const __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
      const __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
      const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
      alignas(32) float sums[8];
      _mm256_store_ps(sums, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31)));
      for (int q = 0; q < 8; ++q) {
        const float* a = A + (r + q) * lda;
        float v = sums[q];
        for (int64_t k = in8; k < l.in; ++k) v += a[k] * w[k];
        v += has_bias ? l.bias[static_cast<size_t>(j)] : 0.0f;
        C[(r + q) * ldc + j] = relu ? std::max(v, 0.0f) : v;
      }
    }
#endif
  for (; r < rows; ++r) {
    const float* a = A + r * lda;
    float* c = C + r * ldc;
    for (int64_t j = l.full; j < l.out; ++j) {
      const float v =
          dot(l.in, a, l.rest.data() + (j - l.full) * l.in) + (has_bias ? l.bias[static_cast<size_t>(j)] : 0.0f);
      c[j] = relu ? std::max(v, 0.0f) : v;
    }
  }
}

/// A network of layers with ReLU between them (and after the last when relu_last), through two scratch buffers of
/// rows x widest(padded) floats.
inline void run_net(const std::vector<Layer>& net, const float* A, int64_t lda, int64_t rows, float* out, int64_t ldo,
             bool relu_last, float* scratch0, float* scratch1) {
  const float* h = A;
  int64_t ld = lda;
  for (size_t i = 0; i < net.size(); ++i) {
    const bool last = i + 1 == net.size();
    float* dst = last ? out : (i % 2 == 0 ? scratch0 : scratch1);
    const int64_t ldd = last ? ldo : padded16(net[i].out);
    apply_layer(net[i], h, ld, rows, dst, ldd, !last || relu_last);
    h = dst;
    ld = ldd;
  }
}

inline int64_t widest(const std::vector<Layer>& net) {
  int64_t w = 16;
  for (const Layer& l : net) w = std::max(w, padded16(l.out));
  return w;
}

/// Softmax over the valid views of nb samples at once (IbrNetwork's masked_view_softmax: 0 for invalid views, all 0
/// when none is valid), view-major: sample i's logit of view v at logits[(v * nb + i) * l_stride], its validity
/// valid[v * nb + i], its weight into w[v * nb + i]; the V x nb exps in one vector pass (one std::exp call per weight,
/// a sample at a time, was ~3 % of a 256x256 IBR view). `top` holds nb floats.
inline void masked_softmax_views(const float* logits, int64_t l_stride, const uint8_t* valid, int64_t V, int64_t nb,
                                 float* w, float* top) {
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < nb; ++i) top[i] = kNone;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t row = v * nb + i;
      if (valid[row]) top[i] = std::max(top[i], logits[row * l_stride]);
    }
  // Invalid views (and samples no view sees) get an argument far below exp's range: weight 0.
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t row = v * nb + i;
      w[row] = valid[row] ? logits[row * l_stride] - top[i] : -1000.0f;
    }
  exp_inplace(V * nb, w);
  for (int64_t i = 0; i < nb; ++i) top[i] = 0.0f;  // now the sums
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < nb; ++i) top[i] += w[v * nb + i];
  for (int64_t i = 0; i < nb; ++i) top[i] = top[i] > 0.0f ? 1.0f / top[i] : 0.0f;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < nb; ++i) w[v * nb + i] *= top[i];
}

inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace semfield::kernels::detail

#pragma GCC diagnostic pop
