// GNeSF (models/gnesf): the soft vote against hand-computed blends, invalid and occluded views, label sets of any
// size, the background term, config and registry.
#include <cmath>

#include <ATen/ATen.h>
#include <Eigen/Geometry>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/models/gnesf/gnesf_model.h"
#include "semfield/models/registry.h"
#include "support/small_models.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

GnesfConfig small_gnesf_config(GnesfVote vote = GnesfVote::Probability) {
  GnesfConfig c;
  c.radiance = test::small_ibr_config();
  c.vote = vote;
  c.vote_hidden = 8;
  c.direct_classes = 5;
  return c;
}

/// Per-view features of n samples in v views, filled with seeded values, projections at pixel centres of side x side
/// maps, `valid` as given.
IbrViewFeatures toy_features(const GnesfConfig& c, int64_t v, int64_t n, const at::Tensor& valid, int side) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  IbrViewFeatures f;
  f.valid = valid.reshape({v, n, 1}).to(at::kFloat);
  f.g = at::rand({v, n, c.radiance.view_features}, gen);
  f.z = at::rand({n, c.radiance.point_features}, gen);
  f.source_dirs = at::rand({v, n, 3}, gen);
  f.distance = at::rand({v, n, 1}, gen) + 1.0f;
  f.ray_diff = at::rand({v, n, 4}, gen);
  f.visibility = f.valid / f.valid.sum(0, true).clamp_min(1.0f);
  f.uv = (at::randint(side, {v, n, 2}, gen).to(at::kFloat) + 0.5f);
  f.seen = f.valid.sum(0).reshape({n}).gt(0);
  return f;
}

TEST(GnesfVote, WeightsMatchAHandComputedSoftmaxOverValidVisibleViews) {
  // 3 views, 2 samples. Sample 0: view 2 does not see it. Sample 1: view 1 is occluded (gate logit -40).
  const at::Tensor scores = at::tensor({1.f, 2.f, 0.f, -1.f, 3.f, 0.f}).reshape({3, 2, 1});
  const at::Tensor gates = at::tensor({0.f, 0.f, 0.f, -40.f, 0.f, 0.f}).reshape({3, 2, 1});
  const at::Tensor valid = at::tensor({1.f, 1.f, 1.f, 1.f, 0.f, 1.f}).reshape({3, 2, 1});
  const at::Tensor w = soft_vote_weights(scores, gates, valid);
  const double e = std::exp(1.0);
  EXPECT_NEAR(w[0][0][0].item<double>(), e / (e + 1), 1e-6);
  EXPECT_NEAR(w[1][0][0].item<double>(), 1 / (e + 1), 1e-6);
  EXPECT_EQ(w[2][0][0].item<float>(), 0.0f);  // invalid: exactly zero
  EXPECT_LT(w[1][1][0].item<double>(), 1e-15);  // occluded: its weight goes to the others
  EXPECT_NEAR(w[0][1][0].item<double>(), e * e / (e * e + 1), 1e-6);
  EXPECT_NEAR(w[2][1][0].item<double>(), 1 / (e * e + 1), 1e-6);
  // Without the gate the occluded view votes by its score.
  const at::Tensor plain = soft_vote_weights(scores, at::Tensor(), valid);
  EXPECT_NEAR(plain[1][1][0].item<double>(), std::exp(-1.0) / (e * e + std::exp(-1.0) + 1), 1e-6);
  // No valid view: no vote.
  EXPECT_EQ(soft_vote_weights(scores, gates, at::zeros_like(valid)).abs().sum().item<float>(), 0.0f);
}

