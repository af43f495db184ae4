// Label propagation and selection cleanup on face adjacency.
#include "semfield/mesh/face_selection.h"

#include <cmath>

#include <gtest/gtest.h>

#include "mesh_test_shapes.h"

namespace semfield {
namespace {

// n triangles in a row, each sharing an edge with the next.
TriangleMesh strip(int n = 4) {
  TriangleMesh mesh;
  for (int i = 0; i < n + 2; ++i) mesh.vertices.emplace_back(static_cast<float>(i / 2), static_cast<float>(i % 2), 0.0f);
  for (int i = 0; i < n; ++i)
    mesh.faces.push_back(i % 2 == 0 ? Eigen::Vector3i(i, i + 2, i + 1) : Eigen::Vector3i(i, i + 1, i + 2));
  return mesh;
}

TEST(FaceSelection, UnknownFacesTakeTheNearestDecidedLabel) {
  const FaceAdjacency adj = face_adjacency(strip());
  EXPECT_EQ(propagate_face_labels(adj, {kSelected, kUnknown, kUnknown, kRejected}), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(propagate_face_labels(adj, {kUnknown, kUnknown, kUnknown, kSelected}), (std::vector<uint8_t>{1, 1, 1, 1}));
  // No decided face at all: nothing is selected.
  EXPECT_EQ(propagate_face_labels(adj, {kUnknown, kUnknown, kUnknown, kUnknown}), (std::vector<uint8_t>{0, 0, 0, 0}));
  // A limited flood: an unknown region bordered by one label takes it whole, one between both labels (as
  // much by each) only as deep as the limit.
  EXPECT_EQ(propagate_face_labels(adj, {kUnknown, kUnknown, kUnknown, kSelected}, 1), (std::vector<uint8_t>{1, 1, 1, 1}));
  EXPECT_EQ(propagate_face_labels(adj, {kRejected, kUnknown, kUnknown, kUnknown}, 1), (std::vector<uint8_t>{0, 0, 0, 0}));
  const FaceAdjacency long_adj = face_adjacency(strip(8));
  const std::vector<int8_t> ends = {kSelected, kUnknown, kUnknown, kUnknown, kUnknown, kUnknown, kUnknown, kRejected};
  EXPECT_EQ(propagate_face_labels(long_adj, ends, 0), (std::vector<uint8_t>{1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(propagate_face_labels(long_adj, ends, 2), (std::vector<uint8_t>{1, 1, 1, 0, 0, 0, 0, 0}));
  // Faces 1-4 are bordered by selected faces only: selected whole, however deep. Face 6 lies between a
  // selected and a rejected face, which reach it in the same step: the first in face order wins.
  const std::vector<int8_t> enclosed = {kSelected, kUnknown, kUnknown, kUnknown, kUnknown, kSelected, kUnknown, kRejected};
  EXPECT_EQ(propagate_face_labels(long_adj, enclosed, 1), (std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 1, 0}));
  // Bordered as much by selected as by rejected faces (an edge each): one ring from each side, the rest
  // stays unselected.
  const std::vector<int8_t> mixed = {kSelected, kUnknown, kUnknown, kUnknown, kUnknown, kUnknown, kUnknown, kRejected};
  EXPECT_EQ(propagate_face_labels(long_adj, mixed, 1), (std::vector<uint8_t>{1, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(FaceSelection, CleanupFillsPinholesAndDropsSpecks) {
  const TriangleMesh sphere = test::sphere_mesh({0, 0, 0}, 1.0f, 32);
  const FaceAdjacency adj = face_adjacency(sphere);
  std::vector<uint8_t> upper(sphere.faces.size());
  for (int64_t f = 0; f < sphere.n_faces(); ++f) upper[static_cast<size_t>(f)] = face_centroid(sphere, f).z() > 0;
  std::vector<uint8_t> noisy = upper;
  int64_t n_hole = 0, n_speck = 0;
  for (int64_t f = 0; f < sphere.n_faces(); ++f) {
    const Eigen::Vector3f c = face_centroid(sphere, f);
    if ((c - Eigen::Vector3f(0, 0, 1)).norm() < 0.15f) {  // a pinhole at the top
      noisy[static_cast<size_t>(f)] = 0;
      ++n_hole;
    }
    if ((c - Eigen::Vector3f(0, 0, -1)).norm() < 0.15f) {  // a speck at the bottom
      noisy[static_cast<size_t>(f)] = 1;
      ++n_speck;
    }
  }
  ASSERT_GT(n_hole, 3);
  ASSERT_GT(n_speck, 3);
  // The closing may square off the marching-cubes zigzag of the rim (a few faces next to z = 0), nothing else.
  const std::vector<uint8_t> clean_upper = clean_selection(adj, upper, SelectionCleanupOptions{});
  int64_t rim_changes = 0;
  for (int64_t f = 0; f < sphere.n_faces(); ++f) {
    if (clean_upper[static_cast<size_t>(f)] == upper[static_cast<size_t>(f)]) continue;
    ++rim_changes;
    EXPECT_LT(std::fabs(face_centroid(sphere, f).z()), 0.1f);
  }
  EXPECT_LT(rim_changes, sphere.n_faces() / 50);
  EXPECT_EQ(clean_selection(adj, noisy, SelectionCleanupOptions{}), clean_upper);
  // With cleanup off the selection is returned as it was.
  EXPECT_EQ(clean_selection(adj, noisy, SelectionCleanupOptions{0.0, 0}), noisy);
  // The closing alone fills a slit cut into the selection's rim, and leaves the straight rim in place.
  std::vector<uint8_t> slit = upper;
  int64_t n_slit = 0;
  for (int64_t f = 0; f < sphere.n_faces(); ++f) {
    const Eigen::Vector3f c = face_centroid(sphere, f);
    if (c.z() > 0 && c.z() < 0.3f && std::fabs(c.y()) < 0.02f && c.x() > 0) {
      slit[static_cast<size_t>(f)] = 0;
      ++n_slit;
    }
  }
  ASSERT_GT(n_slit, 3);
  // The slit is filled; only where it meets the rim may a face or two differ from the closed selection.
  const std::vector<uint8_t> closed_slit = clean_selection(adj, slit, SelectionCleanupOptions{0.0, 2});
  const std::vector<uint8_t> closed_upper = clean_selection(adj, upper, SelectionCleanupOptions{0.0, 2});
  for (int64_t f = 0; f < sphere.n_faces(); ++f) {
    if (closed_slit[static_cast<size_t>(f)] == closed_upper[static_cast<size_t>(f)]) continue;
    EXPECT_LT(face_centroid(sphere, f).z(), 0.1f) << "face " << f;
  }
}

}  // namespace
}  // namespace semfield
