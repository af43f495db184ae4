// Tests for source-view selection: nearest by position and direction, exclusion, and the training draw.
#include "semfield/data/source_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "support/test_cameras.h"
#include "support/test_support.h"

namespace semfield {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;


// Cameras on a ring of radius 4 around the origin, every 30 degrees, looking at the origin.
std::vector<Camera> ring(int n = 12, double radius = 4.0) {
  std::vector<Camera> out;
  for (int i = 0; i < n; ++i) {
    const double a = 2 * kPi * i / n;
    out.push_back(test::look_at({radius * std::cos(a), radius * std::sin(a), 1.0}, Eigen::Vector3d::Zero()));
  }
  return out;
}

TEST(SourceViews, DistancesCombinePositionOverRadiusAndDirection) {
  const std::vector<Camera> cams = ring();
  const std::vector<double> d = source_view_distances(cams[0], cams, 1.0);
  ASSERT_EQ(d.size(), 12u);
  EXPECT_NEAR(d[0], 0.0, 1e-12);
  // Plain reference for view 3 (90 degrees round the ring).
  const Eigen::Vector3d p = cams[0].origin(), q = cams[3].origin();
  const double expected = (q - p).norm() / p.norm() + (1 - cams[3].forward().normalized().dot(cams[0].forward().normalized()));
  EXPECT_NEAR(d[3], expected, 1e-12);
  // Symmetric neighbours are equally far; farther round the ring is farther.
  EXPECT_NEAR(d[1], d[11], 1e-12);
  for (int k = 1; k < 6; ++k) EXPECT_LT(d[static_cast<size_t>(k)], d[static_cast<size_t>(k + 1)]);
  // The direction term alone: a camera at the same place looking elsewhere is not at distance 0.
  Camera turned = test::look_at(cams[0].origin(), cams[0].origin() + Eigen::Vector3d(0, 0, 1) * 3 + cams[0].forward());
  EXPECT_GT(source_view_distances(cams[0], {turned}, 1.0)[0], 0.1);
  EXPECT_NEAR(source_view_distances(cams[0], {turned}, 0.0)[0], 0.0, 1e-12);
}

TEST(SourceViews, NearestFirstTargetExcludedTiesByIndex) {
  const std::vector<Camera> cams = ring();
  SourceViewOptions options;
  options.count = 4;
  EXPECT_THAT(nearest_source_views(cams[0], cams, options, 0), ElementsAre(1, 11, 2, 10));
  EXPECT_THAT(nearest_source_views(cams[0], cams, options), ElementsAre(0, 1, 11, 2));
  options.count = 20;  // more than there are: all of them but the target
  EXPECT_EQ(nearest_source_views(cams[5], cams, options, 5).size(), 11u);
  // A target that is not a candidate (a test view between two training views).
  const Camera between = test::look_at({4 * std::cos(kPi / 12), 4 * std::sin(kPi / 12), 1.0}, Eigen::Vector3d::Zero());
  options.count = 2;
  EXPECT_THAT(nearest_source_views(between, cams, options), ElementsAre(0, 1));
  options.count = 0;
  EXPECT_THAT(test::error_of([&] { nearest_source_views(between, cams, options); }), HasSubstr("at least 1"));
}

TEST(SourceViews, ScaleDoesNotChangeTheChoice) {
  SourceViewOptions options;
  options.count = 5;
  const std::vector<Camera> near = ring(12, 4.0), far = ring(12, 40.0);
  EXPECT_EQ(nearest_source_views(near[2], near, options, 2), nearest_source_views(far[2], far, options, 2));
}

TEST(SourceViews, TrainingDrawsFromThePoolDeterministically) {
  const std::vector<Camera> cams = ring(24);
  SourceViewOptions options;
  options.count = 4;
  const std::vector<int> pool_views = nearest_source_views(cams[0], cams, {8, 1.0}, 0);
  const std::set<int> pool(pool_views.begin(), pool_views.end());
  std::map<int, int> drawn;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const std::vector<int> s = sample_source_views(cams[0], cams, options, 8, seed, 0);
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s, sample_source_views(cams[0], cams, options, 8, seed, 0));  // same seed, same draw
    EXPECT_EQ(std::set<int>(s.begin(), s.end()).size(), 4u);               // without replacement
    const std::vector<double> d = source_view_distances(cams[0], cams);
    for (size_t i = 0; i < s.size(); ++i) {
      EXPECT_TRUE(pool.count(s[i])) << s[i];
      EXPECT_NE(s[i], 0);
      if (i > 0) {
        EXPECT_LE(d[static_cast<size_t>(s[i - 1])], d[static_cast<size_t>(s[i])]);  // nearest first
      }
      ++drawn[s[i]];
    }
  }
  // Every pool view is drawn about count/pool = half the time.
  ASSERT_EQ(drawn.size(), 8u);
  for (const auto& [view, times] : drawn) EXPECT_NEAR(times, 200, 45) << "view " << view;
  // pool == count: the nearest, whatever the seed.
  EXPECT_EQ(sample_source_views(cams[0], cams, options, 4, 7, 0), nearest_source_views(cams[0], cams, options, 0));
  EXPECT_THAT(test::error_of([&] { sample_source_views(cams[0], cams, options, 3, 1, 0); }), HasSubstr("pool (3)"));
}

}  // namespace
}  // namespace semfield
