// The label volume's fused sample-and-composite kernel against its LibTorch reference (grid_sampler_2d + index_add):
// ranks around the vector width, points on the cells' corners and edges and outside the unit cube (border padding),
// samples under the weight threshold, rays without samples, one and two threads, and misuse errors. The kernel has no
// backward (inference only); the reference is differentiable and its gradient reaches the planes and lines.
#include "semfield/kernels/label_volume.h"

#include <string>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "semfield/core/parallel.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;

struct PackedRays {
  at::Tensor points, weights, offsets;
};

// n rays of 0..max_samples samples each; points mostly in the unit cube, some outside and on cell corners.
PackedRays random_rays(int64_t n, int64_t max_samples, int64_t cells) {
  const at::Tensor counts = at::randint(0, max_samples + 1, {n}, at::kLong);
  const at::Tensor offsets = at::cat({at::zeros({1}, at::kLong), counts.cumsum(0)});
  const int64_t s = offsets[n].item<int64_t>();
  at::Tensor points = at::rand({s, 3}) * 1.2 - 0.1;
  if (s >= 8) {
    // Exact cell corners and the cube's faces.
    points.narrow(0, 0, 4).copy_(at::randint(0, cells, {4, 3}).to(at::kFloat) / static_cast<double>(cells - 1));
    points[4].fill_(0.0);
    points[5].fill_(1.0);
  }
  at::Tensor weights = at::rand({s});
  if (s > 0) weights.narrow(0, 0, s / 3).mul_(1e-4);  // a third under the threshold
  return {points, weights, offsets};
}

TEST(LabelVolumeComposite, MatchesReference) {
  at::manual_seed(11);
  for (const int64_t rank : {1, 3, 16, 17}) {
    for (const int64_t cells : {2, 5, 64}) {
      const at::Tensor planes = at::randn({3, rank, cells, cells}), lines = at::randn({3, rank, cells});
      const PackedRays rays = random_rays(300, 20, cells);
      const std::string what = "rank " + std::to_string(rank) + " cells " + std::to_string(cells);
      const at::Tensor got = composite_label_values(planes, lines, rays.points, rays.weights, rays.offsets, 1e-4f);
      test::expect_close(got, composite_label_values_reference(planes, lines, rays.points, rays.weights, rays.offsets,
                                                               1e-4f),
                         1e-4, 1e-5, what);
    }
  }
}

TEST(LabelVolumeComposite, KnownValues) {
  // Rank 1, 2 cells: plane values are bilinear in the coordinates, lines linear. Plane xy = 1 + x (cells 1, 2 along
  // the width), plane xz = 1, plane yz = y; line z = 2, line y = 1 + y, line x = 3x.
  at::Tensor planes = at::ones({3, 1, 2, 2});
  planes[0][0][0][1] = 2;
  planes[0][0][1][1] = 2;
  planes[2][0][0][0] = 0;  // plane yz: width = y
  planes[2][0][1][0] = 0;
  const at::Tensor lines = at::tensor({2.0f, 2.0f, 1.0f, 2.0f, 0.0f, 3.0f}).view({3, 1, 2});
  const at::Tensor points = at::tensor({0.25f, 0.5f, 0.75f, 1.0f, 1.0f, 0.0f}).view({2, 3});
  const at::Tensor weights = at::tensor({0.5f, 0.25f});
  const at::Tensor offsets = at::tensor({int64_t{0}, int64_t{2}});
  const at::Tensor got = composite_label_values(planes, lines, points, weights, offsets, 1e-4f);
  // Point 1: (1.25 * 2, 1 * 1.5, 0.5 * 0.75) * 0.5; point 2: (2 * 2, 1 * 2, 1 * 3) * 0.25.
  const at::Tensor want = at::tensor({1.25f + 1.0f, 0.75f + 0.5f, 0.1875f + 0.75f}).view({1, 3});
  test::expect_close(got, want, 1e-6, 1e-6, "known values");
}

TEST(LabelVolumeComposite, SameOnOneAndTwoThreads) {
  at::manual_seed(12);
  const at::Tensor planes = at::randn({3, 16, 32, 32}), lines = at::randn({3, 16, 32});
  const PackedRays rays = random_rays(5000, 12, 32);
  const int saved = parallel_threads();
  set_parallel_threads(1);
  const at::Tensor one = composite_label_values(planes, lines, rays.points, rays.weights, rays.offsets, 1e-4f);
  set_parallel_threads(2);
  const at::Tensor two = composite_label_values(planes, lines, rays.points, rays.weights, rays.offsets, 1e-4f);
  set_parallel_threads(saved);
  EXPECT_TRUE(at::equal(one, two));  // each ray's sums run in sample order whatever the split
}

TEST(LabelVolumeComposite, EmptyRaysAndNoSamples) {
  const at::Tensor planes = at::randn({3, 4, 8, 8}), lines = at::randn({3, 4, 8});
  const at::Tensor none = composite_label_values(planes, lines, at::zeros({0, 3}), at::zeros({0}),
                                                 at::zeros({4}, at::kLong), 1e-4f);
  ASSERT_EQ(none.sizes(), (at::IntArrayRef{3, 12}));
  EXPECT_EQ(none.abs().sum().item<float>(), 0.0f);
}

TEST(LabelVolumeComposite, ReferenceIsDifferentiable) {
  at::manual_seed(13);
  const at::Tensor planes = at::randn({3, 4, 8, 8}).set_requires_grad(true);
  const at::Tensor lines = at::randn({3, 4, 8}).set_requires_grad(true);
  const PackedRays rays = random_rays(50, 6, 8);
  composite_label_values_reference(planes, lines, rays.points, rays.weights, rays.offsets, 1e-4f).sum().backward();
  ASSERT_TRUE(planes.grad().defined() && lines.grad().defined());
  EXPECT_GT(planes.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_GT(lines.grad().abs().sum().item<float>(), 0.0f);
}

TEST(LabelVolumeComposite, RejectsMisuse) {
  const at::Tensor planes = at::randn({3, 4, 8, 8}), lines = at::randn({3, 4, 8});
  const at::Tensor points = at::rand({5, 3}), weights = at::rand({5});
  const at::Tensor offsets = at::tensor({int64_t{0}, int64_t{5}});
  EXPECT_THAT(test::error_of([&] { composite_label_values(planes, at::randn({3, 5, 8}), points, weights, offsets, 0); }),
              HasSubstr("rank"));
  EXPECT_THAT(test::error_of([&] { composite_label_values(planes, lines, points, at::rand({4}), offsets, 0); }),
              HasSubstr("weights"));
  EXPECT_THAT(test::error_of([&] {
                composite_label_values(planes, lines, points, weights, at::tensor({int64_t{0}, int64_t{4}}), 0);
              }),
              HasSubstr("ray_offsets"));
  EXPECT_THAT(test::error_of([&] {
                composite_label_values(planes.to(at::kDouble), lines, points, weights, offsets, 0);
              }),
              HasSubstr("planes"));
}

}  // namespace
}  // namespace semfield::kernels
