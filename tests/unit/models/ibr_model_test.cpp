// The image-conditioned model (models/ibr): config, ray bounds, the network's invariants, binding to a scene,
// the registry and model files.
#include <ATen/ATen.h>
#include <Eigen/Geometry>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "support/small_models.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

using test::small_ibr_config;

/// A camera on a circle of `radius` at height 1 looking at the origin.
Camera ibr_test_camera(double angle, int side, double radius = 3.0) {
  return test::look_at(Eigen::Vector3d(radius * std::cos(angle), radius * std::sin(angle), 1.0), Eigen::Vector3d::Zero(),
                       side, side, 1.2 * side);
}

IbrSources ibr_test_sources(const IbrNetwork& net, const at::Tensor& colours) {
  std::vector<Camera> cams;
  for (int v = 0; v < colours.size(0); ++v) cams.push_back(ibr_test_camera(0.4 * v, static_cast<int>(colours.size(3))));
  return net.prepare(cams, colours);
}

IbrRays ibr_test_rays(int64_t n) {
  const Camera target = ibr_test_camera(0.6, 16);
  const at::Tensor origin = at::tensor({float(target.origin().x()), float(target.origin().y()), float(target.origin().z())});
  at::Tensor dirs = -origin.expand({n, 3}) + 0.4f * (at::rand({n, 3}, at::make_generator<at::CPUGeneratorImpl>(3)) - 0.5f);
  dirs = dirs / dirs.norm(2, 1, true);
  SceneFrame frame;
  return ibr_rays(origin.expand({n, 3}).contiguous(), dirs.contiguous(), frame, 4.0);
}

TEST(IbrConfig, JsonRoundTripAndUnknownKeys) {
  IbrConfig c = small_ibr_config();
  c.seed = 42;
  c.n_coarse_render = 6;
  c.n_fine_render = 3;
  const IbrConfig back = ibr_config_from_json(to_json(c), "cfg.json");
  EXPECT_EQ(back.n_coarse_render, 6);
  EXPECT_EQ(back.n_fine_render, 3);
  EXPECT_EQ(to_json(back), to_json(c));
  EXPECT_NE(test::error_of([] { ibr_config_from_json({{"n_corase", 3}}, "cfg.json"); }).find("n_corase"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { ibr_config_from_json({{"n_coarse", 1}}, "cfg.json"); }).find("n_coarse"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { ibr_config_from_json({{"n_coarse_render", 1}}, "cfg.json"); }).find("n_coarse_render"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { ibr_config_from_json({{"n_fine_render", -1}}, "cfg.json"); }).find("n_fine_render"),
            std::string::npos);
  // Files written before the inference sample counts existed read as 0: the training counts.
  nlohmann::json old = to_json(c);
  old.erase("n_coarse_render");
  old.erase("n_fine_render");
  EXPECT_EQ(ibr_config_from_json(old, "cfg.json").n_coarse_render, 0);
  EXPECT_EQ(ibr_config_from_json(old, "cfg.json").n_fine_render, 0);
}

TEST(IbrCorpusModel, InitialisesFromAFileThatDiffersOnlyInItsInferenceSettings) {
  // train-corpus --init: a file rendering with other sample counts, fine-pass skip or encoder input size, or written
  // before those keys existed, still fits; another network shape does not.
  const IbrConfig config = small_ibr_config();
  auto model = create_trainable_model("ibr", to_json(config), "cfg");
  IbrConfig donor_config = config;
  donor_config.seed = 9;
  const IbrNetwork donor(donor_config);
  IbrConfig renders_differently = config;
  renders_differently.n_coarse_render = 3;
  renders_differently.fine_min_opacity = 0.01;
  renders_differently.encode_size = 128;
  model->initialise_from("ibr", to_json(renders_differently), donor.state(), "ibr.safetensors");
  EXPECT_TRUE(at::equal(model->state().at("view_mlp.weight0"), donor.state().at("view_mlp.weight0")));
  EXPECT_EQ(model->config_json().at("n_coarse_render"), 0);  // the model being trained keeps its own
  nlohmann::json older = to_json(config);
  older.erase("n_coarse_render");
  older.erase("n_fine_render");
  model->initialise_from("ibr", older, donor.state(), "older.safetensors");
  IbrConfig wider = config;
  wider.view_hidden = config.view_hidden * 2;
  EXPECT_NE(test::error_of([&] { model->initialise_from("ibr", to_json(wider), donor.state(), "wide.safetensors"); })
                .find("wide.safetensors"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { model->initialise_from("hashgrid", {}, {}, "h.safetensors"); }).find("hashgrid"),
            std::string::npos);
}

