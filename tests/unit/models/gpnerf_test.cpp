// GP-NeRF (models/gpnerf): attention reuse per layer (the semantic field and its rendering use exactly that layer's
// A_FAT / A_RAT), the gradient block on both semantic paths, the S_novel fusion, Eq. 13's masks and loss, class ids by
// name, the perception head's shapes, config and registry.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/core/strings.h"
#include "semfield/data/scene.h"
#include "semfield/data/synth/synth_scene.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/gpnerf/gpnerf_model.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/registry.h"
#include "support/small_models.h"
#include "support/small_scenes.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

GpnerfConfig tiny_gpnerf_config() {
  GpnerfConfig c = test::small_gpnerf_config();
  c.n_fine = 6;
  c.source_views = 3;
  return c;
}

struct ToyScene {
  std::vector<Camera> cameras;
  at::Tensor images;  ///< [V,3,32,32]
  IbrRays rays;
};

/// Three source cameras around the origin with seeded images, and `r` rays from a fourth camera through the box.
ToyScene toy_scene(int64_t r) {
  ToyScene s;
  for (int i = 0; i < 3; ++i) s.cameras.push_back(test::orbit_camera(0.4 * i));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  s.images = at::rand({3, 3, 32, 32}, gen);
  const Camera target = test::orbit_camera(0.2);
  const Eigen::Vector3d o = target.origin();
  std::vector<float> origins, dirs;
  for (int64_t i = 0; i < r; ++i) {
    const Eigen::Vector3d aim(0.3 * std::sin(0.7 * static_cast<double>(i)), 0.3 * std::cos(1.3 * static_cast<double>(i)), 0.1);
    const Eigen::Vector3d d = (aim - o).normalized();
    for (int k = 0; k < 3; ++k) {
      origins.push_back(static_cast<float>(o[k]));
      dirs.push_back(static_cast<float>(d[k]));
    }
  }
  s.rays.origins = at::tensor(origins).view({r, 3});
  s.rays.dirs = at::tensor(dirs).view({r, 3});
  std::tie(s.rays.near, s.rays.far) =
      ray_box_bounds(s.rays.origins, s.rays.dirs, Eigen::Vector3f::Constant(-1), Eigen::Vector3f::Constant(1), 1.0f);
  return s;
}

TEST(GpnerfAttention, EachLayersSemanticsReuseExactlyThatLayersAttention) {
  const GpnerfConfig c = tiny_gpnerf_config();
  const GpnerfNetwork net(c);
  const ToyScene toy = toy_scene(5);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const GpnerfRenderOutput out = net.render(toy.rays, src, at::ones({5, 3}), false, 0, /*record=*/true);
  ASSERT_EQ(out.view_attention.size(), 2u);
  ASSERT_EQ(out.ray_attention_maps.size(), 2u);
  const int64_t r = 5, s = c.n_fine, d = c.extractor.semantic_channels, w = c.width, h = c.heads;
  // The views' semantic features at the fine samples, gathered here independently.
  const at::Tensor positions = (toy.rays.origins.unsqueeze(1) + toy.rays.dirs.unsqueeze(1) * out.ts.unsqueeze(2)).reshape({-1, 3});
  const Projection proj = project_points(positions, src.cameras);
  const at::Tensor sem = sample_maps(src.semantic.permute({0, 3, 1, 2}), proj.uv, src.cameras.sizes);  // [V,N,D]
  at::Tensor field_sum = at::zeros({r * s, d});
  for (size_t l = 0; l < 2; ++l) {
    const at::Tensor a = out.view_attention[l];  // [V,N,W]
    ASSERT_EQ(a.size(2), w);
    const at::Tensor expected = (sem * a.repeat_interleave(d / w, 2)).sum(0);
    EXPECT_TRUE(at::allclose(out.layer_field[l], expected, 1e-4, 1e-5)) << "layer " << l;
    // The other layer's attention gives another field: the check above can fail.
    const at::Tensor other = (sem * out.view_attention[1 - l].repeat_interleave(d / w, 2)).sum(0);
    EXPECT_GT((other - expected).abs().max().item<float>(), 1e-4f) << "layer " << l;
    // Eq. 7 per head: the layer's ray attention over its own field.
    const at::Tensor b = out.ray_attention_maps[l];  // [R,H,S,S]
    const at::Tensor per_head = out.layer_field[l].view({r, s, h, d / h}).permute({0, 2, 1, 3});
    const at::Tensor rendered = at::matmul(b, per_head).permute({0, 2, 1, 3}).reshape({r, s, d});
    EXPECT_TRUE(at::allclose(out.layer_ray[l], rendered, 1e-4, 1e-5)) << "layer " << l;
    field_sum = field_sum + expected;
  }
  // The semantic field is the sum over layers (the code's per-layer results summed).
  EXPECT_TRUE(at::allclose(out.point_semantic.reshape({r * s, d}), field_sum, 1e-4, 1e-5));
  // Attention weights over the valid views sum to 1 per channel; over the samples of a ray, to 1 per query.
  const at::Tensor total = out.view_attention[0].sum(0);
  EXPECT_NEAR(total.max().item<float>(), 1.0f, 1e-4f);
  EXPECT_TRUE(at::allclose(out.ray_attention_maps[0].sum(-1), at::ones({r, h, s}), 1e-4, 1e-5));
}

/// The network with every bias, LayerNorm and the point head's weights drawn away from their initial values (zero
/// biases and unit norms would hide a bias or a norm the fused kernels drop).
GpnerfNetwork perturbed_network(const GpnerfConfig& c, uint64_t seed) {
  GpnerfNetwork net(c);
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& [name, t] : net.named_parameters()) {
    if (name.rfind("transformer.", 0) != 0 && name.rfind("colour.", 0) != 0) continue;
    if (name.find("bias") != std::string::npos) t.uniform_(-0.3, 0.3, gen);
    if (name.find("norm.weight") != std::string::npos) t.uniform_(0.5, 1.5, gen);
    // the learned blend weights' output layer starts at zero (the attention's weights): make it weigh
    if (name == "transformer.blend.weight1") t.uniform_(-1.0, 1.0, gen);
  }
  return net;
}

/// A render through the fused kernels (no gradient) against the same render through the LibTorch path (parameters
/// requiring grad keep it), with some rays missing the box and samples outside every source view.
void expect_fused_render_matches(GpnerfConfig c) {
  c.fine_min_opacity = 0;  // every ray through the transformers (the skip has its own test)
  const GpnerfNetwork net = perturbed_network(c, 23);
  ToyScene toy = toy_scene(24);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  // Rays 0-1 miss the box (the background path); ray 2 is a short segment inside the box that no source view sees
  // (every key of its ray attention masked): the first point of a seeded draw whose segment towards the target
  // camera projects into no view.
  toy.rays.near[0] = toy.rays.far[0] = 0.0f;
  toy.rays.near[1] = toy.rays.far[1] = 0.0f;
  {
    const at::Tensor o = toy.rays.origins[2];
    const at::Tensor points = at::rand({4000, 3}, at::make_generator<at::CPUGeneratorImpl>(9)) * 1.9f - 0.95f;
    const at::Tensor dist = (points - o).norm(2, 1, true);
    const at::Tensor back = points - (points - o) / dist * 0.1f;
    const at::Tensor unseen = project_points(points, src.cameras).valid.any(0).logical_not() &
                              project_points(back, src.cameras).valid.any(0).logical_not();
    ASSERT_TRUE(unseen.any().item<bool>());
    const int64_t k = at::nonzero(unseen)[0][0].item<int64_t>();
    toy.rays.dirs[2] = (points[k] - o) / dist[k];
    toy.rays.far[2] = dist[k][0];
    toy.rays.near[2] = dist[k][0] - 0.1f;
  }
  const at::Tensor bg = at::full({24, 3}, 0.25f);
  const GpnerfRenderOutput fused = net.render(toy.rays, src, bg, false, 0);
  GpnerfRenderOutput ref;
  {
    at::AutoGradMode grad(true);  // parameters require grad: the reference path
    ref = net.render(toy.rays, src, bg, false, 0);
  }
  EXPECT_FALSE(fused.point_semantic.defined());
  ASSERT_TRUE(ref.point_semantic.defined());
  // A training render without a gradient (validation losses) keeps every output the losses read.
  const GpnerfRenderOutput val = net.render(toy.rays, src, bg, true, 1);
  EXPECT_TRUE(val.point_semantic.defined() && val.ray_attention.defined());
  for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", fused.rgb, ref.rgb},
                                   {"semantic", fused.semantic, ref.semantic},
                                   {"rgb_point", fused.rgb_point, ref.rgb_point},
                                   {"rgb_point_fine", fused.rgb_point_fine, ref.rgb_point_fine},
                                   {"opacity", fused.opacity, ref.opacity},
                                   {"depth", fused.depth, ref.depth},
                                   {"weights", fused.weights, ref.weights},
                                   {"ts", fused.ts, ref.ts}}) {
    const at::Tensor d = b.detach();
    EXPECT_TRUE(at::allclose(a, d, 2e-4, 2e-5)) << name << ": " << (a - d).abs().max().item<float>();
  }
  EXPECT_TRUE(at::equal(fused.valid, ref.valid));
  // The checks see both seen and unseen samples and non-trivial semantics.
  EXPECT_GT(ref.valid.sum().item<int64_t>(), 0);
  EXPECT_LT(ref.valid.sum().item<int64_t>(), ref.valid.numel());
  EXPECT_GT(ref.semantic.detach().std().item<float>(), 1e-3f);
  EXPECT_FALSE(ref.valid[2].any().item<bool>());
}

TEST(GpnerfFused, RenderMatchesReferenceSmallWidths) { expect_fused_render_matches(tiny_gpnerf_config()); }

TEST(GpnerfFused, RenderMatchesReferenceDefaultWidths) {
  GpnerfConfig c;  // W 32, D 64, 4 heads, 32 + 32 samples
  c.classes = synth_class_names();
  c.source_views = 3;
  expect_fused_render_matches(c);
  c.extractor.semantic_channels = 32;  // D = W: one semantic channel per attention channel
  expect_fused_render_matches(c);
}

