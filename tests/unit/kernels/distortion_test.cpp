// Tests of the distortion-loss kernels: forward and gradient against the O(n^2) LibTorch reference (empty rays,
// one sample, long rays), through the compositing weights into sigma, the loss's meaning (a concentrated ray costs
// less than a spread one), and misuse errors.
#include "semfield/kernels/distortion.h"

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "kernel_test_util.h"
#include "semfield/kernels/composite.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;
using test::error_of;
using test::expect_close;

struct DistortionRays {
  at::Tensor weights, midpoints, widths, offsets;
};

DistortionRays make_rays(const std::vector<int64_t>& counts, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<int64_t> offsets = {0};
  for (const int64_t c : counts) offsets.push_back(offsets.back() + c);
  const int64_t S = offsets.back();
  DistortionRays r;
  r.weights = at::rand({S}) * 0.2f;
  r.widths = 0.01f + 0.05f * at::rand({S});
  r.midpoints = at::cumsum(r.widths, 0) + 0.5f;  // increasing within every ray
  r.offsets = at::tensor(offsets, at::kLong);
  return r;
}

const std::vector<int64_t> kDistortionCounts = {0, 1, 2, 7, 0, 64, 300, 3};

TEST(Distortion, ForwardMatchesReference) {
  const DistortionRays r = make_rays(kDistortionCounts, 1);
  expect_close(distortion_forward(r.weights, r.midpoints, r.widths, r.offsets),
               distortion_reference(r.weights, r.midpoints, r.widths, r.offsets), 1e-4, 1e-7, "loss");
  const DistortionRays none = make_rays({}, 2);
  EXPECT_EQ(distortion_forward(none.weights, none.midpoints, none.widths, none.offsets).numel(), 0);
}

TEST(Distortion, GradientMatchesReferenceAutograd) {
  const DistortionRays r = make_rays(kDistortionCounts, 3);
  const at::Tensor upstream = at::randn({int64_t(kDistortionCounts.size())});
  const at::Tensor w_ref = r.weights.clone().requires_grad_(true);
  (distortion_reference(w_ref, r.midpoints, r.widths, r.offsets) * upstream).sum().backward();
  const at::Tensor w = r.weights.clone().requires_grad_(true);
  const at::Tensor loss = distortion(w, r.midpoints, r.widths, r.offsets);
  (loss * upstream).sum().backward();
  expect_close(w.grad(), w_ref.grad(), 1e-4, 1e-6, "dweights");
  expect_close(distortion_backward(upstream, r.weights, r.midpoints, r.widths, r.offsets), w_ref.grad(), 1e-4, 1e-6,
               "backward kernel");
}

TEST(Distortion, GradientReachesSigmaThroughTheCompositingWeights) {
  // The training path: sigma -> composite (kernel) -> weights -> distortion (kernel), against the references.
  const std::vector<int64_t> counts = {5, 40, 1, 0, 17};
  const DistortionRays r = make_rays(counts, 4);
  const at::Tensor sigmas = at::rand({r.weights.size(0)}) * 8.0f, values = at::randn({r.weights.size(0), 3});
  const at::Tensor s = sigmas.clone().requires_grad_(true), s_ref = sigmas.clone().requires_grad_(true);
  const CompositeOutputs out = composite(s, values, r.widths, r.midpoints, r.offsets, 0.0);
  distortion(out.weights, r.midpoints, r.widths, r.offsets).sum().backward();
  const CompositeOutputs ref = composite_reference(s_ref, values, r.widths, r.midpoints, r.offsets);
  distortion_reference(ref.weights, r.midpoints, r.widths, r.offsets).sum().backward();
  expect_close(s.grad(), s_ref.grad(), 1e-3, 1e-6, "dsigmas");
}

TEST(Distortion, ConcentratedWeightsCostLessThanSpreadOnes) {
  // The same total weight on one ray: in one interval, or split between two intervals a metre apart (haze
  // before a surface).
  const at::Tensor midpoints = at::tensor({1.0f, 1.1f, 2.0f}), widths = at::full({3}, 0.1f);
  const at::Tensor offsets = at::tensor({int64_t{0}, int64_t{3}});
  const float surface = distortion_forward(at::tensor({0.9f, 0.0f, 0.0f}), midpoints, widths, offsets).item<float>();
  const float haze = distortion_forward(at::tensor({0.45f, 0.0f, 0.45f}), midpoints, widths, offsets).item<float>();
  EXPECT_NEAR(surface, 0.81f * 0.1f / 3.0f, 1e-6);
  EXPECT_NEAR(haze, 2 * 0.45f * 0.45f * 1.0f + 2 * 0.45f * 0.45f * 0.1f / 3.0f, 1e-5);
  EXPECT_GT(haze, 10 * surface);
  // dL/dw_k = 2 sum_j w_j |m_k - m_j| + 2/3 w_k d_k, by hand.
  const at::Tensor g = distortion_backward(at::ones({1}), at::tensor({0.45f, 0.0f, 0.45f}), midpoints, widths, offsets);
  EXPECT_NEAR(g[0].item<float>(), 2 * 0.45f * 1.0f + 2.0f / 3 * 0.45f * 0.1f, 1e-5);
  EXPECT_NEAR(g[1].item<float>(), 2 * (0.45f * 0.1f + 0.45f * 0.9f), 1e-5);
}

TEST(Distortion, MisuseIsReported) {
  const DistortionRays r = make_rays({3, 2}, 5);
  EXPECT_THAT(error_of([&] { distortion_forward(r.weights.to(at::kDouble), r.midpoints, r.widths, r.offsets); }),
              HasSubstr("weights"));
  EXPECT_THAT(error_of([&] { distortion_forward(r.weights, r.midpoints.slice(0, 0, 4), r.widths, r.offsets); }),
              HasSubstr("midpoints"));
  const at::Tensor short_offsets = at::tensor({int64_t{0}, int64_t{4}});  // ends before S = 5
  EXPECT_THAT(error_of([&] { distortion_forward(r.weights, r.midpoints, r.widths, short_offsets); }),
              HasSubstr("ray_offsets"));
  EXPECT_THAT(error_of([&] { distortion_backward(at::ones({3}), r.weights, r.midpoints, r.widths, r.offsets); }),
              HasSubstr("dL_dloss"));
}

}  // namespace
}  // namespace semfield::kernels