TEST(IbrNetwork, InferenceTakesTheRenderSampleCountsTrainingItsOwn) {
  // n_coarse_render / n_fine_render: a render at inference takes them; a training render keeps n_coarse / n_fine;
  // the weights are the same network either way.
  IbrConfig config = small_ibr_config();
  config.fine_min_opacity = 0;
  const IbrNetwork trained(config);
  IbrConfig fewer = config;
  fewer.n_coarse_render = config.n_coarse - 2;
  fewer.n_fine_render = config.n_fine + 1;
  IbrNetwork renderer(fewer);
  renderer.load_state(trained.state(), "test");
  IbrConfig as_trained_with_fewer = config;  // a network trained with the render counts: what inference must equal
  as_trained_with_fewer.n_coarse = fewer.n_coarse_render;
  as_trained_with_fewer.n_fine = fewer.n_fine_render;
  IbrNetwork reference(as_trained_with_fewer);
  reference.load_state(trained.state(), "test");
  at::NoGradGuard no_grad;
  const IbrSources src = ibr_test_sources(trained, at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(4)));
  const IbrRays rays = ibr_test_rays(16);
  const at::Tensor bg = at::full({16, 3}, 0.5f);
  const IbrRenderOutput inference = renderer.render(rays, src, bg, false, 0);
  EXPECT_EQ(inference.ts.size(1), fewer.n_coarse_render + fewer.n_fine_render);
  EXPECT_TRUE(at::equal(inference.rgb, reference.render(rays, src, bg, false, 0).rgb));
  EXPECT_FALSE(at::allclose(inference.rgb, trained.render(rays, src, bg, false, 0).rgb));
  const IbrRenderOutput training = renderer.render(rays, src, bg, true, 1);
  EXPECT_EQ(training.ts.size(1), config.n_coarse + config.n_fine);
  EXPECT_TRUE(at::equal(training.rgb, trained.render(rays, src, bg, true, 1).rgb));
}

TEST(IbrRayBounds, EnterAndLeaveTheBox) {
  const at::Tensor origins = at::tensor({-3.f, 0.f, 0.f, -3.f, 5.f, 0.f, 0.f, 0.f, 0.f}).reshape({3, 3});
  const at::Tensor dirs = at::tensor({1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f}).reshape({3, 3});
  const auto [near, far] = ray_box_bounds(origins, dirs, Eigen::Vector3f(-1, -1, -1), Eigen::Vector3f(1, 1, 1), 1.0f);
  EXPECT_NEAR(near[0].item<float>(), 2.0f, 1e-5);  // enters at x = -1
  EXPECT_NEAR(far[0].item<float>(), 4.0f, 1e-5);   // leaves at x = +1
  EXPECT_NEAR((far[1] - near[1]).item<float>(), 0.0f, 1e-6);  // passes above the box: empty
  EXPECT_NEAR(near[2].item<float>(), 0.0f, 1e-6);  // starts inside
  EXPECT_NEAR(far[2].item<float>(), 1.0f, 1e-5);
  const auto [near2, far2] = ray_box_bounds(origins, dirs, Eigen::Vector3f(-1, -1, -1), Eigen::Vector3f(1, 1, 1), 2.0f);
  EXPECT_NEAR(near2[0].item<float>(), 1.0f, 1e-5);
  EXPECT_NEAR(far2[0].item<float>(), 5.0f, 1e-5);
}

TEST(IbrNetwork, SeededInitAndStateRoundTrip) {
  const IbrNetwork a(small_ibr_config()), b(small_ibr_config());
  for (const auto& [name, t] : a.state()) EXPECT_TRUE(at::equal(t, b.state().at(name))) << name;
  IbrConfig other = small_ibr_config();
  other.seed = 1;
  IbrNetwork c(other);
  EXPECT_FALSE(at::equal(c.state().at("view_mlp.weight0"), a.state().at("view_mlp.weight0")));
  c.load_state(a.state(), "a");
  for (const auto& [name, t] : a.state()) EXPECT_TRUE(at::equal(t, c.state().at(name))) << name;
  TensorMap broken = a.state();
  broken.erase("attn.key.weight0");
  EXPECT_NE(test::error_of([&] { c.load_state(broken, "w.safetensors"); }).find("attn.key.weight0"), std::string::npos);
}