TEST(GpnerfFused, RenderMatchesReferenceWithOtherFineSampleCounts) {
  // The ray attention's softmax rows in registers for every padded width: 16 (gp-nerf-synth's render), 48, 64; 96
  // and 128 (AVX-512: in registers; AVX2: the scalar loop).
  for (const int fine : {16, 13, 40, 64, 96, 128}) {
    GpnerfConfig c;
    c.classes = synth_class_names();
    c.source_views = 3;
    c.n_fine = fine;
    SCOPED_TRACE(fine);
    expect_fused_render_matches(c);
  }
}

/// `--layer-precision bf16`: colour, semantics and density near the float kernel's (which matches the reference,
/// above), and not equal to them (the layers really run in bf16).
void expect_bf16_render_close(GpnerfConfig c, float rgb_bound, float semantic_bound, float opacity_bound) {
  c.fine_min_opacity = 0;
  const GpnerfNetwork net = perturbed_network(c, 23);
  const ToyScene toy = toy_scene(24);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const at::Tensor bg = at::full({24, 3}, 0.25f);
  const GpnerfRenderOutput fp32 = net.render(toy.rays, src, bg, false, 0);
  GpnerfRenderOutput bf16;
  {
    kernels::ScopedLayerPrecision scoped(Precision::BFloat16);
    bf16 = net.render(toy.rays, src, bg, false, 0);
  }
  for (const auto& [name, a, b, bound] :
       {std::tuple<const char*, at::Tensor, at::Tensor, float>{"rgb", bf16.rgb, fp32.rgb, rgb_bound},
        {"semantic", bf16.semantic, fp32.semantic, semantic_bound},
        {"opacity", bf16.opacity, fp32.opacity, opacity_bound}}) {
    const float diff = (a - b).abs().max().item<float>();
    EXPECT_LT(diff, bound) << name << " " << diff;
    EXPECT_GT(diff, 0.0f) << name;
  }
}

TEST(GpnerfFused, Bf16LayersRenderCloseToTheFloatRender) {
  GpnerfConfig c;  // the default widths: the register paths
  c.classes = synth_class_names();
  c.source_views = 3;
  // Measured: rgb 5.6e-4 (colours in [0, 1]), semantic 3.5e-3 (features up to 2.8), opacity 1.5e-4.
  expect_bf16_render_close(c, 3e-3f, 2e-2f, 1e-3f);
  // Other widths (the generic view attention and softmax). Measured: rgb 1.1e-3, semantic 1.3e-3, opacity 1.0e-3.
  expect_bf16_render_close(tiny_gpnerf_config(), 5e-3f, 1e-2f, 5e-3f);
  // The "ibr" colour's head in bf16 too (its fused kernels, models/ibr). Measured: rgb 9.4e-4.
  c.colour = "ibr";
  expect_bf16_render_close(c, 5e-3f, 2e-2f, 1e-3f);
}

TEST(GpnerfFused, RenderMatchesReferenceWithMlpColourAndOddSampleCount) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "mlp";
  c.n_fine = 19;
  c.layers = 3;
  expect_fused_render_matches(c);
}

TEST(GpnerfFused, RenderMatchesReferenceWithAlphaColour) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "alpha";
  expect_fused_render_matches(c);
  c = GpnerfConfig();
  c.classes = synth_class_names();
  c.source_views = 3;
  c.colour = "alpha";
  expect_fused_render_matches(c);
}

TEST(GpnerfFused, RenderMatchesReferenceWithDensityColour) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "density";
  expect_fused_render_matches(c);
}

TEST(GpnerfFused, RenderMatchesReferenceWithIbrColour) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "ibr";
  expect_fused_render_matches(c);
  c.colour_encoder = "own";  // the head's own encoder over the bin centres and the fine samples
  c.colour_samples = "all";
  expect_fused_render_matches(c);
}

TEST(GpnerfFused, RenderMatchesReferenceWithLearnedBlendWeights) {
  for (const char* colour : {"blend", "alpha", "density"}) {
    GpnerfConfig c = tiny_gpnerf_config();
    c.colour = colour;
    c.blend_weights = "learned";
    expect_fused_render_matches(c);
    c = GpnerfConfig();  // W 32: the attention in registers
    c.classes = synth_class_names();
    c.source_views = 3;
    c.colour = colour;
    c.blend_weights = "learned";
    expect_fused_render_matches(c);
  }
}

TEST(GpnerfNetwork, LearnedBlendWeightsStartAsTheAttentionsAndThenReweighTheViews) {
  // A "learned" network initialised from an "attention" one renders the same colours (the MLP's output layer is zero:
  // every view's factor exp(0) = 1); once that layer weighs, the colours change, and the weights still sum to one
  // over the views (a constant colour in every source view stays that colour).
  GpnerfConfig c = tiny_gpnerf_config();
  c.fine_min_opacity = 0;
  const GpnerfNetwork attention = perturbed_network(c, 31);
  GpnerfConfig cl = c;
  cl.blend_weights = "learned";
  GpnerfCorpusModel learned(cl);
  learned.initialise_from("gp-nerf", to_json(c), attention.state(), "attention.safetensors");
  ToyScene toy = toy_scene(16);
  at::NoGradGuard no_grad;
  const at::Tensor bg = at::full({16, 3}, 0.25f);
  const at::Tensor a = attention.render(toy.rays, attention.prepare(toy.cameras, toy.images), bg, false, 0).rgb;
  const GpnerfNetwork& net = learned.network();
  const at::Tensor b = net.render(toy.rays, net.prepare(toy.cameras, toy.images), bg, false, 0).rgb;
  EXPECT_TRUE(at::allclose(a, b, 1e-5, 1e-6)) << (a - b).abs().max().item<float>();
  for (const auto& [name, t] : net.named_parameters())
    if (name == "transformer.blend.weight1") t.uniform_(-1.0, 1.0, at::make_generator<at::CPUGeneratorImpl>(3));
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const GpnerfRenderOutput moved = net.render(toy.rays, src, bg, false, 0);
  EXPECT_GT((moved.rgb - a).abs().max().item<float>(), 1e-3f);
  GpnerfSources flat = src;
  flat.colours = at::full_like(src.colours, 0.6f);
  GpnerfRenderOutput grey;
  {
    at::AutoGradMode grad(true);  // the reference path, which returns the samples' colours with the blend colour
    grey = net.render(toy.rays, flat, bg, false, 0);
  }
  // per sample: the views' weights sum to 1 where a view sees it, so every seen sample's blend is 0.6
  const at::Tensor seen = grey.valid.unsqueeze(2).expand_as(grey.sample_rgb);
  ASSERT_GT(seen.sum().item<int64_t>(), 0);
  EXPECT_TRUE(at::allclose(grey.sample_rgb.detach().masked_select(seen), at::full({seen.sum().item<int64_t>()}, 0.6f),
                           1e-5, 1e-6));
}

TEST(GpnerfNetwork, AlphaCompositeIsFrontToBackOverTheBackground) {
  // Two rays of three samples: ray 0 with opacities 0.5, 0.5, (unseen: 0); ray 1 with a first sample nearly opaque.
  const at::Tensor logit = at::log(at::tensor({0.5f, 0.5f, 0.9f, 0.999f, 0.5f, 0.5f}).view({2, 3}) /
                                   (1 - at::tensor({0.5f, 0.5f, 0.9f, 0.999f, 0.5f, 0.5f}).view({2, 3})));
  const at::Tensor colours = at::tensor({1.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f,  //
                                         0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f})
                                 .view({2, 3, 3});
  const at::Tensor valid = at::tensor({1, 1, 0, 1, 1, 1}).view({2, 3}).to(at::kBool);
  const at::Tensor bg = at::full({2, 3}, 0.2f);
  const at::Tensor rgb = alpha_composite(logit, colours, valid, bg);
  // Ray 0: 0.5 red + 0.25 green, 0.25 left for the background (the unseen third sample lets everything through).
  const at::Tensor want0 = at::tensor({0.5f + 0.05f, 0.25f + 0.05f, 0.05f});
  // Ray 1: 0.999 blue, then 0.0005 red, 0.00025 green, 0.00025 of the background.
  const at::Tensor want1 = at::tensor({0.0005f + 0.00005f, 0.00025f + 0.00005f, 0.999f + 0.00005f});
  EXPECT_TRUE(at::allclose(rgb[0], want0, 1e-5, 1e-6)) << rgb[0];
  EXPECT_TRUE(at::allclose(rgb[1], want1, 1e-5, 1e-6)) << rgb[1];
  // A gradient reaches every seen sample's score, and none the unseen one's.
  const at::Tensor x = logit.clone().requires_grad_(true);
  alpha_composite(x, colours, valid, bg).sum().backward();
  EXPECT_EQ(x.grad()[0][2].item<float>(), 0.0f);
  EXPECT_NE(x.grad()[0][0].item<float>(), 0.0f);
  EXPECT_NE(x.grad()[1][1].item<float>(), 0.0f);
}

TEST(GpnerfNetwork, DensityColourCompositesTheBlendsWithThePointHeadsDensity) {
  // "density": the ray's colour is the samples' blended colours composited with the weights the point head's density
  // gives over the fine samples (the same weights as rgb_point_fine, the point head's own colours) over the background.
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "density";
  const GpnerfNetwork net(c);
  const ToyScene toy = toy_scene(8);
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const at::Tensor bg = at::rand({toy.rays.origins.size(0), 3});
  for (bool train : {false, true}) {
    at::AutoGradMode grad(true);  // the reference path keeps the per-sample colours
    const GpnerfRenderOutput out = net.render(toy.rays, src, bg, train, 2);
    ASSERT_TRUE(out.sample_rgb.defined() && out.weights.defined());
    const at::Tensor want =
        (out.weights.unsqueeze(2) * out.sample_rgb).sum(1) + (1.0f - out.opacity).unsqueeze(1) * bg;
    EXPECT_TRUE(at::allclose(out.rgb, want, 1e-5, 1e-6)) << (out.rgb - want).abs().max().item<float>();
    EXPECT_GT(out.opacity.max().item<float>(), 1e-3f);
    if (train) {
      // The colour loss trains the point head's density through the fine samples.
      out.rgb.sum().backward();
      bool density_grad = false;
      for (const auto& [name, t] : net.named_parameters())
        if (name.rfind("transformer.point.", 0) == 0 && t.grad().defined() && t.grad().abs().sum().item<float>() > 0)
          density_grad = true;
      EXPECT_TRUE(density_grad);
    }
  }
}

