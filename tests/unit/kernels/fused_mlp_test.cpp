// Tests of the fused MLP: forward and all gradients against LibTorch's mm/relu autograd (float64 reference)
// for the radiance field's shapes and odd ones (widths not multiples of 16, wider than one register tile,
// a single layer, row counts off the block size, no rows), determinism across thread counts, misuse errors.
#include "semfield/kernels/fused_mlp.h"

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "kernel_test_util.h"
#include "semfield/core/parallel.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;
using test::error_of;
using test::expect_close;

std::vector<at::Tensor> random_weights(const std::vector<int64_t>& widths, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<at::Tensor> weights;
  for (size_t i = 0; i + 1 < widths.size(); ++i)
    weights.push_back(at::randn({widths[i + 1], widths[i]}) * std::sqrt(2.0 / static_cast<double>(widths[i])));
  return weights;
}

struct Case {
  std::vector<int64_t> widths;  // in, hidden..., out
  int64_t rows;
};

class FusedMlpShapes : public ::testing::TestWithParam<Case> {};

TEST_P(FusedMlpShapes, ForwardAndGradientsMatchLibTorch) {
  const Case c = GetParam();
  std::vector<at::Tensor> weights = random_weights(c.widths, 7);
  const at::Tensor x = at::randn({c.rows, c.widths.front()});
  const at::Tensor dy = at::randn({c.rows, c.widths.back()});

  // Reference in float64 with autograd.
  const at::Tensor x64 = x.to(at::kDouble).requires_grad_(true);
  std::vector<at::Tensor> w64;
  for (const auto& w : weights) w64.push_back(w.to(at::kDouble).requires_grad_(true));
  const at::Tensor y64 = mlp_reference(x64, w64);
  (y64 * dy.to(at::kDouble)).sum().backward();

  const std::string shape = "rows " + std::to_string(c.rows);
  expect_close(fused_mlp_forward(x, weights), y64.detach(), 1e-4, 1e-4, "forward, " + shape);

  const FusedMlpGrads grads = fused_mlp_backward(dy, x, weights, /*need_dx=*/true);
  expect_close(grads.dx, x64.grad(), 1e-4, 1e-4, "dx, " + shape);
  ASSERT_EQ(grads.dweights.size(), weights.size());
  for (size_t i = 0; i < weights.size(); ++i)
    // Weight gradients sum over every row: scale the tolerance with the row count.
    expect_close(grads.dweights[i], w64[i].grad(), 1e-4, 1e-5 * static_cast<double>(c.rows + 1),
                 "dW" + std::to_string(i) + ", " + shape);

  // Through autograd: the same gradients land in .grad.
  const at::Tensor xa = x.clone().requires_grad_(true);
  std::vector<at::Tensor> wa;
  for (const auto& w : weights) wa.push_back(w.clone().requires_grad_(true));
  (fused_mlp(xa, wa) * dy).sum().backward();
  if (c.rows > 0) {
    expect_close(xa.grad(), x64.grad(), 1e-4, 1e-4, "autograd dx, " + shape);
    for (size_t i = 0; i < wa.size(); ++i)
      expect_close(wa[i].grad(), w64[i].grad(), 1e-4, 1e-5 * static_cast<double>(c.rows + 1), "autograd dW, " + shape);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedMlpShapes,
    ::testing::Values(Case{{32, 64, 16}, 1000},       // the density MLP, rows off the 128-row block
                      Case{{31, 64, 64, 3}, 777},      // the colour MLP (SH 16 + geo 15 inputs)
                      Case{{5, 100, 37, 70}, 300},     // widths past one 64-column tile, unpadded
                      Case{{16, 8}, 129},              // a single linear layer
                      Case{{32, 64, 16}, 1},
                      Case{{32, 64, 16}, 0}));

TEST(FusedMlp, OnlyTheWeightsWhenTheInputNeedsNoGradient) {
  std::vector<at::Tensor> weights = random_weights({32, 64, 16}, 3);
  const at::Tensor x = at::randn({300, 32});
  const FusedMlpGrads grads = fused_mlp_backward(at::randn({300, 16}), x, weights, /*need_dx=*/false);
  EXPECT_FALSE(grads.dx.defined());
  EXPECT_EQ(grads.dweights.size(), 2u);
  // Autograd with x a constant: weights get gradients, x none.
  std::vector<at::Tensor> wa;
  for (const auto& w : weights) wa.push_back(w.clone().requires_grad_(true));
  fused_mlp(x, wa).sum().backward();
  EXPECT_TRUE(wa[0].grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(FusedMlp, SameResultOnOneAndTwoThreads) {
  std::vector<at::Tensor> weights = random_weights({32, 64, 16}, 5);
  const at::Tensor x = at::randn({5000, 32}), dy = at::randn({5000, 16});
  set_parallel_threads(1);
  const at::Tensor y1 = fused_mlp_forward(x, weights);
  const FusedMlpGrads g1 = fused_mlp_backward(dy, x, weights, true);
  set_parallel_threads(2);
  const at::Tensor y2 = fused_mlp_forward(x, weights);
  const FusedMlpGrads g2 = fused_mlp_backward(dy, x, weights, true);
  set_parallel_threads(0);
  EXPECT_TRUE(at::equal(y1, y2));
  EXPECT_TRUE(at::equal(g1.dx, g2.dx));
  // Weight gradients are summed over per-thread chunks in a fixed order: close, and identical run to run.
  for (size_t i = 0; i < weights.size(); ++i) expect_close(g1.dweights[i], g2.dweights[i], 1e-4, 1e-3, "dW");
  // ... on the same thread count (the chunks follow it: all cores, 0, would be 16 chunks on a 16-core machine).
  set_parallel_threads(2);
  const FusedMlpGrads g3 = fused_mlp_backward(dy, x, weights, true);
  set_parallel_threads(0);
  for (size_t i = 0; i < weights.size(); ++i) EXPECT_TRUE(at::equal(g2.dweights[i], g3.dweights[i]));
}

TEST(FusedMlp, MisuseIsReported) {
  std::vector<at::Tensor> weights = random_weights({32, 64, 16}, 1);
  EXPECT_THAT(error_of([&] { fused_mlp_forward(at::randn({4, 31}), weights); }),
              HasSubstr("weights[0] must have 31 input columns"));
  EXPECT_THAT(error_of([&] { fused_mlp_forward(at::randn({4, 32}, at::kDouble), weights); }), HasSubstr("x must be"));
  EXPECT_THAT(error_of([&] { fused_mlp_forward(at::randn({4, 32}), {}); }), HasSubstr("no weights"));
  EXPECT_THAT(error_of([&] { fused_mlp_backward(at::randn({4, 15}), at::randn({4, 32}), weights, true); }),
              HasSubstr("dy must have shape [4, 16]"));
}

}  // namespace
}  // namespace semfield::kernels
