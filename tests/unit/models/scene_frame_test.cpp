// Tests for SceneFrame JSON round trip and validation.
#include "semfield/models/scene_frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

using namespace semfield;

TEST(SceneFrame, JsonRoundTrip) {
  SceneFrame f;
  f.aabb_min = {-2, -1, -0.5f};
  f.aabb_max = {2, 1, 0.5f};
  f.unbounded = true;
  f.normalization.scale = 0.25;
  f.normalization.offset = {0.1, 0.2, 0.3};
  f.has_alpha = true;
  const SceneFrame g = SceneFrame::from_json(f.to_json(), "ck");
  EXPECT_EQ(g.aabb_min, f.aabb_min);
  EXPECT_EQ(g.aabb_max, f.aabb_max);
  EXPECT_TRUE(g.unbounded);
  EXPECT_DOUBLE_EQ(g.normalization.scale, 0.25);
  EXPECT_EQ(g.normalization.offset, f.normalization.offset);
  EXPECT_TRUE(g.has_alpha);
}

TEST(SceneFrame, RejectsEmptyBoxAndBadScale) {
  SceneFrame f;
  nlohmann::json j = f.to_json();
  j["aabb_max"] = {-1, 1, 1};
  EXPECT_THROW(SceneFrame::from_json(j, "ck"), InputError);
  j = f.to_json();
  j["normalization_scale"] = 0;
  EXPECT_THROW(SceneFrame::from_json(j, "ck"), InputError);
  j = f.to_json();
  j.erase("unbounded");
  EXPECT_THAT([&] { SceneFrame::from_json(j, "ck"); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("unbounded: missing required key")));
}

TEST(SceneFrame, TensorConversionsAreNormalizationsApplyAndInvertOnEveryRow) {
  SceneFrame f;
  f.normalization.scale = 0.4;
  f.normalization.offset = {0.25, -1.5, 2.0};
  const at::Tensor file = at::tensor({1.0f, 2.0f, 3.0f, -0.5f, 0.0f, 4.0f}).view({2, 3});
  const at::Tensor normalised = f.to_normalised(file);
  ASSERT_EQ(normalised.sizes(), file.sizes());
  EXPECT_EQ(normalised.scalar_type(), at::kFloat);
  for (int64_t i = 0; i < 2; ++i) {
    const Eigen::Vector3d p(file[i][0].item<double>(), file[i][1].item<double>(), file[i][2].item<double>());
    const Eigen::Vector3d q = f.normalization.apply(p);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(normalised[i][c].item<double>(), q[c], 1e-6) << i << "," << c;
  }
  EXPECT_TRUE(at::allclose(f.to_file(normalised), file, 1e-6, 1e-6));
  // Leading axes are kept, and double points stay double (the offset is not rounded through float).
  f.normalization.offset = {0.1, 0.2, 1e-9};
  const at::Tensor d = at::zeros({2, 1, 3}, at::kDouble);
  const at::Tensor nd = f.to_normalised(d);
  ASSERT_EQ(nd.sizes(), d.sizes());
  EXPECT_EQ(nd.scalar_type(), at::kDouble);
  EXPECT_DOUBLE_EQ(nd[1][0][2].item<double>(), 1e-9);
  EXPECT_DOUBLE_EQ(f.to_file(nd)[0][0][1].item<double>(), 0.0);
  // Autograd passes through (the coordinate loss differentiates through nothing here, but callers may).
  const at::Tensor g = at::ones({1, 3}).requires_grad_(true);
  f.to_normalised(g).sum().backward();
  EXPECT_TRUE(at::allclose(g.grad(), at::full({1, 3}, 0.4f)));
}

TEST(SceneFrame, TensorConversionsRejectPointsThatAreNotTriples) {
  const SceneFrame f;
  EXPECT_ANY_THROW(f.to_normalised(at::zeros({4, 2})));
  EXPECT_ANY_THROW(f.to_file(at::zeros({0})));
}