TEST(GpnerfNetwork, IbrColourIsItsHeadsVolumeRenderingAndLeavesTheSemanticsAlone) {
  // "ibr": the ray's colour is an image-conditioned head (IbrNetwork without its encoder) run on F_rgb and the source
  // colours at the fine samples, composited with its ray density over the background. Initialised from an ibr model
  // its head holds that model's weights; the semantics are the blend model's exactly (the head reads no attention);
  // the colour's gradient reaches the head and the extractor, never the transformers.
  GpnerfConfig cb = tiny_gpnerf_config();
  cb.fine_min_opacity = 0;
  const GpnerfNetwork blend = perturbed_network(cb, 41);
  GpnerfConfig ci = cb;
  ci.colour = "ibr";
  const IbrConfig head_config = GpnerfNetwork::colour_head_config(ci);
  ASSERT_EQ(head_config.encoder.out_channels, ci.extractor.backbone.out_channels);
  IbrConfig donor_config = head_config;
  donor_config.seed = 99;  // other weights than the head's own initialisation
  const IbrNetwork donor(donor_config);
  GpnerfCorpusModel model(ci);
  model.initialise_from("gp-nerf", to_json(cb), blend.state(), "blend.safetensors");  // no colour head: kept
  const TensorMap donor_state = donor.state();
  model.initialise_from("ibr", to_json(donor_config), donor_state, "ibr.safetensors");
  const GpnerfNetwork& net = model.network();
  int64_t head_tensors = 0;
  for (const auto& [name, t] : net.named_parameters()) {
    if (name.rfind("colour.", 0) != 0) continue;
    ASSERT_EQ(name.rfind("colour.encoder.", 0), std::string::npos) << "the head's encoder is not a parameter";
    EXPECT_TRUE(at::equal(t, donor_state.at(name.substr(7)))) << name;
    ++head_tensors;
  }
  EXPECT_GT(head_tensors, 10);
  // The ibr init also gave the extractor's backbone the donor's encoder: give it the blend model's back to compare.
  {
    TensorMap back;
    for (const auto& [name, t] : blend.named_parameters())
      if (name.rfind("extractor.backbone.", 0) == 0) back[name.substr(19)] = t;
    const_cast<GpnerfNetwork&>(net).extractor().backbone().load_state(back, "blend");
  }
  // Every lr_scale key reaches its part: "colour" the head alone.
  ci.lr_scale.colour = 0.125;
  GpnerfCorpusModel scaled(ci);
  const std::vector<double> scales = scaled.lr_scales();
  const auto named = scaled.network().named_parameters();
  ASSERT_EQ(scales.size(), named.size());
  for (size_t i = 0; i < named.size(); ++i)
    EXPECT_EQ(scales[i] == 0.125, named[i].first.rfind("colour.", 0) == 0) << named[i].first;

  ToyScene toy = toy_scene(12);
  const at::Tensor bg = at::full({12, 3}, 0.3f);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const GpnerfRenderOutput out = net.render(toy.rays, src, bg, false, 0);
  const GpnerfRenderOutput ref = blend.render(toy.rays, blend.prepare(toy.cameras, toy.images), bg, false, 0);
  EXPECT_TRUE(at::allclose(out.semantic, ref.semantic, 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(out.ts, ref.ts));
  EXPECT_GT((out.rgb - ref.rgb).abs().max().item<float>(), 1e-3f);
  // The head's volume rendering at the fine samples, computed here from the donor network.
  const int64_t r = 12, s = out.ts.size(1);
  const at::Tensor positions = (toy.rays.origins.unsqueeze(1) + toy.rays.dirs.unsqueeze(1) * out.ts.unsqueeze(2)).reshape({-1, 3});
  const IbrNetwork::PointOutput p = donor.points_reference(
      positions, toy.rays.dirs.unsqueeze(1).expand({r, s, 3}).reshape({-1, 3}), IbrSources{src.cameras, src.colours, src.rgb});
  const at::Tensor span = toy.rays.far - toy.rays.near;
  const at::Tensor sigma = donor.ray_density_reference(p.z.view({r, s, -1}), relative_t(out.ts, toy.rays.near, span),
                                                       p.valid.view({r, s}));
  const at::Tensor want = composite_samples(sigma, p.rgb.view({r, s, 3}), out.ts, out.dts, bg).rgb;
  EXPECT_TRUE(at::allclose(out.rgb, want, 1e-4, 1e-5)) << (out.rgb - want).abs().max().item<float>();
  {
    at::AutoGradMode grad(true);
    const GpnerfSources train_src = net.prepare(toy.cameras, toy.images);
    net.render(toy.rays, train_src, bg, true, 3).rgb.sum().backward();
    bool head = false, extractor = false, transformer = false;
    for (const auto& [name, t] : net.named_parameters()) {
      const bool moved = t.grad().defined() && t.grad().abs().sum().item<float>() > 0;
      if (name.rfind("colour.", 0) == 0) head = head || moved;
      if (name.rfind("extractor.backbone.", 0) == 0) extractor = extractor || moved;
      if (name.rfind("transformer.", 0) == 0) transformer = transformer || moved;
    }
    EXPECT_TRUE(head);
    EXPECT_TRUE(extractor);
    EXPECT_FALSE(transformer);
  }
}

TEST(GpnerfNetwork, IbrColourWithItsOwnEncoderOverAllSamplesIsTheEngineNetworksRendering) {
  // colour_encoder "own" + colour_samples "all": the head encodes the images itself ("colour.encoder.*") and runs over
  // the proposal's bin centres and the fine samples together, sorted (IBRNet's fine pass over coarse + fine samples).
  // Initialised from an ibr model the whole head, encoder included, is that model; the ray's colour is then that
  // network's volume rendering at those samples, computed here from the donor; the semantics stay the blend model's;
  // the colour's gradient reaches the head and its encoder, not the extractor (F_rgb is no longer read) nor the
  // transformers.
  GpnerfConfig cb = tiny_gpnerf_config();
  cb.fine_min_opacity = 0;
  cb.encode_size = 24;  // the toy images' side is other: both encoders resample
  const GpnerfNetwork blend = perturbed_network(cb, 43);
  GpnerfConfig ci = cb;
  ci.colour = "ibr";
  ci.colour_encoder = "own";
  ci.colour_samples = "all";
  IbrConfig donor_config = GpnerfNetwork::colour_head_config(ci);
  EXPECT_EQ(donor_config.encode_size, 24);
  donor_config.seed = 77;
  const IbrNetwork donor(donor_config);
  GpnerfCorpusModel model(ci);
  model.initialise_from("gp-nerf", to_json(cb), blend.state(), "blend.safetensors");
  const TensorMap donor_state = donor.state();
  model.initialise_from("ibr", to_json(donor_config), donor_state, "ibr.safetensors");
  const GpnerfNetwork& net = model.network();
  int64_t encoder_tensors = 0;
  for (const auto& [name, t] : net.named_parameters())
    if (name.rfind("colour.", 0) == 0) {
      EXPECT_TRUE(at::equal(t, donor_state.at(name.substr(7)))) << name;
      encoder_tensors += name.rfind("colour.encoder.", 0) == 0;
    }
  EXPECT_GT(encoder_tensors, 4);
  {  // the extractor's backbone back to the blend model's (the ibr init gave it the donor's encoder too)
    TensorMap back;
    for (const auto& [name, t] : blend.named_parameters())
      if (name.rfind("extractor.backbone.", 0) == 0) back[name.substr(19)] = t;
    const_cast<GpnerfNetwork&>(net).extractor().backbone().load_state(back, "blend");
  }
  ToyScene toy = toy_scene(10);
  const at::Tensor bg = at::full({10, 3}, 0.2f);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  ASSERT_TRUE(src.colour_features.defined());
  const IbrSources donor_src = donor.prepare(toy.cameras, toy.images);
  EXPECT_TRUE(at::allclose(src.colour_features, donor_src.features, 1e-5, 1e-6));
  EXPECT_FALSE(src.colour_features.sizes().equals(src.rgb.sizes()) && at::equal(src.colour_features, src.rgb));
  const GpnerfRenderOutput out = net.render(toy.rays, src, bg, false, 0);
  const GpnerfRenderOutput ref = blend.render(toy.rays, blend.prepare(toy.cameras, toy.images), bg, false, 0);
  EXPECT_TRUE(at::allclose(out.semantic, ref.semantic, 1e-5, 1e-6));
  // The samples: the proposal's n_coarse_render bin centres and the fine samples, sorted.
  const int64_t r = 10, sc = ci.n_coarse_render > 0 ? ci.n_coarse_render : ci.n_coarse;
  const at::Tensor span = toy.rays.far - toy.rays.near;
  const at::Tensor centres =
      toy.rays.near.unsqueeze(1) + span.unsqueeze(1) * (at::arange(sc).to(at::kFloat) + 0.5f).unsqueeze(0) / sc;
  const at::Tensor ts = std::get<0>(at::sort(at::cat({centres, out.ts}, 1), 1));
  const int64_t s = ts.size(1);
  ASSERT_EQ(s, sc + out.ts.size(1));
  const at::Tensor positions = (toy.rays.origins.unsqueeze(1) + toy.rays.dirs.unsqueeze(1) * ts.unsqueeze(2)).reshape({-1, 3});
  const IbrNetwork::PointOutput p = donor.points_reference(
      positions, toy.rays.dirs.unsqueeze(1).expand({r, s, 3}).reshape({-1, 3}), donor_src);
  const at::Tensor sigma = donor.ray_density_reference(p.z.view({r, s, -1}), relative_t(ts, toy.rays.near, span),
                                                       p.valid.view({r, s}));
  const at::Tensor want =
      composite_samples(sigma, p.rgb.view({r, s, 3}), ts, sample_intervals(ts, toy.rays.near, toy.rays.far), bg).rgb;
  EXPECT_TRUE(at::allclose(out.rgb, want, 1e-4, 1e-5)) << (out.rgb - want).abs().max().item<float>();
  // The fine samples alone ("fine", the default) render another colour from the same weights.
  {
    GpnerfConfig cf = ci;
    cf.colour_samples = "fine";
    GpnerfNetwork fine(cf);
    fine.load_state(net.state(), "net");
    EXPECT_GT((fine.render(toy.rays, fine.prepare(toy.cameras, toy.images), bg, false, 0).rgb - out.rgb)
                  .abs().max().item<float>(), 1e-4f);
  }
  {
    at::AutoGradMode grad(true);
    const GpnerfSources train_src = net.prepare(toy.cameras, toy.images);
    net.render(toy.rays, train_src, bg, true, 3).rgb.sum().backward();
    bool head = false, encoder = false, extractor = false, transformer = false;
    for (const auto& [name, t] : net.named_parameters()) {
      const bool moved = t.grad().defined() && t.grad().abs().sum().item<float>() > 0;
      if (name.rfind("colour.encoder.", 0) == 0) encoder = encoder || moved;
      else if (name.rfind("colour.", 0) == 0) head = head || moved;
      if (name.rfind("extractor.", 0) == 0) extractor = extractor || moved;
      if (name.rfind("transformer.", 0) == 0) transformer = transformer || moved;
    }
    EXPECT_TRUE(head);
    EXPECT_TRUE(encoder);
    EXPECT_FALSE(extractor);
    EXPECT_FALSE(transformer);
  }
}

TEST(GpnerfNetwork, RenderColourIsTheTrainingRendersIbrColourWithoutTheTransformers) {
  // render_colour: the training render's proposal and importance samples from the same seed and the "ibr" colour at
  // them (both sample sets, the head's own encoder or F_rgb), rays missing the box showing the background, and the
  // same gradient on every parameter. The proposal there runs without a gradient (the fused kernels): equal up to
  // float rounding.
  for (const auto& [encoder, samples] : std::vector<std::pair<std::string, std::string>>{
           {"own", "fine"}, {"own", "all"}, {"shared", "fine"}}) {
    SCOPED_TRACE(encoder + " " + samples);
    GpnerfConfig c = tiny_gpnerf_config();
    c.colour = "ibr";
    c.colour_encoder = encoder;
    c.colour_samples = samples;
    c.encode_size = 24;
    const GpnerfNetwork net = perturbed_network(c, 47);
    ToyScene toy = toy_scene(10);
    toy.rays.far[3] = toy.rays.near[3];  // a ray missing the box
    const at::Tensor bg = at::rand({10, 3}, at::make_generator<at::CPUGeneratorImpl>(3));
    const GpnerfSources src = net.prepare(toy.cameras, toy.images);
    const at::Tensor want = net.render(toy.rays, src, bg, true, 11).rgb;
    const at::Tensor got = net.render_colour(toy.rays, src, bg, 11);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(at::allclose(got, want, 1e-4, 1e-5)) << (got - want).abs().max().item<float>();
    EXPECT_TRUE(at::equal(got[3], bg[3]));
    EXPECT_GT((net.render_colour(toy.rays, src, bg, 12) - got).abs().max().item<float>(), 1e-5f)
        << "another seed draws other samples";
    // Gradients of a weighted sum: the same on every parameter. The own encoder keeps them in the head; F_rgb takes
    // them into the extractor too; the transformers get none either way.
    const at::Tensor weights = at::rand({10, 3}, at::make_generator<at::CPUGeneratorImpl>(4));
    std::map<std::string, at::Tensor> reference;
    (want * weights).sum().backward();
    for (const auto& [name, t] : net.named_parameters())
      if (t.grad().defined()) {
        reference[name] = t.grad().clone();
        t.mutable_grad().zero_();
      }
    (net.render_colour(toy.rays, net.prepare(toy.cameras, toy.images), bg, 11) * weights).sum().backward();
    int64_t colour = 0, extractor = 0, transformer = 0;
    for (const auto& [name, t] : net.named_parameters()) {
      const bool moved = t.grad().defined() && t.grad().abs().sum().item<float>() > 0;
      // (The head's point density, which its ray density does not read, gets none on either path.)
      const at::Tensor ref = reference.count(name) ? reference.at(name) : at::zeros_like(t);
      const at::Tensor mine = t.grad().defined() ? t.grad() : at::zeros_like(t);
      EXPECT_TRUE(at::allclose(mine, ref, 1e-3, 1e-5)) << name << " " << (mine - ref).abs().max().item<float>();
      colour += moved && name.rfind("colour.", 0) == 0;
      extractor += moved && name.rfind("extractor.", 0) == 0;
      transformer += moved && name.rfind("transformer.", 0) == 0;
    }
    EXPECT_GT(colour, 10);
    EXPECT_EQ(extractor > 0, encoder == "shared");
    EXPECT_EQ(transformer, 0);
  }
  GpnerfConfig blend = tiny_gpnerf_config();
  const GpnerfNetwork other(blend);
  const ToyScene toy = toy_scene(4);
  EXPECT_ANY_THROW(other.render_colour(toy.rays, other.prepare(toy.cameras, toy.images), at::ones({4, 3}), 1));
}

TEST(GpnerfModelType, AnAppliedModelColoursWithTheHeadsOwnEncoder) {
  // The scene model (apply, render) encodes its pool's views with the head's own encoder too: two models that
  // differ only in that encoder's weights render other colours and the same opacity (were the maps not handed to
  // the head, it would read F_rgb and both would colour alike).
  test::TempDir tmp;
  const auto scene_dir = test::write_small_scenes(tmp / "scene", 1, 6, 24, 5);
  auto scene = std::make_shared<Scene>(load_scene(scene_dir));
  GpnerfConfig c = tiny_gpnerf_config();
  c.fine_min_opacity = 0;
  c.colour = "ibr";
  c.colour_encoder = "own";
  c.colour_samples = "all";
  const GpnerfNetwork net = perturbed_network(c, 47);
  TensorMap other = net.state();
  for (auto& [name, t] : other)
    if (name.rfind("colour.encoder.", 0) == 0) t = t * 1.5f + 0.01f;
  const SceneFrame frame = SceneFrame::from_scene(*scene);
  std::vector<RayRenderOutput> outs;
  for (const TensorMap& weights : {net.state(), other}) {
    ModelBinding b;
    b.config = to_json(c);
    b.weights = weights;
    b.frame = frame;
    b.scene = scene;
    b.source_views = 3;
    b.origin = "own.safetensors";
    const auto model = create_model("gp-nerf", b);
    const Camera& cam = scene->split(Split::Test).empty() ? scene->views.front().camera
                                                          : scene->split(Split::Test).front()->camera;
    const kernels::Rays rays = kernels::generate_image_rays(cam);  // the middle rows of the 24 x 24 view
    at::NoGradGuard no_grad;
    outs.push_back(model->render(rays.origins.narrow(0, 10 * 24, 96), rays.directions.narrow(0, 10 * 24, 96),
                                 at::ones({3})));
  }
  EXPECT_GT((outs[0].rgb - outs[1].rgb).abs().max().item<float>(), 1e-4f);
  EXPECT_TRUE(at::equal(outs[0].opacity, outs[1].opacity));  // the proposal's: no colour weight moves it
}

TEST(GpnerfConfig, ColourEncoderAndSamplesRoundTripAndAreChecked) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "ibr";
  c.colour_encoder = "own";
  c.colour_samples = "all";
  const GpnerfConfig back = gpnerf_config_from_json(to_json(c), "config.json");
  EXPECT_EQ(back.colour_encoder, "own");
  EXPECT_EQ(back.colour_samples, "all");
  const GpnerfConfig plain = gpnerf_config_from_json(nlohmann::json::object(), "config.json");
  EXPECT_EQ(plain.colour_encoder, "shared");  // the files written before the keys existed
  EXPECT_EQ(plain.colour_samples, "fine");
  c.colour_samples = "coarse";
  EXPECT_THROW(c.validate(), UsageError);
  c.colour_samples = "all";
  c.colour_encoder = "mine";
  EXPECT_THROW(c.validate(), UsageError);
  c.colour_encoder = "own";
  c.colour = "blend";  // the own encoder belongs to the "ibr" head
  EXPECT_THROW(c.validate(), UsageError);
  c.colour_encoder = "shared";  // and so do its samples
  EXPECT_THROW(c.validate(), UsageError);
  c.colour_samples = "fine";
  EXPECT_NO_THROW(c.validate());
}