TEST(GnesfVote, PointSemanticsBlendTheViewsMapsAtTheProjections) {
  const int64_t v = 4, n = 6, k = 5;
  const int side = 8;
  at::Tensor valid = at::ones({v, n});
  valid[1][2] = 0;
  valid[3][4] = 0;
  valid.select(1, 5).zero_();  // sample 5: seen by no view
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const SemanticMaps maps{at::softmax(at::randn({v, side, side, k}, gen), -1).contiguous()};
  const SourceCameraBatch cams = SourceCameraBatch::from_cameras(
      {test::orbit_camera(0, side), test::orbit_camera(0.3, side), test::orbit_camera(0.6, side),
       test::orbit_camera(0.9, side)});
  for (GnesfVote vote : {GnesfVote::Probability, GnesfVote::Logit}) {
    const GnesfNetwork net(small_gnesf_config(vote));
    const IbrViewFeatures f = toy_features(net.config(), v, n, valid, side);
    const at::Tensor w = net.vote_weights(f);
    EXPECT_TRUE(at::allclose(w.sum(0).squeeze(1), at::tensor({1.f, 1.f, 1.f, 1.f, 1.f, 0.f}), 1e-5, 1e-6));
    EXPECT_EQ(w[1][2][0].item<float>(), 0.0f);
    EXPECT_EQ(w[3][4][0].item<float>(), 0.0f);
    const at::Tensor s = net.point_semantics(f, maps, cams);
    ASSERT_EQ(s.sizes(), (at::IntArrayRef{n, k}));
    for (int64_t i = 0; i < n; ++i) {
      at::Tensor expected = at::zeros({k});
      for (int64_t j = 0; j < v; ++j) {
        const auto x = static_cast<int64_t>(f.uv[j][i][0].item<float>()), y = static_cast<int64_t>(f.uv[j][i][1].item<float>());
        const at::Tensor p = maps.probs[j][y][x];  // a pixel centre: bilinear sampling gives the pixel
        expected += w[j][i][0] * (vote == GnesfVote::Probability ? p : at::log(p + 1e-2f));
      }
      if (vote == GnesfVote::Logit) expected = i == 5 ? at::zeros({k}) : at::softmax(expected, 0);
      EXPECT_TRUE(at::allclose(s[i], expected, 1e-5, 1e-6)) << gnesf_vote_name(vote) << " sample " << i;
    }
  }
}

TEST(GnesfVote, LabelSetsOfAnySizeAreVotedOnAlike) {
  // The same scene with its ids renamed (k -> 3k + 2, 4 classes -> 14): the rendered semantics are the same numbers in
  // the renamed channels and zero in the others. The head never sees a class id.
  const GnesfNetwork net(small_gnesf_config());
  const int side = 16;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
  std::vector<Camera> cams;
  for (int i = 0; i < 3; ++i) cams.push_back(test::orbit_camera(0.4 * i, side));
  const IbrSources sources = net.radiance().prepare(cams, at::rand({3, 3, side, side}, gen));
  const at::Tensor ids = at::randint(-1, 4, {3, side, side}, gen);
  const at::Tensor renamed = at::where(ids.ge(0), ids * 3 + 2, ids);
  const Camera target = test::orbit_camera(0.5, side);
  const at::Tensor origin = at::tensor({float(target.origin().x()), float(target.origin().y()), float(target.origin().z())});
  at::Tensor dirs = -origin.expand({64, 3}) + 0.5f * (at::rand({64, 3}, gen) - 0.5f);
  dirs = dirs / dirs.norm(2, 1, true);
  const IbrRays rays = ibr_rays(origin.expand({64, 3}).contiguous(), dirs.contiguous(), SceneFrame{}, 4.0);
  at::NoGradGuard no_grad;
  const at::Tensor a =
      net.render(rays, sources, semantic_maps_from_ids(ids, 4), at::ones({64, 3}), false, 0, 1e-5f).semantics;
  const at::Tensor b =
      net.render(rays, sources, semantic_maps_from_ids(renamed, 14), at::ones({64, 3}), false, 0, 1e-5f).semantics;
  ASSERT_EQ(a.size(1), 4);
  ASSERT_EQ(b.size(1), 14);
  const at::Tensor channels = at::tensor({2L, 5L, 8L, 11L});
  EXPECT_TRUE(at::allclose(b.index_select(1, channels), a, 1e-5, 1e-6));
  const at::Tensor others = at::tensor({0L, 1L, 3L, 4L, 6L, 7L, 9L, 10L, 12L, 13L});
  EXPECT_EQ(b.index_select(1, others).abs().max().item<float>(), 0.0f);
  EXPECT_GT(a.sum(1).min().item<float>(), 0.2f);  // the vote and the background cover the rays
  // Only each ray's heaviest samples (inference): scaled to the ray's opacity, every ray keeps its whole mass (with
  // fully labelled maps, 1).
  const SemanticMaps labelled = semantic_maps_from_ids(ids.clamp_min(0), 4);
  const at::Tensor few = net.render(rays, sources, labelled, at::ones({64, 3}), false, 0, 1e-5f, 3).semantics;
  EXPECT_TRUE(at::allclose(few.sum(1), at::ones({64}), 1e-4, 1e-5));
}

