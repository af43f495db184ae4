// Edge statistics, adjacency, components, sub-meshes and mesh measures on hand-made meshes.
#include "semfield/mesh/mesh_topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/core/error.h"

namespace semfield {
namespace {

TEST(MeshTopology, ClosedBoxAndItsMeasures) {
  const TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 2, 3});
  const EdgeStats edges = edge_stats(box);
  EXPECT_TRUE(edges.watertight());
  EXPECT_EQ(edges.n_edges, 18);  // 12 box edges + 6 face diagonals
  EXPECT_EQ(edges.n_boundary_loops, 0);
  EXPECT_NEAR(mesh_area(box), 2 * (1 * 2 + 2 * 3 + 1 * 3), 1e-5);
  EXPECT_NEAR(mesh_volume(box), 6.0, 1e-5);
  EXPECT_TRUE(mesh_bounds(box).isApprox(Eigen::AlignedBox3f(Eigen::Vector3f(0, 0, 0), Eigen::Vector3f(1, 2, 3))));
  // Vertex normals at corners point diagonally outward.
  for (const auto& n : vertex_normals(box)) EXPECT_NEAR(n.norm(), 1.0f, 1e-5);
  EXPECT_GT(vertex_normals(box)[7].dot(Eigen::Vector3f(1, 1, 1)), 0.9f);
}

TEST(MeshTopology, RemovedFacesLeaveBoundaryLoops) {
  TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  std::vector<uint8_t> keep(box.faces.size(), 1);
  keep[0] = keep[1] = 0;  // the whole bottom quad: one square hole
  const TriangleMesh open = submesh(box, keep);
  EdgeStats edges = edge_stats(open);
  EXPECT_EQ(edges.n_boundary, 4);
  EXPECT_EQ(edges.n_boundary_loops, 1);
  EXPECT_FALSE(edges.watertight());
  // Boundary flags: the faces along the hole's rim carry exactly the 4 rim edges.
  int rim = 0;
  for (uint8_t flags : boundary_edge_flags(open)) rim += __builtin_popcount(flags);
  EXPECT_EQ(rim, 4);
  // Removing a top triangle too adds a second hole, apart from the first.
  keep[2] = 0;
  edges = edge_stats(submesh(box, keep));
  EXPECT_EQ(edges.n_boundary, 7);
  EXPECT_EQ(edges.n_boundary_loops, 2);
  // Two triangular holes meeting at one corner (bottom face 0 and side face 4 share vertex 0) count as one.
  keep.assign(box.faces.size(), 1);
  keep[0] = keep[4] = 0;
  edges = edge_stats(submesh(box, keep));
  EXPECT_EQ(edges.n_boundary, 6);
  EXPECT_EQ(edges.n_boundary_loops, 1);
}

TEST(MeshTopology, NonManifoldEdgeIsCounted) {
  TriangleMesh fan;
  fan.vertices = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}};
  fan.faces = {{0, 1, 2}, {1, 0, 3}, {0, 1, 4}};  // three faces on edge 0-1
  const EdgeStats edges = edge_stats(fan);
  EXPECT_EQ(edges.n_nonmanifold, 1);
  const FaceAdjacency adj = face_adjacency(fan);
  EXPECT_EQ(adj.offsets.back(), 6);  // every pair of the three, both ways
}

TEST(MeshTopology, ComponentsAndSmallComponentRemoval) {
  const TriangleMesh mesh = test::merged(test::box_mesh({0, 0, 0}, {1, 1, 1}), test::box_mesh({3, 0, 0}, {3.1f, 0.1f, 0.1f}));
  int32_t n = 0;
  const std::vector<int32_t> component = connected_components(face_adjacency(mesh), {}, &n);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(component.front(), 0);
  EXPECT_EQ(component.back(), 1);
  // Equal face counts: a fraction of 1 keeps both, masks restrict the faces that take part.
  EXPECT_EQ(remove_small_components(mesh, 1.0).n_faces(), 24);
  std::vector<uint8_t> first_only(24, 0);
  std::fill(first_only.begin(), first_only.begin() + 12, 1);
  connected_components(face_adjacency(mesh), first_only, &n);
  EXPECT_EQ(n, 1);
  // A speck of 2 faces next to a 12-face box goes below 0.5 of the largest.
  TriangleMesh speck;
  speck.vertices = {{5, 5, 5}, {5.1f, 5, 5}, {5, 5.1f, 5}, {5.1f, 5.1f, 5}};
  speck.faces = {{0, 1, 2}, {1, 3, 2}};
  const TriangleMesh cleaned = remove_small_components(test::merged(test::box_mesh({0, 0, 0}, {1, 1, 1}), speck), 0.5);
  EXPECT_EQ(cleaned.n_faces(), 12);
  EXPECT_EQ(cleaned.n_vertices(), 8);
}

TEST(TriangleMesh, SubmeshKeepsColoursAndFrameChangeInverts) {
  TriangleMesh box = test::box_mesh({0, 0, 0}, {1, 1, 1});
  for (int v = 0; v < 8; ++v) box.colors.emplace_back(v / 8.0f, 0, 0);
  std::vector<uint8_t> keep(12, 0);
  keep[2] = 1;  // face (4, 5, 7)
  const TriangleMesh one = submesh(box, keep);
  ASSERT_EQ(one.n_vertices(), 3);
  EXPECT_EQ(one.colors[0].x(), 4 / 8.0f);
  EXPECT_EQ(one.faces[0], Eigen::Vector3i(0, 1, 2));
  Normalization n;
  n.scale = 2.0;
  n.offset = Eigen::Vector3d(1, 0, -1);
  const TriangleMesh back = to_original_frame(box, n);
  for (size_t v = 0; v < 8; ++v)
    EXPECT_TRUE(n.apply(back.vertices[v].cast<double>()).cast<float>().isApprox(box.vertices[v]));
  EXPECT_GT(mesh_volume(back), 0);  // orientation kept
}

TEST(TriangleMesh, ValidateNamesTheProblem) {
  TriangleMesh mesh = test::box_mesh({0, 0, 0}, {1, 1, 1});
  EXPECT_NO_THROW(mesh.validate("m.ply"));
  mesh.faces[3][1] = 8;
  EXPECT_THAT([&] { mesh.validate("m.ply"); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("m.ply: face 3 uses vertex 8")));
  mesh = test::box_mesh({0, 0, 0}, {1, 1, 1});
  mesh.colors.resize(3);
  EXPECT_THROW(mesh.validate("m.ply"), InputError);
}

}  // namespace
}  // namespace semfield
