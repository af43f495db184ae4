// Projection and bilinear gathering with LibTorch ops, and the fused gather kernel (see the header).
#include "semfield/kernels/gather_project.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/bilinear_lanes.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/simd_ops.h"

namespace semfield {

SourceCameraBatch SourceCameraBatch::from_cameras(const std::vector<Camera>& cameras) {
  const int64_t V = static_cast<int64_t>(cameras.size());
  SourceCameraBatch out;
  out.w2c = at::empty({V, 3, 4}, at::kFloat);
  out.intrinsics = at::empty({V, 4}, at::kFloat);
  out.sizes = at::empty({V, 2}, at::kFloat);
  out.origins = at::empty({V, 3}, at::kFloat);
  auto w2c = out.w2c.accessor<float, 3>();
  auto k = out.intrinsics.accessor<float, 2>();
  auto sizes = out.sizes.accessor<float, 2>();
  auto origins = out.origins.accessor<float, 2>();
  for (int64_t v = 0; v < V; ++v) {
    const Camera& c = cameras[static_cast<size_t>(v)];
    const Intrinsics& K = c.intrinsics;
    if (K.model != CameraModel::Pinhole && !K.distortion.is_zero())
      fail_usage("source view {}: cameras with lens distortion are not supported as source views; undistort the "
                 "images first",
                 v);
    // OpenGL c2w -> OpenCV w2c: R^T, then negate the camera's y and z rows.
    const Eigen::Matrix3d R = c.c2w.block<3, 3>(0, 0).transpose();
    const Eigen::Vector3d t = -R * c.origin();
    for (int r = 0; r < 3; ++r) {
      const double sign = r == 0 ? 1.0 : -1.0;
      for (int col = 0; col < 3; ++col) w2c[v][r][col] = static_cast<float>(sign * R(r, col));
      w2c[v][r][3] = static_cast<float>(sign * t[r]);
      origins[v][r] = static_cast<float>(c.origin()[r]);
    }
    k[v][0] = static_cast<float>(K.fx);
    k[v][1] = static_cast<float>(K.fy);
    k[v][2] = static_cast<float>(K.cx);
    k[v][3] = static_cast<float>(K.cy);
    sizes[v][0] = static_cast<float>(K.width);
    sizes[v][1] = static_cast<float>(K.height);
  }
  return out;
}

SourceCameraBatch SourceCameraBatch::to(const at::Device& device) const {
  return {w2c.to(device), intrinsics.to(device), sizes.to(device), origins.to(device)};
}

Projection project_points(const at::Tensor& points, const SourceCameraBatch& cameras) {
  SEMFIELD_ASSERT(points.dim() == 2 && points.size(1) == 3, "project_points: points must be [N,3]");
  const int64_t V = cameras.size();
  // x_cam[v] = R[v] p + t[v]  ->  [V,N,3]
  const at::Tensor R = cameras.w2c.narrow(2, 0, 3), t = cameras.w2c.narrow(2, 3, 1);  // [V,3,3], [V,3,1]
  const at::Tensor cam = at::matmul(R, points.t().unsqueeze(0).expand({V, 3, points.size(0)})) + t;  // [V,3,N]
  const at::Tensor z = cam.select(1, 2);                                                               // [V,N]
  const at::Tensor safe_z = at::where(z.abs() > 1e-6f, z, at::full_like(z, 1e-6f));
  const at::Tensor fx = cameras.intrinsics.select(1, 0).unsqueeze(1), fy = cameras.intrinsics.select(1, 1).unsqueeze(1);
  const at::Tensor cx = cameras.intrinsics.select(1, 2).unsqueeze(1), cy = cameras.intrinsics.select(1, 3).unsqueeze(1);
  const at::Tensor u = fx * cam.select(1, 0) / safe_z + cx, v = fy * cam.select(1, 1) / safe_z + cy;
  Projection out;
  out.uv = at::stack({u, v}, 2);
  out.depth = z;
  const at::Tensor w = cameras.sizes.select(1, 0).unsqueeze(1), h = cameras.sizes.select(1, 1).unsqueeze(1);
  out.valid = (z > 1e-6f) & (u >= 0) & (u <= w) & (v >= 0) & (v <= h);
  return out;
}

at::Tensor sample_maps(const at::Tensor& maps, const at::Tensor& uv, const at::Tensor& sizes) {
  SEMFIELD_ASSERT(maps.dim() == 4 && uv.dim() == 3 && uv.size(2) == 2 && maps.size(0) == uv.size(0),
                  "sample_maps: maps [V,C,h,w] and uv [V,N,2] expected");
  // grid_sampler's normalised coordinates with align_corners = false: -1 and 1 are the image's outer edges, so
  // a pixel coordinate of the full-size image maps to 2 u / W - 1 whatever the map's resolution.
  const at::Tensor grid = (uv / sizes.unsqueeze(1)) * 2.0f - 1.0f;  // [V,N,2]
  const at::Tensor sampled = at::grid_sampler_2d(maps, grid.unsqueeze(1).to(maps.scalar_type()), /*bilinear*/ 0,
                                                 /*zeros*/ 0, /*align_corners=*/false);  // [V,C,1,N]
  return sampled.squeeze(2).permute({0, 2, 1});
}

// =================================================================================================================
// Fused bilinear gather: CPU kernels (float32 with AVX-512 channel loops where available, float64 and other builds
// with plain loops), the autograd wrapper and the device dispatch.
// =================================================================================================================

namespace {

constexpr int64_t kGatherGrain = 2048;  // samples per parallel chunk (~20 us at 35 channels; smaller calls run inline)

/// One view's constants: the image size and grid_sampler's unnormalisation factors.
template <typename T>
struct GatherView {
  T W, H;            // image size (pixels)
  T half_w, half_h;  // w / 2, h / 2: grid_sampler's scaling factor (align_corners = false)
  T dx_du, dy_dv;    // w / W, h / H: the chain rule from map to image coordinates
};

enum class TapsFound : uint8_t { kNone, kSome, kNotFinite };

/// The taps of up to kTapBlock consecutive samples of one view (lane j: sample first + j), in grid_sampler's order
/// (nw, ne, sw, se): element offsets into the view's [h,w,C] map (-1 for a tap outside the map), bilinear weights,
/// and the fractional positions fx, fy in the cell. found(j): kSome when a tap may lie inside the map, kNone when none
/// can (more than a map pixel outside), kNotFinite for a NaN or infinite coordinate.
constexpr int64_t kTapBlock = 16;
template <typename T>
struct GatherTapBlock {
  int64_t offset[4][kTapBlock];
  T weight[4][kTapBlock];
  T fx[kTapBlock], fy[kTapBlock];
  uint32_t some = 0;    // bit j: lane j has taps that may lie inside the map
  uint32_t finite = 0;  // bit j: lane j's coordinates are finite
  TapsFound found(int64_t j) const {
    return (some >> j) & 1u ? TapsFound::kSome : (finite >> j) & 1u ? TapsFound::kNone : TapsFound::kNotFinite;
  }
};

/// Lane j of `block` from image coordinate (u, v), with grid_sampler's arithmetic: g = (u / W) * 2 - 1,
/// x = (g + 1) * w/2 - 0.5. The int conversions only see coordinates within a map pixel of the map.
template <typename T>
inline void gather_taps(T u, T v, const GatherView<T>& view, int64_t w, int64_t h, int64_t C, GatherTapBlock<T>& block,
                        int64_t j) {
  const T gx = (u / view.W) * T(2) - T(1), gy = (v / view.H) * T(2) - T(1);
  const T x = (gx + T(1)) * view.half_w - T(0.5), y = (gy + T(1)) * view.half_h - T(0.5);
  if (std::isfinite(x) && std::isfinite(y)) block.finite |= 1u << j;
  if (!(x >= T(-1) && x <= T(w) && y >= T(-1) && y <= T(h))) return;
  block.some |= 1u << j;
  const T x0f = std::floor(x), y0f = std::floor(y);
  const int64_t x0 = int64_t(x0f), y0 = int64_t(y0f);
  const T fx = x - x0f, fy = y - y0f, ex = T(1) - fx, ey = T(1) - fy;
  block.fx[j] = fx;
  block.fy[j] = fy;
  block.weight[0][j] = ey * ex;
  block.weight[1][j] = ey * fx;
  block.weight[2][j] = fy * ex;
  block.weight[3][j] = fy * fx;
  // x0 is in [-1, w] here, so x0 + 1 >= 0 and only x0 needs both bounds.
  const bool in_x0 = x0 >= 0 && x0 < w, in_x1 = x0 + 1 < w, in_y0 = y0 >= 0 && y0 < h, in_y1 = y0 + 1 < h;
  const int64_t base = (y0 * w + x0) * C;
  block.offset[0][j] = in_y0 && in_x0 ? base : -1;
  block.offset[1][j] = in_y0 && in_x1 ? base + C : -1;
  block.offset[2][j] = in_y1 && in_x0 ? base + w * C : -1;
  block.offset[3][j] = in_y1 && in_x1 ? base + (w + 1) * C : -1;
}

/// Lanes [0, count) of `block` from uv [count, 2] (interleaved u, v).
template <typename T>
inline void fill_tap_block(const T* uv, int64_t count, const GatherView<T>& view, int64_t w, int64_t h, int64_t C,
                           GatherTapBlock<T>& block) {
  block.some = block.finite = 0;
  for (int64_t j = 0; j < count; ++j) gather_taps(uv[2 * j], uv[2 * j + 1], view, w, h, C, block, j);
}

#ifdef __AVX512F__
// GCC 12's AVX-512 headers seed unmasked conversions and reductions with _mm512_undefined_*(), which it then reports
// as (maybe) used uninitialized once inlined: false positives in the system header (as in simd_ops.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
/// float32: 16 lanes at once, the same arithmetic as gather_taps lane by lane (int32 positions: the caller checks
/// that (h + 1) (w + 1) C fits). The scalar version spent more time in conversions and branches than in the channel
/// loops: BM_Gather/4096/1/0 (1 thread, cache-resident) 0.98 -> 0.45 ms CPU with this and the bit masks.
inline void fill_tap_block_f32(const float* uv, int64_t count, const GatherView<float>& view, int64_t w, int64_t h,
                               int64_t C, GatherTapBlock<float>& block) {
  const __mmask16 lanes = kernels::detail::tail_mask(count);
  const __m512 a = _mm512_maskz_loadu_ps(kernels::detail::tail_mask(2 * count), uv);
  const __m512 b = _mm512_maskz_loadu_ps(count > 8 ? kernels::detail::tail_mask(2 * count - 16) : 0, uv + 16);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 u = _mm512_permutex2var_ps(a, even, b), v = _mm512_permutex2var_ps(a, odd, b);
  const kernels::detail::BilinearLanes t = kernels::detail::bilinear_lanes(u, v, view.W, view.H, w, h, lanes);
  const __m512 max_finite = _mm512_set1_ps(std::numeric_limits<float>::max());
  const __mmask16 finite = _mm512_cmp_ps_mask(_mm512_abs_ps(t.x), max_finite, _CMP_LE_OQ) &
                           _mm512_cmp_ps_mask(_mm512_abs_ps(t.y), max_finite, _CMP_LE_OQ);
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 ex = _mm512_sub_ps(one, t.fx), ey = _mm512_sub_ps(one, t.fy);
  _mm512_storeu_ps(block.fx, t.fx);
  _mm512_storeu_ps(block.fy, t.fy);
  _mm512_storeu_ps(block.weight[0], _mm512_mul_ps(ey, ex));
  _mm512_storeu_ps(block.weight[1], _mm512_mul_ps(ey, t.fx));
  _mm512_storeu_ps(block.weight[2], _mm512_mul_ps(t.fy, ex));
  _mm512_storeu_ps(block.weight[3], _mm512_mul_ps(t.fy, t.fx));
  // Offsets in int32 (the caller checks that (h + 1) (w + 1) C fits), -1 for taps outside the map.
  const __m512i iw = _mm512_set1_epi32(int32_t(w)), ic = _mm512_set1_epi32(int32_t(C)), minus = _mm512_set1_epi32(-1);
  const __m512i base = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_mullo_epi32(t.y0, iw), t.x0), ic);
  const __m512i row = _mm512_mullo_epi32(iw, ic);
  const __m512i offsets[4] = {_mm512_mask_mov_epi32(minus, t.tap[0], base),
                              _mm512_mask_mov_epi32(minus, t.tap[1], _mm512_add_epi32(base, ic)),
                              _mm512_mask_mov_epi32(minus, t.tap[2], _mm512_add_epi32(base, row)),
                              _mm512_mask_mov_epi32(minus, t.tap[3], _mm512_add_epi32(_mm512_add_epi32(base, row), ic))};
  for (int k = 0; k < 4; ++k) {
    _mm512_storeu_si512(block.offset[k], _mm512_maskz_cvtepi32_epi64(0xFF, _mm512_castsi512_si256(offsets[k])));
    _mm512_storeu_si512(block.offset[k] + 8,
                        _mm512_maskz_cvtepi32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xFF, offsets[k], 1)));
  }
  block.some = t.inside;
  block.finite = finite;
}
#pragma GCC diagnostic pop
#endif

