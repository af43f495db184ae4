// A register-tiled small GEMM for the fused CPU kernels (fused_mlp.cpp, ibr_aggregate.cpp, gpnerf_forward.cpp):
// narrow matrices (tens of columns) a block of rows at a time, with the accumulators in registers; in float, and in
// bfloat16 pairs on AVX512-BF16 (gemm_bf16, for layer_precision.h's bf16 layers). Private to src/semfield/kernels.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "semfield/io/bfloat16.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "(may be) used uninitialized"
// once inlined (a false positive in the system header; see simd_ops.h): here through the tiles' ReLU.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace semfield::kernels::detail {

// C[m, 0:n) (+)= sum_k A(m, k) * B[k * ldb + 0:n) for m < M, with A(m, k) = A[m * a_row + k * a_col] and n a
// multiple of 16. Strided A serves both x W^T (a_row = row stride, a_col = 1) and the weight gradient
// G^T H (a_row = 1, a_col = row stride of G). `relu` clamps what is stored at 0. With `bias` (n floats) C = bias + A B:
// the accumulators start at the bias (no pass over C to put it there first); `accumulate` must then be false.

// How a tile's accumulators start: at 0, at the bias, or at C (accumulate).
enum class TileInit { Zero, Bias, Accumulate };

template <TileInit V>
using InitConstant = std::integral_constant<TileInit, V>;
template <bool V>
using BoolConstant = std::integral_constant<bool, V>;

// Calls f(init, relu, unit_col) with the three as compile-time constants (std::integral_constant): the tiles take
// their start, their ReLU and whether A's columns are contiguous (a_col 1: x W^T) as template arguments. With them
// read at run time GCC kept a tile's accumulators in a stack array, stored and reloaded at each end of the k loop
// (most of the tile's overhead at the kernels' K = 32; measured ~5-10 % of a 6 x 64 tile on an Intel Xeon).
template <typename F>
inline void dispatch_tile_mode(TileInit init, bool relu, bool unit_col, F&& f) {
  auto with_init = [&](auto relu_c, auto unit_c) {
    switch (init) {
      case TileInit::Bias: f(InitConstant<TileInit::Bias>{}, relu_c, unit_c); break;
      case TileInit::Accumulate: f(InitConstant<TileInit::Accumulate>{}, relu_c, unit_c); break;
      default: f(InitConstant<TileInit::Zero>{}, relu_c, unit_c); break;
    }
  };
  auto with_relu = [&](auto unit_c) {
    if (relu)
      with_init(BoolConstant<true>{}, unit_c);
    else
      with_init(BoolConstant<false>{}, unit_c);
  };
  if (unit_col)
    with_relu(BoolConstant<true>{});
  else
    with_relu(BoolConstant<false>{});
}

