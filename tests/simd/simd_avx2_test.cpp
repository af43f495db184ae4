// kernels/simd_ops.h's and kernels/tap_blocks.h's AVX2 + FMA paths, compiled without AVX-512 whatever the build machine has, so that an AVX-512
// CI machine tests the loops that AVX2-only CPUs run (tests/CMakeLists.txt: its own executable, linking no semfield
// library, since the header's inline helpers compiled for another instruction set must not meet the library's).
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "semfield/kernels/simd_ops.h"
#include "unit/kernels/simd_ops_cases.h"
#include "unit/kernels/tap_blocks_cases.h"

namespace semfield::kernels {
namespace {

TEST(SimdOpsAvx2, ThisBinaryTakesTheAvx2Path) {
#if defined(__AVX512F__) || !defined(SEMFIELD_SIMD_AVX2)
  FAIL() << "built with AVX-512 or without AVX2 + FMA: the AVX2 path is not what this test checks";
#endif
}

TEST(SimdOpsAvx2, ChannelLoopsMatchDoubleLoopsAtEveryLengthAndTail) { test::check_channel_loops(); }

TEST(SimdOpsAvx2, LanesAreEightWideAndMatchScalarArithmetic) {
  static_assert(detail::Lanes::kN == 8, "the AVX2 vector has 8 float lanes");
  test::check_lanes();
}

TEST(SimdOpsAvx2, ExpMatchesStdExpAcrossTheRange) {
  test::check_exp_inplace();
  std::vector<float> x;
  for (float v = -100.0f; v <= 20.0f; v += 0.0137f) x.push_back(v);
  // A softmax's numerators and their sum, over inputs whose sum stays a finite float.
  std::vector<float> z = x;
  const float sum = detail::exp_shift_sum(static_cast<int64_t>(z.size()), z.data(), 1.0f);
  double total = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double shifted = x[i] - 1.0f < -87.3f ? 0.0 : std::exp(static_cast<double>(x[i] - 1.0f));
    EXPECT_NEAR(z[i], shifted, 3e-7 * shifted + 1e-30) << "exp(" << x[i] << " - 1)";
    total += z[i];
  }
  EXPECT_NEAR(sum, total, 1e-5 * total);
}

TEST(TapBlocksAvx2, BilinearTapsOfEightLanesMatchThePointByPointTaps) { test::check_tap_blocks(); }

TEST(TapBlocksAvx2, ProjectionsOfEightLanesMatchTheScalarLoop) { test::check_projection_blocks(); }

}  // namespace
}  // namespace semfield::kernels