/// Walks samples [begin, end) of one view (uv: the view's [N,2] coordinates) in blocks of kTapBlock:
/// per_block(first, count, block) runs on the taps of samples first .. first + count - 1, after the taps of the next
/// block are computed. The sequential streams are prefetched a block or more ahead: uv, and `rows` (may be null), the
/// per-sample C-vectors the caller streams through (the output rows, the upstream gradient): on the 2-core VM,
/// 1 thread, BM_Gather/65536/1/1 (forward + backward) took 20.2 and 16.8 ms with these prefetches against 23.3 and
/// 18.0 ms without (two runs; the forward alone unchanged). Prefetching the taps' map rows as well (128 prefetches a
/// block) made the forward slower, 11.0-14.5 ms against 7.0-7.8 ms, even with 512x512 colour and 128x128 feature maps
/// (3 and 2 MB a view): out-of-order execution already overlaps those misses.
template <typename T, typename PerBlock>
inline void for_each_tap_block(const T* uv, int64_t begin, int64_t end, const GatherView<T>& view, int64_t w,
                               int64_t h, int64_t C, const T* rows, PerBlock&& per_block) {
  if (begin >= end) return;
  GatherTapBlock<T> blocks[2];
#ifdef __AVX512F__
  const bool vector_taps = std::is_same_v<T, float> && (h + 1) * (w + 1) * C < (int64_t(1) << 31);
#endif
  auto fill = [&](int64_t first, GatherTapBlock<T>& block) {
    const int64_t count = std::min(kTapBlock, end - first);
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (vector_taps)
        fill_tap_block_f32(uv + 2 * first, count, view, w, h, C, block);
      else
        fill_tap_block(uv + 2 * first, count, view, w, h, C, block);
    } else {
      fill_tap_block(uv + 2 * first, count, view, w, h, C, block);
    }
#else
    fill_tap_block(uv + 2 * first, count, view, w, h, C, block);
#endif
    // uv four blocks ahead (prefetching past the end of the array is harmless), the rows of the block just filled.
    __builtin_prefetch(uv + 2 * (first + 4 * kTapBlock), 0, 0);
    __builtin_prefetch(uv + 2 * (first + 4 * kTapBlock) + kTapBlock, 0, 0);
    if (rows) {
      const char* r = reinterpret_cast<const char*>(rows + first * C);
      const char* r_end = reinterpret_cast<const char*>(rows + (first + count) * C);
      for (; r < r_end; r += 64) __builtin_prefetch(r, 1, 0);
    }
  };
  fill(begin, blocks[0]);
  int current = 0;
  for (int64_t first = begin; first < end; first += kTapBlock) {
    if (first + kTapBlock < end) fill(first + kTapBlock, blocks[current ^ 1]);
    per_block(first, std::min(kTapBlock, end - first), blocks[current]);
    current ^= 1;
  }
}

