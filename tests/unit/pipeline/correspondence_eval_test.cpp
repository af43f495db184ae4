// PCK and part co-segmentation scores against hand-computed cases; cosine nearest neighbours.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/pipeline/correspondence_eval.h"

namespace semfield {
namespace {

TEST(CorrespondenceEval, PckCountsDistancesWithinEachThresholdAndMissesAsFailures) {
  PckAccumulator pck({2.5, 5.0, 7.5, 10.0});
  for (double d : {0.0, 3.0, 6.0, 9.0, 12.0, std::numeric_limits<double>::infinity()}) pck.add(d);
  const std::vector<double> v = pck.values();
  EXPECT_EQ(pck.count(), 6);
  EXPECT_DOUBLE_EQ(v[0], 1.0 / 6);
  EXPECT_DOUBLE_EQ(v[1], 2.0 / 6);
  EXPECT_DOUBLE_EQ(v[2], 3.0 / 6);
  EXPECT_DOUBLE_EQ(v[3], 4.0 / 6);
  EXPECT_DOUBLE_EQ(PckAccumulator({1.0}).values()[0], 0.0);
}

TEST(CorrespondenceEval, PartMiouAveragesTheSharedPartsOverTheTargetForeground) {
  // truth:     0 1 1 2 2 3      predicted: 1 1 2 2 2 1
  const at::Tensor truth = at::tensor({0, 1, 1, 2, 2, 3}, at::kLong);
  const at::Tensor pred = at::tensor({1, 1, 2, 2, 2, 1}, at::kLong);
  // Source has parts 1, 2 (not 3). Part 1: pred on fg {1, 5}, truth {1, 2}: I 1, U 3 -> 1/3. Part 2: pred {2,3,4},
  // truth {3,4}: I 2, U 3 -> 2/3. Mean 1/2 (part 3 is not shared; the background pixel's prediction is ignored).
  EXPECT_NEAR(pair_part_miou(pred, truth, {1, 2}), 0.5, 1e-12);
  EXPECT_NEAR(pair_part_miou(truth, truth, {1, 2, 3}), 1.0, 1e-12);
  EXPECT_EQ(pair_part_miou(pred, truth, {7}), -1.0);
  EXPECT_EQ(present_parts(truth), (std::vector<int64_t>{1, 2, 3}));
}

TEST(CorrespondenceEval, CosineNearestIgnoresScale) {
  const at::Tensor keys = at::tensor({1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f}).view({3, 2});
  const at::Tensor queries = at::tensor({10.0f, 0.5f, 0.1f, 3.0f, 2.0f, 2.1f}).view({3, 2});
  const auto [index, sim] = cosine_nearest(queries, keys);
  EXPECT_EQ(index[0].item<int64_t>(), 0);
  EXPECT_EQ(index[1].item<int64_t>(), 1);
  EXPECT_EQ(index[2].item<int64_t>(), 2);
  EXPECT_NEAR(sim[2].item<float>(), 0.9997f, 1e-3f);
}

TEST(CorrespondenceEval, EuclideanNearestUsesDistanceNotDirection) {
  // (1,0) and (2,0) point the same way as the query (3,0), so cosine similarity ties them; the distance does not.
  const at::Tensor keys = at::tensor({1.0f, 0.0f, 2.0f, 0.0f, 0.0f, 1.0f}).view({3, 2});
  const at::Tensor queries = at::tensor({3.0f, 0.0f, 0.9f, 0.2f, 0.1f, 0.7f}).view({3, 2});
  const auto [index, dist] = euclidean_nearest(queries, keys);
  EXPECT_EQ(index[0].item<int64_t>(), 1);
  EXPECT_EQ(index[1].item<int64_t>(), 0);
  EXPECT_EQ(index[2].item<int64_t>(), 2);
  EXPECT_NEAR(dist[0].item<float>(), 1.0f, 1e-5f);
  EXPECT_NEAR(dist[1].item<float>(), std::hypot(0.1f, 0.2f), 1e-5f);
}

}  // namespace
}  // namespace semfield