// A tile with K = 0: C[r, 0:n) is its start (bias, C or 0), ReLU'd when asked (the tiles' loops run at least once).
// The ReLU as the tiles' max_ps(x, 0) computes it: 0 for NaN and for -0.
inline void tile_without_products(int rows, int n, float* C, int64_t ldc, bool accumulate, bool relu,
                                  const float* bias) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < n; ++c) {
      const float v = bias != nullptr ? bias[c] : accumulate ? C[r * ldc + c] : 0.0f;
      C[r * ldc + c] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

// Every tile's entry (fp32 AVX-512, fp32 AVX2, bf16): the K = 0 case (the tiles' do-while loops run at least once),
// then `tile(init, relu, unit_col)` with the three as compile-time constants (dispatch_tile_mode).
template <typename Tile>
inline void run_tile(int rows, int n, int64_t K, bool unit_col, float* C, int64_t ldc, bool accumulate, bool relu,
                     const float* bias, Tile&& tile) {
  if (K < 1) {
    tile_without_products(rows, n, C, ldc, accumulate, relu, bias);
    return;
  }
  const TileInit init = bias != nullptr ? TileInit::Bias : accumulate ? TileInit::Accumulate : TileInit::Zero;
  dispatch_tile_mode(init, relu, unit_col, tile);
}

#ifdef __AVX512F__
template <int NC, int R, TileInit INIT, bool RELU, bool UNIT_COL>
inline void gemm_tile_fixed(const float* A, int64_t a_row, int64_t a_col_, int64_t K, const float* B, int64_t ldb,
                            float* C, int64_t ldc, const float* bias) {
  const int64_t a_col = UNIT_COL ? 1 : a_col_;
  __m512 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c)
      acc[r][c] = INIT == TileInit::Bias         ? _mm512_loadu_ps(bias + 16 * c)
                  : INIT == TileInit::Accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * c)
                                                 : _mm512_setzero_ps();
  // A do-while (K >= 1, checked by run_tile): with a zero-trip path GCC kept the accumulators in memory too.
  int64_t k = 0;
  do {
    __m512 b[NC];
    for (int c = 0; c < NC; ++c) b[c] = _mm512_loadu_ps(B + k * ldb + 16 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * a_row + k * a_col]);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
    }
  } while (++k < K);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c)
      _mm512_storeu_ps(C + r * ldc + 16 * c, RELU ? _mm512_max_ps(acc[r][c], _mm512_setzero_ps()) : acc[r][c]);
}

template <int NC, int R>
inline void gemm_tile(const float* A, int64_t a_row, int64_t a_col, int64_t K, const float* B, int64_t ldb, float* C,
                      int64_t ldc, bool accumulate, bool relu, const float* bias) {
  run_tile(R, 16 * NC, K, a_col == 1, C, ldc, accumulate, relu, bias, [&](auto init_c, auto relu_c, auto unit_c) {
    gemm_tile_fixed<NC, R, decltype(init_c)::value, decltype(relu_c)::value, decltype(unit_c)::value>(
        A, a_row, a_col, K, B, ldb, C, ldc, bias);
  });
}

/// rows (< H + 1) rows of C in one tile of that height.
template <int NC, int H>
inline void gemm_last_rows(int64_t rows, const float* A, int64_t a_row, int64_t a_col, int64_t K, const float* B,
                           int64_t ldb, float* C, int64_t ldc, bool accumulate, bool relu, const float* bias) {
  if constexpr (H >= 1) {
    if (rows == H)
      gemm_tile<NC, H>(A, a_row, a_col, K, B, ldb, C, ldc, accumulate, relu, bias);
    else
      gemm_last_rows<NC, H - 1>(rows, A, a_row, a_col, K, B, ldb, C, ldc, accumulate, relu, bias);
  }
}

template <int NC>
inline void gemm_columns(const float* A, int64_t a_row, int64_t a_col, int64_t M, int64_t K, const float* B,
                         int64_t ldb, float* C, int64_t ldc, bool accumulate, bool relu, const float* bias) {
  constexpr int R = NC <= 2 ? 8 : 6;  // R x NC accumulators + NC loads within the 32 zmm registers
  int64_t m = 0;
  for (; m + R <= M; m += R)
    gemm_tile<NC, R>(A + m * a_row, a_row, a_col, K, B, ldb, C + m * ldc, ldc, accumulate, relu, bias);
  // The last M mod R rows in one tile of that height (one-row tiles wait on each FMA's latency: ~4x the time per row).
  gemm_last_rows<NC, R - 1>(M - m, A + m * a_row, a_row, a_col, K, B, ldb, C + m * ldc, ldc, accumulate, relu, bias);
}
#elif defined(__AVX2__) && defined(__FMA__)
// The same tiling for CPUs (or VMs) without AVX-512: 8-float ymm lanes, a 16-column panel, R rows — the classic 6x16
// micro-kernel shape (12 accumulators, 2 loads and one broadcast within the 16 ymm registers). Without it the
// scalar loop below made a training step ~10x slower on such a machine.
template <int R, TileInit INIT, bool RELU, bool UNIT_COL>
inline void gemm_tile_avx2_fixed(const float* A, int64_t a_row, int64_t a_col_, int64_t K, const float* B,
                                 int64_t ldb, float* C, int64_t ldc, const float* bias) {
  const int64_t a_col = UNIT_COL ? 1 : a_col_;
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 2; ++c)
      acc[r][c] = INIT == TileInit::Bias         ? _mm256_loadu_ps(bias + 8 * c)
                  : INIT == TileInit::Accumulate ? _mm256_loadu_ps(C + r * ldc + 8 * c)
                                                 : _mm256_setzero_ps();
  int64_t k = 0;  // K >= 1 (run_tile): a do-while, as gemm_tile_fixed
  do {
    const __m256 b0 = _mm256_loadu_ps(B + k * ldb), b1 = _mm256_loadu_ps(B + k * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(A[r * a_row + k * a_col]);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  } while (++k < K);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 2; ++c)
      _mm256_storeu_ps(C + r * ldc + 8 * c, RELU ? _mm256_max_ps(acc[r][c], _mm256_setzero_ps()) : acc[r][c]);
}