/// out[0..C) = sum_k w[k] p[k][0..C), summed in grid_sampler's order (nw + ne) + sw + se.
template <typename T>
inline void combine_taps(int64_t C, const T* const p[4], const T w[4], T* out) {
  const T* __restrict p0 = p[0];
  const T* __restrict p1 = p[1];
  const T* __restrict p2 = p[2];
  const T* __restrict p3 = p[3];
  T* __restrict o = out;
  for (int64_t c = 0; c < C; ++c) o[c] = w[0] * p0[c] + w[1] * p1[c] + w[2] * p2[c] + w[3] * p3[c];
}

/// For the backward: d[k] = <g, p[k]> (kUv) and q[k][0..C) += w[k] g (kMaps), in one pass over the channels. The
/// four q rows are distinct (or scratch rows) and never alias g or p.
template <bool kMaps, bool kUv, typename T>
inline void scatter_taps(int64_t C, const T* g, const T* const p[4], T* const q[4], const T w[4], T d[4]) {
  // std::fma, not a * b + c: whether the compiler contracts the latter differs between the kMaps / kUv
  // instantiations, which must give the same d (the uv gradient does not depend on whether the maps' is wanted).
  T d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T gc = g[c];
    if constexpr (kUv) {
      d0 = std::fma(gc, p[0][c], d0);
      d1 = std::fma(gc, p[1][c], d1);
      d2 = std::fma(gc, p[2][c], d2);
      d3 = std::fma(gc, p[3][c], d3);
    }
    if constexpr (kMaps) {
      q[0][c] += w[0] * gc;
      q[1][c] += w[1] * gc;
      q[2][c] += w[2] * gc;
      q[3][c] += w[3] * gc;
    }
  }
  d[0] = d0;
  d[1] = d1;
  d[2] = d2;
  d[3] = d3;
}