TEST(IbrNetwork, BlendOfEqualSourcesIsThatColourAndUnseenPointsAreEmpty) {
  const IbrNetwork net(small_ibr_config());
  at::NoGradGuard no_grad;
  const at::Tensor colour = at::tensor({0.2f, 0.5f, 0.7f});
  const IbrSources src = ibr_test_sources(net, colour.reshape({1, 3, 1, 1}).expand({3, 3, 16, 16}).contiguous());
  // Points near the origin are seen by every camera; a point behind all of them by none.
  const at::Tensor pts = at::tensor({0.f, 0.f, 0.f, 0.1f, -0.2f, 0.1f, 30.f, 12.f, 2.f}).reshape({3, 3});
  const at::Tensor dirs = at::tensor({1.f, 0.f, 0.f}).expand({3, 3}).contiguous();
  const IbrNetwork::PointOutput p = net.points(pts, dirs, src);
  EXPECT_TRUE(p.valid[0].item<bool>());
  EXPECT_TRUE(p.valid[1].item<bool>());
  EXPECT_FALSE(p.valid[2].item<bool>());
  EXPECT_LT((p.rgb.narrow(0, 0, 2) - colour).abs().max().item<float>(), 1e-5);
  EXPECT_EQ(p.sigma_point[2].item<float>(), 0.0f);
  EXPECT_EQ(p.rgb[2].abs().sum().item<float>(), 0.0f);
}

TEST(IbrNetwork, RenderIsCompositedAndGradientsReachTheEncoder) {
  const IbrNetwork net(small_ibr_config());
  const IbrSources src = ibr_test_sources(net, at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(1)));
  IbrRays rays = ibr_test_rays(24);
  // One ray that misses the box entirely: pure background.
  rays.origins = rays.origins.clone();
  rays.origins[0] = at::tensor({0.f, 0.f, 10.f});
  rays.dirs = rays.dirs.clone();
  rays.dirs[0] = at::tensor({0.f, 0.f, 1.f});
  SceneFrame frame;
  std::tie(rays.near, rays.far) = ray_box_bounds(rays.origins, rays.dirs, frame.aabb_min, frame.aabb_max, 1.0f);
  const at::Tensor bg = at::full({24, 3}, 0.25f);
  const IbrRenderOutput out = net.render(rays, src, bg, true, 7);
  EXPECT_EQ(out.rgb.sizes(), (std::vector<int64_t>{24, 3}));
  EXPECT_EQ(out.ts.size(1), 12);
  EXPECT_TRUE(at::all(out.opacity.ge(0)).item<bool>());
  EXPECT_TRUE(at::all(out.opacity.le(1.0001)).item<bool>());
  EXPECT_LT((out.rgb[0] - 0.25f).abs().max().item<float>(), 1e-6);
  EXPECT_EQ(out.opacity[0].item<float>(), 0.0f);
  // Samples sorted along each ray, inside [near, far].
  EXPECT_TRUE(at::all((out.ts.narrow(1, 1, 11) - out.ts.narrow(1, 0, 11)).ge(0)).item<bool>());
  (out.rgb.sum() + out.rgb_coarse.sum() + out.rgb_point.sum()).backward();
  for (const auto& [name, t] : net.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<float>(), 0.0f) << name;
  }
  // Inference is deterministic.
  at::NoGradGuard no_grad;
  const IbrRenderOutput a = net.render(rays, src, bg, false, 1), b = net.render(rays, src, bg, false, 2);
  EXPECT_TRUE(at::equal(a.rgb, b.rgb));
}

