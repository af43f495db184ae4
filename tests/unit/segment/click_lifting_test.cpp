// Lifting clicks through depth and re-projecting them with a visibility test, on known cameras.
#include "semfield/segment/click_lifting.h"

#include <ATen/ATen.h>
#include <Eigen/Geometry>
#include <gtest/gtest.h>
#include "support/test_cameras.h"

namespace semfield {
namespace {

Camera camera_at(const Eigen::Vector3d& origin, int size = 32, const Eigen::Vector3d& target = Eigen::Vector3d::Zero()) {
  return test::look_at(origin, target, size, size);
}

TEST(ClickLifting, LiftsThroughZDepthOffAxisToo) {
  const Camera camera = camera_at({0, 0, 4});
  // A plane at world z = 1 facing the camera: z-depth 3 everywhere.
  const at::Tensor depth = at::full({32, 32}, 3.0f);
  const auto centre = lift_click(camera, depth, {15.5, 15.5});
  ASSERT_TRUE(centre.has_value());
  EXPECT_NEAR((*centre - Eigen::Vector3d(0, 0, 1)).norm(), 0, 1e-6);
  // Off-axis: the point still lies on the plane z = 1 (z-depth, not ray distance), and projects back to the click.
  const auto corner = lift_click(camera, depth, {2, 28});
  ASSERT_TRUE(corner.has_value());
  EXPECT_NEAR(corner->z(), 1.0, 1e-6);
  const Reprojection back = reproject_point(camera, depth, *corner);
  EXPECT_TRUE(back.visible);
  EXPECT_NEAR(back.click.x(), 2, 1e-6);
  EXPECT_NEAR(back.click.y(), 28, 1e-6);
  EXPECT_NEAR(back.depth, 3, 1e-6);
}

TEST(ClickLifting, EmptyPixelsLiftToNothing) {
  const Camera camera = camera_at({0, 0, 4});
  at::Tensor depth = at::full({32, 32}, 3.0f);
  depth[6][7] = 0;
  // Pixel centres at integers: (7.2, 5.9) lies in pixel (7, 6), (7.2, 5.4) in its neighbour (7, 5).
  EXPECT_FALSE(lift_click(camera, depth, {7.2, 5.9}).has_value());
  EXPECT_TRUE(lift_click(camera, depth, {7.2, 5.4}).has_value());
  Prompts prompts;
  prompts.positive = {{7.2, 5.9}, {16, 16}};
  prompts.negative = {{20, 20}};
  const LiftedPrompts lifted = lift_prompts(camera, depth, prompts);
  EXPECT_EQ(lifted.positive.size(), 1u);
  EXPECT_EQ(lifted.negative.size(), 1u);
}

TEST(ClickLifting, ReprojectionTestsVisibility) {
  const Camera source = camera_at({0, 0, 4});
  const at::Tensor source_depth = at::full({32, 32}, 3.0f);
  const Eigen::Vector3d point = *lift_click(source, source_depth, {15.5, 15.5});  // (0, 0, 1)
  // A second camera 4 units along x from the point, looking at it, sees it at z-depth 4 at its image centre.
  const Camera side = camera_at({4, 0, 1}, 32, {0, 0, 1});
  const Reprojection unoccluded = reproject_point(side, at::full({32, 32}, 4.0f), point);
  EXPECT_TRUE(unoccluded.in_image);
  EXPECT_TRUE(unoccluded.visible);
  EXPECT_NEAR(unoccluded.click.x(), 15.5, 1e-6);
  EXPECT_NEAR(unoccluded.depth, 4.0, 1e-6);
  // Something nearer covers it: occluded. Nothing rendered there: nothing occludes it.
  EXPECT_FALSE(reproject_point(side, at::full({32, 32}, 2.5f), point).visible);
  EXPECT_TRUE(reproject_point(side, at::zeros({32, 32}), point).visible);
  // Within the tolerance (3 % of the rendered depth) still visible.
  EXPECT_TRUE(reproject_point(side, at::full({32, 32}, 3.9f), point).visible);
  // Behind a camera looking away, and outside a narrow image.
  const Camera away = camera_at({0, 0, -4});
  Camera flipped = away;
  flipped.c2w.block<3, 1>(0, 2) *= -1;
  flipped.c2w.block<3, 1>(0, 0) *= -1;
  EXPECT_FALSE(reproject_point(flipped, at::full({32, 32}, 3.0f), point).in_front);
  const Camera shifted = camera_at({0, 3, 4});
  Camera narrow = shifted;
  narrow.intrinsics.cx = -100;
  const Reprojection outside = reproject_point(narrow, at::full({32, 32}, 3.0f), point);
  EXPECT_TRUE(outside.in_front);
  EXPECT_FALSE(outside.in_image);
  EXPECT_FALSE(outside.visible);

  LiftedPrompts lifted;
  lifted.positive = {point};
  lifted.negative = {point};
  const Prompts visible = reproject_prompts(lifted, side, at::full({32, 32}, 4.0f));
  EXPECT_EQ(visible.positive.size(), 1u);
  EXPECT_EQ(visible.negative.size(), 1u);
  EXPECT_TRUE(reproject_prompts(lifted, side, at::full({32, 32}, 2.0f)).empty());
}

}  // namespace
}  // namespace semfield
