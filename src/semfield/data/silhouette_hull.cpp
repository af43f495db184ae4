// A coarse visual hull over contracted space, for bounds inference.
#include "semfield/data/silhouette_hull.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Eigenvalues>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"

namespace semfield {

namespace {

// Middle eigenvalue of the mean sight-line tensor below which the lines that see a cell count as one
// direction (two unit lines at angle a give (1 - cos a) / 2: 0.03 is about 20 degrees).
constexpr double kMinSightSpread = 0.03;
// Points farther than this (normalised units) are treated as infinity by the ray walk.
constexpr double kMaxDistance = 1e4;

// mip-NeRF 360 contraction with the L-inf norm (as render/contraction.h): identity inside [-1,1]^3, beyond
// x -> (2 - 1/n) x / n for n = |x|_inf.
Eigen::Vector3d contract(const Eigen::Vector3d& x) {
  const double n = linf(x);
  return n <= 1.0 ? x : x * ((2.0 - 1.0 / n) / n);
}

Eigen::Vector3d uncontract(const Eigen::Vector3d& y) {
  const double n = linf(y);
  if (n <= 1.0) return y;
  const double m = 1.0 / (2.0 - std::min(n, 2.0 - 1e-9));  // |x|_inf
  return y * (m / n);
}

// The view's background mask eroded by one cell: background only where the 3x3 cells around are too.
std::vector<uint8_t> eroded_background(const SilhouetteHull::View& view) {
  std::vector<uint8_t> out(view.background.size(), 0);
  for (int y = 0; y < view.height; ++y) {
    for (int x = 0; x < view.width; ++x) {
      bool all = true;
      for (int dy = -1; dy <= 1 && all; ++dy) {
        for (int dx = -1; dx <= 1 && all; ++dx) {
          const int xx = std::clamp(x + dx, 0, view.width - 1), yy = std::clamp(y + dy, 0, view.height - 1);
          all = view.background[static_cast<size_t>(yy) * view.width + xx] != 0;
        }
      }
      out[static_cast<size_t>(y) * view.width + x] = all ? 1 : 0;
    }
  }
  return out;
}

}  // namespace

SilhouetteHull::SilhouetteHull(const std::vector<View>& views, int resolution) : m_resolution(resolution) {
  SEMFIELD_ASSERT(resolution >= 2, "hull resolution must be at least 2");
  std::vector<std::vector<uint8_t>> background;
  background.reserve(views.size());
  for (const View& view : views) {
    SEMFIELD_ASSERT(view.background.size() == static_cast<size_t>(view.width) * view.height && view.stride >= 1,
                    "silhouette size does not match its grid");
    background.push_back(eroded_background(view));
  }
  const int64_t res = resolution;
  m_inside.assign(static_cast<size_t>(res * res * res), 0);
  const double cell = 4.0 / static_cast<double>(res);
  parallel_for(0, res, 1, [&](int64_t z_begin, int64_t z_end) {
    for (int64_t k = z_begin; k < z_end; ++k) {
      for (int64_t j = 0; j < res; ++j) {
        for (int64_t i = 0; i < res; ++i) {
          const Eigen::Vector3d y(-2.0 + (static_cast<double>(i) + 0.5) * cell,
                                  -2.0 + (static_cast<double>(j) + 0.5) * cell,
                                  -2.0 + (static_cast<double>(k) + 0.5) * cell);
          const Eigen::Vector3d p = uncontract(y);
          Eigen::Matrix3d sight = Eigen::Matrix3d::Zero();
          int seen = 0;
          bool carved = false;
          for (size_t v = 0; v < views.size() && !carved; ++v) {
            const View& view = views[v];
            Eigen::Vector2d uv;
            if (!view.camera.world_to_pixel(p, &uv)) continue;
            const Intrinsics& K = view.camera.intrinsics;
            if (!(uv.x() >= 0 && uv.y() >= 0 && uv.x() < K.width && uv.y() < K.height)) continue;
            const int cx = std::min(view.width - 1, static_cast<int>(uv.x()) / view.stride);
            const int cy = std::min(view.height - 1, static_cast<int>(uv.y()) / view.stride);
            carved = background[v][static_cast<size_t>(cy) * view.width + cx] != 0;
            const Eigen::Vector3d line = (p - view.camera.origin()).normalized();
            sight += line * line.transpose();
            ++seen;
          }
          if (carved || seen < 2) continue;
          Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> solver;
          solver.computeDirect(sight / static_cast<double>(seen), Eigen::EigenvaluesOnly);
          if (solver.eigenvalues()(1) >= kMinSightSpread)
            m_inside[static_cast<size_t>((k * res + j) * res + i)] = static_cast<uint8_t>(std::min(seen, 255));
        }
      }
    }
  });
}

int64_t SilhouetteHull::cell_index(const Eigen::Vector3d& p) const {
  const Eigen::Vector3d y = contract(p);
  const int64_t res = m_resolution;
  int64_t index[3];
  for (int a = 0; a < 3; ++a)
    index[a] = std::clamp<int64_t>(static_cast<int64_t>(std::floor((y[a] + 2.0) * 0.25 * static_cast<double>(res))), 0,
                                   res - 1);
  return (index[2] * res + index[1]) * res + index[0];
}

bool SilhouetteHull::contains(const Eigen::Vector3d& p) const {
  return m_inside[static_cast<size_t>(cell_index(p))] != 0;
}

std::optional<Eigen::Vector3d> SilhouetteHull::place(const Eigen::Vector3d& origin,
                                                     const Eigen::Vector3d& direction) const {
  const double half_cell = 2.0 / static_cast<double>(m_resolution);
  // The hull points on the ray and how many views see each; the first that at least half as many views
  // see as the best-seen one is where the ray's content lies.
  std::vector<std::pair<double, int>> hits;
  int best = 0;
  double t = 0.0;
  int64_t last_cell = -1;
  for (int step = 0; step < 100000; ++step) {
    const Eigen::Vector3d p = origin + t * direction;
    const double n = linf(p);
    if (!(n <= kMaxDistance)) break;
    const int64_t cell = cell_index(p);
    if (cell != last_cell && m_inside[static_cast<size_t>(cell)] != 0) {
      hits.emplace_back(t, m_inside[static_cast<size_t>(cell)]);
      best = std::max(best, static_cast<int>(m_inside[static_cast<size_t>(cell)]));
    }
    last_cell = cell;
    // Contracted space shrinks distances by 1/n^2 beyond the unit box: world steps grow to match.
    t += half_cell * std::max(1.0, n * n);
  }
  for (const auto& [t_hit, support] : hits)
    if (2 * support >= best) return origin + t_hit * direction;
  return std::nullopt;
}

}  // namespace semfield