// The tile's start, ReLU and A's unit column stride as template arguments, as the AVX-512 tile has them: with them read
// at run time GCC 12 kept the 12 accumulators in a stack array around the k loop (12 stores and 12 loads at each end;
// perf annotate on an AVX2-only Zen 3, where this tile was ~30 % of a 256x256 IBR view).
template <int R>
inline void gemm_tile_avx2(const float* A, int64_t a_row, int64_t a_col, int64_t K, const float* B, int64_t ldb,
                           float* C, int64_t ldc, bool accumulate, bool relu, const float* bias) {
  run_tile(R, 16, K, a_col == 1, C, ldc, accumulate, relu, bias, [&](auto init_c, auto relu_c, auto unit_c) {
    gemm_tile_avx2_fixed<R, decltype(init_c)::value, decltype(relu_c)::value, decltype(unit_c)::value>(
        A, a_row, a_col, K, B, ldb, C, ldc, bias);
  });
}

/// rows (< H + 1) rows of C in one tile of that height.
template <int H>
inline void gemm_last_rows_avx2(int64_t rows, const float* A, int64_t a_row, int64_t a_col, int64_t K, const float* B,
                                int64_t ldb, float* C, int64_t ldc, bool accumulate, bool relu, const float* bias) {
  if constexpr (H >= 1) {
    if (rows == H)
      gemm_tile_avx2<H>(A, a_row, a_col, K, B, ldb, C, ldc, accumulate, relu, bias);
    else
      gemm_last_rows_avx2<H - 1>(rows, A, a_row, a_col, K, B, ldb, C, ldc, accumulate, relu, bias);
  }
}

// One 16-column panel of C (N is always a multiple of 16: the packed weights are padded).
inline void gemm_columns_avx2(const float* A, int64_t a_row, int64_t a_col, int64_t M, int64_t K, const float* B,
                              int64_t ldb, float* C, int64_t ldc, bool accumulate, bool relu, const float* bias) {
  constexpr int R = 6;
  int64_t m = 0;
  for (; m + R <= M; m += R)
    gemm_tile_avx2<R>(A + m * a_row, a_row, a_col, K, B, ldb, C + m * ldc, ldc, accumulate, relu, bias);
  // The last M mod 6 rows in one tile of that height (one-row tiles wait on each FMA's latency: ~4x the time per row).
  gemm_last_rows_avx2<R - 1>(M - m, A + m * a_row, a_row, a_col, K, B, ldb, C + m * ldc, ldc, accumulate, relu, bias);
}
#endif

