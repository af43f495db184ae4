// The fused kernels' register-tiled GEMM (src/semfield/kernels/small_gemm.h) against a double-precision loop, in
// every mode its tiles are specialised for: accumulators starting at 0, at the bias or at C; with and without ReLU;
// A read row-major (x W^T) or strided (the weight gradient's G^T H); row counts around the tile heights (6 and 8),
// column counts covering each panel width (16-64) and K = 0 (no products: C is its start). Columns past N are never
// written. Where the tiles use FMA (AVX-512, AVX2 + FMA) each output is a chain of fused multiply-adds in ascending k
// from its start, so a float loop of std::fma in that order must match it bit for bit; the scalar fallback is
// compared with a tolerance. On AVX512-BF16 builds the bf16 pair GEMM too, against a double loop on rounded inputs.
#include "semfield/kernels/small_gemm.h"

#include "semfield/kernels/layer_precision.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace semfield::kernels::detail {
namespace {

std::vector<float> normal(size_t n, std::mt19937& gen) {
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

TEST(SmallGemm, EveryModeMatchesAnFmaLoopBitForBit) {
  std::mt19937 gen(7);
  int checked = 0;
  for (const int64_t M : {1, 3, 4, 5, 6, 7, 8, 9, 10, 13, 24})  // every tail height of the 6- and 8-row tiles
    for (const int64_t K : {0, 1, 3, 32, 35})
      for (const int64_t N : {16, 32, 48, 64, 80, 176})
        for (int mode = 0; mode < 3; ++mode)  // 0: C = A B, 1: C = bias + A B, 2: C += A B
          for (const bool relu : {false, true})
            for (const bool strided : {false, true}) {
              const int64_t lda = K + 3, ldc = N + 5;
              const std::vector<float> A = normal(static_cast<size_t>(M * lda + K * (M + 2) + 8), gen);
              const std::vector<float> B = normal(static_cast<size_t>(K * N + 1), gen);
              const std::vector<float> bias = normal(static_cast<size_t>(N), gen);
              const std::vector<float> C0 = normal(static_cast<size_t>(M * ldc), gen);
              const int64_t a_row = strided ? 1 : lda, a_col = strided ? M + 1 : 1;
              std::vector<float> C = C0;
              const float* b = mode == 1 ? bias.data() : nullptr;
              gemm(A.data(), a_row, a_col, M, K, B.data(), N, N, C.data(), ldc, mode == 2, relu, b);
              const std::string what = "M " + std::to_string(M) + " K " + std::to_string(K) + " N " +
                                       std::to_string(N) + " mode " + std::to_string(mode) +
                                       (relu ? " relu" : "") + (strided ? " strided" : "");
              for (int64_t m = 0; m < M; ++m) {
                for (int64_t n = 0; n < N; ++n) {
                  const float start = b != nullptr ? b[n] : mode == 2 ? C0[static_cast<size_t>(m * ldc + n)] : 0.0f;
                  const float got = C[static_cast<size_t>(m * ldc + n)];
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
                  float f = start;
                  for (int64_t k = 0; k < K; ++k)
                    f = std::fma(A[static_cast<size_t>(m * a_row + k * a_col)], B[static_cast<size_t>(k * N + n)], f);
                  if (relu) f = f > 0.0f ? f : 0.0f;
                  ASSERT_EQ(got, f) << what << " at (" << m << ", " << n << ")";
#else
                  double s = start;
                  for (int64_t k = 0; k < K; ++k)
                    s += static_cast<double>(A[static_cast<size_t>(m * a_row + k * a_col)]) *
                         B[static_cast<size_t>(k * N + n)];
                  if (relu) s = std::max(s, 0.0);
                  ASSERT_NEAR(got, s, 2e-5 * (1.0 + std::fabs(s))) << what;
#endif
                }
                for (int64_t n = N; n < ldc; ++n)
                  ASSERT_EQ(C[static_cast<size_t>(m * ldc + n)], C0[static_cast<size_t>(m * ldc + n)])
                      << what << ": column " << n << " past N written";
              }
              ++checked;
            }
  EXPECT_EQ(checked, 11 * 5 * 6 * 3 * 2 * 2);
}

// K = 0 with ReLU: the start stored as the tiles' max(x, 0) stores it — NaN and -0 become +0, as with K > 0.
TEST(SmallGemm, NoProductsReluOfNanAndNegativeZeroIsZero) {
  std::vector<float> bias(32, 1.5f);
  bias[0] = std::numeric_limits<float>::quiet_NaN();
  bias[1] = -0.0f;
  bias[2] = -2.0f;
  std::vector<float> C(7 * 32, 9.0f);
  const std::vector<float> a(7, 1.0f);  // one (unread) entry per row: the row pointers stay inside it
  const float w = 1.0f;
  gemm(a.data(), 1, 1, 7, 0, &w, 32, 32, C.data(), 32, false, true, bias.data());
  for (int64_t m = 0; m < 7; ++m) {
    for (int64_t n = 0; n < 3; ++n) {
      EXPECT_EQ(C[static_cast<size_t>(m * 32 + n)], 0.0f) << "row " << m << " column " << n;
      EXPECT_FALSE(std::signbit(C[static_cast<size_t>(m * 32 + n)])) << "row " << m << " column " << n;
    }
    EXPECT_EQ(C[static_cast<size_t>(m * 32 + 3)], 1.5f);
  }
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)
TEST(SmallGemm, Bf16PairsMatchADoubleLoopOnRoundedInputs) {
  std::mt19937 gen(8);
  for (const int64_t M : {1, 6, 7, 8, 24})
    for (const int64_t K : {0, 1, 2, 5, 32, 35})
      for (const int64_t N : {16, 64, 80})
        for (const bool relu : {false, true})
          for (const bool with_bias : {false, true}) {
            const int64_t pairs = (K + 1) / 2, slots = std::max<int64_t>(pairs, 1);
            const std::vector<float> A = normal(static_cast<size_t>(M * K + 1), gen);
            const std::vector<float> B = normal(static_cast<size_t>(K * N + 1), gen);
            const std::vector<float> bias = normal(static_cast<size_t>(N), gen);
            std::vector<uint32_t> A2(static_cast<size_t>(M * slots));
            to_bf16_pairs(A.data(), K, M, K, A2.data(), pairs);
            std::vector<uint16_t> B2(static_cast<size_t>(slots * N * 2), 0);
            for (int64_t k = 0; k < K; ++k)
              for (int64_t n = 0; n < N; ++n)
                B2[static_cast<size_t>(((k / 2) * N + n) * 2 + k % 2)] =
                    float_to_bf16(B[static_cast<size_t>(k * N + n)]);
            std::vector<float> C(static_cast<size_t>(M * N), 123.0f);
            gemm_bf16(A2.data(), pairs, M, pairs, B2.data(), N, N, C.data(), N, relu,
                      with_bias ? bias.data() : nullptr);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                double s = with_bias ? bias[static_cast<size_t>(n)] : 0.0;
                for (int64_t k = 0; k < K; ++k)
                  s += static_cast<double>(round_to_bf16(A[static_cast<size_t>(m * K + k)])) *
                       round_to_bf16(B[static_cast<size_t>(k * N + n)]);
                if (relu) s = std::max(s, 0.0);
                ASSERT_NEAR(C[static_cast<size_t>(m * N + n)], s, 2e-5 * (1.0 + std::fabs(s)))
                    << "M " << M << " K " << K << " N " << N << (relu ? " relu" : "") << (with_bias ? " bias" : "");
              }
          }
}
#endif

// The rate probe behind the CLI's "bf16 is slower here" warning: a float rate always, a bf16 rate exactly where the
// build runs bf16 layers natively; and the comparison it is read with.
TEST(SmallGemm, LayerRateProbeMeasuresBothPrecisionsWhereNative) {
  const PrecisionRates rates = measure_layer_rates();
  EXPECT_GT(rates.fp32, 0.0);
  if (native_bf16_layers())
    EXPECT_GT(rates.bf16, 0.0);
  else
    EXPECT_EQ(rates.bf16, 0.0);
  EXPECT_TRUE(bf16_is_slower({80.0, 44.0}));
  EXPECT_FALSE(bf16_is_slower({58.0, 108.0}));
  EXPECT_FALSE(bf16_is_slower({80.0, 78.0}));  // within 5 %: not worth a warning
}

}  // namespace
}  // namespace semfield::kernels::detail
