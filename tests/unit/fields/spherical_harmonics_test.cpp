// Spherical harmonics: orthonormality over the sphere (Monte Carlo) and known values.
#include "semfield/fields/spherical_harmonics.h"

#include <gtest/gtest.h>
#include <torch/types.h>

using namespace semfield;

TEST(SphericalHarmonics, BasisIsOrthonormalOverTheSphere) {
  torch::manual_seed(0);
  const int64_t n = 400000;
  const at::Tensor r = torch::randn({n, 3});
  const at::Tensor d = r / r.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);  // torch::nn::functional::normalize
  const at::Tensor y = spherical_harmonics(d, 4);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{n, 16}));
  // E[Y_i Y_j] over uniform directions = delta_ij / (4 pi).
  const at::Tensor gram = y.t().mm(y) / static_cast<double>(n) * (4.0 * M_PI);
  EXPECT_LT((gram - torch::eye(16)).abs().max().item<float>(), 0.03f);
}

TEST(SphericalHarmonics, KnownValuesAndDegrees) {
  const at::Tensor z = torch::tensor({{0.0f, 0.0f, 1.0f}});
  const at::Tensor y = spherical_harmonics(z, 4);
  EXPECT_NEAR(y[0][0].item<float>(), 0.2820948f, 1e-6);
  EXPECT_NEAR(y[0][2].item<float>(), 0.4886025f, 1e-6);   // l=1, m=0 ~ z
  EXPECT_NEAR(y[0][6].item<float>(), 0.6307831f, 1e-6);   // l=2, m=0 at z=1: 0.946175 - 0.315392
  EXPECT_NEAR(y[0][12].item<float>(), 0.7463527f, 1e-6);  // l=3, m=0 at z=1: 0.373176 * 2
  EXPECT_EQ(spherical_harmonics(z, 1).size(1), 1);
  EXPECT_EQ(spherical_harmonics(z, 3).size(1), 9);
  EXPECT_EQ(spherical_harmonics(torch::zeros({0, 3}), 4).size(0), 0);
}
