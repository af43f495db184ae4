// FeatureNeRF (models/featurenerf, teachers/simulated_dino): v_NeRF is view-independent and the heads read it as Eq. 6
// says; the fine pass composites coarse + fine samples sorted, reusing the coarse outputs; rendered descriptors are
// the weighted sums of v_NeRF; the coordinate target is the sample's canonical (world) coordinate; the simulated DINO
// teacher's resolution, background, cross-instance agreement and left/right confusion; the contrast loss against its
// definition; config, registry and initialisation from a model file of other losses.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "semfield/core/env.h"
#include "semfield/core/error.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/data/scene_framing.h"
#include "semfield/models/featurenerf/featurenerf_model.h"
#include "semfield/models/registry.h"
#include "semfield/teachers/simulated_dino.h"
#include "support/small_models.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

FeatureNerfSources fn_sources(const FeatureNerfNetwork& net, int views = 1, double scale = 1.0) {
  std::vector<Camera> cams;
  for (int i = 0; i < views; ++i) cams.push_back(test::orbit_camera(0.5 * i));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  return net.sources(at::rand({views, 3, 32, 32}, gen), cams, scale);
}

IbrRays fn_rays(int64_t r) {
  const Camera target = test::orbit_camera(0.25);
  const Eigen::Vector3d o = target.origin();
  std::vector<float> origins, dirs;
  for (int64_t i = 0; i < r; ++i) {
    const Eigen::Vector3d aim(0.3 * std::sin(0.7 * i), 0.3 * std::cos(1.3 * i), 0.1);
    const Eigen::Vector3d d = (aim - o).normalized();
    for (int k = 0; k < 3; ++k) {
      origins.push_back(static_cast<float>(o[k]));
      dirs.push_back(static_cast<float>(d[k]));
    }
  }
  IbrRays rays;
  rays.origins = at::tensor(origins).view({r, 3});
  rays.dirs = at::tensor(dirs).view({r, 3});
  std::tie(rays.near, rays.far) =
      ray_box_bounds(rays.origins, rays.dirs, Eigen::Vector3f::Constant(-1), Eigen::Vector3f::Constant(1), 1.0f);
  return rays;
}

TEST(FeatureNerfNetwork, InternalFeatureDensityAndCoordinateDoNotDependOnTheViewDirection) {
  at::NoGradGuard no_grad;
  const FeatureNerfNetwork net(test::small_featurenerf_config());
  const FeatureNerfSources src = fn_sources(net, 2);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor x = at::rand({50, 3}, gen) - 0.5f;
  at::Tensor d1 = at::randn({50, 3}, gen), d2 = at::randn({50, 3}, gen);
  d1 = d1 / d1.norm(2, 1, true);
  d2 = d2 / d2.norm(2, 1, true);
  const FeatureNerfPoints a = net.points(x, d1, src), b = net.points(x, d2, src);
  EXPECT_EQ(a.internal.sizes(), (std::vector<int64_t>{50, 24}));
  EXPECT_EQ(a.feature.sizes(), (std::vector<int64_t>{50, 6}));
  EXPECT_TRUE(at::equal(a.internal, b.internal));
  EXPECT_TRUE(at::equal(a.sigma, b.sigma));
  EXPECT_TRUE(at::equal(a.coord, b.coord));
  EXPECT_GT((a.rgb - b.rgb).abs().max().item<float>(), 1e-5f);      // colour and v see the direction
  EXPECT_GT((a.feature - b.feature).abs().max().item<float>(), 1e-5f);
  EXPECT_GE(a.sigma.min().item<float>(), 0.0f);
}

