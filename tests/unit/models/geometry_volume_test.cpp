// GNeSF's geometry encoding volume (models/gnesf/geometry_volume.h): the voxel grid, TSDF fusion of depth maps
// against a hand-computed plane, SDF queries against an analytic sphere, the SDF sign-change visibility test,
// Eq. 8-9's weights, the 3D CNN (shape, range, learning) and the config.
#include <cmath>

#include <ATen/ATen.h>
#include <Eigen/Geometry>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/models/gnesf/gnesf_model.h"
#include "semfield/models/registry.h"
#include "semfield/train/adam.h"
#include "support/small_models.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

VoxelGrid unit_grid(int resolution) {
  VoxelGrid g;
  g.resolution = resolution;
  return g;
}

/// The TSDF grid [1,1,R,R,R] of a sphere of radius `radius` at the origin, truncated at `truncation`.
at::Tensor sphere_tsdf(const VoxelGrid& grid, float radius, float truncation) {
  const at::Tensor sdf = grid.centres().norm(2, 1) - radius;
  const int64_t r = grid.resolution;
  return (sdf / truncation).clamp(-1, 1).reshape({1, 1, r, r, r});
}

TEST(VoxelGrid, CentresAndNormalisedCoordinates) {
  VoxelGrid g;
  g.lo = Eigen::Vector3f(-1, -2, 0);
  g.hi = Eigen::Vector3f(1, 2, 4);
  g.resolution = 4;
  const at::Tensor c = g.centres();
  ASSERT_EQ(c.size(0), 64);
  // x fastest: voxel (x=1, y=2, z=3) is row (3 * 4 + 2) * 4 + 1.
  const at::Tensor v = c[(3 * 4 + 2) * 4 + 1];
  EXPECT_NEAR(v[0].item<float>(), -1 + 1.5f * 0.5f, 1e-6);
  EXPECT_NEAR(v[1].item<float>(), -2 + 2.5f * 1.0f, 1e-6);
  EXPECT_NEAR(v[2].item<float>(), 0 + 3.5f * 1.0f, 1e-6);
  // grid_sampler's coordinates (align_corners = false): voxel centres at 2 (i + 0.5) / R - 1.
  const at::Tensor n = g.normalise(v.unsqueeze(0))[0];
  EXPECT_NEAR(n[0].item<float>(), 2 * 1.5f / 4 - 1, 1e-6);
  EXPECT_NEAR(n[1].item<float>(), 2 * 2.5f / 4 - 1, 1e-6);
  EXPECT_NEAR(n[2].item<float>(), 2 * 3.5f / 4 - 1, 1e-6);
}

TEST(GeometryVolume, TsdfFusionOfAPlaneMatchesTheProjectiveDistance) {
  // One camera on the z axis looking down at a plane at z = 0 (depth 2 everywhere); a second camera's pixels see
  // nothing (depth 0: free space along their rays).
  const Camera down = test::look_at(Eigen::Vector3d(0, 0, 2), Eigen::Vector3d::Zero(), 200, 200, 100);
  const SourceCameraBatch cams = SourceCameraBatch::from_cameras({down});
  const VoxelGrid grid = unit_grid(16);
  const float tr = 0.25f;
  const auto [target, observed] = fuse_tsdf(cams, at::full({1, 200, 200}, 2.0f), grid, tr);
  const at::Tensor centres = grid.centres();
  const at::Tensor z = centres.select(1, 2).reshape({16, 16, 16});
  const at::Tensor x = centres.select(1, 0).reshape({16, 16, 16}), y = centres.select(1, 1).reshape({16, 16, 16});
  // In the camera's view (|x|, |y| < 1 at the plane's height seen through a 2 x 2 image at focal 100 and depth
  // >= 1: inside), sdf = depth - z-depth = 2 - (2 - z) = z, truncated to tr: target z / tr clamped, observed unless
  // more than tr behind the plane.
  const at::Tensor centre = x.abs().lt(0.4).logical_and(y.abs().lt(0.4));
  const at::Tensor expected = (z / tr).clamp(-1, 1);
  const at::Tensor in_band = centre.logical_and(z.ge(-tr));
  EXPECT_TRUE(at::allclose(target.masked_select(in_band), expected.masked_select(in_band), 1e-4, 1e-4));
  EXPECT_TRUE(observed.masked_select(in_band).all().item<bool>());
  EXPECT_FALSE(observed.masked_select(centre.logical_and(z.lt(-tr - 1e-3))).any().item<bool>());
  // A view that hits nothing: everything it sees is free space (+1).
  const auto [free, seen] = fuse_tsdf(cams, at::zeros({1, 200, 200}), grid, tr);
  EXPECT_TRUE(at::allclose(free.masked_select(seen), at::ones({seen.sum().item<int64_t>()})));
  EXPECT_GT(seen.sum().item<int64_t>(), 1000);
  EXPECT_THROW(fuse_tsdf(cams, at::zeros({2, 200, 200}), grid, tr), std::exception);  // one depth map per view
}

