// Marching tetrahedra on analytic SDF grids: closed, outward, with the analytic area, volume and topology.
#include "semfield/mesh/isosurface.h"

#include <cmath>

#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/core/constants.h"
#include "semfield/core/parallel.h"
#include "semfield/mesh/mesh_topology.h"

namespace semfield {
namespace {

using semfield::kPi;

// Euler characteristic V - E + F: 2 for a sphere, 0 for a torus.
int64_t euler_characteristic(const TriangleMesh& mesh) {
  return mesh.n_vertices() - edge_stats(mesh).n_edges + mesh.n_faces();
}

TEST(Isosurface, SphereIsClosedOutwardWithAnalyticAreaAndVolume) {
  const float r = 0.7f;
  const TriangleMesh mesh = extract_isosurface(test::negated_sdf_grid(64, 1.0f, test::sphere_sdf({0, 0, 0}, r)), 0.0f);
  ASSERT_GT(mesh.n_faces(), 1000);
  const EdgeStats edges = edge_stats(mesh);
  EXPECT_TRUE(edges.watertight()) << edges.n_boundary << " boundary, " << edges.n_nonmanifold << " non-manifold";
  EXPECT_EQ(euler_characteristic(mesh), 2);
  // Linear interpolation of a smooth SDF on a 64^3 grid (spacing 0.032, ~22 cells per radius): chords cut
  // inside the sphere by O(h^2 / r), well below 1 % in area and volume.
  EXPECT_NEAR(mesh_area(mesh), 4 * kPi * r * r, 0.01 * 4 * kPi * r * r);
  EXPECT_NEAR(mesh_volume(mesh), 4.0 / 3.0 * kPi * r * r * r, 0.01 * 4.0 / 3.0 * kPi * r * r * r);
  // Every vertex on the sphere (to within a fraction of the spacing), every face pointing outward.
  for (const auto& v : mesh.vertices) ASSERT_NEAR(v.norm(), r, 0.01);
  for (int64_t f = 0; f < mesh.n_faces(); ++f) ASSERT_GT(face_normal(mesh, f).dot(face_centroid(mesh, f)), 0.0f) << f;
}

TEST(Isosurface, TorusHasGenusOne) {
  const float R = 0.55f, r = 0.2f;
  auto torus = [&](const Eigen::Vector3f& p) {
    const float q = std::hypot(p.x(), p.y()) - R;
    return std::hypot(q, p.z()) - r;
  };
  const TriangleMesh mesh = extract_isosurface(test::negated_sdf_grid(64, 1.0f, torus), 0.0f);
  EXPECT_TRUE(edge_stats(mesh).watertight());
  EXPECT_EQ(euler_characteristic(mesh), 0);
  EXPECT_NEAR(mesh_volume(mesh), 2 * kPi * kPi * R * r * r, 0.02 * 2 * kPi * kPi * R * r * r);
}

TEST(Isosurface, SeparateShapesAreSeparateComponents) {
  auto two = [](const Eigen::Vector3f& p) {
    return std::min((p - Eigen::Vector3f(-0.5f, 0, 0)).norm() - 0.3f, (p - Eigen::Vector3f(0.5f, 0, 0)).norm() - 0.2f);
  };
  const TriangleMesh mesh = extract_isosurface(test::negated_sdf_grid(48, 1.0f, two), 0.0f);
  int32_t n = 0;
  connected_components(face_adjacency(mesh), {}, &n);
  EXPECT_EQ(n, 2);
  // The small sphere's faces are fewer than the large one's; dropping components below 60 % of the largest
  // keeps only the large sphere.
  const TriangleMesh big = remove_small_components(mesh, 0.6);
  EXPECT_LT(big.n_faces(), mesh.n_faces());
  EXPECT_TRUE(edge_stats(big).watertight());
  EXPECT_LT(mesh_bounds(big).max().x(), 0.0f);
}

TEST(Isosurface, SurfaceLeavingTheGridIsOpenAndClosedByALowBorder) {
  // A sphere larger than the grid: open where the grid cuts it.
  ScalarGrid grid = test::negated_sdf_grid(32, 1.0f, test::sphere_sdf({0, 0, 0.8f}, 0.6f));
  EXPECT_GT(edge_stats(extract_isosurface(grid, 0.0f)).n_boundary, 0);
  // Setting the outer layer below the level caps it (what sample_density_grid does).
  for (int i = 0; i < grid.nx; ++i)
    for (int j = 0; j < grid.ny; ++j) grid.at(i, j, grid.nz - 1) = -1.0f;
  EXPECT_TRUE(edge_stats(extract_isosurface(grid, 0.0f)).watertight());
}

TEST(Isosurface, SameOutputForAnyThreadCount) {
  const ScalarGrid grid = test::negated_sdf_grid(40, 1.0f, test::sphere_sdf({0.1f, -0.2f, 0.05f}, 0.5f));
  set_parallel_threads(1);
  const TriangleMesh one = extract_isosurface(grid, 0.0f);
  set_parallel_threads(4);
  const TriangleMesh four = extract_isosurface(grid, 0.0f);
  set_parallel_threads(0);
  ASSERT_EQ(one.n_vertices(), four.n_vertices());
  ASSERT_EQ(one.n_faces(), four.n_faces());
  for (size_t v = 0; v < one.vertices.size(); ++v) ASSERT_EQ(one.vertices[v], four.vertices[v]);
  for (size_t f = 0; f < one.faces.size(); ++f) ASSERT_EQ(one.faces[f], four.faces[f]);
}

TEST(Isosurface, EmptyAndDegenerateGrids) {
  ScalarGrid flat(8, 8, 8, Eigen::Vector3f::Zero(), Eigen::Vector3f::Ones());
  EXPECT_EQ(extract_isosurface(flat, 0.5f).n_faces(), 0);  // all outside
  std::fill(flat.values.begin(), flat.values.end(), 1.0f);
  EXPECT_EQ(extract_isosurface(flat, 0.5f).n_faces(), 0);  // all inside
  EXPECT_EQ(extract_isosurface(ScalarGrid(1, 8, 8, Eigen::Vector3f::Zero(), Eigen::Vector3f::Ones()), 0.5f).n_faces(), 0);
  // NaN counts as outside: a single finite inside sample among NaNs gives a closed little diamond.
  ScalarGrid nan(5, 5, 5, Eigen::Vector3f::Zero(), Eigen::Vector3f::Ones());
  std::fill(nan.values.begin(), nan.values.end(), std::nanf(""));
  nan.at(2, 2, 2) = 1.0f;
  const TriangleMesh speck = extract_isosurface(nan, 0.5f);
  EXPECT_GT(speck.n_faces(), 0);
  EXPECT_TRUE(edge_stats(speck).watertight());
  for (const auto& v : speck.vertices) EXPECT_TRUE(v.allFinite());
}

}  // namespace
}  // namespace semfield