TEST(FeatureNerfNetwork, FinePassCompositesCoarseAndFineSamplesSortedAndTheDescriptorIsTheirWeightedSum) {
  at::NoGradGuard no_grad;
  const FeatureNerfNetwork net(test::small_featurenerf_config());
  const FeatureNerfSources src = fn_sources(net);
  const IbrRays rays = fn_rays(20);
  const FeatureNerfRenderOutput o = net.render(rays, src, at::ones({20, 3}), nullptr, true);
  ASSERT_EQ(o.ts.size(1), 12);
  EXPECT_EQ(o.n_samples, 20 * 12);
  EXPECT_TRUE(at::all(o.ts.narrow(1, 1, 11) >= o.ts.narrow(1, 0, 11)).item<bool>());
  EXPECT_LE(o.weights.sum(1).max().item<float>(), 1.0f + 1e-5f);
  // The composited v_NeRF and the per-sample outputs agree with the network's point outputs at the samples.
  const at::Tensor pts = o.points.reshape({-1, 3});
  const FeatureNerfPoints p = net.points(pts, rays.dirs.unsqueeze(1).expand({20, 12, 3}).reshape({-1, 3}), src);
  EXPECT_TRUE(at::allclose(o.coord.reshape({-1, 3}), p.coord, 1e-5, 1e-5));
  const at::Tensor expected = (o.weights.unsqueeze(2) * p.internal.view({20, 12, -1})).sum(1);
  EXPECT_TRUE(at::allclose(o.internal, expected, 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(o.opacity, o.weights.sum(1), 1e-5, 1e-6));
}

TEST(FeatureNerfNetwork, AColourOnlyRenderIsTheFullRendersColourWithoutTheRest) {
  at::NoGradGuard no_grad;
  const FeatureNerfNetwork net(test::small_featurenerf_config());
  const FeatureNerfSources src = fn_sources(net);
  const IbrRays rays = fn_rays(20);
  const at::Tensor background = at::full({20, 3}, 0.5f);
  const FeatureNerfRenderOutput full = net.render(rays, src, background, nullptr);
  const FeatureNerfRenderOutput colour = net.render(rays, src, background, nullptr, false, true);
  for (const auto& [name, a, b] : {std::tuple{"rgb", &full.rgb, &colour.rgb},
                                   std::tuple{"rgb_coarse", &full.rgb_coarse, &colour.rgb_coarse},
                                   std::tuple{"opacity", &full.opacity, &colour.opacity},
                                   std::tuple{"depth", &full.depth, &colour.depth},
                                   std::tuple{"ts", &full.ts, &colour.ts}, std::tuple{"dts", &full.dts, &colour.dts},
                                   std::tuple{"weights", &full.weights, &colour.weights}}) {
    ASSERT_TRUE(b->defined()) << name;
    EXPECT_TRUE(at::equal(*a, *b)) << name;
  }
  EXPECT_EQ(colour.n_samples, full.n_samples);
  ASSERT_TRUE(full.feature.defined() && full.coord.defined() && full.points.defined());
  EXPECT_FALSE(colour.feature.defined() || colour.feature_coarse.defined() || colour.coord.defined() ||
               colour.points.defined() || colour.internal.defined());
}

TEST(FeatureNerfNetwork, PointsAreEncodedInTheSourceCameraFrameInWorldUnits) {
  // The same object seen from the same camera, with the scene's normalisation scaled: the world-unit camera-frame
  // coordinates and hence v_NeRF are unchanged.
  at::NoGradGuard no_grad;
  const FeatureNerfNetwork net(test::small_featurenerf_config());
  const Camera cam = test::orbit_camera(0.0);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const at::Tensor image = at::rand({1, 3, 32, 32}, gen);
  const at::Tensor world = at::rand({30, 3}, gen) - 0.5f;
  Camera scaled = cam;
  scaled.c2w.block<3, 1>(0, 3) *= 0.5;
  const FeatureNerfSources a = net.sources(image, {cam}, 1.0), b = net.sources(image, {scaled}, 0.5);
  const at::Tensor d = at::zeros({30, 3}).select(1, 0).fill_(1.0f).unsqueeze(1).expand({30, 3}).contiguous();
  const FeatureNerfPoints pa = net.points(world, d, a, false), pb = net.points(world * 0.5f, d, b, false);
  EXPECT_TRUE(at::allclose(pa.internal, pb.internal, 1e-4, 1e-4));
}

/// The fused kernel (no gradient wanted) against the LibTorch path (parameters requiring grad): every output, with and
/// without heads, on points inside and outside the source views (their injections zero-padded).
void expect_fused_points_match(const FeatureNerfConfig& config, int views, double scale) {
  const FeatureNerfNetwork net(config);
  FeatureNerfSources src;
  {
    at::NoGradGuard no_grad;
    src = fn_sources(net, views, scale);
  }
  ASSERT_TRUE(env_switch_on("SEMFIELD_FUSED_FEATURENERF")) << "SEMFIELD_FUSED_FEATURENERF=0: the fused path is off";
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(21);
  // 461 points: 9 full blocks of 48 samples and a tail, over more than one parallel task (8 blocks each).
  const at::Tensor x = (at::rand({461, 3}, gen) - 0.5f) * 3.0f;
  at::Tensor d = at::randn({461, 3}, gen);
  d = d / d.norm(2, 1, true);
  for (const bool heads : {true, false}) {
    FeatureNerfPoints fused, ref;
    {
      at::NoGradGuard no_grad;
      fused = net.points(x, d, src, heads);
    }
    ref = net.points(x, d, src, heads);
    ASSERT_TRUE(ref.internal.requires_grad()) << "the reference path must be the differentiable one";
    std::vector<std::tuple<const char*, at::Tensor, at::Tensor>> outputs{{"internal", fused.internal, ref.internal}};
    if (heads) {
      outputs.insert(outputs.end(), {{"sigma", fused.sigma, ref.sigma},
                                     {"coord", fused.coord, ref.coord},
                                     {"rgb", fused.rgb, ref.rgb},
                                     {"feature", fused.feature, ref.feature}});
    } else {
      EXPECT_FALSE(fused.sigma.defined());
    }
    for (const auto& [name, a, b] : outputs) {
      ASSERT_TRUE(a.defined()) << name;
      const at::Tensor r = b.detach();
      ASSERT_EQ(a.sizes(), r.sizes()) << name;
      const float scale_of = r.abs().max().item<float>();
      EXPECT_LT((a - r).abs().max().item<float>(), 2e-4f * std::max(scale_of, 1.0f))
          << name << " (heads " << heads << ", " << views << " views, scale " << scale << ")";
    }
  }
}

TEST(FeatureNerfNetwork, FusedPointsMatchTheLibTorchPath) {
  // The tiny widths (rest columns outside the register tiles) and the shipped ones (width 256, v_NeRF 512, a 64-d
  // teacher head), one and two source views, a scene normalisation that is not 1.
  expect_fused_points_match(test::small_featurenerf_config(), 1, 1.0);
  expect_fused_points_match(test::small_featurenerf_config(), 2, 0.7);
  FeatureNerfConfig shipped;
  shipped.encoder.channels = {8, 8, 8, 8};  // the encoder only makes the injections: kept small
  shipped.encoder.blocks = {1, 1, 1};
  expect_fused_points_match(shipped, 1, 1.3);
  expect_fused_points_match(shipped, 2, 1.0);
}

TEST(FeatureNerf, CanonicalPointsFromDepthInvertTheSceneNormalisation) {
  const Camera cam = test::orbit_camera(0.3, 16);
  SceneFrame frame;
  frame.normalization.scale = 0.5;
  frame.normalization.offset = Eigen::Vector3d(0.1, -0.2, 0.3);
  at::Tensor depth = at::full({16, 16}, 2.0f);
  depth.index_put_({0, 0}, 0.0f);
  const at::Tensor p = canonical_points_from_depth(cam, depth, frame);
  const kernels::Rays rays = kernels::generate_image_rays(cam);
  const Eigen::Vector3d dir(rays.directions[17][0].item<double>(), rays.directions[17][1].item<double>(),
                            rays.directions[17][2].item<double>());
  const Eigen::Vector3d normalised = cam.origin() + dir * (2.0 / dir.dot(cam.forward()));
  const Eigen::Vector3d world = frame.normalization.invert(normalised);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(p[1][1][k].item<double>(), world[k], 1e-4);
  EXPECT_EQ(p[0][0].abs().sum().item<float>(), 0.0f);
}

TEST(SimulatedDino, QuarterResolutionZeroOnBackgroundDeterministic) {
  at::Tensor parts = at::zeros({32, 40}, at::kLong);
  parts.narrow(0, 8, 16).narrow(1, 8, 24).fill_(2);
  const at::Tensor canonical = at::zeros({32, 40, 3});
  at::Tensor image = at::full({3, 32, 40}, 0.5f);
  const at::Tensor a = simulated_dino_map(parts, canonical, 1, 2, {}, image);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{64, 8, 10}));
  EXPECT_EQ(a.select(1, 0).abs().sum().item<float>(), 0.0f);      // background rows
  EXPECT_GT(a.select(1, 3).select(1, 4).norm().item<float>(), 0.5f);  // a foreground cell
  EXPECT_TRUE(at::equal(a, simulated_dino_map(parts, canonical, 1, 2, {}, image)));
  EXPECT_FALSE(at::equal(a, simulated_dino_map(parts, canonical, 1, 3, {}, image)));  // per-view noise
  // Appearance leaks in: another colour, another feature.
  image.select(0, 0).fill_(0.9f);
  EXPECT_GT((a - simulated_dino_map(parts, canonical, 1, 2, {}, image)).norm().item<float>(), 0.3f);
}