#ifdef __AVX512F__
// GCC 12's AVX-512 reduction intrinsics trip a false -Wmaybe-uninitialized once inlined (as in simd_ops.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// float32 channel loops in 16-lane blocks with a masked tail (35 channels: 2 blocks and a 3-lane tail).
template <>
inline void combine_taps<float>(int64_t C, const float* const p[4], const float w[4], float* out) {
  const __m512 w0 = _mm512_set1_ps(w[0]), w1 = _mm512_set1_ps(w[1]), w2 = _mm512_set1_ps(w[2]),
               w3 = _mm512_set1_ps(w[3]);
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    __m512 acc = _mm512_mul_ps(w0, _mm512_loadu_ps(p[0] + c));
    acc = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p[1] + c), acc);
    acc = _mm512_fmadd_ps(w2, _mm512_loadu_ps(p[2] + c), acc);
    acc = _mm512_fmadd_ps(w3, _mm512_loadu_ps(p[3] + c), acc);
    _mm512_storeu_ps(out + c, acc);
  }
  if (c < C) {
    const __mmask16 m = kernels::detail::tail_mask(C - c);
    __m512 acc = _mm512_mul_ps(w0, _mm512_maskz_loadu_ps(m, p[0] + c));
    acc = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m, p[1] + c), acc);
    acc = _mm512_fmadd_ps(w2, _mm512_maskz_loadu_ps(m, p[2] + c), acc);
    acc = _mm512_fmadd_ps(w3, _mm512_maskz_loadu_ps(m, p[3] + c), acc);
    _mm512_mask_storeu_ps(out + c, m, acc);
  }
}