TEST(GeometryVolume, SdfAtPointsInterpolatesTheGridAndIsFreeOutsideIt) {
  const VoxelGrid grid = unit_grid(32);
  const float tr = 0.2f;
  const at::Tensor tsdf = sphere_tsdf(grid, 0.5f, tr);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor p = at::rand({500, 3}, gen) * 1.6f - 0.8f;
  const at::Tensor expected = (p.norm(2, 1) - 0.5f).clamp(-tr, tr);
  const at::Tensor got = sample_sdf(tsdf, grid, tr, p);
  // Trilinear interpolation of a (piecewise) linear function: exact up to the sphere's curvature and the clamp's kink.
  EXPECT_LT((got - expected).abs().max().item<float>(), 0.02f);
  const at::Tensor outside = at::tensor({1.5f, 0.f, 0.f, 0.f, -3.f, 0.f}).reshape({2, 3});
  EXPECT_TRUE(at::allclose(sample_sdf(tsdf, grid, tr, outside), at::full({2}, tr)));
  // Differentiable w.r.t. the grid.
  const at::Tensor t = tsdf.clone().requires_grad_(true);
  sample_sdf(t, grid, tr, p).sum().backward();
  EXPECT_GT(t.grad().abs().sum().item<float>(), 0);
}

TEST(GeometryVolume, SignChangeTestHidesPointsBehindASurface) {
  const VoxelGrid grid = unit_grid(48);
  const float tr = 0.15f;
  const at::Tensor tsdf = sphere_tsdf(grid, 0.4f, tr);
  const at::Tensor origins = at::tensor({0.f, 0.f, 3.f, 3.f, 0.f, 0.f}).reshape({2, 3});
  // On the sphere: its top and bottom (the first camera above it sees only the top), its +x and -x sides (the second
  // camera, on the +x axis, sees only the +x side), and a point in free space beside it.
  const at::Tensor points = at::tensor({0.f, 0.f, 0.4f, 0.f, 0.f, -0.4f, 0.4f, 0.f, 0.f, -0.4f, 0.f, 0.f, 0.f, 0.9f, 0.f})
                                .reshape({5, 3});
  const float margin = 2 * grid.voxel_size();
  const at::Tensor visible = sdf_visible(tsdf, grid, tr, origins, points, margin);
  ASSERT_EQ(visible.size(0), 2);
  ASSERT_EQ(visible.size(1), 5);
  EXPECT_TRUE(visible[0][0].item<bool>());   // top, from above
  EXPECT_FALSE(visible[0][1].item<bool>());  // bottom, from above: through the sphere
  EXPECT_TRUE(visible[1][2].item<bool>());   // +x side, from +x
  EXPECT_FALSE(visible[1][3].item<bool>());  // -x side, from +x
  EXPECT_TRUE(visible[0][4].item<bool>());   // a point in free space beside the sphere
  EXPECT_TRUE(visible[1][4].item<bool>());
}

