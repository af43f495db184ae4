// Orbit cameras look at the dataset cameras' common target from their mean distance; compositing.
#include "semfield/pipeline/view_renderer.h"

#include <gtest/gtest.h>

#include <Eigen/Geometry>
#include "support/test_cameras.h"

using namespace semfield;

namespace {

Camera look_at(const Eigen::Vector3d& pos, const Eigen::Vector3d& target) { return test::look_at(pos, target, 64, 48, 50); }

TEST(OrbitCameras, LookAtTheCommonTargetAtTheMeanRadius) {
  const Eigen::Vector3d target(0.1, -0.2, 0.3);
  std::vector<Camera> dataset;
  for (int i = 0; i < 12; ++i) {
    const double a = 2.0 * M_PI * i / 12.0;  // a uniform ring: the mean camera "up" is exactly +z
    dataset.push_back(look_at(target + Eigen::Vector3d(3 * std::cos(a), 3 * std::sin(a), 1.5), target));
  }
  const auto orbit = orbit_cameras(dataset, 7);
  ASSERT_EQ(orbit.size(), 7u);
  for (const Camera& c : orbit) {
    const Eigen::Vector3d to_target = (target - c.origin()).normalized();
    EXPECT_GT(to_target.dot(c.forward()), 0.9999);
    EXPECT_NEAR((c.origin() - target).norm(), std::sqrt(9.0 + 2.25), 1e-6);
    EXPECT_EQ(c.intrinsics.width, 64);
    EXPECT_NEAR((c.c2w.block<3, 3>(0, 0).determinant()), 1.0, 1e-9);
  }
}

TEST(CompositeOver, BlendsAlpha) {
  Image rgba(1, 1, 4);
  rgba.pixels = {1.0f, 0.0f, 0.0f, 0.25f};
  const Image out = composite_over(rgba, Eigen::Vector3f(0, 0, 1));
  EXPECT_FLOAT_EQ(out.pixels[0], 0.25f);
  EXPECT_FLOAT_EQ(out.pixels[2], 0.75f);
}

}  // namespace
