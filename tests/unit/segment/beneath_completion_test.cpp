// Completing a selection with what lies beneath it, on ray-cast views of a table (a top on four legs) standing
// on the ground beside a box: the legs join a selection of the top, the ground and the box never do; and the
// similarity segmenter, whose features make the legs look like the ground, selects them with the completion.
#include "semfield/segment/beneath_completion.h"

#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/models/feature_model.h"
#include "semfield/models/radiance_model.h"
#include "semfield/segment/mask_metrics.h"
#include "semfield/segment/similarity_segmenter.h"
#include "support/segment_views.h"
#include "support/small_models.h"
#include "support/test_cameras.h"

namespace semfield {
// A named namespace: this file shares helper names with another test of the same unity batch family.
namespace beneath_completion_test {

constexpr int kSize = 96;

Camera look_at(const Eigen::Vector3d& eye, const Eigen::Vector3d& target) {
  return test::look_at(eye, target, kSize, 110);
}

struct Box {
  Eigen::Vector3d lo, hi;
  int part;  // 1 table top, 2 leg, 3 the other box
};

// The ground disc z = 0 of radius 2 (part 0), the table (top [-0.5, 0.5]^2 x [0.45, 0.55] on legs 0.1 wide, inset
// from its corners) and a box beside it.
std::vector<Box> scene_boxes() {
  std::vector<Box> boxes{{{-0.5, -0.5, 0.45}, {0.5, 0.5, 0.55}, 1}, {{0.75, -0.3, 0}, {1.15, 0.1, 0.35}, 3}};
  for (const double sx : {-1.0, 1.0})
    for (const double sy : {-1.0, 1.0}) {
      const Eigen::Vector3d centre(sx * 0.42, sy * 0.42, 0);
      boxes.push_back({centre + Eigen::Vector3d(-0.05, -0.05, 0), centre + Eigen::Vector3d(0.05, 0.05, 0.45), 2});
    }
  return boxes;
}

// What a view sees: z-depth, opacity and the part each opaque pixel shows (-1: nothing).
struct RayCast {
  at::Tensor depth, opacity, part;
  at::Tensor is(int p) const { return part.eq(p); }
};

RayCast ray_cast(const Camera& camera) {
  RayCast out{at::zeros({kSize, kSize}), at::zeros({kSize, kSize}), at::full({kSize, kSize}, -1, at::kLong)};
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Box> boxes = scene_boxes();
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) {
      const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
      double best = inf;
      int part = -1;
      const double tg = -ray.origin.z() / ray.direction.z();
      if (tg > 0 && (ray.origin + tg * ray.direction).head<2>().norm() <= 2.0) best = tg, part = 0;
      for (const Box& box : boxes) {
        double t0 = 0, t1 = inf;
        for (int a = 0; a < 3; ++a) {
          const double ta = (box.lo[a] - ray.origin[a]) / ray.direction[a];
          const double tb = (box.hi[a] - ray.origin[a]) / ray.direction[a];
          t0 = std::max(t0, std::min(ta, tb));
          t1 = std::min(t1, std::max(ta, tb));
        }
        if (t0 <= t1 && t0 < best) best = t0, part = box.part;
      }
      if (part < 0) continue;
      out.depth[y][x] = static_cast<float>(best * ray.direction.dot(camera.forward()));
      out.opacity[y][x] = 1.0f;
      out.part[y][x] = part;
    }
  return out;
}

double fraction(const at::Tensor& flags, const at::Tensor& among) {
  return (flags & among).sum().item<double>() / std::max(1.0, among.sum().item<double>());
}

const Camera& front_camera() {
  static const Camera camera = look_at({0.6, -3, 1.6}, {0.2, 0, 0.25});
  return camera;
}

TEST(BeneathCompletion, FootprintIsTheSelectionsHullOnThePlane) {
  const RayCast cast = ray_cast(front_camera());
  const auto plane = fit_support_plane(front_camera(), cast.depth, cast.opacity);
  ASSERT_TRUE(plane.has_value());
  const Footprint footprint =
      selection_footprint(cast.is(1), *plane, cast.depth, BeneathOptions{});
  ASSERT_GE(footprint.hull.size(), 3u);
  EXPECT_NEAR(footprint.top, 0.55, 0.02);  // the top's upper face
  // The legs' axes lie inside, the box beside the table and the ground beyond it outside.
  for (const double s : {-1.0, 1.0}) {
    EXPECT_TRUE(footprint.contains(footprint.project({s * 0.42, 0.42, 0.1})));
    EXPECT_TRUE(footprint.contains(footprint.project({s * 0.42, -0.42, 0.3})));
  }
  EXPECT_FALSE(footprint.contains(footprint.project({0.95, -0.1, 0.2})));
  // The columns: the top stands over the legs' axes; nothing selected stands over the box or the far ground.
  EXPECT_NEAR(footprint.column_top_near(footprint.project({0.42, -0.42, 0.2})), 0.55, 0.02);
  EXPECT_NEAR(footprint.column_top_near(footprint.project({-0.42, 0.42, 0.0})), 0.55, 0.02);
  EXPECT_EQ(footprint.column_top_near(footprint.project({0.95, -0.1, 0.2})), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(footprint.column_top_near(footprint.project({5, 5, 0})), -std::numeric_limits<double>::infinity());
  EXPECT_FALSE(footprint.contains(footprint.project({0, -0.8, 0})));
  // The margin: two pixels along the columns, where this grazing view (24 degrees above the plane) spreads the top's
  // unit depth over 12 rows; across, a pixel spans 0.03 (depth ~3.3, focal length 110 pixels).
  EXPECT_GT(footprint.margin, 2 * 0.07);
  EXPECT_LT(footprint.margin, 2 * 0.1);
  EXPECT_TRUE(footprint.contains(footprint.project({0.5 + 0.5 * footprint.margin, 0, 0})));
  EXPECT_FALSE(footprint.contains(footprint.project({0.5 + 2 * footprint.margin, 0, 0})));
}

TEST(BeneathCompletion, AddsTheLegsUnderASelectedTop) {
  for (const Camera& camera : {front_camera(), look_at({-2.2, -2.2, 1.4}, {0, 0, 0.25})}) {
    const RayCast cast = ray_cast(camera);
    const auto plane = fit_support_plane(camera, cast.depth, cast.opacity);
    ASSERT_TRUE(plane.has_value());
    const at::Tensor top = cast.is(1), legs = cast.is(2);
    ASSERT_GT(legs.sum().item<int64_t>(), 40);  // the legs show
    const at::Tensor completed =
        complete_beneath(top, *plane, cast.depth, cast.opacity, plane->pixels, 0.04, 0.5);
    EXPECT_TRUE(at::equal(completed & top, top));  // only ever adds
    // The legs, but the lowest pixels of each: within two plane bands of the ground they count as ground.
    EXPECT_GT(fraction(completed, legs), 0.85);
    EXPECT_EQ((completed & cast.is(0)).sum().item<int64_t>(), 0);
    EXPECT_EQ((completed & cast.is(3)).sum().item<int64_t>(), 0);

    // Disabled, or a selection without a point above the plane: unchanged.
    BeneathOptions off;
    off.enabled = false;
    EXPECT_TRUE(at::equal(complete_beneath(top, *plane, cast.depth, cast.opacity, plane->pixels,
                                           0.04, 0.5, off),
                          top));
    const at::Tensor ground = cast.is(0);
    EXPECT_TRUE(at::equal(
        complete_beneath(ground, *plane, cast.depth, cast.opacity, {}, 0.04, 0.5), ground));
  }
}

TEST(BeneathCompletion, NeverRisesAboveTheSelectionNorLeavesTheFootprint) {
  const RayCast cast = ray_cast(front_camera());
  const auto plane = fit_support_plane(front_camera(), cast.depth, cast.opacity);
  ASSERT_TRUE(plane.has_value());
  // The legs selected: the top is above them, so it is not added (nor the box beside them).
  const at::Tensor legs = cast.is(2);
  const at::Tensor completed = complete_beneath(legs, *plane, cast.depth, cast.opacity, plane->pixels,
                                                0.04, 0.5);
  EXPECT_LT(fraction(completed, cast.is(1)), 0.05);
  EXPECT_EQ((completed & cast.is(3)).sum().item<int64_t>(), 0);
}

TEST(BeneathCompletion, SimilaritySegmenterSelectsTheLegsThatLookLikeTheGround) {
  const Camera& camera = front_camera();
  const RayCast cast = ray_cast(camera);
  // The top has one look, the legs, the ground and the box another: to the features the legs are ground.
  at::manual_seed(7);
  const int64_t c = 8;
  at::Tensor maps = 0.02f * at::randn({c, kSize, kSize});
  maps[0] += cast.is(1).to(at::kFloat);
  maps[1] += cast.is(1).logical_not().to(at::kFloat);
  const RadianceModel radiance(test::small_radiance_config(), SceneFrame{});
  const FeatureModel features(test::small_feature_config({c}), TeacherOutputKind::Features, false, radiance, 1);
  const SegmentView view = test::segment_view(camera, maps, cast.depth, cast.opacity);
  const at::Tensor top_pixels = cast.is(1).nonzero().to(at::kDouble);
  Prompts click;
  click.positive = {{top_pixels.select(1, 1).mean().item<double>() + 0.5,
                     top_pixels.select(1, 0).mean().item<double>() + 0.5}};
  const at::Tensor table = cast.is(1) | cast.is(2);

  SimilaritySegmenter segmenter(features);
  const at::Tensor mask = segmenter.segment(view, click);
  EXPECT_GT(fraction(mask, cast.is(2)), 0.85);
  EXPECT_GT(mask_iou(mask, table), 0.9);

  SimilarityOptions without;
  without.beneath.enabled = false;
  SimilaritySegmenter plain(features, without);
  const at::Tensor top_only = plain.segment(view, click);
  EXPECT_LT(fraction(top_only, cast.is(2)), 0.1);
  EXPECT_LT(mask_iou(top_only, table), mask_iou(mask, table));

  // Followed into another view, the legs join there too.
  const Camera other = look_at({-2.2, -2.2, 1.4}, {0, 0, 0.25});
  const RayCast other_cast = ray_cast(other);
  at::Tensor other_maps = 0.02f * at::randn({c, kSize, kSize});
  other_maps[0] += other_cast.is(1).to(at::kFloat);
  other_maps[1] += other_cast.is(1).logical_not().to(at::kFloat);
  const SegmentView other_view = test::segment_view(other, other_maps, other_cast.depth, other_cast.opacity);
  const at::Tensor followed = segmenter.follow(other_view, {}, other_cast.is(1));
  EXPECT_GT(fraction(followed, other_cast.is(2)), 0.85);
  EXPECT_EQ((followed & other_cast.is(3)).sum().item<int64_t>(), 0);
}

}  // namespace beneath_completion_test
}  // namespace semfield
