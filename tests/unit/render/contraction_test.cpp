// Tests for scene contraction: identity inside, known values and bounds outside, round trips, tensor forms.
#include "semfield/render/contraction.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/types.h>

using semfield::contract_point;
using semfield::contract_points;
using semfield::uncontract_point;
using semfield::uncontract_points;

namespace {

float linf(const float* v) { return std::max(std::fabs(v[0]), std::max(std::fabs(v[1]), std::fabs(v[2]))); }

TEST(Contraction, IdentityInsideUnitCube) {
  torch::manual_seed(1);
  const at::Tensor x = torch::rand({1000, 3}) * 2 - 1;  // |x|_inf <= 1
  EXPECT_TRUE(torch::equal(contract_points(x), x));
  EXPECT_TRUE(torch::equal(uncontract_points(x), x));
  // The corner itself is still inside.
  const float corner[3] = {1.0f, -1.0f, 1.0f};
  float y[3];
  contract_point(corner, y);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], 1.0f);
}

TEST(Contraction, KnownValuesOutside) {
  // n = 4: (2 - 1/4) * x / 4.
  float x[3] = {4.0f, 0.0f, 0.0f}, y[3];
  contract_point(x, y);
  EXPECT_NEAR(y[0], 1.75f, 1e-6f);
  EXPECT_EQ(y[1], 0.0f);
  // n = 3: scale (2 - 1/3) / 3 = 5/9.
  const float x2[3] = {2.0f, 1.0f, -3.0f};
  contract_point(x2, y);
  EXPECT_NEAR(y[0], 10.0f / 9.0f, 1e-6f);
  EXPECT_NEAR(y[1], 5.0f / 9.0f, 1e-6f);
  EXPECT_NEAR(y[2], -15.0f / 9.0f, 1e-6f);
  EXPECT_NEAR(linf(y), 2.0f - 1.0f / 3.0f, 1e-6f);
}

TEST(Contraction, OutsideMapsIntoShellBelowTwo) {
  torch::manual_seed(2);
  // Directions times norms spanning 1 .. 1e6.
  const at::Tensor dirs = torch::randn({2000, 3});
  const at::Tensor norms = torch::exp(torch::rand({2000, 1}) * std::log(1e6));
  const at::Tensor x = dirs / std::get<0>(dirs.abs().max(1, true)) * norms;
  const at::Tensor y = contract_points(x);
  const at::Tensor y_norm = std::get<0>(y.abs().max(1));
  EXPECT_TRUE((y_norm < 2.0f).all().item<bool>());
  EXPECT_TRUE((y_norm >= 1.0f - 1e-6f).all().item<bool>());
  // The L-inf norm maps as n -> 2 - 1/n, monotonically.
  const at::Tensor expected = 2.0f - 1.0f / norms.squeeze(1);
  EXPECT_LT((y_norm - expected).abs().max().item<float>(), 1e-6f);
}

TEST(Contraction, RoundTrip) {
  torch::manual_seed(3);
  const at::Tensor dirs = torch::randn({2000, 3});
  const at::Tensor norms = torch::exp(torch::rand({2000, 1}) * std::log(1e3));  // 1 .. 1000
  const at::Tensor x = dirs / std::get<0>(dirs.abs().max(1, true)) * norms;
  const at::Tensor back = uncontract_points(contract_points(x));
  // Relative error grows like n * eps(2) / (2 - m) ~ n^2 * 1.2e-7 near the outer shell.
  const at::Tensor rel = (back - x).abs().amax(1) / norms.squeeze(1);
  EXPECT_LT((rel / norms.squeeze(1)).max().item<float>(), 1e-6f);
  // And y -> x -> y for points of the contracted cube.
  const at::Tensor y = torch::rand({2000, 3}) * 3.8f - 1.9f;
  EXPECT_LT((contract_points(uncontract_points(y)) - y).abs().max().item<float>(), 1e-5f);
}

TEST(Contraction, UncontractClampsTheOuterBoundary) {
  const float y[3] = {2.0f, 1.0f, -2.5f};
  float x[3];
  uncontract_point(y, x);
  for (float v : x) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(linf(x), 1e5f);
}

TEST(Contraction, ScalarAndTensorFormsAgreeAndHandleEmptyAndStridedInput) {
  torch::manual_seed(4);
  const at::Tensor x = torch::randn({64, 3}) * 5;
  const at::Tensor y = contract_points(x);
  for (int64_t i = 0; i < x.size(0); ++i) {
    float out[3];
    contract_point(x[i].contiguous().data_ptr<float>(), out);
    for (int a = 0; a < 3; ++a) EXPECT_EQ(out[a], y[i][a].item<float>());
  }
  EXPECT_EQ(contract_points(torch::zeros({0, 3})).size(0), 0);
  const at::Tensor strided = torch::randn({3, 64}).t() * 5;  // non-contiguous [64,3]
  EXPECT_TRUE(torch::equal(contract_points(strided), contract_points(strided.contiguous())));
  EXPECT_THROW(contract_points(torch::zeros({4, 2})), std::logic_error);
}

}  // namespace
