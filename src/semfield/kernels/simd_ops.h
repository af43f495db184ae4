// Short float loops the kernels run over a channel vector (AVX-512 with masked tails; AVX2 + FMA 8 lanes at a time
// with a scalar tail; scalar otherwise).
// Private to src/semfield/kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

// GCC 12's AVX-512 headers seed some intrinsics (e.g. the reductions) with _mm512_undefined_*(), which it
// then reports as "may be used uninitialized" once inlined: a false positive in the system header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels::detail {

#ifdef __AVX512F__
inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << remaining) - 1u);
}
#elif defined(__AVX2__) && defined(__FMA__)
#define SEMFIELD_SIMD_AVX2 1
/// The sum of 8 lanes.
inline float hsum256(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
/// The maximum of 8 lanes.
inline float hmax256(__m256 v) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
#endif

/// y[0..n) += a * x[0..n)
inline void axpy(int64_t n, float a, const float* x, float* y) {
#ifdef __AVX512F__
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
#else
  int64_t i = 0;
#ifdef SEMFIELD_SIMD_AVX2
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += a * x[i];
#endif
}

/// y[0..n) = a * x[0..n)
inline void scale_to(int64_t n, float a, const float* x, float* y) {
#ifdef __AVX512F__
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i)));
  }
#else
  int64_t i = 0;
#ifdef SEMFIELD_SIMD_AVX2
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) y[i] = a * x[i];
#endif
}

/// y[0..n) = 0
inline void fill_zero(int64_t n, float* y) {
#ifdef __AVX512F__
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), _mm512_setzero_ps());
#else
  int64_t i = 0;
#ifdef SEMFIELD_SIMD_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_setzero_ps());
#endif
  for (; i < n; ++i) y[i] = 0.f;
#endif
}

/// sum_i x[i] * y[i]
inline float dot(int64_t n, const float* x, const float* y) {
#ifdef __AVX512F__
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#else
  int64_t i = 0;
  float acc = 0.f;
#ifdef SEMFIELD_SIMD_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
  }
  if (i + 8 <= n) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    i += 8;
  }
  acc = hsum256(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) acc += x[i] * y[i];
  return acc;
#endif
}


/// sum_i x[i]
inline float sum_of(int64_t n, const float* x) {
#ifdef __AVX512F__
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
  return _mm512_reduce_add_ps(acc);
#else
  int64_t i = 0;
  float acc = 0.f;
#ifdef SEMFIELD_SIMD_AVX2
  __m256 v = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) v = _mm256_add_ps(v, _mm256_loadu_ps(x + i));
  acc = hsum256(v);
#endif
  for (; i < n; ++i) acc += x[i];
  return acc;
#endif
}

/// max_i x[i] (-inf for n = 0)
inline float max_of(int64_t n, const float* x) {
#ifdef __AVX512F__
  const __m512 lowest = _mm512_set1_ps(-INFINITY);
  __m512 acc = lowest;
  for (int64_t i = 0; i < n; i += 16) acc = _mm512_max_ps(acc, _mm512_mask_loadu_ps(lowest, tail_mask(n - i), x + i));
  return _mm512_reduce_max_ps(acc);
#else
  int64_t i = 0;
  float acc = -INFINITY;
#ifdef SEMFIELD_SIMD_AVX2
  __m256 v = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + i));
  acc = hmax256(v);
#endif
  for (; i < n; ++i) acc = std::max(acc, x[i]);
  return acc;
#endif
}

/// exp of a float with the Cephes polynomial (relative error < 2e-7; below -87.3 it gives 0, above 88.7 it saturates
/// at exp(88.7)): the vector version's scalar twin, for tails and builds without AVX-512.
inline float exp_approx(float x) {
  if (x < -87.3f) return 0.0f;
  x = std::min(x, 88.7f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return std::ldexp(p * r * r + r + 1.0f, static_cast<int>(n));
}

#ifdef __AVX512F__
/// exp_approx on 16 lanes (0 below -87.3, saturating above 88.7).
inline __m512 exp_ps(__m512 v) {
  const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.7f), log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 c1 = _mm512_set1_ps(0.693359375f), c2 = _mm512_set1_ps(-2.12194440e-4f), one = _mm512_set1_ps(1.0f);
  const __mmask16 under = _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ);
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fnmadd_ps(k, c2, _mm512_fnmadd_ps(k, c1, xc));
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, one));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_scalef_ps(y, k));
}
#elif defined(__AVX2__) && defined(__FMA__)
/// exp_approx on 8 lanes; 2^k is built in the exponent bits, so the input is clamped to 88.3 (k <= 127).
inline __m256 exp_ps(__m256 v) {
  const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.3f), log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 c1 = _mm256_set1_ps(0.693359375f), c2 = _mm256_set1_ps(-2.12194440e-4f), one = _mm256_set1_ps(1.0f);
  const __m256 keep = _mm256_cmp_ps(v, lo, _CMP_GE_OQ);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_fnmadd_ps(k, c2, _mm256_fnmadd_ps(k, c1, xc));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, one));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(keep, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}