inline void gemm(const float* A, int64_t a_row, int64_t a_col, int64_t M, int64_t K, const float* B, int64_t ldb,
                 int64_t N, float* C, int64_t ldc, bool accumulate, bool relu, const float* bias = nullptr) {
  assert(bias == nullptr || !accumulate);
#ifdef __AVX512F__
  for (int64_t j = 0; j < N; j += 64) {
    const float* bj = bias != nullptr ? bias + j : nullptr;
    switch (std::min<int64_t>(4, (N - j) / 16)) {
      case 1: gemm_columns<1>(A, a_row, a_col, M, K, B + j, ldb, C + j, ldc, accumulate, relu, bj); break;
      case 2: gemm_columns<2>(A, a_row, a_col, M, K, B + j, ldb, C + j, ldc, accumulate, relu, bj); break;
      case 3: gemm_columns<3>(A, a_row, a_col, M, K, B + j, ldb, C + j, ldc, accumulate, relu, bj); break;
      default: gemm_columns<4>(A, a_row, a_col, M, K, B + j, ldb, C + j, ldc, accumulate, relu, bj); break;
    }
  }
#elif defined(__AVX2__) && defined(__FMA__)
  for (int64_t j = 0; j < N; j += 16)
    gemm_columns_avx2(A, a_row, a_col, M, K, B + j, ldb, C + j, ldc, accumulate, relu,
                      bias != nullptr ? bias + j : nullptr);
#else
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = bias != nullptr ? bias[n] : accumulate ? C[m * ldc + n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s += A[m * a_row + k * a_col] * B[k * ldb + n];
      C[m * ldc + n] = relu ? (s > 0.0f ? s : 0.0f) : s;  // the tiles' ReLU: NaN and -0 to +0
    }
#endif
}

/// x rounded to the nearest bfloat16 (ties to even; io/bfloat16.h), as a float: the emulated bf16 layers' rounding of
/// inputs and weights. The AVX512-BF16 path's conversion (vcvtne2ps2bf16) rounds the same way except that it flushes
/// subnormal floats (below 1.2e-38) to zero — no difference the layers' sums can show. NaN stays NaN.
inline float round_to_bf16(float x) { return bf16_to_float(float_to_bf16(x)); }

#if defined(__AVX512BF16__) && defined(__AVX512F__)
// bf16 GEMM on AVX512-BF16's dot-product instruction: C[m, 0:n) = (bias +) sum_k A(m, k) B(k, 0:n) with A and B in
// bfloat16, as pairs along k. A: row m's pair p = (A(m, 2p), A(m, 2p + 1)) is the 32-bit word A2[m * a_row + p].
// B: pair p of column n at B2[(p * ldb + n) * 2 + {0, 1}] (ldb columns, a multiple of 16): one 512-bit load holds 16
// columns' pairs. vdpbf16ps adds both products of a pair to each float lane, so a tile does half the instructions of
// the float one for the same k (twice the multiply-adds per cycle where the instruction is full width).
template <int NC, int R, TileInit INIT, bool RELU>
inline void gemm_tile_bf16_fixed(const uint32_t* A2, int64_t a_row, int64_t pairs, const uint16_t* B2, int64_t ldb,
                                 float* C, int64_t ldc, const float* bias) {
  __m512 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c)
      acc[r][c] = INIT == TileInit::Bias ? _mm512_loadu_ps(bias + 16 * c) : _mm512_setzero_ps();
  int64_t p = 0;  // pairs >= 1 (run_tile; see gemm_tile_fixed)
  do {
    __m512bh b[NC];
    for (int c = 0; c < NC; ++c) b[c] = (__m512bh)_mm512_loadu_si512(B2 + (p * ldb + 16 * c) * 2);
    for (int r = 0; r < R; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A2[r * a_row + p]));
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], a, b[c]);
    }
  } while (++p < pairs);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c)
      _mm512_storeu_ps(C + r * ldc + 16 * c, RELU ? _mm512_max_ps(acc[r][c], _mm512_setzero_ps()) : acc[r][c]);
}

