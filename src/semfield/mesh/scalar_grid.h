// A dense grid of scalar samples over an axis-aligned box (density for mesh extraction, SDFs in tests).
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Core>

namespace semfield {

/// Sample (i, j, k) (along x, y, z) sits at origin + (i, j, k) * spacing and is stored at
/// values[(i * ny + j) * nz + k] (the occupancy grid's layout).
struct ScalarGrid {
  int nx = 0, ny = 0, nz = 0;
  Eigen::Vector3f origin = Eigen::Vector3f::Zero();
  Eigen::Vector3f spacing = Eigen::Vector3f::Ones();
  std::vector<float> values;

  ScalarGrid() = default;
  ScalarGrid(int nx_, int ny_, int nz_, const Eigen::Vector3f& origin_, const Eigen::Vector3f& spacing_)
      : nx(nx_), ny(ny_), nz(nz_), origin(origin_), spacing(spacing_),
        values(static_cast<size_t>(nx_) * ny_ * nz_, 0.0f) {}

  int64_t size() const { return static_cast<int64_t>(nx) * ny * nz; }
  int64_t index(int i, int j, int k) const { return (static_cast<int64_t>(i) * ny + j) * nz + k; }
  float at(int i, int j, int k) const { return values[static_cast<size_t>(index(i, j, k))]; }
  float& at(int i, int j, int k) { return values[static_cast<size_t>(index(i, j, k))]; }
  Eigen::Vector3f point(int i, int j, int k) const {
    return origin + Eigen::Vector3f(static_cast<float>(i), static_cast<float>(j), static_cast<float>(k))
                        .cwiseProduct(spacing);
  }
};

}  // namespace semfield
