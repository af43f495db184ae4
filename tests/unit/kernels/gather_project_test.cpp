// Projection into source views against Camera::world_to_pixel (points with known pixels), and bilinear gathering
// against maps whose values are known functions of the pixel position. The fused gather (gather_bilinear) against
// sample_maps: values, autograd gradients, finite differences in float64, thread counts and misuse.
#include "semfield/kernels/gather_project.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
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

// ---------------------------------------------------------------------------------------------------------------
// gather_bilinear: the fused channels-last kernel against sample_maps.
// ---------------------------------------------------------------------------------------------------------------

struct FusedGatherCase {
  at::Tensor maps_hwc;  // [V,h,w,C]
  at::Tensor uv;        // [V,N,2]
  at::Tensor sizes;     // [V,2]
};

// Three views sharing one map size; `quarter` gives maps at 1/4 of view 0's image (views 1 and 2: 1/5 and 1/2),
// otherwise maps at full resolution. uv: random points up to 30% outside each image, far-away points, and the
// border cases per axis: the image edges (map position -0.5 and w - 0.5), the outermost map pixel centres (0 and
// w - 1), and one map pixel outside them (-1 and w, where a single tap with weight 0 or nothing is inside).
FusedGatherCase fused_gather_case(int64_t C, bool quarter, int64_t n_random, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  const std::vector<std::pair<double, double>> images =
      quarter ? std::vector<std::pair<double, double>>{{64, 48}, {80, 60}, {32, 24}}
              : std::vector<std::pair<double, double>>{{40, 30}, {40, 30}, {40, 30}};
  const int64_t w = quarter ? 16 : 40, h = quarter ? 12 : 30, V = 3;
  FusedGatherCase out;
  out.maps_hwc = at::randn({V, h, w, C}, at::TensorOptions().dtype(dtype));
  out.sizes = at::empty({V, 2}, at::TensorOptions().dtype(dtype));
  std::vector<at::Tensor> uvs;
  for (int64_t v = 0; v < V; ++v) {
    const double W = images[size_t(v)].first, H = images[size_t(v)].second;
    out.sizes[v][0] = W;
    out.sizes[v][1] = H;
    const double px = W / double(w), py = H / double(h);  // image pixels per map pixel
    const std::vector<double> us = {0, W, 0.5 * px, W - 0.5 * px, -0.5 * px, W + 0.5 * px, 0.25 * px, W - 0.3 * px,
                                    W / 2 + 0.1};
    const std::vector<double> vs = {0, H, 0.5 * py, H - 0.5 * py, -0.5 * py, H + 0.5 * py, 0.6 * py, H / 3 + 0.2};
    std::vector<double> border;
    for (const double u : us)
      for (const double vv : vs) border.insert(border.end(), {u, vv});
    border.insert(border.end(), {-500.0, 10.0, 10.0, 1e6, -1e30, 1e30});
    const at::Tensor fixed = at::tensor(border, at::kDouble).view({-1, 2});
    const at::Tensor rnd = (at::rand({n_random, 2}, at::kDouble) * 1.6 - 0.3) * at::tensor({W, H}, at::kDouble);
    uvs.push_back(at::cat({fixed, rnd}).to(dtype));
  }
  out.uv = at::stack(uvs);
  return out;
}

at::Tensor fused_gather_reference(const FusedGatherCase& c) {
  return sample_maps(c.maps_hwc.permute({0, 3, 1, 2}), c.uv, c.sizes);
}

TEST(GatherBilinear, ForwardMatchesSampleMaps) {
  for (const bool quarter : {true, false}) {
    for (const int64_t C : {1, 3, 35}) {
      for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
        const std::string what = std::string(quarter ? "quarter" : "full") + " C " + std::to_string(C) + " " +
                                 std::string(c10::toString(dtype));
        const FusedGatherCase c = fused_gather_case(C, quarter, 3000, dtype, 11 + uint64_t(C));
        const at::Tensor got = gather_bilinear_forward(c.maps_hwc, c.uv, c.sizes);
        const at::Tensor want = fused_gather_reference(c);
        kernels::test::expect_close(got, want, dtype == at::kFloat ? 1e-5 : 1e-12,
                                    dtype == at::kFloat ? 1e-6 : 1e-13, what);
        // The autograd wrapper gives the same values; outside points are exactly 0.
        EXPECT_TRUE(at::equal(gather_bilinear(c.maps_hwc, c.uv, c.sizes), got)) << what;
        for (const int64_t far : {72, 73, 74})  // (-500, 10), (10, 1e6), (-1e30, 1e30) after the 9 x 8 border points
          EXPECT_TRUE(got.select(1, far).eq(0).all().item<bool>()) << what << " point " << far;
      }
    }
  }
}