TEST(GpnerfConfig, IbrColourRejectsLearnedBlendWeightsAndRoundTripsItsRate) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.colour = "ibr";
  c.lr_scale.colour = 0.5;
  const GpnerfConfig back = gpnerf_config_from_json(to_json(c), "config.json");
  EXPECT_EQ(back.colour, "ibr");
  EXPECT_EQ(back.lr_scale.colour, 0.5);
  c.blend_weights = "learned";
  EXPECT_THROW(c.validate(), UsageError);
}

TEST(GpnerfNetwork, NearlyEmptyRaysSkipTheTransformersAtInference) {
  // fine_min_opacity: at inference, rays whose proposal opacity is at most it show the proposal's colour and the
  // semantics of nothing (those of a ray missing the box); the others are exactly what they are without the skip,
  // and training renders never skip.
  GpnerfConfig c = tiny_gpnerf_config();
  c.fine_min_opacity = 0;
  const GpnerfNetwork all = perturbed_network(c, 23);
  ToyScene toy = toy_scene(24);
  toy.rays.near[0] = toy.rays.far[0] = 0.0f;  // misses the box
  at::NoGradGuard no_grad;
  const GpnerfSources src = all.prepare(toy.cameras, toy.images);
  const at::Tensor bg = at::full({24, 3}, 0.25f);
  const GpnerfRenderOutput full = all.render(toy.rays, src, bg, false, 0);
  auto with_threshold = [&](double t) {
    GpnerfConfig ct = c;
    ct.fine_min_opacity = t;
    GpnerfNetwork net(ct);
    net.load_state(all.state(), "test");
    return net;
  };
  // Every ray skips below a threshold of 1: opacity is then the proposal's.
  const at::Tensor coarse_opacity = with_threshold(1.0 - 1e-7).render(toy.rays, src, bg, false, 0).opacity;
  const double median = coarse_opacity.narrow(0, 1, 23).median().item<double>();
  const GpnerfNetwork skipping = with_threshold(median);
  const GpnerfRenderOutput part = skipping.render(toy.rays, src, bg, false, 0);
  at::Tensor skipped = coarse_opacity.le(median);
  skipped[0] = false;  // the box-missing ray takes its own path
  const int64_t n_skipped = skipped.sum().item<int64_t>();
  ASSERT_GT(n_skipped, 5);
  ASSERT_LT(n_skipped, 20);
  const at::Tensor kept = skipped.logical_not();
  EXPECT_TRUE(at::allclose(part.rgb.index({skipped}), full.rgb_point.index({skipped})));
  EXPECT_TRUE(at::allclose(part.semantic.index({skipped}), full.semantic[0].unsqueeze(0).expand({n_skipped, -1})));
  EXPECT_TRUE(at::allclose(part.opacity.index({skipped}), coarse_opacity.index({skipped})));
  EXPECT_EQ(part.weights.index({skipped}).abs().sum().item<float>(), 0.0f);
  EXPECT_FALSE(part.valid.index({skipped}).any().item<bool>());
  for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", part.rgb, full.rgb},
                                   {"semantic", part.semantic, full.semantic},
                                   {"rgb_point", part.rgb_point, full.rgb_point},
                                   {"opacity", part.opacity, full.opacity},
                                   {"depth", part.depth, full.depth},
                                   {"ts", part.ts, full.ts}}) {
    EXPECT_TRUE(at::allclose(a.index({kept}), b.index({kept}), 1e-5, 1e-6)) << name;
  }
  EXPECT_TRUE(at::allclose(part.rgb_point, full.rgb_point));
  EXPECT_EQ(part.n_samples, 23 * c.n_coarse + (23 - n_skipped) * c.n_fine);
  EXPECT_EQ(full.n_samples, 23 * (c.n_coarse + c.n_fine));
  // Training renders (random samples, every output the losses read) ignore the threshold.
  const GpnerfRenderOutput train_all = all.render(toy.rays, src, bg, true, 3);
  const GpnerfRenderOutput train_skip = skipping.render(toy.rays, src, bg, true, 3);
  EXPECT_TRUE(at::equal(train_all.rgb, train_skip.rgb));
  EXPECT_TRUE(at::equal(train_all.semantic, train_skip.semantic));
}