TEST(GeometryVolume, SdfRenderWeightsFollowEquations8And9) {
  // Ray 0 meets a surface at t = 1 (sdf = 1 - t) and another at t = 3 (behind it); ray 1 meets none.
  const at::Tensor ts = at::linspace(0, 4, 81).unsqueeze(0).repeat({2, 1});
  at::Tensor sdf = at::empty_like(ts);
  sdf[0] = at::where(ts[0].lt(2), 1 - ts[0], at::where(ts[0].lt(2.5), ts[0] - 2.0, 3.0 - ts[0]));
  sdf[1] = at::full({81}, 0.5f);
  const float tr = 0.05f, window = 0.1f;
  const at::Tensor w = sdf_render_weights(sdf, ts, tr, window);
  EXPECT_NEAR(w[0].sum().item<float>(), 1.0f, 1e-5);
  EXPECT_EQ(w[1].sum().item<float>(), 0.0f);
  // Eq. 8's bell around the first crossing (t = 1), nothing beyond it + window (the second surface).
  EXPECT_EQ(w[0].argmax().item<int64_t>(), 20);
  EXPECT_EQ(w[0].masked_select(ts[0].gt(1.0 + window + 1e-4)).abs().sum().item<float>(), 0.0f);
  // Eq. 9: normalised sigmoid(s/tr) sigmoid(-s/tr) over the kept samples.
  const at::Tensor kept = ts[0].le(1.0 + window + 1e-4);
  const at::Tensor raw = at::sigmoid(sdf[0] / tr) * at::sigmoid(-sdf[0] / tr) * kept.to(at::kFloat);
  EXPECT_TRUE(at::allclose(w[0], raw / raw.sum(), 1e-5, 1e-6));
}

TEST(GeometryVolume, DensityFromTheSdfCrossesTheMeshLevelOnTheSurface) {
  const float voxel = 0.05f;
  const at::Tensor s = at::tensor({-1.0f, -0.05f, 0.0f, 0.05f, 1.0f});
  const at::Tensor sigma = sdf_density(s, voxel);
  EXPECT_NEAR(sigma[2].item<float>(), SceneMeshOptions::kDefaultThreshold, 1e-5);
  EXPECT_NEAR(sigma[0].item<float>(), 20.0f, 1e-4);  // deep inside
  EXPECT_NEAR(sigma[4].item<float>(), 0.0f, 1e-4);   // far outside
  EXPECT_GT(sigma[1].item<float>(), sigma[2].item<float>());
  EXPECT_LT(sigma[3].item<float>(), sigma[2].item<float>());
}

TEST(GeometryVolume, CompositingOnTheSdfStopsRaysAtTheSurface) {
  // Two rays along -z from z = 2: one through a sphere of radius 0.5 at the origin (surface at t = 1.5), one beside it.
  const VoxelGrid grid = unit_grid(64);
  const float tr = 0.1f;
  const at::Tensor tsdf = sphere_tsdf(grid, 0.5f, tr);
  const at::Tensor ts = at::linspace(1.0, 3.0, 256).unsqueeze(0).repeat({2, 1});
  at::Tensor pos = at::zeros({2, 256, 3});
  pos.select(2, 2).copy_(2.0f - ts);
  pos[1].select(1, 0).fill_(0.8f);
  const at::Tensor sdf = sample_sdf(tsdf, grid, tr, pos.reshape({-1, 3})).reshape({2, 256});
  const at::Tensor w = sdf_composite_weights(sdf, ts, grid.voxel_size(), tr);
  EXPECT_NEAR(w[0].sum().item<float>(), 1.0f, 1e-3);  // opaque
  EXPECT_NEAR((w[0] * ts[0]).sum().item<float>(), 1.5f, 0.02f);  // its depth: the surface
  EXPECT_LT(w[1].sum().item<float>(), 1e-3f);  // the ray beside the sphere sees nothing
  EXPECT_TRUE(w.ge(0).all().item<bool>());
}