template <bool kMaps, bool kUv>
inline void scatter_taps_block(__m512 vg, __mmask16 m, const float* const p[4], float* const q[4], const __m512 w[4],
                               __m512 acc[4], int64_t c) {
  for (int k = 0; k < 4; ++k) {
    if constexpr (kUv) acc[k] = _mm512_fmadd_ps(vg, _mm512_maskz_loadu_ps(m, p[k] + c), acc[k]);
    if constexpr (kMaps)
      _mm512_mask_storeu_ps(q[k] + c, m, _mm512_fmadd_ps(w[k], vg, _mm512_maskz_loadu_ps(m, q[k] + c)));
  }
}

template <bool kMaps, bool kUv>
inline void scatter_taps_f32(int64_t C, const float* g, const float* const p[4], float* const q[4], const float w[4],
                             float d[4]) {
  __m512 vw[4], acc[4];
  for (int k = 0; k < 4; ++k) {
    vw[k] = _mm512_set1_ps(w[k]);
    acc[k] = _mm512_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) scatter_taps_block<kMaps, kUv>(_mm512_loadu_ps(g + c), 0xFFFF, p, q, vw, acc, c);
  if (c < C) {
    const __mmask16 m = kernels::detail::tail_mask(C - c);
    scatter_taps_block<kMaps, kUv>(_mm512_maskz_loadu_ps(m, g + c), m, p, q, vw, acc, c);
  }
  if constexpr (kUv)
    for (int k = 0; k < 4; ++k) d[k] = _mm512_reduce_add_ps(acc[k]);
}
template <>
inline void scatter_taps<true, true, float>(int64_t C, const float* g, const float* const p[4], float* const q[4],
                                            const float w[4], float d[4]) {
  scatter_taps_f32<true, true>(C, g, p, q, w, d);
}
template <>
inline void scatter_taps<true, false, float>(int64_t C, const float* g, const float* const p[4], float* const q[4],
                                             const float w[4], float d[4]) {
  scatter_taps_f32<true, false>(C, g, p, q, w, d);
}
template <>
inline void scatter_taps<false, true, float>(int64_t C, const float* g, const float* const p[4], float* const q[4],
                                             const float w[4], float d[4]) {
  scatter_taps_f32<false, true>(C, g, p, q, w, d);
}
#pragma GCC diagnostic pop
#endif

/// Validated shapes of a gather.
struct GatherShape {
  int64_t V, h, w, C, N;
};

GatherShape check_gather(const char* op, const at::Tensor& maps_hwc, const at::Tensor& uv, const at::Tensor& sizes) {
  kernels::detail::check_defined(op, "maps_hwc", maps_hwc);
  TORCH_CHECK(maps_hwc.scalar_type() == at::kFloat || maps_hwc.scalar_type() == at::kDouble, op,
              ": maps_hwc must be Float or Double, got ", maps_hwc.scalar_type());
  kernels::detail::check_dim(op, "maps_hwc", maps_hwc, 4);
  TORCH_CHECK(maps_hwc.is_contiguous(), op,
              ": maps_hwc must be a contiguous channels-last [V,h,w,C] tensor (maps.permute({0, 2, 3, 1}).contiguous() "
              "of [V,C,h,w] maps), got strides ",
              maps_hwc.strides());
  kernels::detail::check_dtype(op, "uv", uv, maps_hwc.scalar_type());
  kernels::detail::check_dim(op, "uv", uv, 3);
  const int64_t V = maps_hwc.size(0);
  kernels::detail::check_size(op, "uv", uv, 0, V, "V, the views of maps_hwc");
  kernels::detail::check_size(op, "uv", uv, 2, 2, "u, v");
  kernels::detail::check_defined(op, "sizes", sizes);
  TORCH_CHECK(sizes.is_floating_point(), op, ": sizes must be a floating tensor, got ", sizes.scalar_type());
  kernels::detail::check_dim(op, "sizes", sizes, 2);
  kernels::detail::check_size(op, "sizes", sizes, 0, V, "V, the views of maps_hwc");
  kernels::detail::check_size(op, "sizes", sizes, 1, 2, "image width, height");
  kernels::detail::require_cpu(op, {{"maps_hwc", &maps_hwc}, {"uv", &uv}, {"sizes", &sizes}});
  return {V, maps_hwc.size(1), maps_hwc.size(2), maps_hwc.size(3), uv.size(1)};
}

