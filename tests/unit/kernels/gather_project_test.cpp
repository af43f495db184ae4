// Projection into source views against Camera::world_to_pixel (points with known pixels), and bilinear gathering
// against maps whose values are known functions of the pixel position.
#include "semfield/kernels/gather_project.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

std::vector<Camera> three_cameras() {
  return {test::look_at({3, 0, 1}, {0, 0, 0}, 64, 48, 50), test::look_at({0, -4, 2}, {0.2, 0, 0}, 80, 80, 70),
          test::look_at({-2, 2, 0.5}, {0, 0, 0.3}, 32, 40, 30)};
}

TEST(GatherProject, ProjectionMatchesTheCameraModel) {
  const std::vector<Camera> cameras = three_cameras();
  const SourceCameraBatch batch = SourceCameraBatch::from_cameras(cameras);
  at::manual_seed(3);
  const at::Tensor points = at::rand({500, 3}) * 6.0f - 3.0f;  // some behind cameras, some outside images
  const Projection p = project_points(points, batch);
  ASSERT_EQ(p.uv.sizes(), (at::IntArrayRef{3, 500, 2}));
  int64_t valid = 0, invalid = 0;
  for (int64_t v = 0; v < 3; ++v) {
    const Camera& c = cameras[static_cast<size_t>(v)];
    for (int64_t i = 0; i < 500; ++i) {
      const Eigen::Vector3d x(points[i][0].item<float>(), points[i][1].item<float>(), points[i][2].item<float>());
      Eigen::Vector2d uv;
      double depth = 0;
      const bool in_front = c.world_to_pixel(x, &uv, &depth);
      ASSERT_NEAR(p.depth[v][i].item<float>(), depth, 1e-4 * (1 + std::abs(depth)));
      const bool inside = in_front && uv.x() >= 0 && uv.x() <= c.intrinsics.width && uv.y() >= 0 &&
                          uv.y() <= c.intrinsics.height;
      ASSERT_EQ(p.valid[v][i].item<bool>(), inside) << "view " << v << " point " << i;
      if (in_front) {
        ASSERT_NEAR(p.uv[v][i][0].item<float>(), uv.x(), 2e-3 * (1 + std::abs(uv.x())));
        ASSERT_NEAR(p.uv[v][i][1].item<float>(), uv.y(), 2e-3 * (1 + std::abs(uv.y())));
      }
      (inside ? valid : invalid) += 1;
    }
  }
  EXPECT_GT(valid, 100);
  EXPECT_GT(invalid, 100);
  // The pixel a camera's own ray through (u, v) comes from projects back to (u, v).
  const Ray ray = cameras[1].pixel_to_ray(12.5, 70.5);
  const Eigen::Vector3d on = ray.origin + 3.0 * ray.direction;
  const Projection back = project_points(at::tensor({on.x(), on.y(), on.z()}, at::kFloat).view({1, 3}), batch);
  EXPECT_NEAR(back.uv[1][0][0].item<float>(), 12.5, 1e-3);
  EXPECT_NEAR(back.uv[1][0][1].item<float>(), 70.5, 1e-3);
}

TEST(GatherProject, DistortedSourceCamerasAreRefused) {
  std::vector<Camera> cameras = three_cameras();
  cameras[2].intrinsics.model = CameraModel::OpenCV;
  cameras[2].intrinsics.distortion.k1 = 0.1;
  EXPECT_THAT(test::error_of([&] { SourceCameraBatch::from_cameras(cameras); }),
              ::testing::HasSubstr("source view 2: cameras with lens distortion"));
}

TEST(GatherProject, BilinearSamplesOfLinearMapsAreExact) {
  // Two views of 40x30 images; maps at full and at quarter resolution (10x7.5 is not whole: use 20x15, half).
  const at::Tensor sizes = at::tensor({40.0f, 30.0f, 40.0f, 30.0f}).view({2, 2});
  for (const int64_t scale : {1, 2}) {
    SCOPED_TRACE(scale);
    const int64_t w = 40 / scale, h = 30 / scale;
    // Map value at map pixel centre (j + .5, i + .5) = a u + b v + c, where (u, v) are image coordinates.
    const at::Tensor js = (at::arange(w, at::kFloat) + 0.5f) * scale, is = (at::arange(h, at::kFloat) + 0.5f) * scale;
    const at::Tensor U = js.view({1, w}).expand({h, w}), V = is.view({h, 1}).expand({h, w});
    const at::Tensor maps = at::stack({at::stack({0.5f * U + 2.0f * V + 1.0f, -U + 3.0f}),
                                       at::stack({U * 0.0f + 7.0f, V})});  // [2,2,h,w]
    at::manual_seed(5);
    // Points between the outermost map pixel centres, where bilinear interpolation is exact for linear maps.
    const at::Tensor u = at::rand({2, 64}) * (40.0f - scale) + 0.5f * scale;
    const at::Tensor v = at::rand({2, 64}) * (30.0f - scale) + 0.5f * scale;
    const at::Tensor out = sample_maps(maps, at::stack({u, v}, 2), sizes);
    ASSERT_EQ(out.sizes(), (at::IntArrayRef{2, 64, 2}));
    EXPECT_TRUE(out.select(0, 0).select(1, 0).allclose(0.5f * u[0] + 2.0f * v[0] + 1.0f, 1e-4, 1e-4));
    EXPECT_TRUE(out.select(0, 0).select(1, 1).allclose(-u[0] + 3.0f, 1e-4, 1e-4));
    EXPECT_TRUE(out.select(0, 1).select(1, 0).allclose(at::full({64}, 7.0f), 1e-5, 1e-5));
    EXPECT_TRUE(out.select(0, 1).select(1, 1).allclose(v[1], 1e-4, 1e-4));
  }
  // Outside the image: zero.
  const at::Tensor maps = at::ones({2, 1, 30, 40});
  const at::Tensor far = at::tensor({-50.0f, 10.0f, 10.0f, 500.0f}).view({2, 1, 2});
  EXPECT_TRUE(sample_maps(maps, far, sizes).eq(0).all().item<bool>());
}

TEST(GatherProject, GradientsReachTheMapsAndThePoints) {
  const SourceCameraBatch batch = SourceCameraBatch::from_cameras(three_cameras());
  const at::Tensor maps = at::rand({3, 4, 12, 16}).set_requires_grad(true);
  const at::Tensor points = (at::rand({20, 3}) * 0.5f).set_requires_grad(true);
  const Projection p = project_points(points, batch);
  const at::Tensor sampled = sample_maps(maps, p.uv, batch.sizes);
  (sampled * p.valid.unsqueeze(2)).sum().backward();
  EXPECT_GT(maps.grad().abs().sum().item<float>(), 0.0f);
  EXPECT_GT(points.grad().abs().sum().item<float>(), 0.0f);
  // Finite differences for one map entry that some sample reads.
  const at::Tensor g = maps.grad();
  const auto idx = g.abs().flatten().argmax().item<int64_t>();
  auto loss = [&](float delta) {
    at::NoGradGuard no_grad;
    at::Tensor m = maps.detach().clone();
    m.view({-1})[idx] += delta;
    return (sample_maps(m, p.uv.detach(), batch.sizes) * p.valid.unsqueeze(2)).sum().item<double>();
  };
  EXPECT_NEAR((loss(1e-2f) - loss(-1e-2f)) / 2e-2, g.view({-1})[idx].item<float>(), 1e-2);
}

}  // namespace
}  // namespace semfield
