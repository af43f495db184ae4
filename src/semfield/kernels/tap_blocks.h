// The fused CPU inference kernels' projections of sample blocks into source views and their bilinear taps and
// gathers (ibr_aggregate.cpp, gpnerf_forward.cpp, featurenerf_forward.cpp, through fused_layers.h): vector code over 8
// lanes with AVX2 and 16 with AVX-512, a scalar loop for the rest. No ATen, so that tests/simd/ can check the AVX2
// branches on any x86-64 machine. Private to src/semfield/kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "semfield/kernels/bilinear_lanes.h"
#include "semfield/kernels/simd_ops.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "may be used uninitialized" once
// inlined (a false positive in the system header; see simd_ops.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels::detail {

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
#elif defined(__AVX2__) && defined(__FMA__)
  // 8 points at a time, the AVX-512 branch's arithmetic on 8 lanes (perf on an AVX2-only Zen 3: the scalar taps and
  // projections were over half of the IBR kernel's own time, ~10 % of a 256x256 view).
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
  const __m256 vW = _mm256_set1_ps(m.W), vH = _mm256_set1_ps(m.H), minus_one = _mm256_set1_ps(-1.0f);
  const __m256 fw = _mm256_set1_ps(static_cast<float>(m.w)), fh = _mm256_set1_ps(static_cast<float>(m.h));
  const __m256 hw = _mm256_set1_ps(static_cast<float>(m.w) * 0.5f), hh = _mm256_set1_ps(static_cast<float>(m.h) * 0.5f);
  const __m256i iw = _mm256_set1_epi32(static_cast<int32_t>(m.w)), ih = _mm256_set1_epi32(static_cast<int32_t>(m.h));
  const __m256i ione = _mm256_set1_epi32(1), iminus_one = _mm256_set1_epi32(-1);
  // Offsets in 64 bits: y0 (w C) + x0 C from 32-bit factors (_mm256_mul_epi32); a map with w C >= 2^31 takes the
  // scalar loop.
  const __m256i vC = _mm256_set1_epi64x(m.C), vrow = _mm256_set1_epi64x(m.w * m.C);
  const bool narrow = m.w * m.C <= std::numeric_limits<int32_t>::max();
  for (; narrow && i + 8 <= n; i += 8) {
    const __m256 gx = _mm256_sub_ps(_mm256_mul_ps(_mm256_div_ps(_mm256_loadu_ps(u + i), vW), two), one);
    const __m256 gy = _mm256_sub_ps(_mm256_mul_ps(_mm256_div_ps(_mm256_loadu_ps(v + i), vH), two), one);
    const __m256 x = _mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(gx, one), hw), half);
    const __m256 y = _mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(gy, one), hh), half);
    // Ordered comparisons: false for NaN.
    const __m256 inside = _mm256_and_ps(
        _mm256_and_ps(_mm256_cmp_ps(x, minus_one, _CMP_GE_OQ), _mm256_cmp_ps(x, fw, _CMP_LE_OQ)),
        _mm256_and_ps(_mm256_cmp_ps(y, minus_one, _CMP_GE_OQ), _mm256_cmp_ps(y, fh, _CMP_LE_OQ)));
    // Lanes without taps compute on 0 so the conversions stay in range.
    const __m256 xs = _mm256_and_ps(inside, x), ys = _mm256_and_ps(inside, y);
    const __m256 x0f = _mm256_floor_ps(xs), y0f = _mm256_floor_ps(ys);
    const __m256 fx = _mm256_sub_ps(xs, x0f), fy = _mm256_sub_ps(ys, y0f);
    const __m256i x0 = _mm256_cvttps_epi32(x0f), y0 = _mm256_cvttps_epi32(y0f);
    const __m256i in = _mm256_castps_si256(inside);
    const __m256i in_x0 = _mm256_and_si256(_mm256_cmpgt_epi32(x0, iminus_one), _mm256_cmpgt_epi32(iw, x0));
    const __m256i in_x1 = _mm256_cmpgt_epi32(iw, _mm256_add_epi32(x0, ione));
    const __m256i in_y0 =
        _mm256_and_si256(in, _mm256_and_si256(_mm256_cmpgt_epi32(y0, iminus_one), _mm256_cmpgt_epi32(ih, y0)));
    const __m256i in_y1 = _mm256_and_si256(in, _mm256_cmpgt_epi32(ih, _mm256_add_epi32(y0, ione)));
    const __m256i tap[4] = {_mm256_and_si256(in_y0, in_x0), _mm256_and_si256(in_y0, in_x1),
                            _mm256_and_si256(in_y1, in_x0), _mm256_and_si256(in_y1, in_x1)};
    const __m256 ax = _mm256_sub_ps(one, fx), ay = _mm256_sub_ps(one, fy);
    const __m256 wt[4] = {_mm256_mul_ps(ay, ax), _mm256_mul_ps(ay, fx), _mm256_mul_ps(fy, ax), _mm256_mul_ps(fy, fx)};
    for (int k = 0; k < 4; ++k) _mm256_storeu_ps(weight[k] + i, _mm256_and_ps(_mm256_castsi256_ps(tap[k]), wt[k]));
    for (int h4 = 0; h4 < 2; ++h4) {
      const __m256i x0h = _mm256_cvtepi32_epi64(h4 == 0 ? _mm256_castsi256_si128(x0) : _mm256_extracti128_si256(x0, 1));
      const __m256i y0h = _mm256_cvtepi32_epi64(h4 == 0 ? _mm256_castsi256_si128(y0) : _mm256_extracti128_si256(y0, 1));
      const __m256i base = _mm256_add_epi64(_mm256_mul_epi32(y0h, vrow), _mm256_mul_epi32(x0h, vC));
      const __m256i off[4] = {base, _mm256_add_epi64(base, vC), _mm256_add_epi64(base, vrow),
                              _mm256_add_epi64(_mm256_add_epi64(base, vrow), vC)};
      for (int k = 0; k < 4; ++k) {
        const __m256i keep = _mm256_cvtepi32_epi64(h4 == 0 ? _mm256_castsi256_si128(tap[k])
                                                           : _mm256_extracti128_si256(tap[k], 1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(offset[k] + i + 4 * h4), _mm256_and_si256(keep, off[k]));
      }
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

/// Calls f(std::integral_constant<int, C>{}) where C is a channel count with a specialised loop (3, 8, 16, 32, 64:
/// colours and the encoders' widths) and returns true; false (f not called) for any other count.
template <typename F>
inline bool with_fixed_channels(int64_t C, F&& f) {
  switch (C) {
    case 3: f(std::integral_constant<int, 3>{}); return true;
    case 8: f(std::integral_constant<int, 8>{}); return true;
    case 16: f(std::integral_constant<int, 16>{}); return true;
    case 32: f(std::integral_constant<int, 32>{}); return true;
    case 64: f(std::integral_constant<int, 64>{}); return true;
    default: return false;
  }
}

inline void sample_taps(const MapView& m, const Taps& t, float* out) {
  if (with_fixed_channels(m.C, [&](auto c) { sample_taps_fixed<decltype(c)::value>(m.data, t, out); })) return;
  for (int64_t c = 0; c < m.C; ++c)
    out[c] = t.weight[0] * m.data[t.offset[0] + c] + t.weight[1] * m.data[t.offset[1] + c] +
             t.weight[2] * m.data[t.offset[2] + c] + t.weight[3] * m.data[t.offset[3] + c];
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
  /// Point i's sample of `m` (the map the taps were computed in) into out + i * stride, i < n. The channel count is
  /// resolved once per block (sample_taps_fixed inlined in one loop per count): one sample_taps call per point (not
  /// inlined, a Taps copy and the channel switch each time) was ~11 % of a 256x256 IBR view on an AVX2-only Zen 3.
  void gather(const MapView& m, int64_t n, float* out, int64_t stride) const {
    const bool fixed = with_fixed_channels(m.C, [&](auto c) {
      for (int64_t i = 0; i < n; ++i) sample_taps_fixed<decltype(c)::value>(m.data, at(i), out + i * stride);
    });
    if (!fixed)
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
/// (8 lanes at a time with AVX2; GCC keeps the scalar loop scalar: the guarded division, sqrt's errno) so that the
/// taps and gathers after it run over ready coordinates.
template <int kMax>
inline void project_block(const float* P, const float* K, const float* o, float W, float H, const float* points,
                          const float* dirs, int64_t dir_stride, int64_t n, ProjectionBlock<kMax>& out) {
  const float fx = K[0], fy = K[1], cx = K[2], cy = K[3];
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // 8 points at a time (the AVX-512 build too): the same arithmetic as the scalar loop below up to the order of its
  // sums (the scalar loop's are contracted into FMAs where GCC chooses).
  {
    const __m256 eps = _mm256_set1_ps(1e-6f), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 vfx = _mm256_set1_ps(fx), vfy = _mm256_set1_ps(fy), vcx = _mm256_set1_ps(cx), vcy = _mm256_set1_ps(cy);
    const __m256 vW = _mm256_set1_ps(W), vH = _mm256_set1_ps(H);
    __m256 Pm[12];
    for (int k = 0; k < 12; ++k) Pm[k] = _mm256_set1_ps(P[k]);
    const __m256 o0 = _mm256_set1_ps(o[0]), o1 = _mm256_set1_ps(o[1]), o2 = _mm256_set1_ps(o[2]);
    for (; i + 8 <= n; i += 8) {
      alignas(32) float c[6][8];  // the 8 points' and directions' coordinates, structure of arrays
      for (int j = 0; j < 8; ++j) {
        const float* p = points + 3 * (i + j);
        const float* d = dirs + dir_stride * (i + j);
        c[0][j] = p[0], c[1][j] = p[1], c[2][j] = p[2], c[3][j] = d[0], c[4][j] = d[1], c[5][j] = d[2];
      }
      const __m256 px = _mm256_load_ps(c[0]), py = _mm256_load_ps(c[1]), pz = _mm256_load_ps(c[2]);
      const __m256 xc = _mm256_fmadd_ps(Pm[0], px, _mm256_fmadd_ps(Pm[1], py, _mm256_fmadd_ps(Pm[2], pz, Pm[3])));
      const __m256 yc = _mm256_fmadd_ps(Pm[4], px, _mm256_fmadd_ps(Pm[5], py, _mm256_fmadd_ps(Pm[6], pz, Pm[7])));
      const __m256 zc = _mm256_fmadd_ps(Pm[8], px, _mm256_fmadd_ps(Pm[9], py, _mm256_fmadd_ps(Pm[10], pz, Pm[11])));
      // safe_z = |zc| > 1e-6 ? zc : 1e-6 (1e-6 for NaN, as the scalar comparison).
      const __m256 safe_z = _mm256_blendv_ps(eps, zc, _mm256_cmp_ps(_mm256_and_ps(zc, abs_mask), eps, _CMP_GT_OQ));
      const __m256 uu = _mm256_add_ps(_mm256_div_ps(_mm256_mul_ps(vfx, xc), safe_z), vcx);
      const __m256 vv = _mm256_add_ps(_mm256_div_ps(_mm256_mul_ps(vfy, yc), safe_z), vcy);
      _mm256_storeu_ps(out.u + i, uu);
      _mm256_storeu_ps(out.v + i, vv);
      const __m256 ok = _mm256_and_ps(
          _mm256_and_ps(_mm256_cmp_ps(zc, eps, _CMP_GT_OQ),
                        _mm256_and_ps(_mm256_cmp_ps(uu, zero, _CMP_GE_OQ), _mm256_cmp_ps(uu, vW, _CMP_LE_OQ))),
          _mm256_and_ps(_mm256_cmp_ps(vv, zero, _CMP_GE_OQ), _mm256_cmp_ps(vv, vH, _CMP_LE_OQ)));
      const int bits = _mm256_movemask_ps(ok);
      for (int j = 0; j < 8; ++j) out.ok[i + j] = static_cast<uint8_t>((bits >> j) & 1);
      const __m256 tx = _mm256_sub_ps(px, o0), ty = _mm256_sub_ps(py, o1), tz = _mm256_sub_ps(pz, o2);
      const __m256 len =
          _mm256_sqrt_ps(_mm256_fmadd_ps(tx, tx, _mm256_fmadd_ps(ty, ty, _mm256_mul_ps(tz, tz))));
      // max(eps, len) returns len when len is NaN, as std::max(len, 1e-6f) does.
      const __m256 inv = _mm256_div_ps(one, _mm256_max_ps(eps, len));
      const __m256 sx = _mm256_mul_ps(tx, inv), sy = _mm256_mul_ps(ty, inv), sz = _mm256_mul_ps(tz, inv);
      const __m256 dx = _mm256_load_ps(c[3]), dy = _mm256_load_ps(c[4]), dz = _mm256_load_ps(c[5]);
      _mm256_storeu_ps(out.dist + i, len);
      _mm256_storeu_ps(out.src[0] + i, sx);
      _mm256_storeu_ps(out.src[1] + i, sy);
      _mm256_storeu_ps(out.src[2] + i, sz);
      _mm256_storeu_ps(out.rd[0] + i, _mm256_sub_ps(dx, sx));
      _mm256_storeu_ps(out.rd[1] + i, _mm256_sub_ps(dy, sy));
      _mm256_storeu_ps(out.rd[2] + i, _mm256_sub_ps(dz, sz));
      _mm256_storeu_ps(out.rd[3] + i, _mm256_fmadd_ps(dx, sx, _mm256_fmadd_ps(dy, sy, _mm256_mul_ps(dz, sz))));
    }
  }
#endif
  for (; i < n; ++i) {
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

}  // namespace semfield::kernels::detail

#pragma GCC diagnostic pop