TEST(GatherBilinear, GradientsMatchSampleMapsAutograd) {
  for (const bool quarter : {true, false}) {
    for (const int64_t C : {1, 3, 35}) {
      const std::string what = std::string(quarter ? "quarter" : "full") + " C " + std::to_string(C);
      const FusedGatherCase c = fused_gather_case(C, quarter, 2000, at::kFloat, 23 + uint64_t(C));
      const at::Tensor gout = at::randn({c.uv.size(0), c.uv.size(1), C});

      const at::Tensor maps_ref = c.maps_hwc.permute({0, 3, 1, 2}).detach().clone().requires_grad_(true);
      const at::Tensor uv_ref = c.uv.clone().requires_grad_(true);
      (sample_maps(maps_ref, uv_ref, c.sizes) * gout).sum().backward();

      const at::Tensor maps = c.maps_hwc.clone().requires_grad_(true), uv = c.uv.clone().requires_grad_(true);
      (gather_bilinear(maps, uv, c.sizes) * gout).sum().backward();

      const at::Tensor want_maps = maps_ref.grad().permute({0, 2, 3, 1});
      const at::Tensor want_uv = uv_ref.grad();
      kernels::test::expect_close(maps.grad(), want_maps, 1e-5, 1e-5 * want_maps.abs().max().item<double>(),
                                  what + " dL/dmaps");
      kernels::test::expect_close(uv.grad(), want_uv, 1e-5, 1e-5 * want_uv.abs().max().item<double>(),
                                  what + " dL/duv");

      // Only one input requiring a gradient: the other is not computed, the one asked for is unchanged.
      const at::Tensor maps_only = c.maps_hwc.clone().requires_grad_(true);
      (gather_bilinear(maps_only, c.uv, c.sizes) * gout).sum().backward();
      EXPECT_TRUE(at::equal(maps_only.grad(), maps.grad())) << what;
      const at::Tensor uv_only = c.uv.clone().requires_grad_(true);
      (gather_bilinear(c.maps_hwc, uv_only, c.sizes) * gout).sum().backward();
      EXPECT_TRUE(at::equal(uv_only.grad(), uv.grad())) << what;
      const GatherBilinearGrads none = gather_bilinear_backward(gout, c.maps_hwc, c.uv, c.sizes, false, false);
      EXPECT_FALSE(none.dL_dmaps.defined());
      EXPECT_FALSE(none.dL_duv.defined());
    }
  }
}

TEST(GatherBilinear, GradientsMatchFiniteDifferencesInDouble) {
  // Two views of 16x12 images, 4x3 maps (1/4 resolution), random points (some outside, some across the border).
  at::manual_seed(31);
  const int64_t V = 2, h = 3, w = 4, C = 3, N = 40;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor maps = at::randn({V, h, w, C}, f64);
  const at::Tensor sizes = at::tensor({16.0, 12.0, 16.0, 12.0}, f64).view({V, 2});
  const at::Tensor uv = (at::rand({V, N, 2}, f64) * 1.4 - 0.2) * at::tensor({16.0, 12.0}, f64);
  const at::Tensor gout = at::randn({V, N, C}, f64);
  auto loss = [&](const at::Tensor& m, const at::Tensor& p) {
    return (gather_bilinear_forward(m, p, sizes) * gout).sum().item<double>();
  };
  const GatherBilinearGrads g = gather_bilinear_backward(gout, maps, uv, sizes);
  const double eps = 1e-6;
  at::Tensor fd_maps = at::empty_like(maps), fd_uv = at::empty_like(uv);
  for (int64_t i = 0; i < maps.numel(); ++i) {
    at::Tensor plus = maps.clone(), minus = maps.clone();
    plus.view({-1})[i] += eps;
    minus.view({-1})[i] -= eps;
    fd_maps.view({-1})[i] = (loss(plus, uv) - loss(minus, uv)) / (2 * eps);
  }
  for (int64_t i = 0; i < uv.numel(); ++i) {
    at::Tensor plus = uv.clone(), minus = uv.clone();
    plus.view({-1})[i] += eps;
    minus.view({-1})[i] -= eps;
    fd_uv.view({-1})[i] = (loss(maps, plus) - loss(maps, minus)) / (2 * eps);
  }
  kernels::test::expect_close(g.dL_dmaps, fd_maps, 1e-6, 1e-8, "dL/dmaps");
  kernels::test::expect_close(g.dL_duv, fd_uv, 1e-6, 1e-8, "dL/duv");
  EXPECT_GT(g.dL_duv.abs().sum().item<double>(), 0.0);
}