TEST(GpnerfNetwork, InferenceTakesTheRenderSampleCountsAndTrainingItsOwn) {
  // n_coarse_render / n_fine_render: an inference render is exactly that of the same weights configured with those
  // counts (the samples' spacing follows the count); training renders keep n_coarse / n_fine; 0 = the training counts.
  GpnerfConfig c = tiny_gpnerf_config();
  c.n_coarse = 10;
  c.n_fine = 6;
  c.fine_min_opacity = 0;
  const GpnerfNetwork base = perturbed_network(c, 29);
  auto with = [&](int coarse, int fine, int coarse_render, int fine_render) {
    GpnerfConfig x = c;
    x.n_coarse = coarse;
    x.n_fine = fine;
    x.n_coarse_render = coarse_render;
    x.n_fine_render = fine_render;
    GpnerfNetwork net(x);
    net.load_state(base.state(), "test");
    return net;
  };
  const ToyScene toy = toy_scene(12);
  at::NoGradGuard no_grad;
  const GpnerfSources src = base.prepare(toy.cameras, toy.images);
  const at::Tensor bg = at::full({12, 3}, 0.5f);
  const GpnerfNetwork fewer = with(10, 6, 7, 4), trained_so = with(7, 4, 0, 0);
  const GpnerfRenderOutput a = fewer.render(toy.rays, src, bg, false, 0);
  const GpnerfRenderOutput b = trained_so.render(toy.rays, src, bg, false, 0);
  ASSERT_EQ(a.ts.size(1), 4);
  EXPECT_EQ(a.n_samples, 12 * (7 + 4));
  for (const auto& [name, x, y] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", a.rgb, b.rgb},
                                   {"semantic", a.semantic, b.semantic},
                                   {"rgb_point", a.rgb_point, b.rgb_point},
                                   {"opacity", a.opacity, b.opacity},
                                   {"ts", a.ts, b.ts}})
    EXPECT_TRUE(at::allclose(x, y, 1e-5, 1e-6)) << name;
  const GpnerfRenderOutput full = base.render(toy.rays, src, bg, false, 0);
  EXPECT_EQ(full.ts.size(1), 6);
  EXPECT_FALSE(at::allclose(full.rgb, a.rgb, 1e-5, 1e-6));  // fewer samples: another (close) render
  // Training renders ignore the render counts.
  const GpnerfRenderOutput ta = fewer.render(toy.rays, src, bg, true, 3), tb = base.render(toy.rays, src, bg, true, 3);
  EXPECT_EQ(ta.ts.size(1), 6);
  EXPECT_TRUE(at::equal(ta.rgb, tb.rgb));
  EXPECT_TRUE(at::equal(ta.semantic, tb.semantic));
}

TEST(GpnerfNetwork, InferenceRenderIsTheProposalThenItsSecondPassOverTheRaysOwnBins) {
  // render at inference == render_proposed(propose): the same outputs exactly, the samples counted once. A proposal
  // given from elsewhere is read as weights over the ray's own bins between its near and far: all weight in bin k puts
  // every fine sample of the ray in that bin; an opacity at most fine_min_opacity skips the ray (its colour shown).
  GpnerfConfig c = tiny_gpnerf_config();
  c.n_coarse = 8;
  c.fine_min_opacity = 0.05;
  const GpnerfNetwork net = perturbed_network(c, 31);
  ToyScene toy = toy_scene(10);
  toy.rays.near[0] = toy.rays.far[0] = 0.0f;  // misses the box
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const at::Tensor bg = at::full({10, 3}, 0.25f);
  const GpnerfRenderOutput whole = net.render(toy.rays, src, bg, false, 0);
  const GpnerfProposal p = net.propose(toy.rays, src, bg);
  ASSERT_EQ(p.weights.sizes(), (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(p.n_samples, 9 * 8);
  EXPECT_EQ(p.weights[0].abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(at::equal(p.rgb[0], bg[0]));
  const GpnerfRenderOutput two = net.render_proposed(toy.rays, src, bg, p);
  EXPECT_EQ(whole.n_samples, p.n_samples + two.n_samples);
  for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", whole.rgb, two.rgb},
                                   {"semantic", whole.semantic, two.semantic},
                                   {"opacity", whole.opacity, two.opacity},
                                   {"depth", whole.depth, two.depth},
                                   {"ts", whole.ts, two.ts},
                                   {"weights", whole.weights, two.weights}})
    EXPECT_TRUE(at::equal(a, b)) << name;
  // All weight in bin 5 (of 8 between near and far), the proposal's opacity kept above the threshold.
  GpnerfProposal q = p;
  q.weights = at::zeros_like(p.weights);
  q.weights.select(1, 5).fill_(0.5f);
  q.opacity = at::full_like(p.opacity, 0.5f);
  q.opacity[3] = 0.01f;  // below fine_min_opacity: skipped
  const GpnerfRenderOutput moved = net.render_proposed(toy.rays, src, bg, q);
  EXPECT_EQ(moved.n_samples, 8 * c.n_fine);  // ray 0 misses the box, ray 3 is skipped
  for (int64_t i = 1; i < 10; ++i) {
    if (i == 3) continue;
    const float near = toy.rays.near[i].item<float>(), span = toy.rays.far[i].item<float>() - near;
    const at::Tensor rel = (moved.ts[i] - near) / span;
    EXPECT_GE(rel.min().item<float>(), 5.0f / 8 - 1e-4f) << i;
    EXPECT_LE(rel.max().item<float>(), 6.0f / 8 + 1e-4f) << i;
  }
  EXPECT_TRUE(at::equal(moved.rgb[3], q.rgb[3]));
  EXPECT_TRUE(at::equal(moved.semantic[3], moved.semantic[0]));  // the semantics of nothing
  EXPECT_FALSE(moved.valid[3].any().item<bool>());
  // A ray missing the box shows the background whatever proposal it is given (one spread from its neighbours).
  EXPECT_TRUE(at::equal(moved.rgb[0], bg[0]));
  EXPECT_EQ(moved.opacity[0].item<float>(), 0.0f);
  EXPECT_EQ(moved.depth[0].item<float>(), 0.0f);
  q.rgb = at::full_like(p.rgb, 0.9f);
  q.depth = at::full_like(p.depth, 2.0f);
  const GpnerfRenderOutput masked = net.render_proposed(toy.rays, src, bg, q);
  EXPECT_TRUE(at::equal(masked.rgb[0], bg[0]));
  EXPECT_TRUE(at::equal(masked.rgb_point[0], bg[0]));
  EXPECT_EQ(masked.opacity[0].item<float>(), 0.0f);
  EXPECT_EQ(masked.depth[0].item<float>(), 0.0f);
  EXPECT_TRUE(at::equal(masked.rgb[3], q.rgb[3]));  // a skipped ray in the box shows its proposal's colour
  // Against the path that shares no code with propose: a recording render (deterministic samples, the LibTorch
  // transformers, no skip) of the same network without the skip threshold.
  GpnerfConfig c0 = c;
  c0.fine_min_opacity = 0;
  GpnerfNetwork net0(c0);
  net0.load_state(net.state(), "test");
  const GpnerfRenderOutput inference = net0.render(toy.rays, src, bg, false, 0),
                           recorded = net0.render(toy.rays, src, bg, false, 0, true);
  for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", inference.rgb, recorded.rgb},
                                   {"semantic", inference.semantic, recorded.semantic},
                                   {"rgb_point", inference.rgb_point, recorded.rgb_point},
                                   {"opacity", inference.opacity, recorded.opacity},
                                   {"depth", inference.depth, recorded.depth},
                                   {"ts", inference.ts, recorded.ts}})
    EXPECT_TRUE(at::allclose(a, b, 2e-4, 2e-5)) << name << ": " << (a - b).abs().max().item<float>();
  EXPECT_EQ(inference.n_samples, recorded.n_samples);
}

