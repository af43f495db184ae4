// The trainer scaffold's weight average: the update rule with its warm-up, the swap that puts the average in place
// and restores the trained weights, a saved average restored, and mismatched saves refused.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/train/weight_average.h"
#include "support/test_support.h"

namespace semfield {
namespace {

TEST(WeightAverage, FollowsTheUpdateRuleWithItsWarmUp) {
  const at::Tensor p = at::zeros({3});
  WeightAverage avg(0.5, {p});
  ASSERT_TRUE(avg.enabled());
  // Rates min(0.5, (1 + n) / (10 + n)): 0.1, 2/11, 0.25, then 0.5 from n = 8 on.
  EXPECT_NEAR(avg.rate(), 0.1, 1e-12);
  double expect = 0;
  for (int n = 0; n < 12; ++n) {
    p.fill_(static_cast<float>(n + 1));  // the "trained" weights after step n
    const double r = std::min(0.5, (1.0 + n) / (10.0 + n));
    expect = r * expect + (1 - r) * (n + 1);
    avg.update();
  }
  EXPECT_EQ(avg.updates(), 12);
  EXPECT_NEAR(avg.rate(), 0.5, 1e-12);
  const at::Tensor a = avg.state().at("0");
  EXPECT_TRUE(at::allclose(a, at::full({3}, static_cast<float>(expect)), 1e-6, 1e-6)) << a << " vs " << expect;
  EXPECT_LT(expect, 12.0);  // the average lags the weights
  EXPECT_GT(expect, 10.0);
}

TEST(WeightAverage, SwapPutsTheAverageInPlaceAndRestoresTheWeights) {
  const at::Tensor p = at::ones({2, 2}).requires_grad_(true);
  const at::Tensor q = at::full({4}, 3.0f).requires_grad_(true);
  WeightAverage avg(0.9, {p, q});
  {
    at::NoGradGuard no_grad;
    p.fill_(5.0f);
    q.fill_(7.0f);
  }
  avg.update();  // rate 0.1: 0.1 * 1 + 0.9 * 5 = 4.6; 0.1 * 3 + 0.9 * 7 = 6.6
  {
    const WeightAverage::Swap swap = avg.swap_in();
    EXPECT_TRUE(at::allclose(p.detach(), at::full({2, 2}, 4.6f)));
    EXPECT_TRUE(at::allclose(q.detach(), at::full({4}, 6.6f)));
  }
  EXPECT_TRUE(at::equal(p.detach(), at::full({2, 2}, 5.0f)));
  EXPECT_TRUE(at::equal(q.detach(), at::full({4}, 7.0f)));
  EXPECT_TRUE(p.requires_grad());
  // Disabled: no copies, nothing swapped, updates are no-ops.
  WeightAverage off(0.0, {p});
  EXPECT_FALSE(off.enabled());
  off.update();
  { const WeightAverage::Swap swap = off.swap_in(); }
  EXPECT_TRUE(at::equal(p.detach(), at::full({2, 2}, 5.0f)));
  EXPECT_TRUE(off.state().empty());
}

TEST(WeightAverage, RestoresASavedAverageAndRefusesOneThatDoesNotFit) {
  const at::Tensor p = at::zeros({2});
  WeightAverage avg(0.99, {p});
  TensorMap saved{{"0", at::tensor({1.0f, 2.0f})}};
  avg.load(saved, 40, "ckpt");
  EXPECT_EQ(avg.updates(), 40);
  EXPECT_NEAR(avg.rate(), 41.0 / 50.0, 1e-12);
  EXPECT_TRUE(at::equal(avg.state().at("0"), saved.at("0")));
  EXPECT_NE(test::error_of([&] { avg.load({{"0", at::zeros({3})}}, 1, "ckpt"); }).find("ema.0"), std::string::npos);
  EXPECT_NE(test::error_of([&] { avg.load({}, 1, "ckpt"); }).find("0 tensors"), std::string::npos);
  EXPECT_NE(test::error_of([&] { avg.load({{"1", at::zeros({2})}}, 1, "ckpt"); }).find("missing"), std::string::npos);
  EXPECT_NE(test::error_of([&] { WeightAverage bad(1.0, {p}); }).find("decay"), std::string::npos);
}

}  // namespace
}  // namespace semfield