TEST(SimulatedDino, AgreesAcrossInstancesOnlyApproximatelyAndConfusesLeftWithRight) {
  // Two regions of one part at mirrored x: left and right.
  at::Tensor parts = at::full({8, 16}, 1, at::kLong);
  at::Tensor canonical = at::zeros({8, 16, 3});
  canonical.narrow(1, 0, 8).select(2, 0).fill_(-0.3f);
  canonical.narrow(1, 8, 8).select(2, 0).fill_(0.3f);
  canonical.select(2, 2).fill_(0.2f);
  SimulatedDinoOptions clean;
  clean.pixel_noise = 0;
  clean.instance_noise = 0;
  clean.appearance_weight = 0;
  const at::Tensor m = simulated_dino_map(parts, canonical, 7, 0, clean);
  const at::Tensor left = m.select(2, 0).select(1, 0), right = m.select(2, 3).select(1, 0);
  EXPECT_TRUE(at::allclose(left, right, 1e-5, 1e-5));  // symmetry 1: indistinguishable
  SimulatedDinoOptions sided = clean;
  sided.symmetry = 0;
  const at::Tensor s = simulated_dino_map(parts, canonical, 7, 0, sided);
  EXPECT_GT((s.select(2, 0) - s.select(2, 3)).norm().item<float>(), 0.1f);
  // Instances: the same view of two instances agrees less than two views of one instance, but far more than parts do.
  const auto cos = [](const at::Tensor& a, const at::Tensor& b) {
    return at::cosine_similarity(a.reshape({-1}), b.reshape({-1}), 0).item<double>();
  };
  SimulatedDinoOptions o;
  o.appearance_weight = 0;
  const at::Tensor a0 = simulated_dino_map(parts, canonical, 1, 0, o), a1 = simulated_dino_map(parts, canonical, 1, 1, o);
  const at::Tensor b0 = simulated_dino_map(parts, canonical, 2, 0, o);
  // Another place of the same instance: another part, elsewhere on the object.
  at::Tensor elsewhere = canonical.clone();
  elsewhere.select(2, 2).fill_(-0.4f);
  elsewhere.select(2, 1).fill_(0.3f);
  const at::Tensor c0 = simulated_dino_map(parts.clone().fill_(2), elsewhere, 1, 0, o);
  std::printf("cos: views %.3f instances %.3f elsewhere %.3f\n", cos(a0, a1), cos(a0, b0), cos(a0, c0));
  EXPECT_GT(cos(a0, a1), cos(a0, b0) + 0.2);  // measured 0.98 vs 0.52: views of one instance agree
  EXPECT_GT(cos(a0, b0), cos(a0, c0) + 0.1);  // measured 0.52 vs 0.34: instances agree only approximately, but more than places do
}