TEST(GpnerfProposalStride, GridPixelsAreTheirOwnOthersBilinearInTheirCornersOpacityTheEnvelope) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(proposal_grid(7, 2), (V{0, 2, 4, 6}));
  EXPECT_EQ(proposal_grid(8, 2), (V{0, 2, 4, 6, 7}));  // the last pixel always
  EXPECT_EQ(proposal_grid(6, 4), (V{0, 4, 5}));
  EXPECT_EQ(proposal_grid(1, 3), (V{0}));
  EXPECT_EQ(proposal_grid(3, 1), (V{0, 1, 2}));
  // A 7 x 8 view at stride 2: grid rows 0 2 4 6 (3 cells), columns 0 2 4 6 7 (4 cells). One corner proposal, grid
  // (row 1, column 2) = pixel (2, 4), has weight in bin 1, colour 1, opacity 0.8 and depth 4; the others are empty.
  const int64_t h = 7, w = 8, hl = 4, wl = 5;
  GpnerfProposal g{at::zeros({hl * wl, 3}), at::zeros({hl * wl, 3}), at::zeros({hl * wl}), at::zeros({hl * wl}), 0};
  const int64_t corner = 1 * wl + 2;
  g.weights[corner][1] = 0.6f;
  g.rgb[corner].fill_(1.0f);
  g.opacity[corner] = 0.8f;
  g.depth[corner] = 4.0f;
  const GpnerfProposal s = spread_proposal(g, h, w, 2);
  ASSERT_EQ(s.weights.sizes(), (V{h * w, 3}));
  ASSERT_EQ(s.rgb.sizes(), (V{h * w, 3}));
  ASSERT_EQ(s.opacity.sizes(), (V{h * w}));
  ASSERT_EQ(s.depth.sizes(), (V{h * w}));
  // The corner's bilinear coefficient: 1 at its own pixel, 1/2 a pixel away along a side, 1/4 diagonally, 0 at the
  // next grid pixels; the opacity is the envelope of the corners a pixel draws on.
  const auto coefficient = [](int64_t d) { return d == 0 ? 1.0f : d == 1 ? 0.5f : 0.0f; };
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      const float k = coefficient(std::abs(y - 2)) * coefficient(std::abs(x - 4));
      EXPECT_FLOAT_EQ(s.weights[i][1].item<float>(), 0.6f * k) << y << "," << x;
      EXPECT_FLOAT_EQ(s.weights[i][0].item<float>() + s.weights[i][2].item<float>(), 0.0f);
      EXPECT_FLOAT_EQ(s.opacity[i].item<float>(), k > 0 ? 0.8f : 0.0f) << y << "," << x;
      EXPECT_FLOAT_EQ(s.rgb[i][2].item<float>(), k) << y << "," << x;
      EXPECT_FLOAT_EQ(s.depth[i].item<float>(), 4.0f * k) << y << "," << x;
    }
  // The last column (x = 7, a grid column of its own, one pixel after column 6) and row 6.
  GpnerfProposal last = g;
  last.weights = at::zeros_like(g.weights);
  last.weights[3 * wl + 4][0] = 1.0f;  // grid row 3 (pixel 6), column 4 (pixel 7)
  const GpnerfProposal sl = spread_proposal(last, h, w, 2);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      EXPECT_FLOAT_EQ(sl.weights[y * w + x][0].item<float>(), x == 7 ? coefficient(6 - y) : 0.0f) << y << "," << x;
  // Grid pixels take their own proposal exactly.
  GpnerfProposal seeded = g;
  seeded.weights = at::rand({hl * wl, 3}, at::make_generator<at::CPUGeneratorImpl>(3));
  const at::Tensor own = spread_proposal(seeded, h, w, 2).weights.view({h, w, 3});
  const at::Tensor rows = at::tensor(proposal_grid(h, 2)), cols = at::tensor(proposal_grid(w, 2));
  EXPECT_TRUE(at::equal(own.index_select(0, rows).index_select(1, cols).reshape({hl * wl, 3}), seeded.weights));
  // Views smaller than the stride, and a single row: the grid is the first and last pixel (or the one).
  {
    GpnerfProposal tiny{at::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({4, 1}), at::zeros({4, 3}), at::zeros({4}),
                        at::zeros({4}), 0};  // a 3 x 3 view at stride 4: grid rows and columns 0 and 2
    const at::Tensor tw = spread_proposal(tiny, 3, 3, 4).weights.view({3, 3});
    EXPECT_TRUE(at::allclose(tw, at::tensor({1.0f, 0.5f, 0.0f, 0.5f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f}).view({3, 3})))
        << tw;
    GpnerfProposal row{at::tensor({2.0f, 0.0f, 4.0f}).view({3, 1}), at::zeros({3, 3}), at::zeros({3}), at::zeros({3}),
                       0};  // a 1 x 5 view at stride 2: grid columns 0 2 4
    const at::Tensor rw = spread_proposal(row, 1, 5, 2).weights.view({5});
    EXPECT_TRUE(at::allclose(rw, at::tensor({2.0f, 1.0f, 0.0f, 2.0f, 4.0f}))) << rw;
  }
  // Stride 1: the grid is the view.
  EXPECT_TRUE(at::equal(spread_proposal(g, hl, wl, 1).weights, g.weights));
  EXPECT_THROW(spread_proposal(g, h + 2, w, 2), std::exception);  // the grid of another view
  // The automatic stride: the view's longest side over the references' encoded side, rounded down, within [1, 16].
  GpnerfConfig c;
  EXPECT_EQ(proposal_stride(c, 256, 256, 128), 2);
  EXPECT_EQ(proposal_stride(c, 128, 128, 128), 1);
  EXPECT_EQ(proposal_stride(c, 200, 383, 128), 2);
  EXPECT_EQ(proposal_stride(c, 64, 64, 128), 1);
  EXPECT_EQ(proposal_stride(c, 4096, 4096, 64), kMaxProposalStride);
  c.proposal_stride = 3;
  EXPECT_EQ(proposal_stride(c, 64, 64, 128), 3);
}

TEST(GpnerfProposalStride, WholeViewsRenderFromTheGridsProposals) {
  // A whole view at proposal_stride 2: grid pixels take their own proposal, so there the view is the stride-1 view;
  // the other pixels differ, but little. The automatic stride of a view no larger than its references is 1.
  test::TempDir tmp;
  test::write_small_scenes(tmp / "scene", 1, 6, 24, 11);
  const auto scene = std::make_shared<const Scene>(load_scene(tmp / "scene"));
  const SceneFrame frame = SceneFrame::from_scene(*scene);
  const GpnerfConfig c = tiny_gpnerf_config();
  const GpnerfNetwork base = perturbed_network(c, 37);
  const auto view = [&](int stride, const Camera& camera) {
    GpnerfConfig x = c;
    x.proposal_stride = stride;
    GpnerfNetwork net(x);
    net.load_state(base.state(), "test");
    const GpnerfModel model(std::move(net), scene, frame, Eigen::Vector3f::Ones(), 3);
    return model.render_view_with_colour(camera, Eigen::Vector3f(0.2f, 0.3f, 0.4f));
  };
  ASSERT_FALSE(scene->split(Split::Test).empty());
  Camera camera = scene->split(Split::Test).front()->camera;
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  ASSERT_EQ(h, 24);
  const SemanticRenderOutput one = view(1, camera), two = view(2, camera), automatic = view(0, camera);
  EXPECT_TRUE(at::equal(automatic.rgb, one.rgb));
  EXPECT_TRUE(at::equal(automatic.latent, one.latent));
  const at::Tensor rows = at::tensor(proposal_grid(h, 2)), cols = at::tensor(proposal_grid(w, 2));
  const auto on_grid = [&](const at::Tensor& t) {
    return t.view({h, w, -1}).index_select(0, rows).index_select(1, cols);
  };
  for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", one.rgb, two.rgb},
                                   {"latent", one.latent, two.latent},
                                   {"opacity", one.opacity, two.opacity},
                                   {"depth", one.depth, two.depth}}) {
    EXPECT_TRUE(at::allclose(on_grid(a), on_grid(b), 1e-5, 1e-6)) << name;
    EXPECT_FALSE(at::equal(a, b)) << name;  // off the grid the proposal is the corners'
  }
  const double colour_change = (one.rgb - two.rgb).abs().mean().item<double>();
  EXPECT_LT(colour_change, 0.015) << colour_change;
  // A view twice the references' side takes stride 2 automatically.
  camera.intrinsics = camera.intrinsics.resized(2 * static_cast<int>(w), 2 * static_cast<int>(h));
  const SemanticRenderOutput big_auto = view(0, camera), big_two = view(2, camera);
  EXPECT_TRUE(at::equal(big_auto.rgb, big_two.rgb));
}

TEST(GpnerfProposalStride, WholeViewsDoNotDependOnTheirChunks) {
  // A whole view renders in chunks of rays (16,384 through the fused kernels); chunks that split rows, the proposal
  // grid and the spread rows must give the view of one pass, at stride 1 and 2.
  test::TempDir tmp;
  test::write_small_scenes(tmp / "scene", 1, 6, 24, 11);
  const auto scene = std::make_shared<const Scene>(load_scene(tmp / "scene"));
  const SceneFrame frame = SceneFrame::from_scene(*scene);
  const GpnerfNetwork base = perturbed_network(tiny_gpnerf_config(), 41);
  Camera camera = scene->split(Split::Test).front()->camera;
  camera.intrinsics = camera.intrinsics.resized(34, 30);  // 1,020 rays; the stride-2 grid 16 x 18 (288 rays)
  for (const int stride : {1, 2}) {
    GpnerfConfig c = base.config();
    c.proposal_stride = stride;
    GpnerfNetwork net(c);
    net.load_state(base.state(), "test");
    GpnerfModel model(std::move(net), scene, frame, Eigen::Vector3f::Ones(), 3);
    model.set_view_chunk(4096);  // one pass
    const SemanticRenderOutput one = model.render_view_with_colour(camera, Eigen::Vector3f(0.2f, 0.3f, 0.4f));
    for (const int64_t chunk : {97, 250}) {  // ragged: chunks end mid-row and mid-grid, last chunks short
      model.set_view_chunk(chunk);
      const SemanticRenderOutput many = model.render_view_with_colour(camera, Eigen::Vector3f(0.2f, 0.3f, 0.4f));
      for (const auto& [name, a, b] : {std::tuple<const char*, at::Tensor, at::Tensor>{"rgb", one.rgb, many.rgb},
                                       {"latent", one.latent, many.latent},
                                       {"classes", one.maps[0], many.maps[0]},
                                       {"opacity", one.opacity, many.opacity},
                                       {"depth", one.depth, many.depth},
                                       {"median depth", one.median_depth, many.median_depth}})
        EXPECT_TRUE(at::allclose(a, b, 1e-5, 1e-6)) << name << " stride " << stride << " chunk " << chunk << ": "
                                                    << (a - b).abs().max().item<float>();
    }
    EXPECT_GT(one.opacity.gt(0.05f).sum().item<int64_t>(), 30);  // the view shows the scene
  }
  // The automatic chunk (0) is the fused kernels' 16,384 rays exactly where inference takes them: CPU float sources
  // without a gradient (render_full's NoGradGuard), not where a gradient is wanted (the LibTorch path, 1,024).
  const ToyScene toy = toy_scene(1);
  at::NoGradGuard no_grad;
  const GpnerfSources src = base.prepare(toy.cameras, toy.images);
  EXPECT_TRUE(base.fused_inference(src));
  at::AutoGradMode grad(true);
  const std::vector<at::Tensor> params = base.parameters();
  ASSERT_TRUE(std::any_of(params.begin(), params.end(), [](const at::Tensor& p) { return p.requires_grad(); }));
  EXPECT_FALSE(base.fused_inference(src));
}

