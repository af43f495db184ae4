// Short float loops the kernels run over a channel vector (AVX-512 with masked tails; scalar otherwise).
// Private to src/semfield/kernels.
#pragma once

#include <cstdint>

#ifdef __AVX512F__
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
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
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
  for (int64_t i = 0; i < n; ++i) y[i] = a * x[i];
#endif
}

/// y[0..n) = 0
inline void fill_zero(int64_t n, float* y) {
#ifdef __AVX512F__
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(y + i, tail_mask(n - i), _mm512_setzero_ps());
#else
  for (int64_t i = 0; i < n; ++i) y[i] = 0.f;
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
  float acc = 0.f;
  for (int64_t i = 0; i < n; ++i) acc += x[i] * y[i];
  return acc;
#endif
}

}  // namespace semfield::kernels::detail

#pragma GCC diagnostic pop