TEST(SimulatedDino, ScaleMultipliesTheMapAndKeepsItsCosines) {
  // A view of an object: three parts over a canonical box [-0.5, 0.5]^3, varied colours.
  const int64_t h = 64, w = 64;
  const at::Tensor yy = at::arange(h, at::kFloat).view({h, 1}).expand({h, w}) / h - 0.5f;
  const at::Tensor xx = at::arange(w, at::kFloat).view({1, w}).expand({h, w}) / w - 0.5f;
  const at::Tensor canonical = at::stack({xx, yy, 0.3f * (xx * yy).sin()}, 2);
  at::Tensor parts = at::zeros({h, w}, at::kLong);
  parts.narrow(0, 8, 16).narrow(1, 8, 48).fill_(1);
  parts.narrow(0, 24, 16).narrow(1, 8, 48).fill_(2);
  parts.narrow(0, 40, 16).narrow(1, 16, 32).fill_(3);
  const at::Tensor image = at::stack({xx + 0.5f, yy + 0.5f, (xx + yy).abs()}, 0);
  SimulatedDinoOptions o;
  const auto rms_of = [](const at::Tensor& m) {
    const at::Tensor fg = m.abs().sum(0).gt(0);
    return m.permute({1, 2, 0}).index({fg}).pow(2).mean().sqrt().item<double>();
  };
  const at::Tensor d = simulated_dino_map(parts, canonical, 5, 6, o, image);
  std::printf("default per-channel RMS over foreground cells: %.4f\n", rms_of(d));
  EXPECT_NEAR(rms_of(d), 1.0, 0.1);  // measured 0.98: DINO's order of magnitude
  o.dim = 16;                         // the same at another width
  EXPECT_NEAR(rms_of(simulated_dino_map(parts, canonical, 5, 6, o, image)), 1.0, 0.1);
  o.dim = 64;
  o.scale = 1.0;
  const at::Tensor a = simulated_dino_map(parts, canonical, 5, 6, o, image);
  EXPECT_NEAR(rms_of(a), 0.18, 0.02);  // measured 0.182: ||f|| ~ 1.5 over 64 channels
  o.scale = 5.0;
  const at::Tensor b = simulated_dino_map(parts, canonical, 5, 6, o, image);
  EXPECT_TRUE(at::allclose(b, a * 5.0f, 1e-5, 1e-5));
  EXPECT_THROW(featurenerf_config_from_json({{"simulated_dino", {{"scale", -1.0}}}}, "x.json"), InputError);
  EXPECT_EQ(featurenerf_config_from_json({{"simulated_dino", {{"scale", 5.0}}}}, "x.json").simulated.scale, 5.0);
}

