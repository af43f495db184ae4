// The weight-free similarity segmenter's steps on synthetic feature maps with known regions.
#include "semfield/segment/similarity_segmenter.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/models/feature_model.h"
#include "semfield/models/radiance_model.h"
#include "semfield/segment/mask_metrics.h"
#include "support/small_models.h"

namespace semfield {
namespace {

constexpr int64_t kC = 8, kH = 24, kW = 32;

// Three regions with distinct features: background (left third), object A (a square), object B (a square with
// A's exact feature, far from A), plus small deterministic noise.
struct Scene {
  at::Tensor unit, opacity, depth, truth_a, truth_b;
};

Scene make_scene(float noise = 0.05f) {
  at::manual_seed(7);
  at::Tensor maps = at::zeros({kC, kH, kW});
  maps[0].fill_(1.0f);  // background direction
  at::Tensor truth_a = at::zeros({kH, kW}, at::kBool), truth_b = at::zeros({kH, kW}, at::kBool);
  truth_a.slice(0, 4, 12).slice(1, 4, 12).fill_(true);
  truth_b.slice(0, 14, 22).slice(1, 20, 28).fill_(true);
  const at::Tensor object = at::zeros({kC});
  object[2] = 1.0f;
  object[3] = 0.5f;
  for (const at::Tensor& truth : {truth_a, truth_b})
    maps.permute({1, 2, 0}).index_put_({truth}, object);
  maps += noise * at::randn({kC, kH, kW});
  Scene s;
  s.unit = unit_features(maps, at::zeros({kC}), at::ones({kC}));
  s.opacity = at::ones({kH, kW});
  s.depth = at::full({kH, kW}, 2.0f);
  s.truth_a = truth_a;
  s.truth_b = truth_b;
  return s;
}

TEST(SimilaritySegmenter, UnitFeaturesStandardiseThenNormalise) {
  const at::Tensor maps = at::stack({at::full({2, 2}, 3.0f), at::full({2, 2}, 10.0f)});
  const at::Tensor unit = unit_features(maps, torch::tensor({1.0f, 10.0f}), torch::tensor({2.0f, 5.0f}));
  // Channel 0 -> (3-1)/2 = 1, channel 1 -> 0: the unit vector (1, 0).
  EXPECT_NEAR(unit[0][0][0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(unit[1][1][1].item<float>(), 0.0f, 1e-6);
  const at::Tensor norms = unit_features(at::randn({5, 3, 4}), at::zeros({5}), at::ones({5})).norm(2, 0);
  EXPECT_TRUE(at::allclose(norms, at::ones({3, 4}), 1e-5, 1e-5));
}

TEST(SimilaritySegmenter, OtsuSplitsTwoModes) {
  const at::Tensor values = at::cat({at::full({300}, 0.1f) + 0.02f * at::rand({300}),
                                     at::full({50}, 0.9f) + 0.02f * at::rand({50})});
  const double t = otsu_threshold(values);
  EXPECT_GT(t, 0.12);
  EXPECT_LT(t, 0.9);
  EXPECT_DOUBLE_EQ(otsu_threshold(at::full({5}, 0.3f)), static_cast<double>(0.3f));
}

TEST(SimilaritySegmenter, ClickSelectsItsConnectedRegionOnly) {
  const Scene s = make_scene();
  SimilarityOptions options;
  Prompts prompts;
  prompts.positive = {{7, 7}};
  const SimilarityTarget target = make_similarity_target(s.unit, s.opacity, prompts, options);
  ASSERT_EQ(target.positive.size(0), 1);
  EXPECT_GE(target.threshold, options.min_threshold);
  EXPECT_LE(target.threshold, options.max_threshold);
  const at::Tensor candidates = similarity_candidates(s.unit, s.opacity, target, std::nullopt, options);
  // Both squares share the feature: both are candidates, the background is not.
  EXPECT_DOUBLE_EQ(mask_iou(candidates, s.truth_a | s.truth_b), 1.0);
  // Only the square connected to the click is grown.
  const at::Tensor grown = grow_regions(candidates, click_seeds(prompts.positive, kW, kH), s.depth, options.depth_edge);
  EXPECT_DOUBLE_EQ(mask_iou(grown, s.truth_a), 1.0);
  // The seed of the other square gives the other square.
  const at::Tensor other = grow_regions(candidates, click_seeds({{24, 18}}, kW, kH), s.depth, options.depth_edge);
  EXPECT_DOUBLE_EQ(mask_iou(other, s.truth_b), 1.0);
  // A seed outside the candidates grows nothing.
  EXPECT_FALSE(grow_regions(candidates, click_seeds({{0, 0}}, kW, kH), s.depth, options.depth_edge).any().item<bool>());
}

TEST(SimilaritySegmenter, DepthEdgesSeparateTouchingRegions) {
  Scene s = make_scene();
  // Make the object one wide band across the image, its right half far behind its left half.
  const at::Tensor band = at::zeros({kH, kW}, at::kBool);
  band.slice(0, 4, 12).fill_(true);
  at::Tensor candidates = band.clone();
  s.depth.slice(1, 16, kW).fill_(4.0f);
  const at::Tensor grown = grow_regions(candidates, click_seeds({{2, 6}}, kW, kH), s.depth, 0.04);
  at::Tensor left = band.clone();
  left.slice(1, 16, kW).fill_(false);
  EXPECT_DOUBLE_EQ(mask_iou(grown, left), 1.0);
  // A depth change below the edge threshold does not cut.
  s.depth.slice(1, 16, kW).fill_(2.05f);
  EXPECT_DOUBLE_EQ(mask_iou(grow_regions(candidates, click_seeds({{2, 6}}, kW, kH), s.depth, 0.04), band), 1.0);
}

TEST(SimilaritySegmenter, NegativeClicksAndBoxesRestrict) {
  const Scene s = make_scene(0.0f);
  SimilarityOptions options;
  Prompts prompts;
  prompts.positive = {{7, 7}};
  prompts.negative = {{24, 18}};  // on the twin square: same feature, ties are not candidates
  const SimilarityTarget target = make_similarity_target(s.unit, s.opacity, prompts, options);
  EXPECT_EQ(target.negative.size(0), 1);
  EXPECT_FALSE(similarity_candidates(s.unit, s.opacity, target, std::nullopt, options).any().item<bool>());
  // A box keeps only what is inside it.
  Prompts boxed;
  boxed.box = Eigen::Vector4d(0, 12, 15, 23);
  const SimilarityTarget box_target = make_similarity_target(s.unit, s.opacity, boxed, options);
  const at::Tensor in_box = similarity_candidates(s.unit, s.opacity, box_target, boxed.box, options);
  // The box centre (7.5, 17.5) lies on the background, so the box selects the background inside it.
  EXPECT_TRUE(in_box[17][7].item<bool>());
  EXPECT_FALSE(in_box.slice(1, 16, kW).any().item<bool>());
  EXPECT_FALSE(in_box.slice(0, 0, 12).any().item<bool>());
  // Fractional corners read the pixel whose centre is nearest (centres at integers), as clicks do.
  EXPECT_EQ(box_mask(Eigen::Vector4d(1, 2, 3.4, 2), kW, kH).sum().item<int64_t>(), 3);
  EXPECT_EQ(box_mask(Eigen::Vector4d(1, 2, 3.5, 2), kW, kH).sum().item<int64_t>(), 4);
  EXPECT_EQ(box_mask(Eigen::Vector4d(0.6, 1.6, 3.4, 2.4), kW, kH).sum().item<int64_t>(), 3);
}

TEST(SimilaritySegmenter, EmptyClicksGiveNoTarget) {
  Scene s = make_scene();
  s.opacity.slice(0, 0, 3).slice(1, 0, 3).fill_(0.0f);
  Prompts prompts;
  prompts.positive = {{1, 1}};
  SimilarityOptions options;
  const SimilarityTarget target = make_similarity_target(s.unit, s.opacity, prompts, options);
  EXPECT_EQ(target.positive.size(0), 0);
  EXPECT_FALSE(similarity_candidates(s.unit, s.opacity, target, std::nullopt, options).any().item<bool>());
}

TEST(SimilaritySegmenter, BottleneckIsTheWidestPathFromTheSeeds) {
  const at::Tensor score = torch::tensor({{0.9f, 0.8f, 0.3f, 0.7f, 0.95f}});
  at::Tensor seeds = at::zeros({1, 5}, at::kBool);
  seeds[0][0] = true;
  const at::Tensor flat = at::ones({1, 5});
  EXPECT_TRUE(seed_bottleneck(score, seeds, flat, 0.04).allclose(torch::tensor({{0.9f, 0.8f, 0.3f, 0.3f, 0.3f}})));
  // A depth edge between pixels 1 and 2 cuts the path.
  const at::Tensor step = torch::tensor({{1.0f, 1.0f, 2.0f, 2.0f, 2.0f}});
  const at::Tensor cut = seed_bottleneck(score, seeds, step, 0.04);
  EXPECT_TRUE(std::isinf(cut[0][2].item<float>()) && cut[0][2].item<float>() < 0);
  // It is grow_regions at every level.
  const Scene s = make_scene(0.1f);
  const at::Tensor noisy = at::rand({kH, kW});
  at::Tensor click = at::zeros({kH, kW}, at::kBool);
  click[7][7] = true;
  const at::Tensor b = seed_bottleneck(noisy, click, s.depth, 0.04);
  for (const float t : {0.2f, 0.5f, 0.8f})
    EXPECT_TRUE(grow_regions(noisy > t, click, s.depth, 0.04).equal(b > t)) << t;
}

TEST(SimilaritySegmenter, ThresholdSitsAboveTheJumpOfTheRegion) {
  // An object of 40 pixels at bottleneck 0.85 inside 600 ground pixels all reached through a rim at 0.4.
  at::Tensor b = at::full({1, 640}, 0.4f);
  b.slice(1, 0, 40).fill_(0.85f);
  const auto t = region_jump_threshold(b, 0.2, 0.9, 16, 1.5);
  ASSERT_TRUE(t.has_value());
  EXPECT_GT(*t, 0.4);
  EXPECT_LE(*t, 0.41);
  // No jump (one plateau), or the jump only below the smallest region allowed: none.
  EXPECT_FALSE(region_jump_threshold(at::full({1, 640}, 0.85f), 0.2, 0.9, 16, 1.5).has_value());
  EXPECT_FALSE(region_jump_threshold(b, 0.2, 0.9, 100, 1.5).has_value());
}

TEST(SimilaritySegmenter, RefinementFollowsFeatureEdges) {
  const Scene s = make_scene(0.0f);
  SimilarityOptions options;
  options.refine_iterations = 2;
  // A mask of square A with a one-pixel hole, a missing corner and a stray background pixel.
  at::Tensor mask = s.truth_a.clone();
  mask[7][7] = false;
  mask[4][4] = false;
  mask[20][2] = true;
  const at::Tensor refined = refine_mask(mask, s.unit, s.depth, s.opacity, options);
  EXPECT_DOUBLE_EQ(mask_iou(refined, s.truth_a), 1.0);
  // Empty space is never selected, whatever its neighbours say.
  Scene holed = make_scene(0.0f);
  holed.opacity[8][8] = 0.0f;
  EXPECT_FALSE(refine_mask(s.truth_a, holed.unit, holed.depth, holed.opacity, options)[8][8].item<bool>());
}

// The refinement's rule written plainly: every pixel whose window holds both values takes the weighted vote of
// its window; the others keep their value.
at::Tensor reference_refinement(at::Tensor mask, const Scene& s, const SimilarityOptions& options) {
  const int r = options.refine_radius;
  mask = mask.clone();
  for (int pass = 0; pass < options.refine_iterations; ++pass) {
    at::Tensor next = mask.clone();
    for (int64_t y = 0; y < kH; ++y)
      for (int64_t x = 0; x < kW; ++x) {
        bool any_in = false, any_out = false;
        double in = 0, total = 0;
        for (int64_t yy = std::max<int64_t>(0, y - r); yy <= std::min<int64_t>(kH - 1, y + r); ++yy)
          for (int64_t xx = std::max<int64_t>(0, x - r); xx <= std::min<int64_t>(kW - 1, x + r); ++xx) {
            const bool m = mask[yy][xx].item<bool>();
            any_in |= m;
            any_out |= !m;
            const double dot = (s.unit.select(1, y).select(1, x) * s.unit.select(1, yy).select(1, xx)).sum().item<double>();
            const double weight = std::exp(-(2 - 2 * dot) / (2 * options.refine_feature_sigma * options.refine_feature_sigma));
            total += weight;
            if (m) in += weight;
          }
        if (any_in && any_out) next[y][x] = in > 0.5 * total;
      }
    mask = next;
  }
  return mask;
}

TEST(SimilaritySegmenter, RefinementMatchesItsRuleOnANoisyMask) {
  const Scene s = make_scene(0.3f);
  SimilarityOptions options;
  at::manual_seed(3);
  const at::Tensor mask = s.truth_a | (at::rand({kH, kW}) < 0.15);  // the square and scattered noise
  const at::Tensor expected = reference_refinement(mask, s, options);
  EXPECT_TRUE(at::equal(refine_mask(mask, s.unit, s.depth, s.opacity, options), expected));
  // With the pixel-major copy given, the same.
  const at::Tensor pixel_major = s.unit.permute({1, 2, 0}).contiguous();
  EXPECT_TRUE(at::equal(refine_mask(mask, s.unit, s.depth, s.opacity, options, pixel_major), expected));
}

TEST(SimilaritySegmenter, PreparedViewsGiveTheSameMask) {
  // A click on a view whose per-view work was done ahead (precompute) gives the mask of a click on a fresh
  // copy of it, which computes that work itself.
  const Scene s = make_scene();
  const RadianceModel radiance(test::small_radiance_config(), SceneFrame{});
  const FeatureModel features(test::small_feature_config({kC}), TeacherOutputKind::Features, false, radiance, 1);
  SegmentView view;
  view.camera.intrinsics.width = kW;
  view.camera.intrinsics.height = kH;
  view.maps = s.unit;
  view.depth = s.depth;
  view.opacity = s.opacity;
  Prompts prompts;
  prompts.positive = {{7, 7}};
  SimilaritySegmenter prepared(features), fresh(features);
  prepared.precompute(view);
  SegmentView copy = view;
  copy.maps = view.maps.clone();
  const at::Tensor a = prepared.segment(view, prompts), b = fresh.segment(copy, prompts);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_DOUBLE_EQ(mask_iou(a, s.truth_a), 1.0);
}

}  // namespace
}  // namespace semfield
