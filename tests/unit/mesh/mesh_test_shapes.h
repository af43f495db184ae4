// Analytic shapes for the mesh tests: signed-distance grids and small hand-made meshes.
#pragma once

#include <cmath>
#include <functional>

#include "semfield/geometry/camera.h"
#include "support/test_cameras.h"
#include "semfield/mesh/isosurface.h"
#include "semfield/mesh/scalar_grid.h"
#include "semfield/mesh/triangle_mesh.h"

namespace semfield::test {

/// A grid of n^3 samples over [-extent, extent]^3 holding -sdf(p), so "inside" (value > 0) is sdf < 0.
inline ScalarGrid negated_sdf_grid(int n, float extent, const std::function<float(const Eigen::Vector3f&)>& sdf) {
  const float h = 2.0f * extent / static_cast<float>(n - 1);
  ScalarGrid grid(n, n, n, Eigen::Vector3f::Constant(-extent), Eigen::Vector3f::Constant(h));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k) grid.at(i, j, k) = -sdf(grid.point(i, j, k));
  return grid;
}

inline std::function<float(const Eigen::Vector3f&)> sphere_sdf(const Eigen::Vector3f& centre, float radius) {
  return [=](const Eigen::Vector3f& p) { return (p - centre).norm() - radius; };
}

/// A sphere mesh from the isosurface of its SDF (n^3 grid over the sphere's box, with a margin).
inline TriangleMesh sphere_mesh(const Eigen::Vector3f& centre, float radius, int n = 24) {
  ScalarGrid grid = negated_sdf_grid(n, 1.3f * radius, sphere_sdf(Eigen::Vector3f::Zero(), radius));
  TriangleMesh mesh = extract_isosurface(grid, 0.0f);
  for (auto& v : mesh.vertices) v += centre;
  return mesh;
}

/// An axis-aligned box [lo, hi] as 12 outward triangles over 8 shared vertices.
inline TriangleMesh box_mesh(const Eigen::Vector3f& lo, const Eigen::Vector3f& hi) {
  TriangleMesh mesh;
  for (int c = 0; c < 8; ++c)
    mesh.vertices.emplace_back(c & 1 ? hi.x() : lo.x(), c & 2 ? hi.y() : lo.y(), c & 4 ? hi.z() : lo.z());
  // Each face as a quad (a, b, c, d), counter-clockwise seen from outside.
  const int quads[6][4] = {{0, 2, 3, 1}, {4, 5, 7, 6}, {0, 1, 5, 4}, {2, 6, 7, 3}, {0, 4, 6, 2}, {1, 3, 7, 5}};
  for (const auto& q : quads) {
    mesh.faces.emplace_back(q[0], q[1], q[2]);
    mesh.faces.emplace_back(q[0], q[2], q[3]);
  }
  return mesh;
}

/// The square [-half, half]^2 at height z, split into n x n cells of two triangles each, facing +z.
inline TriangleMesh plane_mesh(float half, int n, float z) {
  TriangleMesh mesh;
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n; ++j)
      mesh.vertices.emplace_back(-half + 2 * half * i / n, -half + 2 * half * j / n, z);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const int a = i * (n + 1) + j, b = a + n + 1;  // b is a's neighbour along +x
      mesh.faces.emplace_back(a, b, b + 1);
      mesh.faces.emplace_back(a, b + 1, a + 1);
    }
  return mesh;
}

/// Appends b to a (vertex indices of b shifted).
inline TriangleMesh merged(TriangleMesh a, const TriangleMesh& b) {
  const int base = static_cast<int>(a.vertices.size());
  a.vertices.insert(a.vertices.end(), b.vertices.begin(), b.vertices.end());
  if (a.has_colors() || b.has_colors()) {
    a.colors.resize(base, Eigen::Vector3f::Zero());
    if (b.has_colors()) a.colors.insert(a.colors.end(), b.colors.begin(), b.colors.end());
    else a.colors.resize(a.vertices.size(), Eigen::Vector3f::Zero());
  }
  for (const auto& f : b.faces) a.faces.emplace_back(f[0] + base, f[1] + base, f[2] + base);
  return a;
}

}  // namespace semfield::test