// The colour jitter's map: the identity at strength 0, white stays white and greys grey (only their darkness scales),
// affine so it commutes with compositing over a background (away from the clamp), the same map for the same seed.
TEST(FeatureNerfColourJitter, KeepsWhiteAndTheGreyAxisCommutesWithCompositingAndFollowsTheSeed) {
  EXPECT_TRUE(at::allclose(featurenerf_colour_jitter_map(0.0, 7), at::eye(3), 0.0, 1e-6));
  const at::Tensor map = featurenerf_colour_jitter_map(0.6, 7);
  EXPECT_TRUE(at::equal(map, featurenerf_colour_jitter_map(0.6, 7)));
  EXPECT_FALSE(at::allclose(map, featurenerf_colour_jitter_map(0.6, 8)));
  EXPECT_FALSE(at::allclose(map, at::eye(3), 0.0, 1e-3));
  const at::Tensor white = at::ones({1, 3});
  EXPECT_TRUE(at::allclose(featurenerf_apply_colour_jitter(white, map, 1), white, 0.0, 1e-6));
  const at::Tensor grey = at::full({1, 3}, 0.6f);
  const at::Tensor g = featurenerf_apply_colour_jitter(grey, map, 1);
  EXPECT_NEAR(g[0][0].item<float>(), g[0][1].item<float>(), 1e-5);
  EXPECT_NEAR(g[0][0].item<float>(), g[0][2].item<float>(), 1e-5);
  // Compositing: alpha f + (1 - alpha) b through the map = the same mix of the mapped colours (mid-range colours, no
  // clamping at this strength).
  const at::Tensor f = at::tensor({0.55f, 0.45f, 0.5f}).view({1, 3}), b = at::tensor({0.6f, 0.5f, 0.45f}).view({1, 3});
  const float alpha = 0.3f;
  const at::Tensor mixed = featurenerf_apply_colour_jitter(alpha * f + (1 - alpha) * b, map, 1);
  const at::Tensor expected =
      alpha * featurenerf_apply_colour_jitter(f, map, 1) + (1 - alpha) * featurenerf_apply_colour_jitter(b, map, 1);
  EXPECT_TRUE(at::allclose(mixed, expected, 0.0, 1e-5));
  // Any channel axis: images [3,H,W] map pixel by pixel like rows [N,3]; results stay in [0, 1].
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const at::Tensor image = at::rand({3, 4, 5}, gen);
  const at::Tensor rows = featurenerf_apply_colour_jitter(image.permute({1, 2, 0}).reshape({-1, 3}), map, 1);
  EXPECT_TRUE(at::allclose(featurenerf_apply_colour_jitter(image, map, 0).permute({1, 2, 0}).reshape({-1, 3}), rows));
  const at::Tensor strong = featurenerf_apply_colour_jitter(image, featurenerf_colour_jitter_map(1.0, 3), 0);
  EXPECT_GE(strong.min().item<float>(), 0.0f);
  EXPECT_LE(strong.max().item<float>(), 1.0f);
  EXPECT_THROW(featurenerf_config_from_json({{"colour_jitter", 1.5}}, "x.json"), InputError);
  EXPECT_EQ(featurenerf_config_from_json({{"colour_jitter", 0.3}}, "x.json").colour_jitter, 0.3);
  EXPECT_EQ(featurenerf_config_from_json(nlohmann::json::object(), "x.json").colour_jitter, 0.0);
}

// The contrast loss against a plain double-precision reading of its definition, on a hand-sized case.
TEST(FeatureNerfContrastLoss, IsTheKlOfCosineNeighboursFromPositionNeighbours) {
  const std::vector<std::vector<double>> v = {{1, 0}, {0.8, 0.6}, {-1, 0.2}, {0.1, -1}};
  const std::vector<std::vector<double>> c = {{0, 0, 0}, {0.05, 0, 0}, {0.3, 0.1, 0}, {0, 0, -0.2}};
  const double sigma = 0.1, tau = 0.2;
  const size_t n = v.size();
  double expected = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> lq(n, 0), lp(n, 0);
    double zq = 0, zp = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double cosine = (v[i][0] * v[j][0] + v[i][1] * v[j][1]) /
                            (std::hypot(v[i][0], v[i][1]) * std::hypot(v[j][0], v[j][1]));
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (c[i][k] - c[j][k]) * (c[i][k] - c[j][k]);
      lq[j] = cosine / tau;
      lp[j] = -d2 / (2 * sigma * sigma);
      zq += std::exp(lq[j]);
      zp += std::exp(lp[j]);
    }
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double p = std::exp(lp[j]) / zp;
      expected += p * ((lp[j] - std::log(zp)) - (lq[j] - std::log(zq))) / static_cast<double>(n);
    }
  }
  at::Tensor vt = at::zeros({4, 2}), ct = at::zeros({4, 3});
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) vt[static_cast<int64_t>(i)][k] = v[i][static_cast<size_t>(k)];
    for (int k = 0; k < 3; ++k) ct[static_cast<int64_t>(i)][k] = c[i][static_cast<size_t>(k)];
  }
  EXPECT_NEAR(featurenerf_contrast_loss(vt, ct, sigma, tau).item<double>(), expected, 1e-5);
  EXPECT_GT(expected, 0.0);
  // Cosines: the descriptors' scale does not matter.
  EXPECT_NEAR(featurenerf_contrast_loss(vt * 7.0f, ct, sigma, tau).item<double>(), expected, 1e-5);
  // Fewer than two descriptors: nothing to compare.
  EXPECT_EQ(featurenerf_contrast_loss(vt.narrow(0, 0, 1), ct.narrow(0, 0, 1), sigma, tau).item<double>(), 0.0);
}

