// The fused IBR inference kernels' building blocks and misuse errors: the vectorised exp against std::exp, and the
// kernels' checks of their inputs. Their results against the LibTorch network are tested in
// tests/unit/models/ibr_model_test.cpp (IbrFused.*), where the network's weights live.
#include "semfield/kernels/ibr_aggregate.h"

#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/kernels/simd_ops.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;

TEST(SimdExp, MatchesStdExpOverTheFloatRange) {
  // Every 1/64 from -100 to 88 (a tail of 7 after the 16-lane blocks), plus the masked values softmax uses.
  std::vector<float> x;
  for (int i = -6400; i <= 5632; ++i) x.push_back(static_cast<float>(i) / 64.0f);
  x.push_back(-1e9f);
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(0.0f);
  std::vector<float> y = x;
  detail::exp_inplace(static_cast<int64_t>(y.size()), y.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(static_cast<double>(x[i]));
    if (x[i] < -87.3f) {
      EXPECT_EQ(y[i], 0.0f) << x[i];
      continue;
    }
    worst = std::max(worst, std::abs(y[i] - ref) / ref);
    // The scalar twin (tails, builds without AVX-512) agrees to rounding.
    EXPECT_NEAR(detail::exp_approx(x[i]), y[i], 4e-7 * ref) << x[i];
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(y.back(), 1.0f);
}

TEST(IbrFusedKernels, ClearErrorsOnMisuse) {
  SourceCameraBatch cams;
  cams.w2c = at::zeros({2, 3, 4});
  cams.intrinsics = at::ones({2, 4});
  cams.sizes = at::full({2, 2}, 8.0f);
  cams.origins = at::zeros({2, 3});
  IbrPointWeights w;
  const at::Tensor pts = at::zeros({5, 3});
  try {
    ibr_points_forward(pts, at::zeros({4, 3}), cams, at::zeros({2, 8, 8, 3}), at::zeros({2, 2, 2, 4}), w);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[N,3]"));
  }
  try {
    ibr_points_forward(pts, pts, cams, at::zeros({2, 8, 8, 3}), at::zeros({2, 2, 2, 4}), w);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("view has no layers"));
  }
  IbrRayWeights rw;
  try {
    ibr_ray_density_forward(at::zeros({3, 4, 8}), at::zeros({3, 5}), at::zeros({3, 4}, at::kBool), rw);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("t_rel and valid"));
  }
}

}  // namespace
}  // namespace semfield::kernels
