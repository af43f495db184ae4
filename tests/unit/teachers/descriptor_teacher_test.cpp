// The built-in descriptor: its documented layout, what it tells apart, and its resolution invariance.
#include "semfield/teachers/descriptor_teacher.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace semfield {
namespace {

// Left half red, right half blue, [H,W,3].
at::Tensor two_colour_image(int64_t size) {
  at::Tensor image = at::zeros({size, size, 3});
  image.narrow(1, 0, size / 2).select(2, 0).fill_(0.9f);
  image.narrow(1, size / 2, size / 2).select(2, 2).fill_(0.9f);
  return image;
}

TEST(DescriptorTeacher, LabOfKnownColours) {
  // sRGB white -> L 100, a = b = 0; pure red -> L 53.24, a 80.09, b 67.20 (CIE reference values).
  const at::Tensor lab = srgb_to_lab(at::tensor({1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f}).view({2, 3}));
  EXPECT_NEAR(lab[0][0].item<float>(), 100.0f, 0.05f);
  EXPECT_NEAR(lab[0][1].item<float>(), 0.0f, 0.05f);
  EXPECT_NEAR(lab[0][2].item<float>(), 0.0f, 0.05f);
  EXPECT_NEAR(lab[1][0].item<float>(), 53.24f, 0.05f);
  EXPECT_NEAR(lab[1][1].item<float>(), 80.09f, 0.1f);
  EXPECT_NEAR(lab[1][2].item<float>(), 67.20f, 0.1f);
}

TEST(DescriptorTeacher, ShapeAndSeparatesRegions) {
  const DescriptorTeacher teacher;
  EXPECT_TRUE(teacher.runs_on_images());
  EXPECT_EQ(teacher.map_sizes(63, 64).front(), (std::pair<int64_t, int64_t>{32, 32}));
  const auto maps = teacher.compute({two_colour_image(64), nullptr});
  ASSERT_EQ(maps.size(), 1u);
  ASSERT_EQ(maps[0].sizes(), (at::IntArrayRef{DescriptorTeacher::kChannels, 32, 32}));
  EXPECT_TRUE(at::isfinite(maps[0]).all().item<bool>());
  // Deep inside each half the features are near-constant and far apart across halves.
  const at::Tensor left = maps[0].select(2, 2).select(1, 16), left2 = maps[0].select(2, 4).select(1, 10);
  const at::Tensor right = maps[0].select(2, 29).select(1, 16);
  EXPECT_LT((left - left2).norm().item<float>(), 0.2f * (left - right).norm().item<float>());
  // Texture channels (local std, gradient) peak at the boundary.
  EXPECT_GT(maps[0][21][16][16].item<float>(), 5.0f * maps[0][21][16][2].item<float>() + 1e-4f);
}

TEST(DescriptorTeacher, ScalesFollowTheImageSize) {
  const DescriptorTeacher teacher;
  const at::Tensor small = teacher.compute({two_colour_image(64), nullptr})[0];
  const at::Tensor large = teacher.compute({two_colour_image(128), nullptr})[0];
  // The same image at twice the resolution gives (nearly) the same map at twice the size.
  const at::Tensor pooled = at::avg_pool2d(large.unsqueeze(0), {2, 2}).squeeze(0);
  EXPECT_LT((pooled - small).abs().mean().item<float>(), 0.02f);
}

TEST(DescriptorTeacher, RejectsBadImages) {
  const DescriptorTeacher teacher;
  EXPECT_THROW(teacher.compute({at::zeros({8, 8}), nullptr}), UsageError);
  EXPECT_THROW(teacher.compute({at::zeros({8, 8, 4}), nullptr}), UsageError);
  EXPECT_THROW(teacher.compute({at::Tensor(), nullptr}), UsageError);
}

}  // namespace
}  // namespace semfield