TEST(GpnerfFused, PointDensityMatchesReference) {
  const GpnerfNetwork net = perturbed_network(tiny_gpnerf_config(), 29);
  const ToyScene toy = toy_scene(1);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor points = at::rand({77, 3}, gen) * 3.0f - 1.5f;  // 77: not a multiple of the 32-sample blocks
  at::Tensor dirs = at::randn({77, 3}, gen);
  dirs = dirs / dirs.norm(2, 1, true);
  const auto [sigma, rgb] = net.point_density(points, dirs, src);
  at::Tensor ref_sigma, ref_rgb;
  {
    at::AutoGradMode grad(true);
    std::tie(ref_sigma, ref_rgb) = net.point_density(points, dirs, src);
  }
  EXPECT_TRUE(at::allclose(sigma, ref_sigma.detach(), 2e-4, 2e-5)) << (sigma - ref_sigma).abs().max().item<float>();
  EXPECT_TRUE(at::allclose(rgb, ref_rgb.detach(), 2e-4, 2e-5)) << (rgb - ref_rgb).abs().max().item<float>();
  EXPECT_GT(sigma.gt(0).sum().item<int64_t>(), 0);
  EXPECT_GT(sigma.eq(0).sum().item<int64_t>(), 0);  // points no view sees: no density
}

TEST(GpnerfFused, MisuseIsReportedNamingTheArgument) {
  const GpnerfNetwork net(tiny_gpnerf_config());
  const ToyScene toy = toy_scene(2);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const kernels::GpnerfSourceMaps maps{&src.cameras, src.colours, src.rgb, src.semantic};
  const at::Tensor pos = at::zeros({2, 4, 3}), dirs = at::zeros({2, 3});
  auto error_of = [&](const at::Tensor& p, const at::Tensor& e) -> std::string {
    try {
      kernels::gpnerf_rays_forward(p, dirs, e, maps, net.transformer_weights());
    } catch (const c10::Error& err) {
      return err.what_without_backtrace();
    }
    return "<no error>";
  };
  EXPECT_NE(error_of(pos, at::zeros({2, 4, 5})).find("encoding channels"), std::string::npos);
  EXPECT_NE(error_of(pos.to(at::kDouble), at::zeros({2, 4, 11})).find("positions"), std::string::npos);
  EXPECT_NE(error_of(at::zeros({2, 3}), at::zeros({2, 4, 11})).find("positions"), std::string::npos);
}

TEST(GpnerfFused, RaysForwardWithoutColourLeavesEveryOtherOutputAsIs) {
  // GpnerfTransformerWeights::colour = false (the "ibr" colour's models: the head colours the rays): no colour
  // outputs, the semantics, densities and visibility bit for bit those of the colour-computing pass.
  const GpnerfNetwork net = perturbed_network(tiny_gpnerf_config(), 5);
  const ToyScene toy = toy_scene(6);
  at::NoGradGuard no_grad;
  const GpnerfSources src = net.prepare(toy.cameras, toy.images);
  const kernels::GpnerfSourceMaps maps{&src.cameras, src.colours, src.rgb, src.semantic};
  const int64_t s = 7;
  const at::Tensor t = toy.rays.near.unsqueeze(1) + (toy.rays.far - toy.rays.near).unsqueeze(1) *
                                                        (at::arange(s).to(at::kFloat) + 0.5f).unsqueeze(0) / s;
  const at::Tensor pos = toy.rays.origins.unsqueeze(1) + toy.rays.dirs.unsqueeze(1) * t.unsqueeze(2);
  // Any encoding of the width the position MLPs take (11: the misuse test's) serves the comparison.
  const at::Tensor enc = at::rand({6, s, 11}, at::make_generator<at::CPUGeneratorImpl>(3));
  kernels::GpnerfTransformerWeights w = net.transformer_weights();
  ASSERT_TRUE(w.colour);
  const kernels::GpnerfRaysForward with = kernels::gpnerf_rays_forward(pos, toy.rays.dirs, enc, maps, w);
  w.colour = false;
  const kernels::GpnerfRaysForward without = kernels::gpnerf_rays_forward(pos, toy.rays.dirs, enc, maps, w);
  ASSERT_TRUE(with.rgb.defined());
  EXPECT_FALSE(without.rgb.defined() || without.sample_score.defined() || without.sample_rgb.defined());
  EXPECT_TRUE(at::equal(with.semantic, without.semantic));
  EXPECT_TRUE(at::equal(with.sigma, without.sigma));
  EXPECT_TRUE(at::equal(with.rgb_point, without.rgb_point));
  EXPECT_TRUE(at::equal(with.valid, without.valid));
  // The "ibr" colour's network asks for it.
  GpnerfConfig ci = tiny_gpnerf_config();
  ci.colour = "ibr";
  EXPECT_FALSE(GpnerfNetwork(ci).transformer_weights().colour);
}

/// Gradients of `loss` reach the pyramid (F_sem only: block4, fpn) of the extractor.
bool pyramid_gets_gradient(const GpnerfNetwork& net, const at::Tensor& loss) {
  for (const at::Tensor& p : net.extractor().pyramid_parameters())
    if (p.grad().defined()) p.mutable_grad().zero_();
  loss.backward();
  for (const at::Tensor& p : net.extractor().pyramid_parameters())
    if (p.grad().defined() && p.grad().abs().sum().item<float>() > 0) return true;
  return false;
}

TEST(GpnerfGradientBlock, DistillationLossesDoNotReachTheExtractorsSemanticFeatures) {
  const ToyScene toy = toy_scene(6);
  for (bool block : {true, false}) {
    GpnerfConfig c = tiny_gpnerf_config();
    c.gradient_block = block;
    const GpnerfNetwork net(c);
    const GpnerfSources src = net.prepare(toy.cameras, toy.images);
    const GpnerfRenderOutput out = net.render(toy.rays, src, at::ones({6, 3}), true, 3);
    // The teacher S_novel is detached in both settings (the losses' code path: GpnerfCorpusModel::losses).
    const at::Tensor teacher = net.novel_semantics(toy.images.narrow(0, 0, 1)).detach().reshape({c.extractor.semantic_channels, -1})
                                   .narrow(1, 0, 6).t();
    const at::Tensor distill = (1.0f - at::cosine_similarity(out.semantic, teacher, 1, 1e-8)).mean();
    EXPECT_EQ(pyramid_gets_gradient(net, distill), !block) << "2D distill, block " << block;
    const GpnerfRenderOutput again = net.render(toy.rays, net.prepare(toy.cameras, toy.images), at::ones({6, 3}), true, 3);
    const at::Tensor dgs = cosine_embedding(again.point_semantic, teacher.unsqueeze(1),
                                            near_surface_mask(at::full({6}, 2, at::kLong), c.n_fine, 1)).mean();
    EXPECT_EQ(pyramid_gets_gradient(net, dgs), !block) << "depth-guided distill, block " << block;
  }
}

TEST(GpnerfFusion, RenderedPixelsReplaceExactlyThoseOfTheNovelMap) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const at::Tensor map = at::rand({4, 5, 6}, gen).set_requires_grad(true);
  const at::Tensor pixels = at::tensor({0, 7, 29}, at::kLong);
  const at::Tensor rendered = at::rand({3, 4}, gen).set_requires_grad(true);
  const at::Tensor fused = fuse_rendered(map, pixels, rendered);
  ASSERT_EQ(fused.sizes(), map.sizes());
  const at::Tensor flat = fused.reshape({4, -1}), original = map.reshape({4, -1});
  for (int64_t p = 0; p < 30; ++p) {
    const int64_t k = p == 0 ? 0 : p == 7 ? 1 : p == 29 ? 2 : -1;
    const at::Tensor expected = k >= 0 ? rendered[k] : original.select(1, p);
    EXPECT_TRUE(at::equal(flat.select(1, p), expected)) << "pixel " << p;
  }
  // Gradients: the rendered rows get theirs, the replaced pixels of the map none.
  (fused * at::arange(120, at::kFloat).view({4, 5, 6})).sum().backward();
  const at::Tensor gm = map.grad().reshape({4, -1});
  EXPECT_EQ(gm.select(1, 7).abs().sum().item<float>(), 0.0f);
  EXPECT_GT(gm.select(1, 8).abs().sum().item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(rendered.grad()[1][0].item<float>(), 7.0f);  // channel 0 of pixel 7
}

TEST(GpnerfLoss, DepthGuidedMasksAndCosineEmbeddingMatchHandComputedValues) {
  const at::Tensor mask = near_surface_mask(at::tensor({0, 3}, at::kLong), 6, 1);
  const at::Tensor expected = at::tensor({1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0}, at::kLong).to(at::kBool).view({2, 6});
  EXPECT_TRUE(at::equal(mask, expected));
  const at::Tensor a = at::tensor({1.0f, 0.0f, 1.0f, 1.0f, -1.0f, 0.0f}).view({3, 2});
  const at::Tensor b = at::tensor({1.0f, 0.0f});
  const at::Tensor pos = at::tensor({1, 0, 0}, at::kLong).to(at::kBool);
  const at::Tensor l = cosine_embedding(a, b, pos);
  EXPECT_NEAR(l[0].item<float>(), 0.0f, 1e-6f);                 // positive, cos 1
  EXPECT_NEAR(l[1].item<float>(), 1.0f / std::sqrt(2.0f), 1e-6f);  // negative, cos 0.707
  EXPECT_NEAR(l[2].item<float>(), 0.0f, 1e-6f);                 // negative, cos -1: max(0, cos)
}