TEST(GnesfVote, BackgroundIsWhatTheMapsShowAlongTheirBorders) {
  const GnesfNetwork net(small_gnesf_config());
  at::Tensor ids = at::full({2, 32, 32}, 1, at::kLong);  // class 1 inside
  ids.narrow(1, 0, 1).fill_(3);                          // a one-pixel frame of class 3 (band = 32 / 32 = 1)
  ids.narrow(1, 31, 1).fill_(3);
  ids.narrow(2, 0, 1).fill_(3);
  ids.narrow(2, 31, 1).fill_(3);
  const at::Tensor bg = net.background_semantics(2, semantic_maps_from_ids(ids, 4));
  ASSERT_EQ(bg.sizes(), (at::IntArrayRef{2, 4}));
  EXPECT_NEAR(bg[0][3].item<float>(), 1.0f, 1e-6);
  GnesfConfig direct = small_gnesf_config(GnesfVote::Direct);
  EXPECT_EQ(GnesfNetwork(direct).background_semantics(3, semantic_maps_from_ids(ids, 4)).size(1), 5);
}

TEST(GnesfLoss, CrossEntropyNormalisesRowsAndIgnoresUnlabelled) {
  const at::Tensor p = at::tensor({0.2f, 0.2f, 0.0f, 0.5f, 0.25f, 0.25f}).reshape({2, 3});
  const at::Tensor ids = at::tensor({1L, -1L});
  EXPECT_NEAR(semantic_cross_entropy(p, ids).item<double>(), -std::log(0.5), 1e-6);
  EXPECT_NEAR(semantic_cross_entropy(p, at::tensor({-1L, 7L})).item<double>(), 0.0, 1e-9);
}

TEST(GnesfConfig, JsonRoundTripAndErrorsNameTheKey) {
  GnesfConfig c = small_gnesf_config(GnesfVote::Logit);
  c.visibility = false;
  c.label_severity_min = 0.2;
  c.label_severity_max = 0.9;
  EXPECT_EQ(to_json(gnesf_config_from_json(to_json(c), "g.json")), to_json(c));
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"votes", "prob"}}, "g.json"); }).find("votes"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"vote", "max"}}, "g.json"); }).find("vote"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"radiance", {{"n_coarse", 1}}}}, "g.json"); }).find("n_coarse"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { gnesf_config_from_json({{"label_severity", {1.0, 0.5}}}, "g.json"); })
                .find("label_severity"),
            std::string::npos);
}

TEST(GnesfModelType, RegisteredAndInitialisedFromAnIbrModel) {
  const ModelType& type = find_model_type("gnesf");
  EXPECT_TRUE(type.image_conditioned);
  EXPECT_TRUE(type.semantic_maps);
  EXPECT_FALSE(find_model_type("ibr").semantic_maps);
  auto model = create_trainable_model("gnesf", to_json(small_gnesf_config()), "cfg");
  EXPECT_TRUE(model->label_inputs().needed);
  // Only the head trains (the radiance network is frozen by default).
  EXPECT_EQ(model->parameters().size(), GnesfNetwork(small_gnesf_config()).parameters().size());
  const IbrNetwork ibr(test::small_ibr_config());
  IbrConfig other_seed = test::small_ibr_config();
  other_seed.seed = 5;
  const IbrNetwork trained(other_seed);
  model->initialise_from("ibr", to_json(test::small_ibr_config()), trained.state(), "ibr.safetensors");
  EXPECT_TRUE(at::equal(model->state().at("radiance.view_mlp.weight0"), trained.state().at("view_mlp.weight0")));
  // A file that renders with other inference settings (as ibr-synth does) fits: they are not the network's shape.
  IbrConfig renders_differently = test::small_ibr_config();
  renders_differently.n_coarse_render = 3;
  renders_differently.n_fine_render = 2;
  renders_differently.fine_min_opacity = 0.01;
  renders_differently.encode_size = 128;
  model->initialise_from("ibr", to_json(renders_differently), trained.state(), "ibr.safetensors");
  IbrConfig wider = test::small_ibr_config();
  wider.view_hidden = 32;
  EXPECT_NE(test::error_of([&] { model->initialise_from("ibr", to_json(wider), trained.state(), "ibr.safetensors"); })
                .find("ibr.safetensors"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { model->initialise_from("hashgrid", {}, {}, "h.safetensors"); }).find("hashgrid"),
            std::string::npos);
}

}  // namespace
}  // namespace semfield
