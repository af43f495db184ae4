// Inference of the radiance model: render() and render_weights() against marching every sample and
// compositing it with the kernel (the pre-incremental renderer), misses, empty batches, thread counts.
#include "semfield/models/radiance_model.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/composite.h"
#include "semfield/kernels/distortion.h"

namespace semfield {
namespace {

/// A small randomly initialised model whose hash table is scaled up from instant-ngp's +-1e-4, so that the
/// density varies over orders of magnitude: some rays turn opaque inside the box and some stay clear.
std::unique_ptr<RadianceModel> make_model() {
  RadianceConfig config;
  config.field.grid = {/*n_levels=*/8, /*n_features=*/2, /*log2_table_size=*/14, /*base_resolution=*/4, 1.5};
  config.field.finest_resolution = 64;
  config.render.grid_resolution = 32;
  config.render.steps_per_diagonal = 256;
  auto model = std::make_unique<RadianceModel>(config, SceneFrame{});
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  model->field().state().at("grid.params").uniform_(-8.0, 8.0, generator);
  return model;
}

struct Rays {
  at::Tensor o, d;
};

/// Rays from a sphere of radius 3 towards points in [-1.2, 1.2]^3; some miss the [-1,1]^3 box.
Rays make_rays(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  at::Tensor o = torch::randn({n, 3});
  o = 3.0f * o / o.norm(2, 1, true);
  at::Tensor d = 2.4f * (torch::rand({n, 3}) - 0.5f) - o;
  return {o, d / d.norm(2, 1, true)};
}

struct Reference {
  PackedSamples samples;
  kernels::CompositeOutputs colour, density_only;
  at::Tensor rgb;
};

/// Every sample march() gives, the field on all of them, composited by the kernel.
Reference full_composite(const RadianceModel& model, const Rays& rays, const at::Tensor& background) {
  at::NoGradGuard no_grad;
  Reference ref;
  ref.samples = model.march(rays.o, rays.d, /*jitter=*/false, 0);
  const PackedSamples& s = ref.samples;
  const RadianceField::Output f = model.field().forward(model.to_unit_cube(s.positions), s.directions);
  ref.colour = kernels::composite_forward(f.density, f.rgb, s.dts, s.ts, s.ray_offsets);
  ref.density_only = kernels::composite_forward(model.density(s.positions), at::zeros({s.n_samples(), 1}), s.dts,
                                                s.ts, s.ray_offsets);
  ref.rgb = ref.colour.values + (1.0f - ref.colour.opacity).unsqueeze(1) * background;
  return ref;
}

double max_error(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return a.numel() ? (a - b).abs().max().item<double>() : 0.0;
}

TEST(RadianceModelRender, MatchesCompositingEverySample) {
  const auto model = make_model();
  const Rays rays = make_rays(300, 1);
  const at::Tensor background = at::tensor({0.2f, 0.5f, 1.0f});
  const Reference ref = full_composite(*model, rays, background);
  ASSERT_GT((ref.colour.opacity > 0.9999f).sum().item<int64_t>(), 30) << "no ray turns opaque";
  ASSERT_GT((ref.colour.opacity < 0.5f).sum().item<int64_t>(), 30) << "every ray turns opaque";

  const RayRenderOutput out = model->render(rays.o, rays.d, background);
  EXPECT_LE(max_error(out.rgb, ref.rgb), 1e-5);
  EXPECT_LE(max_error(out.opacity, ref.colour.opacity), 1e-5);
  EXPECT_LE(max_error(out.depth, ref.colour.depth), 1e-4);
  // Early termination saved field evaluations, and at least every sample with weight was evaluated.
  EXPECT_LT(out.n_samples, ref.samples.n_samples() * 3 / 4);
  EXPECT_GE(out.n_samples, (ref.colour.weights > 0).sum().item<int64_t>());
  EXPECT_EQ(out.stats.n_samples, out.n_samples);
  EXPECT_GT(out.stats.n_rounds, 1);

  // Per-ray backgrounds.
  const at::Tensor backgrounds = torch::rand({300, 3});
  const RayRenderOutput per_ray = model->render(rays.o, rays.d, backgrounds);
  EXPECT_LE(max_error(per_ray.rgb, ref.colour.values + (1.0f - ref.colour.opacity).unsqueeze(1) * backgrounds),
            1e-5);
}

TEST(RadianceModelRender, WeightsMatchCompositingEverySample) {
  const auto model = make_model();
  const Rays rays = make_rays(300, 2);
  const Reference ref = full_composite(*model, rays, at::ones({3}));
  const WeightedSamples w = model->render_weights(rays.o, rays.d);

  // The kept samples are the full march's samples with weight >= kMinSampleWeight, in the same order.
  const at::Tensor keep = ref.density_only.weights >= WeightedSamples::kMinSampleWeight;
  ASSERT_EQ(w.samples.n_samples(), keep.sum().item<int64_t>());
  ASSERT_GT(w.samples.n_samples(), 1000);
  EXPECT_TRUE(torch::equal(w.samples.ts, ref.samples.ts.masked_select(keep)));
  EXPECT_TRUE(torch::equal(w.samples.dts, ref.samples.dts.masked_select(keep)));
  EXPECT_LE(max_error(w.samples.positions, ref.samples.positions.index({keep})), 1e-6);
  EXPECT_TRUE(torch::equal(w.samples.directions, ref.samples.directions.index({keep})));
  EXPECT_LE(max_error(w.weights, ref.density_only.weights.masked_select(keep)), 1e-6);
  const int64_t R = rays.o.size(0);
  ASSERT_EQ(w.samples.ray_offsets.size(0), R + 1);
  const at::Tensor counts = w.samples.ray_offsets.narrow(0, 1, R) - w.samples.ray_offsets.narrow(0, 0, R);
  const at::Tensor ray_of = at::repeat_interleave(at::arange(R, at::kLong), counts, 0, w.samples.n_samples());
  // Opacity and depth: sums of the kept weights, within the dropped weight of the full composite.
  EXPECT_LE(max_error(w.opacity, at::zeros({R}).index_add(0, ray_of, w.weights)), 1e-5);
  EXPECT_LE(max_error(w.depth, at::zeros({R}).index_add(0, ray_of, w.weights * w.samples.ts)), 1e-4);
  EXPECT_LE(max_error(w.opacity, ref.density_only.opacity), 1e-3);
  EXPECT_LE(max_error(w.depth, ref.density_only.depth), 5e-3);
  // The colour render's opacity agrees too (its density path is the same field).
  EXPECT_LE(max_error(w.opacity, model->render(rays.o, rays.d, at::ones({3})).opacity), 1e-3);
}

TEST(RadianceModelRender, TrainingRenderGivesTheDistortionOfItsOwnWeights) {
  const auto model = make_model();
  const Rays rays = make_rays(200, 4);
  const at::Tensor background = at::ones({200, 3});
  EXPECT_FALSE(model->render_train(rays.o, rays.d, background, 7).distortion.defined());
  const RayRenderOutput out = model->render_train(rays.o, rays.d, background, 7, /*with_distortion=*/true);
  ASSERT_TRUE(out.distortion.defined());
  ASSERT_EQ(out.distortion.sizes(), (std::vector<int64_t>{200}));
  EXPECT_TRUE(out.distortion.requires_grad());
  // The same jittered samples, composited (with the training path's early termination) and measured by the
  // O(n^2) reference.
  const PackedSamples s = model->march(rays.o, rays.d, /*jitter=*/true, 7);
  const RadianceField::Output f = model->field().forward(model->to_unit_cube(s.positions), s.directions);
  const kernels::CompositeOutputs ref = kernels::composite_forward(f.density, f.rgb, s.dts, s.ts, s.ray_offsets);
  const at::Tensor want = kernels::distortion_reference(ref.weights, s.ts, s.dts, s.ray_offsets).detach();
  EXPECT_LE(max_error(out.distortion.detach(), want), 1e-4 * std::max(1.0, want.abs().max().item<double>()));
  EXPECT_GT(want.max().item<double>(), 0.0);  // some rays spread their weight
  out.distortion.mean().backward();  // reaches the field through the compositing weights
}

TEST(RadianceModelRender, MedianDepthOfDenseSamples) {
  // Ray 0: weight 0.2 at t=1, 0.5 at t=2 (cumulative 0.7 >= half of 0.8 first there), 0.1 at t=3; ray 1: no weight.
  const at::Tensor ts = at::tensor({1.f, 2.f, 3.f, 1.f, 2.f, 3.f}).reshape({2, 3});
  const at::Tensor w = at::tensor({0.2f, 0.5f, 0.1f, 0.f, 0.f, 0.f}).reshape({2, 3});
  const at::Tensor m = median_depth(ts, w);
  EXPECT_FLOAT_EQ(m[0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(m[1].item<float>(), 0.0f);
}

TEST(RadianceModelRender, MedianDepthLiesOnOneSurface) {
  // Hand-made samples. Ray 0 grazes a silhouette: 0.45 of its weight on a near surface (t = 1), 0.5 on a far one
  // (t = 3); its expected distance (~2.05) lies in the empty space between, its median on the far surface. Ray 1
  // has no sample, ray 2 one sample, ray 3 reaches half its opacity exactly at its second sample.
  WeightedSamples w;
  w.samples.ts = torch::tensor({0.9f, 1.0f, 1.1f, 2.9f, 3.0f, 5.0f, 1.0f, 2.0f, 3.0f});
  w.weights = torch::tensor({0.05f, 0.35f, 0.05f, 0.1f, 0.4f, 0.3f, 0.2f, 0.2f, 0.4f});
  w.samples.ray_offsets = torch::tensor({0, 5, 5, 6, 9}, torch::kLong);
  w.opacity = torch::tensor({0.95f, 0.f, 0.3f, 0.8f});
  const at::Tensor median = median_depth(w);
  ASSERT_EQ(median.sizes(), (std::vector<int64_t>{4}));
  EXPECT_FLOAT_EQ(median[0].item<float>(), 2.9f);
  EXPECT_FLOAT_EQ(median[1].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(median[2].item<float>(), 5.f);
  EXPECT_FLOAT_EQ(median[3].item<float>(), 2.f);

  // On a real render: every hit ray's median is one of its own samples' distances, 0 exactly where it has none.
  const auto model = make_model();
  const Rays rays = make_rays(300, 5);
  const WeightedSamples real = model->render_weights(rays.o, rays.d);
  const at::Tensor m = median_depth(real);
  const at::Tensor offsets = real.samples.ray_offsets;
  int64_t hits = 0;
  for (int64_t r = 0; r < rays.o.size(0); ++r) {
    const int64_t begin = offsets[r].item<int64_t>(), end = offsets[r + 1].item<int64_t>();
    if (begin == end) {
      EXPECT_EQ(m[r].item<float>(), 0.f);
      continue;
    }
    ++hits;
    const at::Tensor ts = real.samples.ts.narrow(0, begin, end - begin);
    EXPECT_TRUE(ts.eq(m[r]).any().item<bool>()) << "ray " << r;
  }
  EXPECT_GT(hits, 50);
}

TEST(RadianceModelRender, MissesAndEmptyBatches) {
  const auto model = make_model();
  const at::Tensor background = at::tensor({0.1f, 0.2f, 0.3f});
  // Misses the box; starts outside looking away.
  const at::Tensor o = torch::tensor({-3.f, 2.f, 0.f, 2.f, 0.f, 0.f}).reshape({2, 3});
  const at::Tensor d = torch::tensor({1.f, 0.f, 0.f, 1.f, 0.f, 0.f}).reshape({2, 3});
  const RayRenderOutput out = model->render(o, d, background);
  EXPECT_TRUE(torch::allclose(out.rgb, background.expand({2, 3})));
  EXPECT_TRUE(torch::equal(out.opacity, torch::zeros({2})));
  EXPECT_TRUE(torch::equal(out.depth, torch::zeros({2})));
  EXPECT_EQ(out.n_samples, 0);
  const WeightedSamples w = model->render_weights(o, d);
  EXPECT_EQ(w.samples.n_samples(), 0);
  EXPECT_TRUE(torch::equal(w.samples.ray_offsets, torch::zeros({3}, torch::kLong)));

  const RayRenderOutput none = model->render(torch::zeros({0, 3}), torch::zeros({0, 3}), background);
  EXPECT_EQ(none.rgb.sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(none.opacity.size(0), 0);
  const WeightedSamples none_w = model->render_weights(torch::zeros({0, 3}), torch::zeros({0, 3}));
  EXPECT_EQ(none_w.samples.n_samples(), 0);
  EXPECT_EQ(none_w.samples.ray_offsets.size(0), 1);
  EXPECT_EQ(none_w.opacity.size(0), 0);
  EXPECT_EQ(none_w.depth.size(0), 0);
}

TEST(RadianceModelRender, ResultDoesNotDependOnTheThreadCount) {
  const auto model = make_model();
  const Rays rays = make_rays(2000, 3);
  const int threads = parallel_threads();
  set_parallel_threads(1);
  const RayRenderOutput one = model->render(rays.o, rays.d, at::ones({3}));
  const WeightedSamples w_one = model->render_weights(rays.o, rays.d);
  set_parallel_threads(2);
  const RayRenderOutput two = model->render(rays.o, rays.d, at::ones({3}));
  const WeightedSamples w_two = model->render_weights(rays.o, rays.d);
  set_parallel_threads(threads);
  EXPECT_TRUE(torch::equal(one.rgb, two.rgb));
  EXPECT_TRUE(torch::equal(one.depth, two.depth));
  EXPECT_TRUE(torch::equal(w_one.weights, w_two.weights));
  EXPECT_TRUE(torch::equal(w_one.samples.ray_offsets, w_two.samples.ray_offsets));
}

}  // namespace
}  // namespace semfield