// The fused inference kernel (kernels/ibr_aggregate.h) against the LibTorch path it replaces, on a network whose
// biases are not zero, with points seen by all, some and none of the views (behind cameras, outside images) and a
// partial last block. `config` picks the layer widths: the small one runs the narrow layers as dot products, the
// default one through the register tiles.
void expect_fused_matches_reference(const IbrConfig& config) {
  const IbrNetwork net(config);
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (const auto& [name, t] : net.named_parameters())
    if (name.find("bias") != std::string::npos) t.uniform_(-0.3, 0.3, gen);
  const int64_t V = 4, side = 24, C = config.encoder.out_channels;
  IbrSources src;
  std::vector<Camera> cams;
  for (int v = 0; v < V; ++v) cams.push_back(ibr_test_camera(0.5 * v, side));
  src.cameras = SourceCameraBatch::from_cameras(cams);
  src.colours = at::rand({V, side, side, 3}, gen);
  src.features = at::randn({V, side / 4, side / 4, C}, gen);
  const int64_t n = 301;
  at::Tensor pts = (at::rand({n, 3}, gen) - 0.5f) * 9.0f;  // many beyond the cameras (radius 3): partly unseen
  pts[0] = at::tensor({40.f, 0.f, 0.f});                   // behind every camera
  at::Tensor dirs = at::randn({n, 3}, gen);
  dirs = (dirs / dirs.norm(2, 1, true)).contiguous();
  const IbrNetwork::PointOutput ref = net.points_reference(pts, dirs, src);
  const IbrNetwork::PointOutput fused = net.points_fused(pts, dirs, src);
  EXPECT_TRUE(at::equal(fused.valid, ref.valid));
  const int64_t seen = ref.valid.sum().item<int64_t>();
  EXPECT_GT(seen, n / 4);
  EXPECT_LT(seen, n);
  EXPECT_TRUE(at::allclose(fused.z, ref.z, 1e-4, 1e-5)) << (fused.z - ref.z).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(fused.sigma_point, ref.sigma_point, 1e-4, 1e-5))
      << (fused.sigma_point - ref.sigma_point).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(fused.rgb, ref.rgb, 1e-4, 1e-5)) << (fused.rgb - ref.rgb).abs().max().item<float>();
  EXPECT_GT(ref.z.abs().sum().item<float>(), 0.0f);
  // The thread count does not change a bit; points() without gradients is the fused path.
  const int threads = parallel_threads();
  set_parallel_threads(1);
  const IbrNetwork::PointOutput one = net.points_fused(pts, dirs, src);
  set_parallel_threads(threads);
  EXPECT_TRUE(at::equal(one.z, fused.z));
  EXPECT_TRUE(at::equal(one.rgb, fused.rgb));
  EXPECT_TRUE(at::equal(net.points(pts, dirs, src).z, fused.z));
  // The per-view stage (GNeSF's vote reads it) through the kernel and through LibTorch ops.
  const IbrViewFeatures vr = net.view_features_reference(pts, dirs, src);
  const IbrViewFeatures vf = net.view_features_fused(pts, dirs, src);
  EXPECT_TRUE(at::equal(vf.valid, vr.valid));
  EXPECT_TRUE(at::equal(vf.seen, vr.seen));
  const at::Tensor v = vr.valid;
  EXPECT_TRUE(at::allclose(vf.uv * v, vr.uv * v, 1e-4, 1e-3)) << (vf.uv * v - vr.uv * v).abs().max().item<float>();
  for (const auto& [name, a, b] : {std::make_tuple("g", vf.g, vr.g), std::make_tuple("visibility", vf.visibility, vr.visibility),
                                   std::make_tuple("ray_diff", vf.ray_diff, vr.ray_diff),
                                   std::make_tuple("source_dirs", vf.source_dirs, vr.source_dirs),
                                   std::make_tuple("distance", vf.distance, vr.distance), std::make_tuple("z", vf.z, vr.z)})
    EXPECT_TRUE(at::allclose(a, b, 1e-4, 1e-5)) << name << " " << (a - b).abs().max().item<float>();
}

TEST(IbrFused, MatchesReferenceSmallWidths) { expect_fused_matches_reference(small_ibr_config()); }

TEST(IbrFused, MatchesReferenceDefaultWidths) { expect_fused_matches_reference(IbrConfig{}); }

