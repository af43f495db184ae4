// Tests for the ray generation kernel: hand-computed pinhole rays, agreement with Camera::pixel_to_ray for
// every camera model, reprojection through the distortion, packing and edge cases.
#include "semfield/kernels/ray_generation.h"

#include <cmath>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>
#include <Eigen/Geometry>

using semfield::Camera;
using semfield::CameraModel;
using semfield::Intrinsics;
using semfield::kernels::CameraBatch;
using semfield::kernels::generate_image_rays;
using semfield::kernels::generate_rays;
using semfield::kernels::Rays;

namespace {

Camera make_camera(CameraModel model, int seed) {
  Camera cam;
  Intrinsics& K = cam.intrinsics;
  K.width = 40 + 3 * seed;
  K.height = 30 + 2 * seed;
  K.fx = 35.0 + seed;
  K.fy = 33.0 + 2 * seed;
  K.cx = 0.5 * K.width + 0.7;
  K.cy = 0.5 * K.height - 0.4;
  K.model = model;
  if (model == CameraModel::OpenCV) {
    K.distortion.k1 = -0.12;
    K.distortion.k2 = 0.03;
    K.distortion.k3 = -0.004;
    K.distortion.p1 = 0.002;
    K.distortion.p2 = -0.0015;
  } else if (model == CameraModel::OpenCVFisheye) {
    K.distortion.k1 = 0.05;
    K.distortion.k2 = -0.01;
    K.distortion.k3 = 0.002;
    K.distortion.k4 = -0.0005;
  }
  const Eigen::Vector3d axis = Eigen::Vector3d(0.3 + seed, -0.5, 0.8).normalized();
  cam.c2w.block<3, 3>(0, 0) = Eigen::AngleAxisd(0.4 + 0.7 * seed, axis).toRotationMatrix();
  cam.c2w.block<3, 1>(0, 3) = Eigen::Vector3d(1.0 - seed, 0.5 * seed, 2.0);
  return cam;
}

Eigen::Vector3d row(const at::Tensor& t, int64_t r) {
  return {t[r][0].item<double>(), t[r][1].item<double>(), t[r][2].item<double>()};
}

TEST(RayGeneration, PinholeMatchesHandComputedRays) {
  Camera cam;
  cam.intrinsics.width = 100;
  cam.intrinsics.height = 80;
  cam.intrinsics.fx = 100;
  cam.intrinsics.fy = 120;
  cam.intrinsics.cx = 50;
  cam.intrinsics.cy = 40;
  // Pixel (74, 54): centre (74.5, 54.5) -> x = 0.245, y = 0.120833 -> OpenGL camera direction (x, -y, -1).
  const CameraBatch batch = CameraBatch::from_cameras({cam});
  Rays rays =
      generate_rays(batch, torch::zeros({1}, torch::kLong), torch::tensor({74.5f, 54.5f}).reshape({1, 2}));
  const Eigen::Vector3d expected = Eigen::Vector3d(0.245, -14.5 / 120.0, -1.0).normalized();
  EXPECT_LT((row(rays.directions, 0) - expected).norm(), 1e-6);
  EXPECT_LT(row(rays.origins, 0).norm(), 1e-7);

  // Rotated +90 degrees about world y and placed at (3, 0, 0): the principal ray points along world -x
  // from the camera centre; a pixel to the right points towards world -z (the camera's x axis).
  cam.c2w.block<3, 3>(0, 0) << 0, 0, 1, 0, 1, 0, -1, 0, 0;
  cam.c2w.block<3, 1>(0, 3) << 3, 0, 0;
  rays = generate_rays(CameraBatch::from_cameras({cam}), torch::zeros({2}, torch::kLong),
                       torch::tensor({50.0f, 40.0f, 150.0f, 40.0f}).reshape({2, 2}));
  EXPECT_LT((row(rays.directions, 0) - Eigen::Vector3d(-1, 0, 0)).norm(), 1e-6);
  EXPECT_LT((row(rays.directions, 1) - Eigen::Vector3d(-1, 0, -1).normalized()).norm(), 1e-6);
  EXPECT_LT((row(rays.origins, 1) - Eigen::Vector3d(3, 0, 0)).norm(), 1e-6);
}

TEST(RayGeneration, MatchesCameraPixelToRayForEveryModel) {
  std::vector<Camera> cameras;
  for (int seed = 0; seed < 2; ++seed)
    for (CameraModel model : {CameraModel::Pinhole, CameraModel::OpenCV, CameraModel::OpenCVFisheye})
      cameras.push_back(make_camera(model, seed));
  const CameraBatch batch = CameraBatch::from_cameras(cameras);
  ASSERT_EQ(batch.size(), 6);

  // Every pixel centre of every camera, plus off-centre positions, in one interleaved batch.
  std::vector<int64_t> ids;
  std::vector<float> uv;
  for (size_t v = 0; v < cameras.size(); ++v) {
    const Intrinsics& K = cameras[v].intrinsics;
    for (int j = 0; j < K.height; ++j)
      for (int i = 0; i < K.width; ++i) {
        ids.push_back(int64_t(v));
        const bool centre = (i + j) % 3 != 0;
        uv.push_back(float(i) + (centre ? 0.5f : 0.125f));
        uv.push_back(float(j) + (centre ? 0.5f : 0.875f));
      }
  }
  const int64_t R = int64_t(ids.size());
  const at::Tensor view_ids = torch::tensor(ids, torch::kLong);
  const at::Tensor pixels = torch::tensor(uv).reshape({R, 2});
  const Rays rays = generate_rays(batch, view_ids, pixels);
  ASSERT_EQ(rays.origins.sizes(), (std::vector<int64_t>{R, 3}));
  const float* o = rays.origins.data_ptr<float>();
  const float* d = rays.directions.data_ptr<float>();
  double worst[3] = {0, 0, 0};
  for (int64_t r = 0; r < R; ++r) {
    const Camera& cam = cameras[size_t(ids[size_t(r)])];
    const semfield::Ray ref = cam.pixel_to_ray(uv[size_t(2 * r)], uv[size_t(2 * r + 1)]);
    const double err = (Eigen::Vector3d(d[3 * r], d[3 * r + 1], d[3 * r + 2]) - ref.direction).norm();
    double& w = worst[int(cam.intrinsics.model)];
    w = std::max(w, err);
    ASSERT_LT((Eigen::Vector3d(o[3 * r], o[3 * r + 1], o[3 * r + 2]) - ref.origin).norm(), 1e-6);
  }
  EXPECT_LT(worst[int(CameraModel::Pinhole)], 1e-5);
  EXPECT_LT(worst[int(CameraModel::OpenCV)], 1e-5);
  EXPECT_LT(worst[int(CameraModel::OpenCVFisheye)], 1e-5);
}

TEST(RayGeneration, DistortedRaysReprojectToTheirPixels) {
  // Independent of the inverse in camera.cpp: project the ray's points forward through the distortion.
  for (CameraModel model : {CameraModel::OpenCV, CameraModel::OpenCVFisheye}) {
    const Camera cam = make_camera(model, 1);
    const Rays rays = generate_image_rays(cam);
    const int W = cam.intrinsics.width;
    for (int64_t r = 0; r < rays.origins.size(0); r += 7) {
      const Eigen::Vector3d point = row(rays.origins, r) + 3.0 * row(rays.directions, r);
      Eigen::Vector2d uv;
      ASSERT_TRUE(cam.world_to_pixel(point, &uv));
      EXPECT_NEAR(uv.x(), double(r % W) + 0.5, 2e-3) << "model " << int(model) << " ray " << r;
      EXPECT_NEAR(uv.y(), double(r / W) + 0.5, 2e-3) << "model " << int(model) << " ray " << r;
    }
  }
}

TEST(RayGeneration, ImageRaysAreRowMajorPixelCentresOfUnitLength) {
  for (CameraModel model : {CameraModel::Pinhole, CameraModel::OpenCV, CameraModel::OpenCVFisheye}) {
    const Camera cam = make_camera(model, 0);
    const int W = cam.intrinsics.width, H = cam.intrinsics.height;
    const Rays rays = generate_image_rays(cam);
    ASSERT_EQ(rays.directions.size(0), int64_t(W) * H);
    const at::Tensor j = torch::arange(H, torch::kFloat).view({H, 1}).expand({H, W}) + 0.5;
    const at::Tensor i = torch::arange(W, torch::kFloat).view({1, W}).expand({H, W}) + 0.5;
    const at::Tensor uv = torch::stack({i.reshape(-1), j.reshape(-1)}, 1);
    const Rays same =
        generate_rays(CameraBatch::from_cameras({cam}), torch::zeros({int64_t(W) * H}, torch::kLong), uv);
    EXPECT_LT((rays.directions - same.directions).abs().max().item<float>(), 1e-6f);
    EXPECT_LT((rays.directions.norm(2, 1) - 1).abs().max().item<float>(), 1e-6f);
  }
}

TEST(RayGeneration, ZDepthAndRayDistanceConvertBothWays) {
  // Points in front of the camera: their z-depth (along the viewing axis) and their distance along the unit ray.
  const Camera cam = make_camera(CameraModel::Pinhole, 1);
  const Eigen::Vector3d origin = cam.c2w.block<3, 1>(0, 3);
  const std::vector<Eigen::Vector3d> local = {{0.0, 0.0, -2.0}, {0.7, -0.4, -1.5}, {-1.9, 1.2, -0.8}, {3.0, 0.1, -0.5}};
  const int64_t n = static_cast<int64_t>(local.size());
  at::Tensor dirs = torch::empty({n, 3}), z = torch::empty({n}), t = torch::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    const Eigen::Vector3d p = origin + cam.c2w.block<3, 3>(0, 0) * local[static_cast<size_t>(i)];
    const Eigen::Vector3d d = (p - origin).normalized();
    for (int k = 0; k < 3; ++k) dirs[i][k] = d[k];
    z[i] = -local[static_cast<size_t>(i)].z();  // OpenGL axes: the camera looks along -z
    t[i] = (p - origin).norm();
  }
  EXPECT_TRUE(torch::allclose(semfield::kernels::ray_distance_from_z(cam, dirs, z), t, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(semfield::kernels::z_from_ray_distance(cam, dirs, t), z, 1e-5, 1e-5));
  // [R,1] in, [R,1] out.
  const at::Tensor t2 = semfield::kernels::ray_distance_from_z(cam, dirs, z.view({n, 1}));
  EXPECT_EQ(t2.sizes(), at::IntArrayRef({n, 1}));
  EXPECT_TRUE(torch::allclose(t2.view({n}), t, 1e-5, 1e-5));
  const at::Tensor z2 = semfield::kernels::z_from_ray_distance(cam, dirs, t.view({n, 1}));
  EXPECT_EQ(z2.sizes(), at::IntArrayRef({n, 1}));
  EXPECT_TRUE(torch::allclose(z2.view({n}), z, 1e-5, 1e-5));
  // Rays at right angles to the axis and slightly behind it: the cosine is clamped at 1e-6, so z = 1 gives 1e6 (no
  // division by zero, no negative distance).
  at::Tensor sideways = torch::empty({2, 3});
  const Eigen::Vector3d right = cam.c2w.block<3, 3>(0, 0) * Eigen::Vector3d(1.0, 0.0, 0.0);
  const Eigen::Vector3d behind = cam.c2w.block<3, 3>(0, 0) * Eigen::Vector3d(1.0, 0.0, 0.01).normalized();
  for (int k = 0; k < 3; ++k) {
    sideways[0][k] = right[k];
    sideways[1][k] = behind[k];
  }
  const at::Tensor far = semfield::kernels::ray_distance_from_z(cam, sideways, torch::ones({2}));
  EXPECT_NEAR(far[0].item<float>(), 1e6f, 1.0f);
  EXPECT_NEAR(far[1].item<float>(), 1e6f, 1.0f);
}

TEST(RayGeneration, EmptyBatchesBadIdsAndThreadCounts) {
  const std::vector<Camera> cameras = {make_camera(CameraModel::OpenCV, 0),
                                       make_camera(CameraModel::Pinhole, 1)};
  const CameraBatch batch = CameraBatch::from_cameras(cameras);
  const Rays none = generate_rays(batch, torch::zeros({0}, torch::kLong), torch::zeros({0, 2}));
  EXPECT_EQ(none.origins.size(0), 0);
  EXPECT_EQ(none.directions.size(1), 3);
  Camera empty_image = cameras[0];
  empty_image.intrinsics.width = 0;
  EXPECT_EQ(generate_image_rays(empty_image).directions.size(0), 0);
  EXPECT_THROW(generate_rays(batch, torch::tensor({0, 2}, torch::kLong), torch::zeros({2, 2})),
               std::logic_error);
  EXPECT_THROW(generate_rays(batch, torch::tensor({0, -1}, torch::kLong), torch::zeros({2, 2})),
               std::logic_error);
  EXPECT_THROW(generate_rays(batch, torch::zeros({3}, torch::kLong), torch::zeros({2, 2})), std::logic_error);

  torch::manual_seed(3);
  const int64_t R = 20000;
  const at::Tensor ids = torch::randint(0, 2, {R}, torch::kLong);
  const at::Tensor uv = torch::rand({R, 2}) * 30;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const Rays one = generate_rays(batch, ids, uv);
  at::set_num_threads(2);
  const Rays two = generate_rays(batch, ids, uv);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.directions, two.directions));
  EXPECT_TRUE(torch::equal(one.origins, two.origins));
}

}  // namespace