template <typename T>
std::vector<GatherView<T>> gather_views(const char* op, const at::Tensor& sizes, const GatherShape& s) {
  const at::Tensor sz = sizes.to(at::kDouble).contiguous();
  const auto a = sz.accessor<double, 2>();
  std::vector<GatherView<T>> views(static_cast<size_t>(s.V));
  for (int64_t v = 0; v < s.V; ++v) {
    const double W = a[v][0], H = a[v][1];
    TORCH_CHECK(std::isfinite(W) && std::isfinite(H) && W > 0 && H > 0, op, ": sizes[", v,
                "] must be a positive image width and height, got ", W, " x ", H);
    // The image size as the reference sees it (uv / sizes in uv's dtype).
    const T Wt = T(W), Ht = T(H);
    views[size_t(v)] = {Wt, Ht, T(s.w) / T(2), T(s.h) / T(2), T(s.w) / Wt, T(s.h) / Ht};
  }
  return views;
}

template <typename T>
at::Tensor gather_forward_cpu(const at::Tensor& maps_hwc, const at::Tensor& uv_in, const at::Tensor& sizes,
                              const GatherShape& s) {
  const auto [V, h, w, C, N] = s;
  const std::vector<GatherView<T>> views = gather_views<T>("gather_bilinear_forward", sizes, s);
  at::Tensor out = at::empty({V, N, C}, maps_hwc.options());
  if (V * N * C == 0) return out;
  const at::Tensor uv = uv_in.contiguous();
  const T* maps = maps_hwc.data_ptr<T>();
  const T* uvp = uv.data_ptr<T>();
  T* o = out.data_ptr<T>();
  const std::vector<T> zeros(static_cast<size_t>(C), T(0));  // the row an outside tap reads
  const int64_t map_stride = h * w * C;
  // Chunks of kGatherGrain samples of the flattened [V*N], each walked view by view (a fixed partition: the same
  // blocks and results for any thread count; a small call runs inline).
  parallel_for(0, V * N, kGatherGrain, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin / N; v * N < end; ++v) {
      const T* map = maps + v * map_stride;
      T* ov = o + v * N * C;
      for_each_tap_block(uvp + v * N * 2, std::max(begin, v * N) - v * N, std::min(end, (v + 1) * N) - v * N,
                         views[size_t(v)], w, h, C, ov,
                         [&](int64_t first, int64_t count, const GatherTapBlock<T>& block) {
                           for (int64_t j = 0; j < count; ++j) {
                             T* oi = ov + (first + j) * C;
                             const TapsFound found = block.found(j);
                             if (found != TapsFound::kSome) {
                               std::fill(oi, oi + C,
                                         found == TapsFound::kNone ? T(0) : std::numeric_limits<T>::quiet_NaN());
                               continue;
                             }
                             const T* p[4];
                             T wk[4];
                             for (int k = 0; k < 4; ++k) {
                               const int64_t off = block.offset[k][j];
                               p[k] = off >= 0 ? map + off : zeros.data();
                               wk[k] = block.weight[k][j];
                             }
                             combine_taps(C, p, wk, oi);
                           }
                         });
    }
  });
  return out;
}