TEST(IbrFused, RayDensityMatchesReference) {
  // Rays with all, some and none of their samples valid; S = 12 (not a multiple of the 16-wide tiles) and S = 48.
  for (const int64_t S : {12, 48}) {
    IbrConfig config;
    config.point_features = S == 12 ? 8 : 16;
    const IbrNetwork net(config);
    at::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
    for (const auto& [name, t] : net.named_parameters())
      if (name.find("bias") != std::string::npos) t.uniform_(-0.3, 0.3, gen);
    const int64_t R = 21, D = config.point_features;
    const at::Tensor z = at::relu(at::randn({R, S, D}, gen));
    const at::Tensor t_rel = std::get<0>(at::sort(at::rand({R, S}, gen), 1));
    at::Tensor valid = at::rand({R, S}, gen).gt(0.3);
    valid[0].fill_(false);
    valid[1].fill_(true);
    const at::Tensor ref = net.ray_density_reference(z, t_rel, valid);
    const at::Tensor fused = net.ray_density_fused(z, t_rel, valid);
    EXPECT_TRUE(at::allclose(fused, ref, 1e-4, 1e-5)) << S << ": " << (fused - ref).abs().max().item<float>();
    EXPECT_EQ(fused[0].abs().sum().item<float>(), 0.0f);
    EXPECT_GT(ref.sum().item<float>(), 0.0f);
  }
}

TEST(IbrFused, RenderMatchesReference) {
  // A whole render (coarse + fine, ray attention) with the kernel against the same render through the reference.
  const IbrNetwork net(small_ibr_config());
  at::NoGradGuard no_grad;
  const IbrSources src = ibr_test_sources(net, at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(5)));
  const IbrRays rays = ibr_test_rays(40);
  const at::Tensor bg = at::full({40, 3}, 0.5f);
  const IbrRenderOutput fused = net.render(rays, src, bg, false, 0);
  at::Tensor ref_rgb;
  {
    at::AutoGradMode grad(true);  // parameters require grad: points() takes the reference path
    ref_rgb = net.render(rays, src, bg, false, 0).rgb.detach();
  }
  EXPECT_TRUE(at::allclose(fused.rgb, ref_rgb, 1e-4, 1e-5)) << (fused.rgb - ref_rgb).abs().max().item<float>();
}

TEST(IbrFused, Bf16LayersRenderCloseToTheFloatRender) {
  // `--layer-precision bf16`: the kernel's linear layers in bfloat16 (inputs and weights rounded, float sums) change
  // the render by a little — and do change it (the layers really run in bf16).
  const IbrNetwork net(IbrConfig{});
  at::NoGradGuard no_grad;
  const IbrSources src = ibr_test_sources(net, at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(5)));
  const IbrRays rays = ibr_test_rays(40);
  const at::Tensor bg = at::full({40, 3}, 0.5f);
  const at::Tensor fp32 = net.render(rays, src, bg, false, 0).rgb;
  at::Tensor bf16;
  {
    kernels::ScopedLayerPrecision scoped(Precision::BFloat16);
    bf16 = net.render(rays, src, bg, false, 0).rgb;
  }
  const float diff = (bf16 - fp32).abs().max().item<float>();
  EXPECT_LT(diff, 2e-3f) << diff;  // measured 2.7e-4 (colours in [0, 1])
  EXPECT_GT(diff, 0.0f);
  // The setting is restored after the scope: the float render again, bit for bit.
  EXPECT_TRUE(at::equal(net.render(rays, src, bg, false, 0).rgb, fp32));
}