TEST(GpnerfInstances, LossMatchesSlotsToInstancesInAnyOrder) {
  // Three slots, two instances (ids 7 and 9) and an unlabelled pixel.
  const at::Tensor ids = at::tensor({7, 7, 9, 9, -1}, at::kLong);
  auto logits_for = [](std::vector<int64_t> slot_of_pixel) {
    at::Tensor l = at::full({3, 5}, -8.0f);
    for (int64_t p = 0; p < 5; ++p) l[slot_of_pixel[static_cast<size_t>(p)]][p] = 8.0f;
    return l;
  };
  const double exact = instance_loss(logits_for({0, 0, 1, 1, 2}), ids).item<double>();
  const double permuted = instance_loss(logits_for({2, 2, 0, 0, 1}), ids).item<double>();
  const double merged = instance_loss(logits_for({0, 0, 0, 0, 1}), ids).item<double>();
  EXPECT_LT(exact, 0.01);
  EXPECT_NEAR(permuted, exact, 1e-6);  // Hungarian matching: slot order does not matter
  EXPECT_GT(merged, 0.3);              // one slot for both instances: soft IoU 0.5 and a wrong mask
  const at::Tensor learnable = at::zeros({3, 5}).set_requires_grad(true);
  instance_loss(learnable, ids).backward();
  EXPECT_TRUE(learnable.grad().isfinite().all().item<bool>());
  EXPECT_EQ(learnable.grad().select(1, 4).abs().sum().item<float>(), 0.0f);  // the unlabelled pixel
  EXPECT_EQ(instance_loss(learnable, at::full({5}, -1, at::kLong)).item<float>(), 0.0f);
}

TEST(GpnerfClasses, GroundTruthIdsMapToTheModelsClassesByName) {
  const std::vector<std::string> classes = {"void", "ground", "sphere", "box"};
  const at::Tensor ids = at::tensor({-1, 0, 1, 2, 3, 9}, at::kLong);
  // The scene names its ids in another order and has a class the model does not know.
  const at::Tensor by_name = model_class_ids(ids, {"box", "void", "torus", "sphere"}, classes);
  EXPECT_TRUE(at::equal(by_name, at::tensor({-1, 3, 0, -1, 2, -1}, at::kLong)));
  // Names spelt by another tool meet the model's ("Sphere", " BOX ").
  EXPECT_TRUE(at::equal(model_class_ids(ids, {" BOX ", "Void", "Torus", "Sphere"}, classes), by_name));
  // Without names the ids are the model's.
  EXPECT_TRUE(at::equal(model_class_ids(ids, {}, classes), at::tensor({-1, 0, 1, 2, 3, -1}, at::kLong)));
}

TEST(GpnerfHead, FlipAugmentationAveragesTheMapAndItsMirrorAtInference) {
  GpnerfConfig c = tiny_gpnerf_config();
  at::NoGradGuard no_grad;
  const at::Tensor maps = at::rand({1, c.extractor.semantic_channels, 12, 17});
  const GpnerfNetwork plain(c);
  EXPECT_TRUE(at::equal(plain.decode_view(maps), plain.decode(maps)));  // off by default
  c.head_flip = true;
  const GpnerfNetwork flip(c);  // same seed: same weights
  const at::Tensor p = at::softmax(flip.decode(maps), 1), q = at::softmax(flip.decode(maps.flip({3})), 1).flip({3});
  const at::Tensor expected = at::log(0.5f * (p + q));
  const at::Tensor got = flip.decode_view(maps);
  EXPECT_TRUE(at::allclose(got, expected, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(at::exp(got).sum(1), at::ones({1, 12, 17}), 1e-5, 1e-6));  // log-probabilities
  // Mirror-equivariant by construction: decoding the mirrored map gives the mirrored classes.
  EXPECT_TRUE(at::allclose(flip.decode_view(maps.flip({3})), got.flip({3}), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(plain.decode(maps.flip({3})), plain.decode(maps).flip({3}), 1e-3, 1e-3));
  // The key round-trips through the model file's config.
  EXPECT_TRUE(gpnerf_config_from_json(to_json(c), "test").head_flip);
}

TEST(GpnerfHead, DecodesMapsOfAnySizeIntoClassLogitsOfTheSameSize) {
  const GpnerfConfig c = tiny_gpnerf_config();
  const GpnerfNetwork net(c);
  at::NoGradGuard no_grad;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{16, 16}, {13, 21}, {1, 3}}) {
    const at::Tensor logits = net.decode(at::rand({2, c.extractor.semantic_channels, h, w}));
    EXPECT_EQ(logits.sizes(), (at::IntArrayRef{2, static_cast<int64_t>(c.classes.size()), h, w}));
  }
  // The head reads context: changing one pixel's features changes its neighbours' logits.
  const at::Tensor maps = at::rand({1, c.extractor.semantic_channels, 16, 16});
  at::Tensor other = maps.clone();
  other.select(2, 8).select(2, 8).add_(5.0f);
  const at::Tensor delta = (net.decode(other) - net.decode(maps)).abs().sum(1).squeeze(0);
  EXPECT_GT(delta[8][10].item<float>(), 0.0f);
}

TEST(GpnerfConfig, JsonRoundTripAndErrorsNameTheKey) {
  GpnerfConfig c = tiny_gpnerf_config();
  c.joint_attention = false;
  c.head_input = "novel";
  c.loss.distill = 0.25;
  c.lr_scale.extractor = 5;
  c.lr_scale.instance_head = 20;
  c.lr_scale.backbone = 0;
  c.fine_min_opacity = 0.01;
  c.n_coarse_render = 5;
  c.n_fine_render = 3;
  c.proposal_stride = 3;
  const GpnerfConfig back = gpnerf_config_from_json(to_json(c), "config.json");
  EXPECT_EQ(to_json(back), to_json(c));
  EXPECT_THROW(gpnerf_config_from_json({{"widht", 8}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"loss", {{"rbg", 1}}}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"head_input", "both"}}, "config.json"), InputError);
  EXPECT_EQ(gpnerf_config_from_json({{"head_input", "segmenter"}}, "config.json").head_input, "segmenter");
  EXPECT_THROW(gpnerf_config_from_json({{"lr_scale", {{"backbone", -2}}}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"width", 12}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"fine_min_opacity", 1.0}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"n_coarse_render", 1}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"n_fine_render", -1}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"proposal_stride", -1}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"proposal_stride", kMaxProposalStride + 1}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"blend_weights", "mlp"}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"blend_weights", "learned"}, {"colour", "mlp"}}, "config.json"), InputError);
  EXPECT_THROW(gpnerf_config_from_json({{"loss", {{"surface_rgb", -1}}}}, "config.json"), InputError);
  {
    GpnerfConfig l = c;
    l.blend_weights = "learned";
    l.loss.surface_rgb = 2;
    l.loss.surface_pool = 0.1;
    EXPECT_EQ(to_json(gpnerf_config_from_json(to_json(l), "config.json")), to_json(l));
  }
  // Defaults: the generator's classes, the paper's (Replica) loss weights.
  const GpnerfConfig d = gpnerf_config_from_json(nlohmann::json::object(), "config.json");
  EXPECT_EQ(d.classes, synth_class_names());
  EXPECT_EQ(d.proposal_stride, 0);  // auto
  EXPECT_DOUBLE_EQ(d.loss.rgb, 0.25);
  EXPECT_DOUBLE_EQ(d.loss.semantic, 0.75);
}

TEST(GpnerfModelType, RegisteredImageConditionedAndStartsFromAnIbrEncoder) {
  const ModelType& type = find_model_type("gp-nerf");
  EXPECT_TRUE(type.image_conditioned);
  EXPECT_FALSE(type.semantic_maps);
  GpnerfConfig c = tiny_gpnerf_config();
  auto model = create_trainable_model("gp-nerf", to_json(c), "config.json");
  EXPECT_TRUE(model->target_views());
  EXPECT_TRUE(model->label_inputs().needed);
  EXPECT_FALSE(model->label_inputs().sources);
  EXPECT_EQ(model->lr_scales().size(), model->parameters().size());
  {  // each part, the instance head included, gets its own learning-rate multiplier
    GpnerfConfig ci = tiny_gpnerf_config();
    ci.instance_slots = 4;
    ci.lr_scale = {2.0, 3.0, 5.0, 7.0};
    const auto m = create_trainable_model("gp-nerf", to_json(ci), "config.json");
    const std::vector<double> scales = m->lr_scales();
    const auto named = GpnerfNetwork(ci).named_parameters();
    ASSERT_EQ(scales.size(), named.size());
    std::map<double, int> seen;
    for (size_t i = 0; i < named.size(); ++i) {
      const std::string& name = named[i].first;
      const double want = starts_with(name, "extractor.")       ? 2.0
                          : starts_with(name, "head.")          ? 5.0
                          : starts_with(name, "instance_head.") ? 7.0
                                                                : 3.0;
      EXPECT_DOUBLE_EQ(scales[i], want) << name;
      ++seen[scales[i]];
    }
    EXPECT_EQ(seen.size(), 4u);  // all four parts present
    // "backbone" 0 freezes the extractor's U-Net (F_rgb) alone; the pyramid keeps the extractor's multiplier.
    ci.lr_scale.backbone = 0;
    const std::vector<double> frozen =
        create_trainable_model("gp-nerf", to_json(ci), "config.json")->lr_scales();
    int backbone = 0, pyramid = 0;
    for (size_t i = 0; i < named.size(); ++i) {
      const std::string& name = named[i].first;
      if (starts_with(name, "extractor.backbone.")) {
        EXPECT_DOUBLE_EQ(frozen[i], 0.0) << name;
        ++backbone;
      } else {
        EXPECT_DOUBLE_EQ(frozen[i], scales[i]) << name;
        pyramid += starts_with(name, "extractor.");
      }
    }
    EXPECT_GT(backbone, 0);
    EXPECT_GT(pyramid, 0);
  }
  IbrConfig ibr = test::small_ibr_config();
  ibr.seed = 42;
  const IbrNetwork donor(ibr);
  model->initialise_from("ibr", to_json(ibr), donor.state(), "ibr.safetensors");
  const TensorMap state = model->state();
  const TensorMap donor_state = donor.state();
  EXPECT_TRUE(at::equal(state.at("extractor.backbone.stem.conv.weight"), donor_state.at("encoder.stem.conv.weight")));
  ibr.encoder.out_channels = 16;
  EXPECT_THROW(model->initialise_from("ibr", to_json(ibr), IbrNetwork(ibr).state(), "ibr.safetensors"), InputError);
}

}  // namespace
}  // namespace semfield