// What it is for: descriptors that confuse the left and right of a symmetric object (as the distilled teacher does)
// cost more than ones that tell them apart; the gradient reaches the descriptors, finite, and never the positions.
TEST(FeatureNerfContrastLoss, CostsMoreForMirrorConfusedDescriptorsAndItsGradientIsFinite) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor c = at::rand({120, 3}, gen) - 0.5f;  // both sides of the x = 0 plane
  const at::Tensor ones = at::ones({120, 1});
  const at::Tensor faithful = at::cat({c, ones}, 1);
  const at::Tensor mirrored = at::cat({c.narrow(1, 0, 1).abs(), c.narrow(1, 1, 2), ones}, 1);
  const double lf = featurenerf_contrast_loss(faithful, c, 0.05, 0.1).item<double>();
  const double lm = featurenerf_contrast_loss(mirrored, c, 0.05, 0.1).item<double>();
  std::printf("contrast loss: faithful %.4f, mirror-confused %.4f\n", lf, lm);
  EXPECT_LT(lf, lm - 0.2);  // measured 2.88 vs 3.19
  const at::Tensor v = mirrored.clone().requires_grad_(true);
  const at::Tensor positions = c.clone().requires_grad_(true);
  featurenerf_contrast_loss(v, positions, 0.05, 0.1).backward();
  ASSERT_TRUE(v.grad().defined());
  EXPECT_TRUE(at::isfinite(v.grad()).all().item<bool>());
  EXPECT_GT(v.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(positions.grad().defined());
}

TEST(FeatureNerfConfigTest, KeysAreCheckedAndTheRegistryKnowsTheType) {
  const FeatureNerfConfig c = featurenerf_config_from_json(nlohmann::json::object(), "x.json");
  EXPECT_EQ(c.feature_dim, 512);
  EXPECT_EQ(c.loss.distill, 0.25);
  EXPECT_EQ(c.loss.coord, 0.25);
  EXPECT_EQ(featurenerf_config_from_json(to_json(c), "x.json").width, c.width);
  EXPECT_THROW(featurenerf_config_from_json({{"widht", 3}}, "x.json"), InputError);
  EXPECT_THROW(featurenerf_config_from_json({{"teacher", "none"}, {"loss", {{"distill", 0.5}}}}, "x.json"), InputError);
  EXPECT_EQ(featurenerf_config_from_json({{"teacher", "none"}}, "x.json").loss.distill, 0.0);
  EXPECT_THROW(featurenerf_config_from_json({{"descriptor", "middle"}}, "x.json"), InputError);
  // The contrast loss: off by default and then absent from the JSON (model files written before it read the same);
  // written with its options when set; bad options named.
  EXPECT_EQ(c.loss.contrast, 0.0);
  EXPECT_FALSE(to_json(c).contains("contrast"));
  EXPECT_FALSE(to_json(c)["loss"].contains("contrast"));
  const FeatureNerfConfig k = featurenerf_config_from_json(
      {{"loss", {{"contrast", 0.1}}}, {"contrast", {{"sigma", 0.08}, {"temperature", 0.2}}}}, "x.json");
  EXPECT_EQ(k.loss.contrast, 0.1);
  EXPECT_EQ(k.loss.distill, 0.25);
  const FeatureNerfConfig k2 = featurenerf_config_from_json(to_json(k), "x.json");
  EXPECT_EQ(k2.loss.contrast, 0.1);
  EXPECT_EQ(k2.contrast.sigma, 0.08);
  EXPECT_EQ(k2.contrast.temperature, 0.2);
  EXPECT_THROW(featurenerf_config_from_json({{"contrast", {{"sigma", 0}}}}, "x.json"), InputError);
  EXPECT_THROW(featurenerf_config_from_json({{"contrast", {{"radius", 1}}}}, "x.json"), InputError);
  EXPECT_THROW(featurenerf_config_from_json({{"loss", {{"contrast", -1}}}}, "x.json"), InputError);
  const ModelType& type = find_model_type("featurenerf");
  EXPECT_TRUE(type.image_conditioned);
  const auto model = create_trainable_model("featurenerf", to_json(test::small_featurenerf_config()), "x.json");
  EXPECT_EQ(model->type(), "featurenerf");
  EXPECT_TRUE(model->target_views());
  // train-corpus --init: a model file whose config differs only in what training reads (losses, the contrast
  // options, colour jitter, seed, encode_size) initialises it; any other difference is refused, naming the file.
  nlohmann::json other = to_json(test::small_featurenerf_config());
  other["loss"]["contrast"] = 0.5;
  other["contrast"] = {{"sigma", 0.1}, {"temperature", 0.1}};
  other["loss"]["distill"] = 1.0;
  other["colour_jitter"] = 0.2;
  other["seed"] = 7;
  other["encode_size"] = 128;
  const auto source = create_trainable_model("featurenerf", to_json(test::small_featurenerf_config()), "x.json");
  const TensorMap weights = source->state();
  const auto fine = create_trainable_model("featurenerf", other, "y.json");
  fine->initialise_from("featurenerf", to_json(test::small_featurenerf_config()), weights, "shipped.safetensors");
  for (const auto& [key, tensor] : fine->state()) EXPECT_TRUE(tensor.equal(weights.at(key))) << key;
  nlohmann::json wider = to_json(test::small_featurenerf_config());
  wider["width"] = wider["width"].get<int>() * 2;
  try {
    fine->initialise_from("featurenerf", wider, weights, "shipped.safetensors");
    ADD_FAILURE() << "a config of another width was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shipped.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fine->initialise_from("ibr", to_json(test::small_featurenerf_config()), weights, "x"), InputError);
}

}  // namespace
}  // namespace semfield