TEST(IbrNetwork, NearlyEmptyRaysSkipTheFinePassAtInference) {
  // fine_min_opacity: rays whose coarse opacity is at most it keep the coarse result (with empty fine slots); the
  // others are exactly what they are without the skip.
  IbrConfig config = small_ibr_config();
  config.fine_min_opacity = 0;
  const IbrNetwork all(config);
  at::NoGradGuard no_grad;
  const IbrSources src = ibr_test_sources(all, at::rand({3, 3, 16, 16}, at::make_generator<at::CPUGeneratorImpl>(4)));
  const IbrRays rays = ibr_test_rays(32);
  const at::Tensor bg = at::full({32, 3}, 0.5f);
  const IbrRenderOutput full = all.render(rays, src, bg, false, 0);
  // A threshold at the median coarse opacity: about half of the rays skip.
  const at::Tensor coarse_opacity = [&] {
    IbrConfig c = config;
    c.n_fine = 0;
    IbrNetwork coarse_only(c);
    coarse_only.load_state(all.state(), "test");
    return coarse_only.render(rays, src, bg, false, 0).opacity;
  }();
  config.fine_min_opacity = coarse_opacity.median().item<double>();
  IbrNetwork skipping(config);
  skipping.load_state(all.state(), "test");
  const IbrRenderOutput part = skipping.render(rays, src, bg, false, 0);
  const at::Tensor skipped = coarse_opacity.le(config.fine_min_opacity);
  const int64_t n_skipped = skipped.sum().item<int64_t>();
  ASSERT_GT(n_skipped, 0);
  ASSERT_LT(n_skipped, 32);
  EXPECT_EQ(part.ts.sizes(), full.ts.sizes());
  EXPECT_TRUE(at::allclose(part.rgb.index({skipped}), full.rgb_coarse.index({skipped})));
  EXPECT_TRUE(at::allclose(part.rgb.index({~skipped}), full.rgb.index({~skipped}), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(part.rgb_coarse, full.rgb_coarse));
  EXPECT_EQ(part.weights.index({skipped}).narrow(1, config.n_coarse, config.n_fine).abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(at::all((part.ts.narrow(1, 1, 11) - part.ts.narrow(1, 0, 11)).ge(0)).item<bool>());
  EXPECT_LT(part.n_samples, full.n_samples);
}

TEST(IbrSpreadViews, DistinctAndAroundTheScene) {
  std::vector<Camera> cams;
  for (int i = 0; i < 12; ++i) cams.push_back(ibr_test_camera(2 * M_PI * i / 12, 16));
  const std::vector<int> chosen = spread_views(cams, 4);
  ASSERT_EQ(chosen.size(), 4u);
  std::set<int> unique(chosen.begin(), chosen.end());
  EXPECT_EQ(unique.size(), 4u);
  // Four views spread over a circle of twelve: consecutive picks are never neighbours.
  for (size_t i = 1; i < chosen.size(); ++i) EXPECT_GE(std::abs(chosen[i] - chosen[0]) % 12, 2);
  EXPECT_EQ(spread_views(cams, 40).size(), 12u);
}

TEST(ModelRegistry, KnownTypesAndClearErrors) {
  EXPECT_EQ(find_model_type("hashgrid").key, "hashgrid");
  EXPECT_TRUE(find_model_type("ibr").image_conditioned);
  const std::string error = test::error_of([] { find_model_type("nerfacto"); });
  EXPECT_NE(error.find("nerfacto"), std::string::npos);
  EXPECT_NE(error.find("ibr"), std::string::npos);
  ModelBinding binding;
  binding.origin = "m.safetensors";
  binding.config = to_json(small_ibr_config());
  EXPECT_NE(test::error_of([&] { create_model("ibr", binding); }).find("needs the scene"), std::string::npos);
  EXPECT_NE(test::error_of([] { create_trainable_model("hashgrid", nlohmann::json::object(), "x"); }).find("per scene"),
            std::string::npos);
}

TEST(ModelFile, RoundTripListAndResolve) {
  test::TempDir tmp;
  const auto trainable = create_trainable_model("ibr", to_json(small_ibr_config()), "test");
  ModelFile m;
  m.name = "tiny";
  m.type = "ibr";
  m.config = trainable->config_json();
  m.weights = trainable->state();
  m.info = {{"trained_on", {{"train_scenes", 3}}}};
  write_model_file(tmp / "tiny.safetensors", m);
  test::write_text(tmp / "other.safetensors", "not a model");
  const ModelFile back = read_model_file(tmp / "tiny.safetensors");
  EXPECT_EQ(back.name, "tiny");
  EXPECT_EQ(back.type, "ibr");
  EXPECT_EQ(back.config, m.config);
  for (const auto& [name, t] : m.weights) EXPECT_TRUE(at::equal(t, back.weights.at(name))) << name;
  const auto listed = list_models(tmp.path());
  ASSERT_EQ(listed.size(), 1u);  // the broken file is skipped with a warning
  EXPECT_EQ(listed[0].info["trained_on"]["train_scenes"], 3);
  EXPECT_EQ(resolve_model("tiny", tmp.path()), tmp / "tiny.safetensors");
  EXPECT_NE(test::error_of([&] { resolve_model("huge", tmp.path()); }).find("tiny"), std::string::npos);
  EXPECT_NE(test::error_of([&] { read_model_file(tmp / "other.safetensors"); }).find("other.safetensors"),
            std::string::npos);
}

}  // namespace
}  // namespace semfield
