// Spherical k-means: finds well-separated directions, is deterministic for a seed, copes with fewer distinct points
// than clusters and with no points.
#include "semfield/segment/spherical_kmeans.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

// n unit vectors scattered (noise sigma) around each of `centres`' rows.
at::Tensor around(const at::Tensor& centres, int64_t n, double sigma) {
  const at::Tensor points = centres.repeat_interleave(n, 0) + sigma * at::randn({centres.size(0) * n, centres.size(1)});
  return points / points.norm(2, 1, true);
}

TEST(SphericalKmeans, FindsSeparatedDirections) {
  at::manual_seed(1);
  const at::Tensor centres = at::eye(6).narrow(0, 0, 4);  // four orthogonal directions in 6-D
  const at::Tensor points = around(centres, 500, 0.1);
  const at::Tensor found = spherical_kmeans(points, 4, 8, 7);
  ASSERT_EQ(found.sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_LT((found.norm(2, 1) - 1).abs().max().item<double>(), 1e-5);  // unit centroids
  // Each true direction has a centroid within a few degrees, each centroid a different one.
  const at::Tensor cosines = at::matmul(centres, found.t());
  const auto [best, nearest] = cosines.max(1);
  EXPECT_GT(best.min().item<double>(), 0.99);
  EXPECT_EQ(std::get<0>(at::_unique(nearest)).numel(), 4);
}

TEST(SphericalKmeans, DeterministicForASeed) {
  at::manual_seed(2);
  const at::Tensor points = around(at::randn({5, 8}), 200, 0.3);
  EXPECT_TRUE(at::equal(spherical_kmeans(points, 5, 8, 3), spherical_kmeans(points, 5, 8, 3)));
}

TEST(SphericalKmeans, FewerDistinctPointsThanClustersAndNoPoints) {
  const at::Tensor two = at::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2}).repeat({10, 1});
  const at::Tensor found = spherical_kmeans(two, 5, 8, 1);
  ASSERT_EQ(found.size(1), 2);
  EXPECT_EQ(found.size(0), 2);  // seeding stops when every point is a centroid already
  EXPECT_GT(at::matmul(found, at::tensor({1.0f, 0.0f})).max().item<double>(), 0.999);
  EXPECT_GT(at::matmul(found, at::tensor({0.0f, 1.0f})).max().item<double>(), 0.999);
  EXPECT_EQ(spherical_kmeans(at::zeros({0, 3}), 4).sizes(), (std::vector<int64_t>{0, 3}));
  const at::Tensor three = at::randn({3, 4});
  EXPECT_EQ(spherical_kmeans(three / three.norm(2, 1, true), 8).size(0), 3);
}

}  // namespace
}  // namespace semfield