/// Backward over samples [begin, end) of the flattened [V*N] (N > 0): scatters into dmaps (the [V,h,w,C] gradient
/// or a private copy of it) and writes duv of those samples.
template <typename T, bool kMaps, bool kUv>
void gather_backward_samples(int64_t begin, int64_t end, const GatherShape& s, const std::vector<GatherView<T>>& views,
                             const T* maps, const T* uvp, const T* dout, const T* zeros, T* dmaps, T* duv) {
  const int64_t h = s.h, w = s.w, C = s.C, N = s.N;
  const int64_t map_stride = h * w * C;
  std::vector<T> sink(static_cast<size_t>(C));  // what outside taps' gradients are added to
  for (int64_t v = begin / N; v * N < end; ++v) {
    const GatherView<T>& view = views[size_t(v)];
    const T* map = maps + v * map_stride;
    T* dmap = kMaps ? dmaps + v * map_stride : nullptr;
    const T* gv = dout + v * N * C;
    T* duv_v = kUv ? duv + v * N * 2 : nullptr;
    const int64_t first_sample = std::max(begin, v * N) - v * N, end_sample = std::min(end, (v + 1) * N) - v * N;
    for_each_tap_block(
        uvp + v * N * 2, first_sample, end_sample, view, w, h, C, gv,
        [&](int64_t first, int64_t count, const GatherTapBlock<T>& block) {
          for (int64_t j = 0; j < count; ++j) {
            const int64_t n = first + j;
            const TapsFound found = block.found(j);
            if (found != TapsFound::kSome) {
              if constexpr (kUv)
                duv_v[2 * n] = duv_v[2 * n + 1] = found == TapsFound::kNone ? T(0) : std::numeric_limits<T>::quiet_NaN();
              continue;
            }
            const T* p[4];
            T* q[4];
            T wk[4];
            for (int k = 0; k < 4; ++k) {
              const int64_t off = block.offset[k][j];
              p[k] = off >= 0 ? map + off : zeros;
              q[k] = off >= 0 && kMaps ? dmap + off : sink.data();
              wk[k] = block.weight[k][j];
            }
            T d[4];
            scatter_taps<kMaps, kUv>(C, gv + n * C, p, q, wk, d);
            if constexpr (kUv) {
              // d out / d x = (1 - fy) (ne - nw) + fy (se - sw); d out / d y = (1 - fx) (sw - nw) + fx (se - ne).
              const T fx = block.fx[j], fy = block.fy[j];
              // Explicit fma (see scatter_taps): the same rounding in every instantiation.
              const T gx = std::fma(fy, d[3] - d[2], (T(1) - fy) * (d[1] - d[0]));
              const T gy = std::fma(fx, d[3] - d[1], (T(1) - fx) * (d[2] - d[0]));
              duv_v[2 * n] = gx * view.dx_du;
              duv_v[2 * n + 1] = gy * view.dy_dv;
            }
          }
        });
  }
}

// How the backward shares the map gradient among threads, race-free either way:
//   by views: one task per view, so each thread owns whole views of the gradient; deterministic (the same sums in
//     the same order for any thread count) and no extra memory, but only V tasks;
//   by thread buffers: the V*N samples split evenly, each part scattering into its own zeroed copy of the gradient,
//     then summed; balanced for any V, at the cost of zeroing and summing one gradient copy per extra thread.
// Measured on the 2-core VM (BM_Gather/N/1/1, 8 views, 2 threads, CPU time per iteration): 64K samples 15.7-17.2 ms
// by views, 15.2-16.1 ms by buffers; 1M samples 214-221 ms and 227-247 ms: the same within the noise. So views,
// whenever they keep the threads busy: V a multiple of the threads or many views per thread (4/5 of the ideal).
bool split_gradient_by_views(int64_t V, int64_t threads) {
  const int64_t rounds = (V + threads - 1) / threads;
  return threads <= 1 || 5 * V >= 4 * rounds * threads;
}

template <typename T, bool kMaps, bool kUv>
GatherBilinearGrads gather_backward_cpu(const at::Tensor& dL_dout, const at::Tensor& maps_hwc, const at::Tensor& uv_in,
                                        const at::Tensor& sizes, const GatherShape& s) {
  const auto [V, h, w, C, N] = s;
  const std::vector<GatherView<T>> views = gather_views<T>("gather_bilinear_backward", sizes, s);
  GatherBilinearGrads grads;
  if constexpr (kMaps) grads.dL_dmaps = at::empty(maps_hwc.sizes(), maps_hwc.options());
  if constexpr (kUv) grads.dL_duv = at::empty({V, N, 2}, maps_hwc.options());
  if (V * N == 0) {
    if constexpr (kMaps) grads.dL_dmaps.zero_();
    return grads;
  }
  const at::Tensor uv = uv_in.contiguous(), dout = dL_dout.contiguous();
  const T* maps = maps_hwc.data_ptr<T>();
  const T* uvp = uv.data_ptr<T>();
  const T* g = dout.data_ptr<T>();
  T* dmaps = kMaps ? grads.dL_dmaps.template data_ptr<T>() : nullptr;
  T* duv = kUv ? grads.dL_duv.template data_ptr<T>() : nullptr;
  const std::vector<T> zeros(static_cast<size_t>(C), T(0));
  const int64_t map_stride = h * w * C;
  const int64_t threads = std::min<int64_t>(parallel_threads(), (V * N + kGatherGrain - 1) / kGatherGrain);
  if constexpr (!kMaps) {  // per-sample outputs only: any split
    parallel_for(0, V * N, kGatherGrain, [&](int64_t b, int64_t e) {
      gather_backward_samples<T, kMaps, kUv>(b, e, s, views, maps, uvp, g, zeros.data(), dmaps, duv);
    });
    return grads;
  }
  if (split_gradient_by_views(V, threads)) {
    auto run_views = [&](int64_t vb, int64_t ve) {
      std::fill(dmaps + vb * map_stride, dmaps + ve * map_stride, T(0));
      gather_backward_samples<T, kMaps, kUv>(vb * N, ve * N, s, views, maps, uvp, g, zeros.data(), dmaps, duv);
    };
    if (threads <= 1)  // a small call: no thread team to wake
      run_views(0, V);
    else
      parallel_for(0, V, 1, run_views);
    return grads;
  }
  const int64_t total = V * N, map_total = V * map_stride, n_parts = threads;
  at::Tensor extra = at::empty({n_parts - 1, map_total}, maps_hwc.options());
  T* ex = extra.template data_ptr<T>();
  parallel_for(0, n_parts, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t part = pb; part < pe; ++part) {
      T* target = part == 0 ? dmaps : ex + (part - 1) * map_total;
      std::fill(target, target + map_total, T(0));
      gather_backward_samples<T, kMaps, kUv>(total * part / n_parts, total * (part + 1) / n_parts, s, views, maps,
                                             uvp, g, zeros.data(), target, duv);
    }
  });
  parallel_for(0, map_total, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t part = 1; part < n_parts; ++part) {
      const T* src = ex + (part - 1) * map_total;
      for (int64_t i = b; i < e; ++i) dmaps[i] += src[i];
    }
  });
  return grads;
}

}  // namespace

