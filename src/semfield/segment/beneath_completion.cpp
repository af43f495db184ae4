// Completing a selection with what lies beneath it.
#include "semfield/segment/beneath_completion.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <Eigen/Geometry>

#include "semfield/core/error.h"
#include "semfield/segment/depth_grid.h"

namespace semfield {

namespace {

double cross(const Eigen::Vector2d& o, const Eigen::Vector2d& a, const Eigen::Vector2d& b) {
  return (a - o).x() * (b - o).y() - (a - o).y() * (b - o).x();
}

// Andrew's monotone chain, counter-clockwise, collinear points dropped. A few dozen lines do not warrant a
// geometry library (the project links none that has one).
std::vector<Eigen::Vector2d> convex_hull(std::vector<Eigen::Vector2d> points) {
  std::sort(points.begin(), points.end(), [](const Eigen::Vector2d& a, const Eigen::Vector2d& b) {
    return a.x() < b.x() || (a.x() == b.x() && a.y() < b.y());
  });
  points.erase(std::unique(points.begin(), points.end()), points.end());
  if (points.size() < 3) return points;
  std::vector<Eigen::Vector2d> hull(2 * points.size());
  size_t k = 0;
  for (size_t i = 0; i < points.size(); ++i) {  // lower chain
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  for (size_t i = points.size() - 1, lower = k + 1; i-- > 0;) {  // upper chain
    while (k >= lower && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  hull.resize(k - 1);  // the last point repeats the first
  return hull;
}

double distance_to_segment(const Eigen::Vector2d& q, const Eigen::Vector2d& a, const Eigen::Vector2d& b) {
  const Eigen::Vector2d ab = b - a;
  const double length2 = ab.squaredNorm();
  const double t = length2 > 0 ? std::clamp((q - a).dot(ab) / length2, 0.0, 1.0) : 0.0;
  return (a + t * ab - q).norm();
}

double median_of(std::vector<float> values) {
  if (values.empty()) return 0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

}  // namespace

double Footprint::column_top_near(const Eigen::Vector2d& q) const {
  double best = -std::numeric_limits<double>::infinity();
  if (column_top.empty()) return best;
  const Eigen::Vector2d c = (q - grid_origin) / cell;
  const int64_t cx = static_cast<int64_t>(std::floor(c.x())), cy = static_cast<int64_t>(std::floor(c.y()));
  for (int64_t y = std::max<int64_t>(0, cy - 1); y <= std::min(grid_h - 1, cy + 1); ++y)
    for (int64_t x = std::max<int64_t>(0, cx - 1); x <= std::min(grid_w - 1, cx + 1); ++x)
      best = std::max(best, static_cast<double>(column_top[static_cast<size_t>(y * grid_w + x)]));
  return best;
}

bool Footprint::contains(const Eigen::Vector2d& q) const {
  if (hull.empty()) return false;
  if (hull.size() >= 3) {
    bool inside = true;
    for (size_t i = 0; i < hull.size() && inside; ++i) inside = cross(hull[i], hull[(i + 1) % hull.size()], q) >= 0;
    if (inside) return true;
  }
  for (size_t i = 0; i < hull.size(); ++i)
    if (distance_to_segment(q, hull[i], hull[(i + 1) % hull.size()]) <= margin) return true;
  return false;
}

Footprint selection_footprint(const at::Tensor& mask_in, const SupportPlane& plane, const at::Tensor& depth_in,
                              const BeneathOptions& options) {
  SEMFIELD_ASSERT(mask_in.dim() == 2 && mask_in.scalar_type() == at::kBool && depth_in.sizes() == mask_in.sizes() &&
                      plane.points.defined() && plane.points.size(0) == mask_in.size(0) &&
                      plane.points.size(1) == mask_in.size(1),
                  "selection_footprint: mask, depth and the plane's points must be of one view");
  const at::Tensor mask = mask_in.contiguous(), depth = depth_in.to(at::kFloat).contiguous();
  const int64_t n = mask.numel();
  const bool* m = mask.data_ptr<bool>();
  const float* z = depth.data_ptr<float>();
  const float* points = plane.points.data_ptr<float>();
  Footprint footprint;
  // Any orthonormal in-plane basis: the footprint test is invariant to its choice.
  const Eigen::Vector3d& normal = plane.normal;
  footprint.u = normal.unitOrthogonal();
  footprint.v = normal.cross(footprint.u);
  footprint.origin = -plane.offset * normal;
  std::vector<Eigen::Vector2d> projected;
  std::vector<double> heights;
  // The spacing of neighbouring pixels' points along the rows and along the columns: at a grazing view a pixel
  // spans far more of the plane in depth than across.
  std::vector<float> across, along;
  footprint.top = -std::numeric_limits<double>::infinity();
  const int64_t h = mask.size(0), w = mask.size(1);
  auto smooth = [&](int64_t i) { return depth_is_smooth(i, w, h, z, options.hull_max_bend); };
  for (int64_t i = 0; i < n; ++i) {
    if (!m[i] || !(z[i] > 0) || !smooth(i)) continue;
    const Eigen::Vector3d p(points[3 * i], points[3 * i + 1], points[3 * i + 2]);
    const double height = plane.signed_distance(p);
    if (height <= plane.band) continue;
    const Eigen::Vector2d q = footprint.project(p);
    projected.push_back(q);
    heights.push_back(height);
    for (const int64_t j : {i + 1, i + w}) {
      if (!m[j] || !smooth(j)) continue;
      const Eigen::Vector3d pj(points[3 * j], points[3 * j + 1], points[3 * j + 2]);
      (j == i + 1 ? across : along).push_back(static_cast<float>((footprint.project(pj) - q).norm()));
    }
    footprint.top = std::max(footprint.top, height);
  }
  if (projected.empty()) {
    footprint.top = 0;
    return footprint;
  }
  footprint.margin = options.margin_pixels * std::max(median_of(std::move(across)), median_of(std::move(along)));
  // The columns: the highest selected point over each cell of a grid on the plane, one margin a side.
  Eigen::Vector2d lo = projected.front(), hi = projected.front();
  for (const Eigen::Vector2d& q : projected) lo = lo.cwiseMin(q), hi = hi.cwiseMax(q);
  footprint.cell = std::max(footprint.margin, 1e-3 * std::max(1e-9, (hi - lo).maxCoeff()));
  footprint.grid_origin = lo;
  footprint.grid_w = static_cast<int64_t>((hi.x() - lo.x()) / footprint.cell) + 1;
  footprint.grid_h = static_cast<int64_t>((hi.y() - lo.y()) / footprint.cell) + 1;
  footprint.column_top.assign(static_cast<size_t>(footprint.grid_w * footprint.grid_h),
                              -std::numeric_limits<float>::infinity());
  for (size_t k = 0; k < projected.size(); ++k) {
    const Eigen::Vector2d c = (projected[k] - lo) / footprint.cell;
    float& top = footprint.column_top[static_cast<size_t>(static_cast<int64_t>(c.y()) * footprint.grid_w +
                                                          static_cast<int64_t>(c.x()))];
    top = std::max(top, static_cast<float>(heights[k]));
  }
  footprint.hull = convex_hull(std::move(projected));
  return footprint;
}

at::Tensor complete_beneath(const at::Tensor& mask_in, const SupportPlane& plane, const at::Tensor& depth_in,
                            const at::Tensor& opacity_in, const at::Tensor& excluded_in, double depth_edge,
                            double min_opacity, const BeneathOptions& options) {
  if (!options.enabled || !plane.points.defined()) return mask_in;
  const int64_t h = mask_in.size(0), w = mask_in.size(1);
  const Footprint footprint = selection_footprint(mask_in, plane, depth_in, options);
  if (footprint.hull.empty()) return mask_in;
  const at::Tensor depth = depth_in.to(at::kFloat).contiguous(), opacity = opacity_in.to(at::kFloat).contiguous();
  SEMFIELD_ASSERT(opacity_in.sizes() == mask_in.sizes() &&
                      (!excluded_in.defined() || excluded_in.sizes() == mask_in.sizes()),
                  "complete_beneath: opacity and excluded must be of the mask's view");
  const at::Tensor excluded = excluded_in.defined() ? excluded_in.contiguous() : at::zeros({h, w}, at::kBool);
  const float* z = depth.data_ptr<float>();
  const float* a = opacity.data_ptr<float>();
  const bool* off_limits = excluded.data_ptr<bool>();
  const float* points = plane.points.data_ptr<float>();
  at::Tensor out = mask_in.contiguous().clone();
  bool* m = out.data_ptr<bool>();
  // Beneath: clear of the plane, lower than a selected point nearby on the plane, inside the footprint. Tested
  // lazily, on the pixels the flood reaches.
  auto beneath = [&](int64_t i) {
    if (off_limits[i] || a[i] < min_opacity || !(z[i] > 0)) return false;
    const Eigen::Vector3d p(points[3 * i], points[3 * i + 1], points[3 * i + 2]);
    const double height = plane.signed_distance(p);
    if (!(height > options.min_height_bands * plane.band)) return false;
    const Eigen::Vector2d q = footprint.project(p);
    return height < footprint.column_top_near(q) && footprint.contains(q);
  };
  flood_depth_connected(m, z, h, w, depth_edge, beneath);
  return out;
}

}  // namespace semfield