TEST(GatherBilinear, SameResultOnOneAndTwoThreads) {
  // 8 views: the backward gives each thread whole views (identical results); 3 views on 2 threads: per-thread
  // gradient copies, summed (equal to rounding). The forward and the uv gradient are per sample: identical.
  for (const int64_t V : {8, 3}) {
    SCOPED_TRACE(V);
    at::manual_seed(41);
    const int64_t N = 6000, C = 35;
    const at::Tensor maps = at::randn({V, 32, 32, C});
    const at::Tensor sizes = at::full({V, 2}, 128.0f);
    const at::Tensor uv = at::rand({V, N, 2}) * 140.0f - 6.0f;
    const at::Tensor gout = at::randn({V, N, C});
    const int saved = parallel_threads();
    set_parallel_threads(1);
    const at::Tensor one = gather_bilinear_forward(maps, uv, sizes);
    const GatherBilinearGrads g1 = gather_bilinear_backward(gout, maps, uv, sizes);
    const GatherBilinearGrads uv1 = gather_bilinear_backward(gout, maps, uv, sizes, false, true);
    set_parallel_threads(2);
    const at::Tensor two = gather_bilinear_forward(maps, uv, sizes);
    const GatherBilinearGrads g2 = gather_bilinear_backward(gout, maps, uv, sizes);
    const GatherBilinearGrads uv2 = gather_bilinear_backward(gout, maps, uv, sizes, false, true);
    set_parallel_threads(saved);
    EXPECT_TRUE(at::equal(one, two));
    EXPECT_TRUE(at::equal(g1.dL_duv, g2.dL_duv));
    EXPECT_TRUE(at::equal(uv1.dL_duv, g1.dL_duv));
    EXPECT_TRUE(at::equal(uv2.dL_duv, g1.dL_duv));
    if (V == 8) {
      EXPECT_TRUE(at::equal(g1.dL_dmaps, g2.dL_dmaps));
    } else {
      EXPECT_FALSE(at::equal(g1.dL_dmaps, g2.dL_dmaps));  // the copies' path ran: sums in another order
      kernels::test::expect_close(g2.dL_dmaps, g1.dL_dmaps, 1e-5, 1e-5, "dL/dmaps, 2 threads against 1");
    }
  }
}

TEST(GatherBilinear, EmptyInputsAndNonFiniteCoordinates) {
  const at::Tensor maps = at::randn({2, 6, 8, 5}), sizes = at::tensor({32.0f, 24.0f, 32.0f, 24.0f}).view({2, 2});
  EXPECT_EQ(gather_bilinear_forward(maps, at::zeros({2, 0, 2}), sizes).sizes(), (at::IntArrayRef{2, 0, 5}));
  const GatherBilinearGrads empty = gather_bilinear_backward(at::zeros({2, 0, 5}), maps, at::zeros({2, 0, 2}), sizes);
  EXPECT_TRUE(empty.dL_dmaps.eq(0).all().item<bool>());
  EXPECT_EQ(empty.dL_duv.sizes(), (at::IntArrayRef{2, 0, 2}));
  // NaN or infinite coordinates: NaN samples (as sample_maps gives), no map gradient.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const at::Tensor uv = at::tensor({nan, 3.0f, 4.0f, inf, 10.6f, 9.3f, -inf, 1.0f}).view({2, 2, 2});
  const at::Tensor got = gather_bilinear_forward(maps, uv, sizes);
  const at::Tensor want = sample_maps(maps.permute({0, 3, 1, 2}), uv, sizes);
  EXPECT_TRUE(got.isnan().eq(want.isnan()).all().item<bool>()) << got << want;
  EXPECT_TRUE(got[0][0].isnan().all().item<bool>());
  kernels::test::expect_close(got[1][0], want[1][0], 1e-5, 1e-6, "finite sample");
  const GatherBilinearGrads g = gather_bilinear_backward(at::ones({2, 2, 5}), maps, uv, sizes);
  EXPECT_EQ(g.dL_dmaps.ne(0).sum().item<int64_t>(), 4 * 5);  // the one finite sample's 4 taps
}

TEST(GatherBilinear, MisuseGivesClearMessages) {
  const at::Tensor maps = at::randn({2, 6, 8, 5}), uv = at::rand({2, 10, 2}), sizes = at::full({2, 2}, 32.0f);
  using kernels::test::error_of;
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps[0], uv, sizes); }),
              ::testing::HasSubstr("maps_hwc must have 4 dimension(s)"));
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps.permute({0, 3, 1, 2}).contiguous().permute({0, 2, 3, 1}), uv,
                                                     sizes); }),
              ::testing::HasSubstr("contiguous channels-last"));
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps, uv.to(at::kDouble), sizes); }),
              ::testing::HasSubstr("uv must be Float"));
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps, at::rand({3, 10, 2}), sizes); }),
              ::testing::HasSubstr("V, the views of maps_hwc"));
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps, uv, at::zeros({2, 2})); }),
              ::testing::HasSubstr("sizes[0] must be a positive image width and height"));
  EXPECT_THAT(error_of([&] { gather_bilinear_backward(at::zeros({2, 10, 4}), maps, uv, sizes); }),
              ::testing::HasSubstr("C, the channels of maps_hwc"));
  EXPECT_THAT(error_of([&] { gather_bilinear_forward(maps.to(at::kHalf), uv, sizes); }),
              ::testing::HasSubstr("Float or Double"));
}

}  // namespace
}  // namespace semfield
