// Dense density sampling of a radiance model, skipping space the occupancy grid marks empty.
#include "semfield/mesh/density_grid.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/render/contraction.h"

namespace semfield {

namespace {

// The occupancy bitfield dilated by one cell along every axis (a 3x3x3 max filter, done as three 1D
// passes): a surface sample near a cell border may belong to the neighbouring occupied cell's surface.
std::vector<uint8_t> dilated_occupancy(const OccupancyGrid& grid) {
  const int res = grid.resolution();
  const at::Tensor bits = grid.bitfield().contiguous();
  std::vector<uint8_t> a(bits.data_ptr<uint8_t>(), bits.data_ptr<uint8_t>() + bits.numel()), b(a.size());
  const int64_t stride[3] = {static_cast<int64_t>(res) * res, res, 1};
  for (int axis = 0; axis < 3; ++axis) {
    for (int64_t c = 0; c < static_cast<int64_t>(a.size()); ++c) {
      const int coord = static_cast<int>((c / stride[axis]) % res);
      uint8_t v = a[static_cast<size_t>(c)];
      if (coord > 0) v |= a[static_cast<size_t>(c - stride[axis])];
      if (coord + 1 < res) v |= a[static_cast<size_t>(c + stride[axis])];
      b[static_cast<size_t>(c)] = v;
    }
    std::swap(a, b);
  }
  return a;
}

}  // namespace

Eigen::AlignedBox3f mesh_region(const SceneFrame& frame) {
  Eigen::AlignedBox3f box(frame.aabb_min, frame.aabb_max);
  if (frame.unbounded) box = box.intersection(Eigen::AlignedBox3f(-Eigen::Vector3f::Ones(), Eigen::Vector3f::Ones()));
  return box;
}

ScalarGrid sample_density_grid(const SceneModel& model, const Eigen::AlignedBox3f& box,
                               const DensityGridOptions& options) {
  if (options.resolution < 8 || options.resolution > 2048)
    fail_usage("mesh resolution must be in [8, 2048], got {}", options.resolution);
  SEMFIELD_ASSERT(!box.isEmpty() && box.sizes().minCoeff() > 0, "mesh region must have a volume");
  const Eigen::Vector3f size = box.sizes();
  const float spacing = size.maxCoeff() / static_cast<float>(options.resolution - 1);
  int n[3];
  for (int a = 0; a < 3; ++a) n[a] = std::max(2, static_cast<int>(std::ceil(size[a] / spacing - 1e-3f)) + 1);
  // The grid is centred on the box (the shorter axes may overhang it by less than one spacing).
  const Eigen::Vector3f extent = Eigen::Vector3f(static_cast<float>(n[0] - 1), static_cast<float>(n[1] - 1),
                                                 static_cast<float>(n[2] - 1)) * spacing;
  ScalarGrid grid(n[0], n[1], n[2], box.center() - 0.5f * extent, Eigen::Vector3f::Constant(spacing));

  // Models without an occupancy grid (generalizable ones) have every cell sampled.
  const OccupancyGrid* occupancy = model.occupancy_grid();
  std::vector<uint8_t> occupied;
  if (options.occupied_only && occupancy) occupied = dilated_occupancy(*occupancy);
  const int res = occupancy ? occupancy->resolution() : 1;
  const Eigen::Vector3f g_min = occupancy ? occupancy->grid_min() : Eigen::Vector3f::Zero();
  const Eigen::Vector3f g_size = occupancy ? Eigen::Vector3f(occupancy->grid_max() - occupancy->grid_min())
                                           : Eigen::Vector3f::Ones();
  const bool contracted = occupancy && occupancy->contracted();
  auto needed = [&](const Eigen::Vector3f& p) {
    if (occupied.empty()) return true;
    float q[3] = {p.x(), p.y(), p.z()};
    if (contracted) contract_point(q, q);
    int64_t cell = 0;
    for (int a = 0; a < 3; ++a) {
      const float g = (q[a] - g_min[a]) / g_size[a] * static_cast<float>(res);
      if (!(g >= 0.0f && g < static_cast<float>(res))) return false;
      cell = cell * res + std::min(static_cast<int>(g), res - 1);
    }
    return occupied[static_cast<size_t>(cell)] != 0;
  };

  // Interior samples only: the outer layer stays 0 (see the header).
  std::vector<int64_t> indices;
  std::vector<float> points;
  auto flush = [&] {
    if (indices.empty()) return;
    const at::Tensor xyz = at::from_blob(points.data(), {static_cast<int64_t>(indices.size()), 3}, at::kFloat);
    const at::Tensor density = model.density(xyz).to(at::kFloat).contiguous();
    const float* d = density.data_ptr<float>();
    for (size_t s = 0; s < indices.size(); ++s)
      grid.values[static_cast<size_t>(indices[s])] = std::isnan(d[s]) ? 0.0f : std::max(d[s], 0.0f);
    indices.clear();
    points.clear();
  };
  for (int i = 1; i + 1 < grid.nx; ++i)
    for (int j = 1; j + 1 < grid.ny; ++j)
      for (int k = 1; k + 1 < grid.nz; ++k) {
        const Eigen::Vector3f p = grid.point(i, j, k);
        if (!needed(p)) continue;
        indices.push_back(grid.index(i, j, k));
        points.insert(points.end(), {p.x(), p.y(), p.z()});
        if (static_cast<int64_t>(indices.size()) >= options.batch_points) flush();
      }
  flush();
  return grid;
}

}  // namespace semfield
