// Capping the rims of cut meshes: every edge ends up with two faces, the caps keep the orientation (positive
// enclosed volume of the right size) and vertices where two rims touch are handled.
#include "semfield/mesh/hole_filling.h"

#include <cmath>

#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/mesh/scene_mesh.h"

namespace semfield {
namespace {

TEST(HoleFilling, OpenBoxGetsItsBottomBack) {
  TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  std::vector<uint8_t> keep(box.faces.size(), 1);
  keep[0] = keep[1] = 0;  // the z = 0 quad
  TriangleMesh open = submesh(box, keep);
  ASSERT_EQ(edge_stats(open).n_boundary, 4);
  const HoleFillingStats stats = fill_holes(open);
  EXPECT_EQ(stats.n_loops, 1);
  EXPECT_EQ(stats.n_faces_added, 4);  // a fan of 4 around the square's centre
  EXPECT_EQ(stats.n_open_chains, 0);
  EXPECT_TRUE(edge_stats(open).watertight());
  EXPECT_NEAR(mesh_volume(open), 1.0, 1e-5);  // outward caps: the full, positive volume
  EXPECT_TRUE(open.vertices.back().isApprox(Eigen::Vector3f(0.5f, 0.5f, 0.0f)));
}

TEST(HoleFilling, SphereCutFlatIsClosedWithTheCapsVolume) {
  const float r = 1.0f;
  const TriangleMesh sphere = test::sphere_mesh(Eigen::Vector3f::Zero(), r, 40);
  // Cut below z = -0.5 (as an object cut where it stands on the ground), plus a small hole on top.
  std::vector<uint8_t> keep(sphere.faces.size(), 1);
  int64_t removed_top = 0;
  for (int64_t f = 0; f < sphere.n_faces(); ++f) {
    const Eigen::Vector3f c = face_centroid(sphere, f);
    if (c.z() < -0.5f * r) keep[static_cast<size_t>(f)] = 0;
    if (c.z() > 0.97f * r && removed_top < 6) keep[static_cast<size_t>(f)] = 0, ++removed_top;
  }
  TriangleMesh cut = submesh(sphere, keep);
  ASSERT_GE(edge_stats(cut).n_boundary_loops, 2);
  const HoleFillingStats stats = fill_holes(cut);
  EXPECT_GE(stats.n_loops, 2);
  EXPECT_EQ(stats.n_open_chains, 0);
  const EdgeStats edges = edge_stats(cut);
  EXPECT_TRUE(edges.watertight()) << edges.n_boundary << " boundary, " << edges.n_nonmanifold << " non-manifold";
  // The sphere minus the cap below h = 0.5 r: V = 4/3 pi r^3 - pi h^2 (3r - h) / 3 (the cut is along faces,
  // so within a few per cent).
  const double h = 0.5 * r;
  const double expected = 4.0 / 3.0 * M_PI * r * r * r - M_PI * h * h * (3 * r - h) / 3.0;
  EXPECT_NEAR(mesh_volume(cut), expected, 0.04 * expected);
}

TEST(HoleFilling, RimsTouchingAtAVertexAreCappedSeparately) {
  TriangleMesh sphere = test::sphere_mesh(Eigen::Vector3f::Zero(), 1.0f, 16);
  // Two faces that share one vertex and no edge: their rims pass through that vertex both.
  int64_t other = -1;
  const Eigen::Vector3i& first = sphere.faces[0];
  for (int64_t f = 1; f < sphere.n_faces() && other < 0; ++f) {
    int shared = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) shared += sphere.faces[static_cast<size_t>(f)][i] == first[j];
    if (shared == 1) other = f;
  }
  ASSERT_GE(other, 0);
  std::vector<uint8_t> keep(sphere.faces.size(), 1);
  keep[0] = keep[static_cast<size_t>(other)] = 0;
  TriangleMesh holed = submesh(sphere, keep);
  ASSERT_EQ(edge_stats(holed).n_boundary, 6);
  const int64_t vertices_before = holed.n_vertices();
  const HoleFillingStats stats = fill_holes(holed);
  EXPECT_EQ(stats.n_loops, 2);
  EXPECT_EQ(stats.n_faces_added, 2);  // two 3-edge loops, a triangle each, no new vertex
  EXPECT_EQ(holed.n_vertices(), vertices_before);
  EXPECT_TRUE(edge_stats(holed).watertight());
  EXPECT_GT(mesh_volume(holed), 0.0);
}

TEST(HoleFilling, CapVertexTakesItsRimsMeanColourAndClosedMeshesAreLeftAlone) {
  TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  box.colors.assign(box.vertices.size(), Eigen::Vector3f(0.2f, 0.4f, 0.6f));
  TriangleMesh closed = box;
  EXPECT_EQ(fill_holes(closed).n_loops, 0);
  EXPECT_EQ(closed.n_faces(), box.n_faces());

  std::vector<uint8_t> keep(box.faces.size(), 1);
  keep[0] = keep[1] = 0;
  TriangleMesh open = submesh(box, keep);
  fill_holes(open);
  ASSERT_EQ(open.colors.size(), open.vertices.size());
  EXPECT_TRUE(open.colors.back().isApprox(Eigen::Vector3f(0.2f, 0.4f, 0.6f)));
}

TEST(HoleFilling, CutObjectClosesUnlessAskedNotTo) {
  const TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  std::vector<uint8_t> keep(box.faces.size(), 1);
  keep[0] = keep[1] = 0;
  EXPECT_TRUE(edge_stats(cut_object(box, keep)).watertight());
  EXPECT_EQ(edge_stats(cut_object(box, keep, /*close=*/false)).n_boundary, 4);
}

}  // namespace
}  // namespace semfield