at::Tensor gather_bilinear_forward(const at::Tensor& maps_hwc, const at::Tensor& uv, const at::Tensor& sizes) {
  const GatherShape s = check_gather("gather_bilinear_forward", maps_hwc, uv, sizes);
  if (maps_hwc.scalar_type() == at::kDouble) return gather_forward_cpu<double>(maps_hwc, uv, sizes, s);
  return gather_forward_cpu<float>(maps_hwc, uv, sizes, s);
}

GatherBilinearGrads gather_bilinear_backward(const at::Tensor& dL_dout, const at::Tensor& maps_hwc,
                                             const at::Tensor& uv, const at::Tensor& sizes, bool maps_grad,
                                             bool uv_grad) {
  constexpr const char* op = "gather_bilinear_backward";
  const GatherShape s = check_gather(op, maps_hwc, uv, sizes);
  kernels::detail::check_dtype(op, "dL_dout", dL_dout, maps_hwc.scalar_type());
  kernels::detail::check_dim(op, "dL_dout", dL_dout, 3);
  kernels::detail::check_size(op, "dL_dout", dL_dout, 0, s.V, "V, the views of maps_hwc");
  kernels::detail::check_size(op, "dL_dout", dL_dout, 1, s.N, "N, the samples of uv");
  kernels::detail::check_size(op, "dL_dout", dL_dout, 2, s.C, "C, the channels of maps_hwc");
  kernels::detail::require_cpu(op, {{"dL_dout", &dL_dout}});
  auto run = [&](auto tag) -> GatherBilinearGrads {
    using T = decltype(tag);
    if (maps_grad && uv_grad) return gather_backward_cpu<T, true, true>(dL_dout, maps_hwc, uv, sizes, s);
    if (maps_grad) return gather_backward_cpu<T, true, false>(dL_dout, maps_hwc, uv, sizes, s);
    if (uv_grad) return gather_backward_cpu<T, false, true>(dL_dout, maps_hwc, uv, sizes, s);
    return {};
  };
  if (maps_hwc.scalar_type() == at::kDouble) return run(double{});
  return run(float{});
}

namespace {

/// Autograd node: out = gather(maps_hwc, uv; sizes). Gradients to maps_hwc and uv, each only when required.
class GatherBilinearFunction : public torch::autograd::Function<GatherBilinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& maps_hwc, const at::Tensor& uv,
                            const at::Tensor& sizes) {
    ctx->save_for_backward({maps_hwc, uv, sizes});
    return gather_bilinear_forward(maps_hwc, uv, sizes);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const GatherBilinearGrads g = gather_bilinear_backward(grad_outputs[0], saved[0], saved[1], saved[2],
                                                           ctx->needs_input_grad(0), ctx->needs_input_grad(1));
    return {g.dL_dmaps, g.dL_duv, at::Tensor()};
  }
};

}  // namespace

at::Tensor gather_bilinear(const at::Tensor& maps_hwc, const at::Tensor& uv, const at::Tensor& sizes) {
  kernels::detail::check_defined("gather_bilinear", "maps_hwc", maps_hwc);
  // No kernel for other devices: the reference on a channels-first view of the same maps (grid_sampler reads
  // strided input, so no copy), differentiable through autograd.
  if (!maps_hwc.device().is_cpu()) return sample_maps(maps_hwc.permute({0, 3, 1, 2}), uv, sizes);
  return GatherBilinearFunction::apply(maps_hwc, uv, sizes);
}

}  // namespace semfield
