// The bilinear taps of 16 points at once (AVX-512), in grid_sampler's semantics (bilinear, zero padding,
// align_corners = false): the one vector routine behind the training gather's taps (gather_project.cpp,
// fill_tap_block_f32) and the fused inference kernels' (tap_blocks.h, bilinear_taps_block), which differ only in the
// layout they store them in. Private to src/semfield/kernels.
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace semfield::kernels::detail {

#ifdef __AVX512F__
// GCC 12's AVX-512 headers seed unmasked conversions with _mm512_undefined_*(), which it then reports as (maybe) used
// uninitialized once inlined: false positives in the system header (as in simd_ops.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

/// 16 points' bilinear sample positions in a w x h map that covers the image [0, W] x [0, H].
struct BilinearLanes {
  __m512 x, y;      ///< the continuous map coordinates: x = ((u / W) * 2 - 1 + 1) * w/2 - 0.5 (may be NaN or inf)
  __m512 fx, fy;    ///< fractional parts of x and y (computed from 0 in lanes that are not `inside`)
  __m512i x0, y0;   ///< the top-left tap (int32; 0 in lanes that are not `inside`)
  __mmask16 inside; ///< lanes with x in [-1, w] and y in [-1, h] (some tap may lie in the map; false for NaN)
  __mmask16 tap[4]; ///< tap k inside the map, k = (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)
};

/// The lanes `lanes` of (u, v): image pixel coordinates. Lanes outside `lanes` count as not inside.
inline BilinearLanes bilinear_lanes(__m512 u, __m512 v, float W, float H, int64_t w, int64_t h, __mmask16 lanes) {
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f), half = _mm512_set1_ps(0.5f);
  const __m512 gx = _mm512_sub_ps(_mm512_mul_ps(_mm512_div_ps(u, _mm512_set1_ps(W)), two), one);
  const __m512 gy = _mm512_sub_ps(_mm512_mul_ps(_mm512_div_ps(v, _mm512_set1_ps(H)), two), one);
  BilinearLanes b;
  b.x = _mm512_sub_ps(_mm512_mul_ps(_mm512_add_ps(gx, one), _mm512_set1_ps(static_cast<float>(w) * 0.5f)), half);
  b.y = _mm512_sub_ps(_mm512_mul_ps(_mm512_add_ps(gy, one), _mm512_set1_ps(static_cast<float>(h) * 0.5f)), half);
  // Ordered comparisons: false for NaN.
  const __m512 fw = _mm512_set1_ps(static_cast<float>(w)), fh = _mm512_set1_ps(static_cast<float>(h));
  const __m512 minus_one = _mm512_set1_ps(-1.0f);
  b.inside = lanes & _mm512_cmp_ps_mask(b.x, minus_one, _CMP_GE_OQ) & _mm512_cmp_ps_mask(b.x, fw, _CMP_LE_OQ) &
             _mm512_cmp_ps_mask(b.y, minus_one, _CMP_GE_OQ) & _mm512_cmp_ps_mask(b.y, fh, _CMP_LE_OQ);
  // Lanes without taps compute on 0 so the conversions stay in range.
  const __m512 xs = _mm512_maskz_mov_ps(b.inside, b.x), ys = _mm512_maskz_mov_ps(b.inside, b.y);
  const __m512 x0f = _mm512_roundscale_ps(xs, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 y0f = _mm512_roundscale_ps(ys, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  b.fx = _mm512_sub_ps(xs, x0f);
  b.fy = _mm512_sub_ps(ys, y0f);
  b.x0 = _mm512_cvttps_epi32(x0f);
  b.y0 = _mm512_cvttps_epi32(y0f);
  // x0 is in [-1, w] in lanes inside, so x0 + 1 >= 0 and only x0 needs both bounds; x0 == w happens (x == w exactly
  // is inside): that tap lies outside the map.
  const __m512i ione = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
  const __m512i iw = _mm512_set1_epi32(static_cast<int32_t>(w)), ih = _mm512_set1_epi32(static_cast<int32_t>(h));
  const __mmask16 in_x0 = _mm512_cmpge_epi32_mask(b.x0, zero) & _mm512_cmplt_epi32_mask(b.x0, iw);
  const __mmask16 in_x1 = _mm512_cmplt_epi32_mask(_mm512_add_epi32(b.x0, ione), iw);
  const __mmask16 in_y0 = b.inside & _mm512_cmpge_epi32_mask(b.y0, zero) & _mm512_cmplt_epi32_mask(b.y0, ih);
  const __mmask16 in_y1 = b.inside & _mm512_cmplt_epi32_mask(_mm512_add_epi32(b.y0, ione), ih);
  b.tap[0] = in_y0 & in_x0;
  b.tap[1] = in_y0 & in_x1;
  b.tap[2] = in_y1 & in_x0;
  b.tap[3] = in_y1 & in_x1;
  return b;
}

#pragma GCC diagnostic pop
#endif

}  // namespace semfield::kernels::detail