template <int NC, int R>
inline void gemm_tile_bf16(const uint32_t* A2, int64_t a_row, int64_t pairs, const uint16_t* B2, int64_t ldb,
                           float* C, int64_t ldc, bool relu, const float* bias) {
  run_tile(R, 16 * NC, pairs, true, C, ldc, false, relu, bias, [&](auto init_c, auto relu_c, auto /*unit_c*/) {
    if constexpr (decltype(init_c)::value != TileInit::Accumulate)  // never: accumulate is false
      gemm_tile_bf16_fixed<NC, R, decltype(init_c)::value, decltype(relu_c)::value>(A2, a_row, pairs, B2, ldb, C,
                                                                                      ldc, bias);
  });
}

template <int NC>
inline void gemm_columns_bf16(const uint32_t* A2, int64_t a_row, int64_t M, int64_t pairs, const uint16_t* B2,
                              int64_t ldb, float* C, int64_t ldc, bool relu, const float* bias) {
  constexpr int R = NC <= 2 ? 8 : 6;
  int64_t m = 0;
  for (; m + R <= M; m += R)
    gemm_tile_bf16<NC, R>(A2 + m * a_row, a_row, pairs, B2, ldb, C + m * ldc, ldc, relu, bias);
  for (; m < M; ++m) gemm_tile_bf16<NC, 1>(A2 + m * a_row, a_row, pairs, B2, ldb, C + m * ldc, ldc, relu, bias);
}

/// C[M, N) = (bias +) A2 B2 over `pairs` k-pairs, layouts as gemm_tile_bf16; N a multiple of 16.
inline void gemm_bf16(const uint32_t* A2, int64_t a_row, int64_t M, int64_t pairs, const uint16_t* B2, int64_t ldb,
                      int64_t N, float* C, int64_t ldc, bool relu, const float* bias) {
  for (int64_t j = 0; j < N; j += 64) {
    const float* bj = bias != nullptr ? bias + j : nullptr;
    const uint16_t* b = B2 + 2 * j;
    switch (std::min<int64_t>(4, (N - j) / 16)) {
      case 1: gemm_columns_bf16<1>(A2, a_row, M, pairs, b, ldb, C + j, ldc, relu, bj); break;
      case 2: gemm_columns_bf16<2>(A2, a_row, M, pairs, b, ldb, C + j, ldc, relu, bj); break;
      case 3: gemm_columns_bf16<3>(A2, a_row, M, pairs, b, ldb, C + j, ldc, relu, bj); break;
      default: gemm_columns_bf16<4>(A2, a_row, M, pairs, b, ldb, C + j, ldc, relu, bj); break;
    }
  }
}

/// Row r < rows of A (row stride lda, K floats) as bf16 pairs into A2 (row stride `pairs` words, the odd K's last
/// pair padded with 0), rounding to nearest even (round_to_bf16 but for subnormals, flushed to 0 here).
inline void to_bf16_pairs(const float* A, int64_t lda, int64_t rows, int64_t K, uint32_t* A2, int64_t pairs) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = A + r * lda;
    uint16_t* out = reinterpret_cast<uint16_t*>(A2 + r * pairs);
    int64_t k = 0;
    for (; k + 32 <= K; k += 32)
      _mm512_storeu_si512(out + k, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(a + k)));
    if (k < K) {
      const int64_t left = K - k;
      const __mmask16 lo = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      const __mmask16 hi = left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1u);
      const __m512 upper = left > 16 ? _mm512_maskz_loadu_ps(hi, a + k + 16) : _mm512_setzero_ps();
      const __m512bh v = _mm512_cvtne2ps_pbh(upper, _mm512_maskz_loadu_ps(lo, a + k));
      const int64_t words = 2 * pairs - k;  // to the end of the padded row
      const __mmask32 store = words >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((1ull << words) - 1ull);
      _mm512_mask_storeu_epi16(out + k, store, (__m512i)v);
    }
  }
}
#endif

}  // namespace semfield::kernels::detail

#pragma GCC diagnostic pop
