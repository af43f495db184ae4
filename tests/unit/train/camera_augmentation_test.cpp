// Camera augmentation: interpolated poses stay rigid and between their endpoints.
#include "semfield/train/camera_augmentation.h"

#include <Eigen/Geometry>
#include <gtest/gtest.h>
#include "support/test_cameras.h"

// GCC 12 warns inside its own AVX-512 header when Eigen's double-precision 4x4 products are inlined here
// (_mm256_undefined_pd's self-initialisation; GCC bug 105593, fixed in GCC 13): silenced for this file only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield {
namespace {

Camera camera_at(double angle, double radius) {
  // 1 unit above the ground, looking at the origin.
  return test::look_at({radius * std::cos(angle), radius * std::sin(angle), 1.0}, Eigen::Vector3d::Zero(), 400, 300, 350);
}

TEST(CameraAugmentation, InterpolationHitsEndpointsAndStaysRigid) {
  const Camera a = camera_at(0.0, 3.0), b = camera_at(0.6, 3.0);
  EXPECT_TRUE(interpolate_cameras(a, b, 0.0).c2w.isApprox(a.c2w, 1e-9));
  EXPECT_TRUE(interpolate_cameras(a, b, 1.0).c2w.isApprox(b.c2w, 1e-9));
  const Camera mid = interpolate_cameras(a, b, 0.5);
  const Eigen::Matrix3d r = mid.c2w.block<3, 3>(0, 0);
  EXPECT_TRUE((r.transpose() * r).isApprox(Eigen::Matrix3d::Identity(), 1e-9));
  EXPECT_NEAR(r.determinant(), 1.0, 1e-9);
  EXPECT_TRUE(mid.origin().isApprox(0.5 * (a.origin() + b.origin()), 1e-9));
  // Halfway rotation: equal angles to both ends.
  const double to_a = Eigen::AngleAxisd(Eigen::Matrix3d(a.c2w.block<3, 3>(0, 0).transpose() * r)).angle();
  const double to_b = Eigen::AngleAxisd(Eigen::Matrix3d(b.c2w.block<3, 3>(0, 0).transpose() * r)).angle();
  EXPECT_NEAR(to_a, to_b, 1e-9);
}

TEST(CameraAugmentation, RandomViewsLieBetweenNeighboursAndAreResized) {
  std::vector<Camera> cameras;
  for (int i = 0; i < 12; ++i) cameras.push_back(camera_at(i * 0.5236, 3.0));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50; ++i) {
    const Camera c = random_interpolated_camera(cameras, rng, 100, 2);
    EXPECT_EQ(c.intrinsics.width, 100);
    EXPECT_EQ(c.intrinsics.height, 75);
    EXPECT_NEAR(c.intrinsics.fx, 87.5, 1e-9);
    // Interpolating neighbours 30 degrees apart on a circle of radius 3 stays close to the circle.
    const double r = std::hypot(c.origin().x(), c.origin().y());
    EXPECT_GT(r, 3.0 * std::cos(0.5236) - 1e-9);
    EXPECT_LE(r, 3.0 + 1e-9);
  }
}

}  // namespace
}  // namespace semfield

#pragma GCC diagnostic pop
