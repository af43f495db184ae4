// The fused CPU inference kernels' shared parts (ibr_aggregate.cpp, gpnerf_forward.cpp): small linear layers packed
// for the register-tiled GEMM (small_gemm.h), networks of them, bilinear taps in the fused gather's semantics
// (gather_project.h) and a masked softmax over views. Private to src/semfield/kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/kernels/bilinear_lanes.h"
#include "semfield/kernels/ibr_aggregate.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/kernels/simd_ops.h"
#include "semfield/kernels/small_gemm.h"

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
  for (int64_t r = 0; r < rows; ++r) {
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

/// One view's map in the fused gather's (gather_project.h) semantics: grid_sampler, bilinear, zero padding,
/// align_corners = false; the map [h,w,C] covers the image [0,W] x [0,H].
struct MapView {
  const float* data;
  int64_t w, h, C;
  float W, H;
};

/// The 4 taps of a bilinear sample: element offsets into the map and weights (0, at offset 0, for a tap outside it).
struct Taps {
  int64_t offset[4];
  float weight[4];
};

/// The taps of `m` at image pixel coordinate (u, v).
inline Taps bilinear_taps(const MapView& m, float u, float v) {
  Taps t{{0, 0, 0, 0}, {0.0f, 0.0f, 0.0f, 0.0f}};
  const float gx = (u / m.W) * 2.0f - 1.0f, gy = (v / m.H) * 2.0f - 1.0f;
  const float x = (gx + 1.0f) * (static_cast<float>(m.w) * 0.5f) - 0.5f;
  const float y = (gy + 1.0f) * (static_cast<float>(m.h) * 0.5f) - 0.5f;
  if (!(x >= -1.0f && x <= static_cast<float>(m.w) && y >= -1.0f && y <= static_cast<float>(m.h))) return t;
  const float x0f = std::floor(x), y0f = std::floor(y);
  const int64_t x0 = static_cast<int64_t>(x0f), y0 = static_cast<int64_t>(y0f);
  const float fx = x - x0f, fy = y - y0f;
  // x0 == w happens (x == w exactly is inside): that tap lies outside the map, as in gather_project.cpp.
  const bool in_x0 = x0 >= 0 && x0 < m.w, in_x1 = x0 + 1 < m.w, in_y0 = y0 >= 0 && y0 < m.h, in_y1 = y0 + 1 < m.h;
  const int64_t base = (y0 * m.w + x0) * m.C;
  if (in_y0 && in_x0) t.offset[0] = base, t.weight[0] = (1.0f - fy) * (1.0f - fx);
  if (in_y0 && in_x1) t.offset[1] = base + m.C, t.weight[1] = (1.0f - fy) * fx;
  if (in_y1 && in_x0) t.offset[2] = base + m.w * m.C, t.weight[2] = fy * (1.0f - fx);
  if (in_y1 && in_x1) t.offset[3] = base + (m.w + 1) * m.C, t.weight[3] = fy * fx;
  return t;
}

/// bilinear_taps of n points at once, structure of arrays: tap k of point i at offset[k][i], weight[k][i]. A block's
/// taps computed apart from its gathers: a 256x256 IBR view took 2.7-2.8 s this way, 3.0-3.2 s with bilinear_taps
/// called per point inside the gather loop (Intel VM, 2 threads).
template <int kMax>
inline void bilinear_taps_block(const MapView& m, const float* u, const float* v, int64_t n, int64_t (*offset)[kMax],
                                float (*weight)[kMax]) {
  int64_t i = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  // 16 points at a time (GCC leaves the scalar loop below unvectorised), bilinear_lanes' arithmetic: the taps equal
  // bilinear_taps' up to rounding.
  const __m512i vC = _mm512_set1_epi64(m.C), vrow = _mm512_set1_epi64(m.w * m.C);
  const __m512 one = _mm512_set1_ps(1.0f);
  for (; i < n; i += 16) {
    const __mmask16 lanes = tail_mask(n - i);
    const BilinearLanes b = bilinear_lanes(_mm512_maskz_loadu_ps(lanes, u + i), _mm512_maskz_loadu_ps(lanes, v + i),
                                           m.W, m.H, m.w, m.h, lanes);
    const __m512 ax = _mm512_sub_ps(one, b.fx), ay = _mm512_sub_ps(one, b.fy);
    const __m512 wt[4] = {_mm512_mul_ps(ay, ax), _mm512_mul_ps(ay, b.fx), _mm512_mul_ps(b.fy, ax),
                          _mm512_mul_ps(b.fy, b.fx)};
    for (int k = 0; k < 4; ++k) _mm512_mask_storeu_ps(weight[k] + i, lanes, _mm512_maskz_mov_ps(b.tap[k], wt[k]));
    // Offsets in 64 bits, 8 lanes at a time: (y0 * w + x0) * C and its neighbours; 0 for taps outside the map.
    for (int h8 = 0; h8 < 2; ++h8) {
      const __m256i x0h = h8 == 0 ? _mm512_castsi512_si256(b.x0) : _mm512_extracti64x4_epi64(b.x0, 1);
      const __m256i y0h = h8 == 0 ? _mm512_castsi512_si256(b.y0) : _mm512_extracti64x4_epi64(b.y0, 1);
      const __m512i base = _mm512_add_epi64(_mm512_mullo_epi64(_mm512_cvtepi32_epi64(y0h), vrow),
                                            _mm512_mullo_epi64(_mm512_cvtepi32_epi64(x0h), vC));
      const __m512i off[4] = {base, _mm512_add_epi64(base, vC), _mm512_add_epi64(base, vrow),
                              _mm512_add_epi64(_mm512_add_epi64(base, vrow), vC)};
      const __mmask8 store = static_cast<__mmask8>(lanes >> (8 * h8));
      for (int k = 0; k < 4; ++k)
        _mm512_mask_storeu_epi64(offset[k] + i + 8 * h8, store,
                                 _mm512_maskz_mov_epi64(static_cast<__mmask8>(b.tap[k] >> (8 * h8)), off[k]));
    }
  }
#endif
  for (; i < n; ++i) {
    const Taps t = bilinear_taps(m, u[i], v[i]);
    for (int k = 0; k < 4; ++k) {
      offset[k][i] = t.offset[k];
      weight[k][i] = t.weight[k];
    }
  }
}

/// out[0:C) = the taps' weighted sum; C a compile-time constant where it is known, so the loop is straight vector code.
template <int C>
inline void sample_taps_fixed(const float* data, const Taps& t, float* out) {
  const float* p0 = data + t.offset[0];
  const float* p1 = data + t.offset[1];
  const float* p2 = data + t.offset[2];
  const float* p3 = data + t.offset[3];
  for (int c = 0; c < C; ++c)
    out[c] = t.weight[0] * p0[c] + t.weight[1] * p1[c] + t.weight[2] * p2[c] + t.weight[3] * p3[c];
}

inline void sample_taps(const MapView& m, const Taps& t, float* out) {
  switch (m.C) {
    case 3: sample_taps_fixed<3>(m.data, t, out); return;
    case 8: sample_taps_fixed<8>(m.data, t, out); return;
    case 16: sample_taps_fixed<16>(m.data, t, out); return;
    case 32: sample_taps_fixed<32>(m.data, t, out); return;
    case 64: sample_taps_fixed<64>(m.data, t, out); return;
    default:
      for (int64_t c = 0; c < m.C; ++c)
        out[c] = t.weight[0] * m.data[t.offset[0] + c] + t.weight[1] * m.data[t.offset[1] + c] +
                 t.weight[2] * m.data[t.offset[2] + c] + t.weight[3] * m.data[t.offset[3] + c];
  }
}

/// The taps of up to kMax points in one map (bilinear_taps_block's layout), and the gathers they drive.
template <int kMax>
struct TapBlock {
  int64_t offset[4][kMax];
  float weight[4][kMax];

  /// The taps of `m` at pixels (u[i], v[i]), i < n.
  void compute(const MapView& m, const float* u, const float* v, int64_t n) {
    bilinear_taps_block<kMax>(m, u, v, n, offset, weight);
  }
  Taps at(int64_t i) const {
    return Taps{{offset[0][i], offset[1][i], offset[2][i], offset[3][i]},
                {weight[0][i], weight[1][i], weight[2][i], weight[3][i]}};
  }
  /// Point i's sample of `m` (the map the taps were computed in) into out + i * stride, i < n.
  void gather(const MapView& m, int64_t n, float* out, int64_t stride) const {
    for (int64_t i = 0; i < n; ++i) sample_taps(m, at(i), out + i * stride);
  }
};

constexpr int kRayDiffWidth = 4;  // the ray difference: target minus source direction (3) and their cosine (1)

/// One source view's projection of up to kMax samples, structure of arrays: pixel (u, v), whether the point lies in
/// front of the camera and inside the image [0,W] x [0,H], the unit direction from the camera centre, its length
/// and the ray difference [target dir - source dir, their cosine] (IBRNet's and GP-NeRF's view-direction input).
template <int kMax>
struct ProjectionBlock {
  float u[kMax], v[kMax], dist[kMax], src[3][kMax], rd[kRayDiffWidth][kMax];
  uint8_t ok[kMax];
};

/// Projects points p[i] = points + 3 i with target directions d[i] = dirs + dir_stride * i (i < n <= kMax) into the
/// source view with world-to-camera P [3x4, row-major], intrinsics K [fx, fy, cx, cy] and centre o. A pass of its own
/// (GCC keeps it scalar: the guarded division, sqrt's errno) so that the taps and gathers after it run over ready
/// coordinates.
template <int kMax>
inline void project_block(const float* P, const float* K, const float* o, float W, float H, const float* points,
                          const float* dirs, int64_t dir_stride, int64_t n, ProjectionBlock<kMax>& out) {
  const float fx = K[0], fy = K[1], cx = K[2], cy = K[3];
  for (int64_t i = 0; i < n; ++i) {
    const float* p = points + 3 * i;
    const float* d = dirs + dir_stride * i;
    const float xc = P[0] * p[0] + P[1] * p[1] + P[2] * p[2] + P[3];
    const float yc = P[4] * p[0] + P[5] * p[1] + P[6] * p[2] + P[7];
    const float zc = P[8] * p[0] + P[9] * p[1] + P[10] * p[2] + P[11];
    const float safe_z = std::abs(zc) > 1e-6f ? zc : 1e-6f;
    const float u = fx * xc / safe_z + cx, vv = fy * yc / safe_z + cy;
    out.u[i] = u;
    out.v[i] = vv;
    out.ok[i] = (zc > 1e-6f) & (u >= 0.0f) & (u <= W) & (vv >= 0.0f) & (vv <= H);
    const float tx = p[0] - o[0], ty = p[1] - o[1], tz = p[2] - o[2];
    const float len = std::sqrt(tx * tx + ty * ty + tz * tz);
    const float inv = 1.0f / std::max(len, 1e-6f);
    const float sx = tx * inv, sy = ty * inv, sz = tz * inv;
    out.dist[i] = len;
    out.src[0][i] = sx;
    out.src[1][i] = sy;
    out.src[2][i] = sz;
    out.rd[0][i] = d[0] - sx;
    out.rd[1][i] = d[1] - sy;
    out.rd[2][i] = d[2] - sz;
    out.rd[3][i] = d[0] * sx + d[1] * sy + d[2] * sz;
  }
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
