// Nearest-neighbour label and keypoint transfer on hand-made feature maps.
#include "semfield/segment/feature_transfer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "semfield/segment/similarity_segmenter.h"

namespace semfield {
namespace {

// Unit features [4,H,W] of a map split into vertical stripes of the basis directions 0..3 (stripe s = columns
// 4s..4s+3), shifted right by `shift` columns (a "moved camera").
at::Tensor stripes(int64_t shift) {
  at::Tensor maps = at::zeros({4, 8, 16});
  for (int64_t x = 0; x < 16; ++x) {
    const int64_t stripe = std::clamp<int64_t>((x - shift) / 4, 0, 3);
    maps[stripe].select(1, x).fill_(1.0f);
  }
  return unit_features(maps, at::zeros({4}), at::ones({4}));
}

TEST(FeatureTransfer, LabelsFollowTheirFeatures) {
  const at::Tensor source = stripes(0);
  // Labels: stripe 1 is class 5, stripe 3 class 9; the rest unlabelled.
  at::Tensor labels = at::zeros({8, 16}, at::kLong);
  labels.slice(1, 4, 8).fill_(5);
  labels.slice(1, 12, 16).fill_(9);
  const LabelledFeatures sources = labelled_features(source, labels, at::ones({8, 16}));
  EXPECT_EQ(sources.labels.numel(), 64);
  const at::Tensor target = stripes(2);
  const TransferredLabels t = transfer_labels(sources, target.reshape({4, -1}).t(), {});
  const at::Tensor ids = t.labels.view({8, 16});
  // Columns 6..9 show stripe 1 in the target: class 5; columns 14..15 show stripe 3: class 9.
  EXPECT_TRUE(ids.slice(1, 6, 10).eq(5).all().item<bool>());
  EXPECT_TRUE(ids.slice(1, 14, 16).eq(9).all().item<bool>());
  EXPECT_NEAR(t.similarity.view({8, 16})[0][7].item<float>(), 1.0f, 1e-6);
  // Invalid targets get 0.
  at::Tensor valid = at::ones({8 * 16}, at::kBool);
  valid[7] = false;
  EXPECT_EQ(transfer_labels(sources, target.reshape({4, -1}).t(), valid).labels[7].item<int64_t>(), 0);
  // Chunking does not change the result.
  TransferOptions small;
  small.chunk = 5;
  EXPECT_TRUE(transfer_labels(sources, target.reshape({4, -1}).t(), {}, small).labels.equal(t.labels));
}

TEST(FeatureTransfer, SubsamplingKeepsEveryClass) {
  const at::Tensor source = stripes(0);
  at::Tensor labels = at::zeros({8, 16}, at::kLong);
  labels.slice(1, 0, 15).fill_(1);
  labels[3][15] = 2;  // a one-pixel class
  at::Tensor opacity = at::ones({8, 16});
  opacity[0][0] = 0.0f;  // empty space is never a source
  TransferOptions options;
  options.max_source_pixels = 10;
  const LabelledFeatures sub = labelled_features(source, labels, opacity, options);
  EXPECT_LE(sub.labels.numel(), 12);
  EXPECT_EQ(sub.labels.eq(2).sum().item<int64_t>(), 1);
  EXPECT_GT(sub.labels.eq(1).sum().item<int64_t>(), 5);
  EXPECT_TRUE(labelled_features(source, labels, opacity, options).labels.equal(sub.labels));  // seeded
  EXPECT_EQ(labelled_features(source, at::zeros({8, 16}, at::kLong), opacity).labels.numel(), 0);
  const TransferredLabels none = transfer_labels(labelled_features(source, at::zeros({8, 16}, at::kLong), opacity),
                                                 at::ones({3, 4}), {});
  EXPECT_TRUE(none.labels.eq(0).all().item<bool>());
}

TEST(FeatureTransfer, KeypointsGoToTheMostSimilarPixel) {
  at::Tensor maps = at::zeros({3, 6, 10});
  maps[0].fill_(1.0f);
  maps[1][4][7] = 5.0f;  // a distinctive pixel at column 7, row 4
  const at::Tensor unit = unit_features(maps, at::zeros({3}), at::ones({3}));
  const at::Tensor query = unit.select(1, 4).select(1, 7).unsqueeze(0);
  const TransferredKeypoints t = transfer_keypoints(query, unit, at::ones({6, 10}));
  EXPECT_EQ(t.xy[0][0].item<float>(), 7.0f);
  EXPECT_EQ(t.xy[0][1].item<float>(), 4.0f);
  EXPECT_NEAR(t.similarity[0].item<float>(), 1.0f, 1e-6);
  // Hidden behind empty space it cannot be found; a view without surfaces gives the "not found" marker.
  at::Tensor opacity = at::ones({6, 10});
  opacity[4][7] = 0.0f;
  EXPECT_LT(transfer_keypoints(query, unit, opacity).similarity[0].item<float>(), 0.99f);
  const TransferredKeypoints none = transfer_keypoints(query, unit, at::zeros({6, 10}));
  EXPECT_EQ(none.similarity[0].item<float>(), -2.0f);
  EXPECT_EQ(none.xy[0][0].item<float>(), -1.0f);
}

TEST(FeatureTransfer, NearestFeaturesForPoints) {
  const at::Tensor candidates = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}, {-1.0f, 0.0f}});
  const std::pair<at::Tensor, at::Tensor> nearest =
      nearest_features(torch::tensor({{0.1f, 3.0f}, {-5.0f, 0.2f}}), candidates);
  EXPECT_TRUE(nearest.first.equal(torch::tensor({1, 2}, at::kLong)));
  EXPECT_GT(nearest.second[0].item<float>(), 0.99f);
}