TEST(GeometryVolume, CnnGivesATsdfPerVoxelAndLearns) {
  GeometryVolumeConfig c;
  c.enabled = true;
  c.resolution = 8;
  c.channels = 4;
  c.seed = 2;
  const GeometryVolume volume(c, 5);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor input = at::rand({1, 5, 8, 8, 8}, gen);
  const at::Tensor out = volume.forward(input);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 1, 8, 8, 8}));
  EXPECT_LE(out.abs().max().item<float>(), 1.0f);
  // Same seed, same weights.
  EXPECT_TRUE(at::equal(GeometryVolume(c, 5).forward(input), out));
  EXPECT_THROW(volume.forward(at::rand({1, 4, 8, 8, 8})), UsageError);
  // A target depending on the input (its first channel): the loss falls with Adam.
  const at::Tensor target = (input.select(1, 0)[0] * 2 - 1).clamp(-0.9, 0.9);
  const at::Tensor observed = at::ones({8, 8, 8}, at::kBool);
  DenseAdam adam(volume.parameters());
  const double first = volume.loss(volume.forward(input), target, observed).item<double>();
  kernels::AdamHyper hyper;
  hyper.lr = 1e-2f;
  for (int step = 0; step < 60; ++step) {
    volume.loss(volume.forward(input), target, observed).backward();
    adam.step(hyper);
  }
  const double last = volume.loss(volume.forward(input), target, observed).item<double>();
  EXPECT_LT(last, 0.5 * first) << first << " -> " << last;
  // Nothing observed: zero loss, still with a graph.
  const at::Tensor none = volume.loss(volume.forward(input), target, at::zeros({8, 8, 8}, at::kBool));
  EXPECT_EQ(none.item<float>(), 0.0f);
  EXPECT_TRUE(none.requires_grad());
}

TEST(GeometryVolume, ConfigRoundTripAndErrorsNameTheKey) {
  GnesfConfig c;
  c.radiance = test::small_ibr_config();
  c.geometry = geometry_volume_config_from_json({{"resolution", 32}, {"views", 6}}, "g.json");
  c.semantic_weights = "sdf";
  c.sdf_mask_sources = true;
  c.radiance_density = "sdf";
  EXPECT_TRUE(c.geometry.enabled);
  EXPECT_EQ(to_json(gnesf_config_from_json(to_json(c), "g.json")), to_json(c));
  // No volume: "geometry" null, and the default config reads back without one.
  EXPECT_FALSE(gnesf_config_from_json(to_json(GnesfConfig{}), "g.json").geometry.enabled);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"geometry", {{"resolution", 30}}}}, "g.json"); })
                .find("geometry"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"geometry", {{"voxels", 32}}}}, "g.json"); }).find("voxels"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"semantic_weights", "sdf"}}, "g.json"); })
                .find("geometry volume"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"sdf_mask_sources", true}}, "g.json"); })
                .find("geometry volume"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"radiance_density", "sdf"}}, "g.json"); })
                .find("geometry volume"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"semantic_weights", "alpha"}}, "g.json"); })
                .find("semantic_weights"),
            std::string::npos);
}

TEST(GeometryVolume, GnesfInitialisedFromAModelWithoutAVolume) {
  GnesfConfig plain;
  plain.radiance = test::small_ibr_config();
  plain.vote_hidden = 8;
  plain.seed = 4;
  const GnesfNetwork trained(plain);
  GnesfConfig with = plain;
  with.geometry = geometry_volume_config_from_json({{"resolution", 16}, {"views", 4}, {"channels", 4}}, "g.json");
  with.train_geometry_only = true;
  auto model = create_trainable_model("gnesf", to_json(with), "cfg");
  EXPECT_EQ(model->geometry_views(), 4);
  const TensorMap before = model->state();
  TensorMap weights = trained.state();
  weights["head.vote.weight0"] = weights.at("head.vote.weight0") + 1.0f;  // as if trained
  model->initialise_from("gnesf", to_json(plain), weights, "plain.safetensors");
  const TensorMap after = model->state();
  // The head comes from the plain model; the volume keeps its initialisation; only the volume trains.
  EXPECT_TRUE(at::equal(after.at("head.vote.weight0"), weights.at("head.vote.weight0")));
  EXPECT_TRUE(at::equal(after.at("geometry.stem.weight"), before.at("geometry.stem.weight")));
  EXPECT_EQ(model->parameters().size(), GnesfNetwork(with).geometry_volume().parameters().size());
  GnesfConfig other = plain;
  other.vote_hidden = 16;
  EXPECT_NE(test::error_of([&] { model->initialise_from("gnesf", to_json(other), GnesfNetwork(other).state(), "o.st"); })
                .find("o.st"),
            std::string::npos);
}

}  // namespace
}  // namespace semfield
