// Voting masks into a selection with the visibility test, on a known camera and a flat rendered surface.
#include "semfield/segment/selection_voting.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

// Camera at (0, 0, 4) looking down -z with a 90-degree field of view.
Camera top_camera() {
  Camera camera;
  camera.intrinsics.width = camera.intrinsics.height = 32;
  camera.intrinsics.fx = camera.intrinsics.fy = 16;
  camera.intrinsics.cx = camera.intrinsics.cy = 16;
  camera.c2w(2, 3) = 4;
  return camera;
}

TEST(SelectionVoting, VotesOnlyTheVisibleSurface) {
  Selection selection({-1, -1, -1}, {1, 1, 1}, 16);  // voxel edge 0.125
  const Camera camera = top_camera();
  // The rendered surface is the plane z = 1 (z-depth 3); the mask is the image's left half (world x < 0).
  const at::Tensor depth = at::full({32, 32}, 3.0f), opacity = at::ones({32, 32});
  at::Tensor mask = at::zeros({32, 32}, at::kBool);
  mask.slice(1, 0, 16).fill_(true);
  VoteOptions options;  // band 1.5 voxels + 1 % of the depth = 0.2175
  const int64_t voted = vote_mask(selection, camera, mask, depth, opacity, options);
  // Voxel layers with centres z = 0.9375 and 0.8125 lie within the band; z = 0.6875 and below are occluded.
  EXPECT_EQ(voted, 2 * 16 * 16);
  const at::Tensor pos = selection.positive(), neg = selection.negative();
  EXPECT_EQ(pos.slice(2, 0, 14).sum().item<float>(), 0.0f);
  EXPECT_EQ(neg.slice(2, 0, 14).sum().item<float>(), 0.0f);
  // Left voxels (x < 0: i < 8) are positive, right ones negative.
  EXPECT_TRUE(pos.slice(0, 0, 8).slice(2, 14, 16).eq(1.0f).all().item<bool>());
  EXPECT_TRUE(neg.slice(0, 0, 8).slice(2, 14, 16).eq(0.0f).all().item<bool>());
  EXPECT_TRUE(neg.slice(0, 8, 16).slice(2, 14, 16).eq(1.0f).all().item<bool>());
  EXPECT_EQ(selection.selected_count(), 8 * 16 * 2);
  const at::Tensor probe = torch::tensor({{-0.5f, 0.3f, 0.95f}, {0.5f, 0.3f, 0.95f}, {-0.5f, 0.3f, 0.2f}});
  EXPECT_TRUE(selection.contains(probe).equal(torch::tensor({true, false, false})));

  // A second view that disagrees on one column flips it only where its votes outweigh the first view's.
  at::Tensor none = at::zeros({32, 32}, at::kBool);
  vote_mask(selection, camera, none, depth, opacity, options);  // ties: 1 vs 1 -> not selected
  EXPECT_TRUE(selection.empty());
  vote_mask(selection, camera, mask, depth, opacity, options);  // 2 vs 1 -> selected again
  EXPECT_EQ(selection.selected_count(), 8 * 16 * 2);
}

TEST(SelectionVoting, EmptyPixelsAndTransparencyDoNotVote) {
  Selection selection({-1, -1, -1}, {1, 1, 1}, 16);
  const Camera camera = top_camera();
  const at::Tensor mask = at::ones({32, 32}, at::kBool);
  EXPECT_EQ(vote_mask(selection, camera, mask, at::zeros({32, 32}), at::zeros({32, 32})), 0);
  // Votes are weighted by opacity.
  vote_mask(selection, camera, mask, at::full({32, 32}, 3.0f), at::full({32, 32}, 0.25f));
  EXPECT_NEAR(selection.positive().max().item<float>(), 0.25f, 1e-6);
  EXPECT_TRUE(selection.empty());  // below min_votes 0.5
}

}  // namespace
}  // namespace semfield