#endif

/// x[0..n) = exp(x[0..n)) (exp_approx's polynomial, 16 lanes at a time with AVX-512, 8 with AVX2). A hand-written
/// exp because the fused IBR kernels take one per attention weight (~150 M per 256x256 view) and std::exp does not
/// vectorise here.
inline void exp_inplace(int64_t n, float* x) {
  int64_t i = 0;
#ifdef __AVX512F__
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, exp_ps(_mm512_maskz_loadu_ps(m, x + i)));
  }
#elif defined(__AVX2__) && defined(__FMA__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp_ps(_mm256_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) x[i] = exp_approx(x[i]);
}

/// x[0..n) = exp(x[0..n) - shift) in one pass, returning the sum of the results (a softmax's numerators).
inline float exp_shift_sum(int64_t n, float* x, float shift) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef __AVX512F__
  const __m512 vs = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs));
    _mm512_storeu_ps(x + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  sum = _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__) && defined(__FMA__)
  const __m256 vs = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (const float l : lanes) sum += l;
#endif
  for (; i < n; ++i) {
    x[i] = exp_approx(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

/// log1p(t) for t in [0, 1] as 2 atanh(t / (2 + t)) (the series in s = t / (2 + t) <= 1/3, to s^17: relative error
/// < 3e-7): plain arithmetic the compiler vectorises, for softplus_inplace.
inline float log1p_unit(float t) {
  const float s = t / (2.0f + t), s2 = s * s;
  float p = 1.0f / 17.0f;
  p = p * s2 + 1.0f / 15.0f;
  p = p * s2 + 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

/// x[0..n) = softplus(x[0..n)) = max(x, 0) + log1p(exp(-|x|)), with exp_inplace's exp; `scratch` holds n floats.
/// The fused kernels take one per sample (~5 M per 256x256 view), where std::log1p(std::exp(x)) did not vectorise.
inline void softplus_inplace(int64_t n, float* x, float* scratch) {
  for (int64_t i = 0; i < n; ++i) scratch[i] = -std::abs(x[i]);
  exp_inplace(n, scratch);
  for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f) + log1p_unit(scratch[i]);
}

#if defined(__AVX512F__) || defined(SEMFIELD_SIMD_AVX2)
#define SEMFIELD_SIMD_LANES 1
/// The build's float vector, one interface for AVX-512 (16 lanes) and AVX2 + FMA (8 lanes): kernels whose widths are
/// multiples of kN keep per-channel vectors in kN-lane registers written once for both instruction sets
/// (gpnerf_forward's register-resident paths). Loads and stores are unaligned.
struct Lanes {
#ifdef __AVX512F__
  using V = __m512;
  static constexpr int kN = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V exp(V v) { return exp_ps(v); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }
  static float hmax(V v) { return _mm512_reduce_max_ps(v); }
  /// f0 += (a0 a0 a1 a1 ... a7 a7) * s[0:16), f1 += (a8 a8 ... a15 a15) * s[16:32): each lane of a covers two
  /// consecutive channels of s.
  static void fma_pairs(V a, const float* s, V& f0, V& f1) {
    const __m512i lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
    f0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(lo, a), _mm512_loadu_ps(s), f0);
    f1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(hi, a), _mm512_loadu_ps(s + 16), f1);
  }
#else
  using V = __m256;
  static constexpr int kN = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V exp(V v) { return exp_ps(v); }
  static float hsum(V v) { return hsum256(v); }
  static float hmax(V v) { return hmax256(v); }
  /// f0 += (a0 a0 a1 a1 a2 a2 a3 a3) * s[0:8), f1 += (a4 a4 ... a7 a7) * s[8:16).
  static void fma_pairs(V a, const float* s, V& f0, V& f1) {
    const __m256i lo = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0), hi = _mm256_set_epi32(7, 7, 6, 6, 5, 5, 4, 4);
    f0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(a, lo), _mm256_loadu_ps(s), f0);
    f1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(a, hi), _mm256_loadu_ps(s + 8), f1);
  }
#endif
};
#endif

}  // namespace semfield::kernels::detail

#pragma GCC diagnostic pop