namespace semfield {
namespace {

// The dino:PATH teacher (the golden reduced DINO: 96 channels, 3 blocks): keys of the configured block on the image at
// x2, zero on the background, cached per view; a model distils it.
TEST(FeatureNerfDinoTeacher, KeysOfTheConfiguredBlockAtTwiceTheResolutionZeroOnTheBackground) {
  const std::filesystem::path weights = test::shared_dir() / "golden" / "dino" / "dino_weights.safetensors";
  SEMFIELD_REQUIRE_SHARED_FILE(weights);
  const foundation::DinoModel dino = foundation::DinoModel::load(weights);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const at::Tensor rgb = at::rand({3, 32, 32}, gen);
  at::Tensor fg = at::zeros({32, 32}, at::kBool);
  fg.narrow(0, 8, 16).narrow(1, 8, 16).fill_(true);
  FeatureNerfConfig c = test::small_featurenerf_config();
  c.teacher = "dino:" + weights.string();
  c.teacher_dim = 96;
  c.dino_block = 1;
  const at::Tensor map = featurenerf_dino_map(dino, c, rgb, fg, "x");
  EXPECT_EQ(map.sizes().vec(), (std::vector<int64_t>{96, 8, 8}));  // 64^2 input, patch 8
  EXPECT_EQ(map.select(1, 0).abs().sum().item<float>(), 0.0f);
  EXPECT_GT(map.select(1, 4).select(1, 4).abs().sum().item<float>(), 0.0f);
  int64_t gh = 0, gw = 0;
  const at::Tensor up = at::upsample_bilinear2d(rgb.unsqueeze(0), {64, 64}, false).clamp(0, 1);
  const at::Tensor keys = dino.block_keys(dino.normalize(up.squeeze(0).permute({1, 2, 0})), 1, &gh, &gw);
  EXPECT_TRUE(at::allclose(map.select(1, 4).select(1, 4), keys[0][1 + 4 * 8 + 4], 1e-5, 1e-5));
  c.dino_block = 5;
  EXPECT_THROW(featurenerf_dino_map(dino, c, rgb, fg, "x"), InputError);
  c.dino_block = 1;
  c.teacher_dim = 384;
  EXPECT_THROW(featurenerf_dino_map(dino, c, rgb, fg, "x"), InputError);
}

}  // namespace
}  // namespace semfield

