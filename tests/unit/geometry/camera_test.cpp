// Tests for cameras: projection against hand-computed pixels, distortion inverses, ray round trips, flips.
#include "semfield/geometry/camera.h"

#include <cmath>

#include <Eigen/Geometry>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

using semfield::Camera;
using semfield::CameraModel;
using semfield::Intrinsics;

namespace {

Intrinsics test_intrinsics(CameraModel model = CameraModel::Pinhole) {
  Intrinsics K;
  K.width = 100;
  K.height = 80;
  K.fx = 100;
  K.fy = 120;
  K.cx = 50;
  K.cy = 40;
  K.model = model;
  return K;
}

// Camera at the world origin with identity rotation: OpenGL axes, looking down world -z.
Camera identity_camera(const Intrinsics& K) {
  Camera cam;
  cam.intrinsics = K;
  return cam;
}

TEST(Camera, PinholeProjectsKnownPoint) {
  const Camera cam = identity_camera(test_intrinsics());
  // World (1, -0.5, -4): OpenCV camera (1, 0.5, 4) -> x = 0.25, y = 0.125 -> u = 100*0.25+50, v = 120*0.125+40.
  Eigen::Vector2d uv;
  double depth = 0;
  ASSERT_TRUE(cam.world_to_pixel({1.0, -0.5, -4.0}, &uv, &depth));
  EXPECT_NEAR(uv.x(), 75.0, 1e-12);
  EXPECT_NEAR(uv.y(), 55.0, 1e-12);
  EXPECT_NEAR(depth, 4.0, 1e-12);
  // Behind the camera: no projection, but the (negative) depth is reported.
  EXPECT_FALSE(cam.world_to_pixel({0.0, 0.0, 2.0}, &uv, &depth));
  EXPECT_NEAR(depth, -2.0, 1e-12);
}

TEST(Camera, RotatedPoseProjectsKnownPoint) {
  // Rotation of +90 degrees about world y: the camera's -z axis points along world -x; placed at (3,0,0)
  // it looks at the origin. Its x axis is world -z, its y axis world +y.
  Camera cam = identity_camera(test_intrinsics());
  cam.c2w.block<3, 3>(0, 0) << 0, 0, 1, 0, 1, 0, -1, 0, 0;
  cam.c2w.block<3, 1>(0, 3) << 3, 0, 0;
  EXPECT_NEAR((cam.forward() - Eigen::Vector3d(-1, 0, 0)).norm(), 0.0, 1e-12);
  Eigen::Vector2d uv;
  double depth = 0;
  ASSERT_TRUE(cam.world_to_pixel({0, 0, 0}, &uv, &depth));
  EXPECT_NEAR(uv.x(), 50.0, 1e-12);
  EXPECT_NEAR(uv.y(), 40.0, 1e-12);
  EXPECT_NEAR(depth, 3.0, 1e-12);
  // World (0,1,-1): camera OpenGL (1, 1, -3) -> OpenCV x = 1/3, y = -1/3 -> u = 50 + 100/3, v = 40 - 40.
  ASSERT_TRUE(cam.world_to_pixel({0, 1, -1}, &uv, &depth));
  EXPECT_NEAR(uv.x(), 50.0 + 100.0 / 3.0, 1e-12);
  EXPECT_NEAR(uv.y(), 0.0, 1e-12);
  EXPECT_NEAR((cam.world_to_camera({0, 1, -1}) - Eigen::Vector3d(1, 1, -3)).norm(), 0.0, 1e-12);
  EXPECT_NEAR((cam.camera_to_world({1, 1, -3}) - Eigen::Vector3d(0, 1, -1)).norm(), 0.0, 1e-12);
}

TEST(Camera, OpenCVDistortionProjectsKnownPoint) {
  Intrinsics K = test_intrinsics(CameraModel::OpenCV);
  K.distortion.k1 = 0.1;
  K.distortion.k2 = 0.01;
  K.distortion.k3 = 0.001;
  K.distortion.p1 = 0.01;
  K.distortion.p2 = 0.02;
  // x = 0.25, y = 0.125, r2 = 0.078125, R = 1 + k1 r2 + k2 r2^2 + k3 r2^3 = 1.007874011993408
  // xd = x R + 2 p1 x y + p2 (r2 + 2x^2) = 0.256656002998352
  // yd = y R + p1 (r2 + 2y^2) + 2 p2 x y = 0.128328001499176
  Eigen::Vector2d uv;
  ASSERT_TRUE(identity_camera(K).world_to_pixel({1.0, -0.5, -4.0}, &uv));
  EXPECT_NEAR(uv.x(), 75.6656002998352, 1e-9);
  EXPECT_NEAR(uv.y(), 55.39936017990112, 1e-9);
}

TEST(Camera, FisheyeProjectsKnownPoint) {
  Intrinsics K = test_intrinsics(CameraModel::OpenCVFisheye);
  K.distortion.k1 = 0.05;
  K.distortion.k2 = 0.01;
  K.distortion.k3 = 0.002;
  K.distortion.k4 = 0.001;
  // r = sqrt(0.078125), theta = atan(r) = 0.2725528745351814,
  // theta_d = theta (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8) = 0.27358047695529125; (xd, yd) = (x, y) theta_d / r.
  Eigen::Vector2d uv;
  ASSERT_TRUE(identity_camera(K).world_to_pixel({1.0, -0.5, -4.0}, &uv));
  EXPECT_NEAR(uv.x(), 74.46978175155384, 1e-9);
  EXPECT_NEAR(uv.y(), 54.681869050932306, 1e-9);
}

TEST(Camera, UndistortInvertsDistortForEachModel) {
  Intrinsics radtan = test_intrinsics(CameraModel::OpenCV);
  radtan.distortion = {-0.28, 0.07, -0.01, 0.0, 0.001, -0.0005};
  Intrinsics fisheye = test_intrinsics(CameraModel::OpenCVFisheye);
  fisheye.distortion = {0.03, -0.01, 0.004, -0.001, 0, 0};
  for (const Intrinsics& K : {radtan, fisheye, test_intrinsics()}) {
    for (double x = -0.6; x <= 0.6; x += 0.15) {
      for (double y = -0.45; y <= 0.45; y += 0.15) {
        const Eigen::Vector2d p(x, y);
        const Eigen::Vector2d back = semfield::undistort(K, semfield::distort(K, p));
        EXPECT_NEAR((back - p).norm(), 0.0, 1e-9) << "model " << static_cast<int>(K.model) << " at " << x
                                                  << "," << y;
      }
    }
  }
  // Zero distortion is the identity.
  EXPECT_EQ(semfield::distort(test_intrinsics(CameraModel::OpenCV), {0.3, -0.2}), Eigen::Vector2d(0.3, -0.2));
}

TEST(Camera, UndistortReturnsFiniteBestIterateWhenNoInverseExists) {
  // A strongly negative k1 folds the image: distorted radii above the fold maximum have no preimage.
  Intrinsics K = test_intrinsics(CameraModel::OpenCV);
  K.distortion.k1 = -1.0;
  const Eigen::Vector2d result = semfield::undistort(K, {2.0, 0.0});
  EXPECT_TRUE(result.allFinite());
  // The best iterate gets as close as the lens allows (the fold's maximum radius 2/(3*sqrt(3)) ~ 0.385).
  EXPECT_LT((semfield::distort(K, result) - Eigen::Vector2d(2.0, 0.0)).norm(), 2.0 - 0.38);
}

TEST(Camera, PixelToRayRoundTripsThroughProjection) {
  Intrinsics radtan = test_intrinsics(CameraModel::OpenCV);
  radtan.distortion = {-0.2, 0.05, 0.0, 0.0, 0.002, 0.001};
  Intrinsics fisheye = test_intrinsics(CameraModel::OpenCVFisheye);
  fisheye.distortion = {0.02, 0.01, 0.0, 0.0, 0, 0};
  const Eigen::Matrix3d R = Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();
  for (const Intrinsics& K : {test_intrinsics(), radtan, fisheye}) {
    Camera cam;
    cam.intrinsics = K;
    cam.c2w.block<3, 3>(0, 0) = R;
    cam.c2w.block<3, 1>(0, 3) << 0.5, -1.0, 2.0;
    for (double u : {0.5, 25.0, 50.0, 99.5}) {
      for (double v : {0.5, 40.0, 79.5}) {
        const semfield::Ray ray = cam.pixel_to_ray(u, v);
        EXPECT_NEAR(ray.direction.norm(), 1.0, 1e-12);
        EXPECT_NEAR((ray.origin - cam.origin()).norm(), 0.0, 1e-12);
        Eigen::Vector2d uv;
        double depth = 0;
        ASSERT_TRUE(cam.world_to_pixel(ray.origin + 3.0 * ray.direction, &uv, &depth));
        EXPECT_NEAR(uv.x(), u, 1e-6);
        EXPECT_NEAR(uv.y(), v, 1e-6);
        EXPECT_GT(depth, 0.0);
      }
    }
  }
}

TEST(Camera, CentrePixelRayLooksForward) {
  Camera cam = identity_camera(test_intrinsics());
  const semfield::Ray ray = cam.pixel_to_ray(50.0, 40.0);
  EXPECT_NEAR((ray.direction - Eigen::Vector3d(0, 0, -1)).norm(), 0.0, 1e-12);
  // A pixel below the centre (v larger) looks down: world -y for the identity OpenGL camera.
  EXPECT_LT(cam.pixel_to_ray(50.0, 70.0).direction.y(), 0.0);
  EXPECT_GT(cam.pixel_to_ray(90.0, 40.0).direction.x(), 0.0);
}

TEST(Camera, FlipOpenCVOpenGLNegatesYAndZAxesAndIsAnInvolution) {
  Eigen::Matrix4d c2w = Eigen::Matrix4d::Identity();
  c2w.block<3, 3>(0, 0) = Eigen::AngleAxisd(0.3, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  c2w.block<3, 1>(0, 3) << 1, 2, 3;
  const Eigen::Matrix4d flipped = semfield::flip_opencv_opengl(c2w);
  EXPECT_EQ(flipped.col(0), c2w.col(0));
  EXPECT_EQ((flipped.block<3, 1>(0, 1)), (-c2w.block<3, 1>(0, 1)).eval());
  EXPECT_EQ((flipped.block<3, 1>(0, 2)), (-c2w.block<3, 1>(0, 2)).eval());
  EXPECT_EQ(flipped.col(3), c2w.col(3));
  EXPECT_EQ(semfield::flip_opencv_opengl(flipped), c2w);
  // An OpenCV camera (looking +z) flipped to OpenGL looks along world +z too.
  Camera cam;
  cam.c2w = semfield::flip_opencv_opengl(Eigen::Matrix4d::Identity());
  EXPECT_NEAR((cam.forward() - Eigen::Vector3d(0, 0, 1)).norm(), 0.0, 1e-12);
}

TEST(Camera, DownscaledIntrinsics) {
  Intrinsics K = test_intrinsics(CameraModel::OpenCV);
  K.width = 101;
  K.height = 81;
  K.distortion.k1 = 0.1;
  const Intrinsics half = K.downscaled(2);
  EXPECT_EQ(half.width, 50);
  EXPECT_EQ(half.height, 40);
  EXPECT_DOUBLE_EQ(half.fx, 50.0);
  EXPECT_DOUBLE_EQ(half.fy, 60.0);
  EXPECT_DOUBLE_EQ(half.cx, 25.0);
  EXPECT_DOUBLE_EQ(half.cy, 20.0);
  EXPECT_EQ(half.model, CameraModel::OpenCV);
  EXPECT_DOUBLE_EQ(half.distortion.k1, 0.1);
  // The same world point lands on the same place of the image, in the smaller pixel grid.
  Camera full = identity_camera(K), small = identity_camera(half);
  Eigen::Vector2d a, b;
  ASSERT_TRUE(full.world_to_pixel({0.3, 0.2, -2.0}, &a));
  ASSERT_TRUE(small.world_to_pixel({0.3, 0.2, -2.0}, &b));
  EXPECT_NEAR((a / 2.0 - b).norm(), 0.0, 1e-12);
  EXPECT_EQ(K.downscaled(1).width, 101);
  EXPECT_THROW(K.downscaled(0), semfield::UsageError);
}

}  // namespace