TEST(FeatureTransfer, CanonicalPositionsMakeTheDotProductTheJointDistance) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor vq = at::randn({4, 6}, gen), vk = at::randn({7, 6}, gen);
  const at::Tensor uq = vq / vq.norm(2, 1, true), uk = vk / vk.norm(2, 1, true);
  const at::Tensor xq = at::randn({4, 3}, gen), xk = at::randn({7, 3}, gen);
  for (const double w : {0.0, 0.5, 3.0}) {
    const at::Tensor q = with_canonical_positions(uq, xq, w, PositionRole::Query, 1);
    const at::Tensor k = with_canonical_positions(uk, xk, w, PositionRole::Key, 1);
    ASSERT_EQ(q.size(1), 6 + 5);
    const at::Tensor dots = at::matmul(q, k.t());
    const at::Tensor joint = at::cdist(uq, uk).pow(2) + w * w * at::cdist(xq, xk).pow(2);
    EXPECT_TRUE(at::allclose(dots, 1 - joint / 2, 1e-4, 1e-4)) << "w " << w;
    if (w == 0) {
      EXPECT_TRUE(at::allclose(dots, at::matmul(uq, uk.t()), 1e-5, 1e-5));  // the cosine
    }
    // best_dot finds the joint nearest neighbour.
    EXPECT_TRUE(best_dot(q, k).first.equal(std::get<1>(joint.min(1)))) << "w " << w;
  }
  // Maps [C,H,W] carry the channels on dim 0, and a far-away position can outweigh a perfect feature match.
  at::Tensor maps = at::zeros({2, 1, 3});
  maps[0].fill_(1.0f);
  at::Tensor pos = at::zeros({3, 1, 3});
  pos[0][0][0] = 5.0f;  // pixel 0: the same feature as the query, far from its position
  maps[0][0][1] = 0.8f;
  maps[1][0][1] = 0.6f;  // pixel 1: a cosine of 0.8, at the query's position
  maps[0][0][2] = 0.0f;
  maps[1][0][2] = 1.0f;  // pixel 2: a cosine of 0, at the query's position
  const at::Tensor query = torch::tensor({{1.0f, 0.0f}});
  const at::Tensor key_maps = with_canonical_positions(maps, pos, 1.0, PositionRole::Key, 0);
  const at::Tensor q = with_canonical_positions(query, at::zeros({1, 3}), 1.0, PositionRole::Query, 1);
  const TransferredKeypoints t = transfer_keypoints(q, key_maps, at::ones({1, 3}));
  EXPECT_EQ(t.xy[0][0].item<float>(), 1.0f);
  EXPECT_NEAR(t.similarity[0].item<float>(), 0.8f, 1e-5);
  EXPECT_EQ(transfer_keypoints(query, maps, at::ones({1, 3})).xy[0][0].item<float>(), 0.0f);  // without positions
  // Empty pixels are never chosen, however low the scores of the opaque ones.
  at::Tensor opacity = at::ones({1, 3});
  opacity[0][1] = 0.0f;
  opacity[0][2] = 0.0f;
  const TransferredKeypoints far = transfer_keypoints(q, key_maps, opacity);
  EXPECT_EQ(far.xy[0][0].item<float>(), 0.0f);
  EXPECT_LT(far.similarity[0].item<float>(), -2.0f);
}

}  // namespace
}  // namespace semfield