namespace semfield {
namespace {

/// A scene of `n` orbit cameras around `centre` at `radius` (files' units), loaded with normalisation `norm`.
Scene orbit_scene(const Eigen::Vector3d& centre, double radius, int n, const Normalization& norm) {
  Scene scene;
  scene.normalization = norm;
  scene.aabb = Eigen::AlignedBox3d(Eigen::Vector3d::Constant(-1), Eigen::Vector3d::Constant(1));
  for (int i = 0; i < n; ++i) {
    const double a = 0.7 * i, e = 0.2 + 0.1 * (i % 3);
    const Eigen::Vector3d eye =
        centre + radius * Eigen::Vector3d(std::cos(a) * std::cos(e), std::sin(a) * std::cos(e), std::sin(e));
    View v;
    v.name = "r_" + std::to_string(i);
    v.camera = test::look_at(eye, centre, 16, 16, 20.0);
    v.camera.c2w.block<3, 1>(0, 3) = norm.apply(eye);  // loaded cameras are in the normalised frame
    scene.views.push_back(v);
  }
  return scene;
}

}  // namespace

TEST(FeatureNerfSceneFrame, ASceneInOtherUnitsOrMovedIsReadAsTheCorporaWere) {
  // The corpora: cameras 2.6 from the origin, the Blender convention's 0.66.
  Normalization blender;
  blender.scale = 0.66;
  const Scene corpus_like = orbit_scene(Eigen::Vector3d::Zero(), 2.6, 6, blender);
  const SceneFrame own = SceneFrame::from_scene(corpus_like);
  const SceneFrame a = featurenerf_scene_frame(corpus_like, nlohmann::json::object(), own);
  EXPECT_NEAR(a.normalization.scale, 0.66, 1e-9);  // the corpora's own framing, unchanged
  EXPECT_NEAR(a.normalization.offset.norm(), 0.0, 1e-9);
  EXPECT_NEAR(a.world_scale(), 0.66, 1e-12);
  // The same object in centimetres (x 40) and moved: the network reads the same positions in the source camera's
  // frame (normalised / world_scale), and the normalised cameras coincide.
  const Eigen::Vector3d centre(4.0, -7.0, 12.0);
  const Scene other = orbit_scene(centre, 2.6 * 40.0, 6, blender);
  const SceneFrame b = featurenerf_scene_frame(other, nlohmann::json::object(), SceneFrame::from_scene(other));
  EXPECT_NEAR(b.world_scale(), 0.66, 1e-12);
  EXPECT_NEAR(b.normalization.scale, 0.66 / 40.0, 1e-9);
  for (size_t i = 0; i < other.views.size(); ++i) {
    const Eigen::Vector3d pa = a.normalization.apply(corpus_like.normalization.invert(corpus_like.views[i].camera.origin()));
    const Eigen::Vector3d pb = b.normalization.apply(other.normalization.invert(other.views[i].camera.origin()));
    EXPECT_LT((pa - pb).norm(), 1e-9) << i;
    EXPECT_NEAR(pb.norm(), 0.66 * 2.6, 1e-9);
  }
  EXPECT_FALSE(b.unbounded);
  EXPECT_EQ(b.aabb_max, Eigen::Vector3f::Constant(1.0f));
  // The frame travels with the run: model_unit_scale round-trips (and is absent where it is 0).
  EXPECT_NEAR(SceneFrame::from_json(b.to_json(), "run").world_scale(), 0.66, 1e-12);
  EXPECT_FALSE(own.to_json().contains("model_unit_scale"));
  // camera_distance 0: the scene's own framing; one camera: no point to frame on (own framing, warned).
  const SceneFrame kept = featurenerf_scene_frame(other, {{"camera_distance", 0}}, SceneFrame::from_scene(other));
  EXPECT_DOUBLE_EQ(kept.normalization.scale, 0.66);
  EXPECT_DOUBLE_EQ(kept.world_scale(), 0.66);
  Scene single = other;
  single.views.resize(1);
  EXPECT_DOUBLE_EQ(featurenerf_scene_frame(single, nlohmann::json::object(), own).normalization.scale, 0.66);
  EXPECT_THROW(featurenerf_scene_frame(other, {{"camera_distance", -1}}, own), InputError);
}

TEST(CamerasLookAt, ThePointNearestEveryAxisOrNoneWhereTheAxesFixNone) {
  const Eigen::Vector3d centre(1.0, 2.0, -0.5);
  std::vector<Camera> cams;
  for (int i = 0; i < 4; ++i)
    cams.push_back(test::look_at(centre + 3.0 * Eigen::Vector3d(std::cos(1.5 * i), std::sin(1.5 * i), 0.4), centre,
                                 16, 16, 20.0));
  const std::optional<CamerasLookAt> look = cameras_look_at(cams);
  ASSERT_TRUE(look.has_value());
  EXPECT_LT((look->centre - centre).norm(), 1e-9);
  EXPECT_NEAR(look->distance, 3.0 * std::sqrt(1.16), 1e-9);
  EXPECT_FALSE(cameras_look_at({cams[0]}).has_value());  // one camera
  std::vector<Camera> parallel = {cams[0], cams[0]};
  parallel[1].c2w(0, 3) += 1.0;  // the same direction, side by side
  EXPECT_FALSE(cameras_look_at(parallel).has_value());
  std::vector<Camera> away = cams;  // every camera turned around: the point lies behind them
  for (Camera& c : away) c.c2w.block<3, 1>(0, 2) *= -1.0;
  EXPECT_FALSE(cameras_look_at(away).has_value());
}

}  // namespace semfield
