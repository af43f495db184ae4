// RANSAC plane search on a view's rendered surface points.
#include "semfield/segment/support_plane.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>

#include "semfield/core/splitmix64.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/segment/depth_grid.h"

namespace semfield {

namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

// The surface normal at pixel i from central differences of its four neighbours' surface points; none at the image
// border, next to an empty pixel, or where the z-depth bends by more than max_bend of itself between neighbours
// (second difference along a row or a column). The bend test keeps out silhouettes, where the rendered depth blends
// an object with what lies behind it and the difference normal points anywhere.
template <typename PointFn>
std::optional<Eigen::Vector3d> smooth_surface_normal(int64_t i, int64_t w, int64_t h, const float* z, const float* a,
                                                     const PointFn& point, double max_bend) {
  if (!depth_is_smooth(i, w, h, z, max_bend)) return std::nullopt;
  for (const int64_t j : {i - 1, i + 1, i - w, i + w})
    if (a[j] < 0.5f) return std::nullopt;
  const Eigen::Vector3d normal = (point(i + 1) - point(i - 1)).cross(point(i + w) - point(i - w));
  if (normal.norm() < 1e-12) return std::nullopt;
  return normal.normalized();
}

}  // namespace

std::optional<SupportPlane> fit_support_plane(const Camera& camera, const at::Tensor& depth_in,
                                              const at::Tensor& opacity_in, const SupportPlaneOptions& options) {
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  const at::Tensor depth = depth_in.to(at::kFloat).contiguous().view({h * w});
  const at::Tensor opacity = opacity_in.to(at::kFloat).contiguous().view({h * w});
  const float* z = depth.data_ptr<float>();
  const float* a = opacity.data_ptr<float>();

  // Surface points of the opaque pixels: along each pixel's unit ray to z-depth z (t = z / cos).
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const float* o = rays.origins.data_ptr<float>();
  const float* d = rays.directions.data_ptr<float>();
  const Eigen::Vector3d forward = camera.forward();
  auto is_opaque = [&](int64_t i) { return a[i] >= 0.5f && z[i] > 0; };
  std::vector<int64_t> opaque;
  opaque.reserve(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < h * w; ++i)
    if (is_opaque(i)) opaque.push_back(i);
  if (opaque.size() < 3) return std::nullopt;
  auto point = [&](int64_t i) {
    const Eigen::Vector3d dir(d[3 * i], d[3 * i + 1], d[3 * i + 2]);
    const double t = z[i] / std::max(1e-6, dir.dot(forward));
    return Eigen::Vector3d(o[3 * i] + t * dir.x(), o[3 * i + 1] + t * dir.y(), o[3 * i + 2] + t * dir.z());
  };
  const size_t stride = std::max<size_t>(1, opaque.size() / static_cast<size_t>(std::max<int64_t>(options.sample_pixels, 3)));
  std::vector<Eigen::Vector3d> sample;
  std::vector<double> sample_depth;
  for (size_t k = 0; k < opaque.size(); k += stride) {
    sample.push_back(point(opaque[k]));
    sample_depth.push_back(z[opaque[k]]);
  }
  const double scale = median(sample_depth);
  const double band = options.ransac_band * scale;

  // RANSAC: the plane through three sampled points that the most sampled points lie near.
  SplitMix64 random(options.seed);
  const size_t n = sample.size();
  size_t best_count = 0;
  Eigen::Vector3d best_normal = Eigen::Vector3d::UnitZ();
  double best_offset = 0;
  for (int it = 0; it < options.iterations; ++it) {
    const Eigen::Vector3d& p0 = sample[random.next_u64() % n];
    const Eigen::Vector3d& p1 = sample[random.next_u64() % n];
    const Eigen::Vector3d& p2 = sample[random.next_u64() % n];
    Eigen::Vector3d normal = (p1 - p0).cross(p2 - p0);
    if (normal.norm() < 1e-12) continue;
    normal.normalize();
    const double offset = -normal.dot(p0);
    size_t count = 0;
    for (const Eigen::Vector3d& p : sample) count += std::fabs(normal.dot(p) + offset) <= band;
    if (count > best_count) best_count = count, best_normal = normal, best_offset = offset;
  }
  if (static_cast<double>(best_count) < options.min_inlier_fraction * static_cast<double>(n)) return std::nullopt;

  // Least-squares refit on the inliers (the smallest principal axis of their scatter), then the band from the
  // robust spread of their residuals: the rendered depth's own noise on the plane.
  std::vector<Eigen::Vector3d> inliers;
  for (const Eigen::Vector3d& p : sample)
    if (std::fabs(best_normal.dot(p) + best_offset) <= band) inliers.push_back(p);
  Eigen::Vector3d centre = Eigen::Vector3d::Zero();
  for (const Eigen::Vector3d& p : inliers) centre += p;
  centre /= static_cast<double>(inliers.size());
  Eigen::Matrix3d scatter = Eigen::Matrix3d::Zero();
  for (const Eigen::Vector3d& p : inliers) scatter += (p - centre) * (p - centre).transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eigen(scatter);
  SupportPlane plane;
  plane.normal = eigen.eigenvectors().col(0).normalized();
  plane.offset = -plane.normal.dot(centre);
  if (plane.signed_distance(camera.origin()) < 0) {  // face the camera
    plane.normal = -plane.normal;
    plane.offset = -plane.offset;
  }
  std::vector<double> residuals;
  residuals.reserve(inliers.size());
  for (const Eigen::Vector3d& p : inliers) residuals.push_back(std::fabs(plane.signed_distance(p)));
  const double sigma = 1.4826 * median(residuals);
  if (sigma > options.max_spread * band) return std::nullopt;  // a curved surface, not a plane
  plane.band = std::max(options.residual_sigmas * sigma, options.min_band * scale);

  plane.pixels = at::zeros({h, w}, at::kBool);
  plane.points = at::zeros({h, w, 3}, at::kFloat);
  bool* out = plane.pixels.data_ptr<bool>();
  float* points = plane.points.data_ptr<float>();
  int64_t count = 0;
  const double min_cos = std::cos(options.spare_slope_degrees * M_PI / 180.0);
  // A slope rising from the plane is the object's, not the plane's. It lies on the plane's upper side; the plane's
  // own depth noise scatters to both, so requiring it halves the ground taken for slopes.
  auto rising_slope = [&](int64_t i, double distance) {
    if (options.spare_slope_degrees <= 0 || distance <= 0) return false;
    const std::optional<Eigen::Vector3d> n = smooth_surface_normal(i, w, h, z, a, point, options.spare_max_bend);
    return n && std::fabs(n->dot(plane.normal)) < min_cos;
  };
  for (const int64_t i : opaque) {
    const Eigen::Vector3d p = point(i);
    for (int k = 0; k < 3; ++k) points[3 * i + k] = static_cast<float>(p[k]);
    const double distance = plane.signed_distance(p);
    if (std::fabs(distance) > plane.band || rising_slope(i, distance)) continue;
    out[i] = true, ++count;
  }
  if (options.hysteresis_bands > 1) {
    // The plane's noise tail: pixels within the wider band, reached from the plane through such pixels.
    const double wide = options.hysteresis_bands * plane.band;
    flood_depth_connected(out, z, h, w, options.depth_edge, [&](int64_t j) {
      if (!is_opaque(j)) return false;
      const double distance = plane.signed_distance(Eigen::Vector3d(points[3 * j], points[3 * j + 1], points[3 * j + 2]));
      if (std::fabs(distance) > wide || rising_slope(j, distance)) return false;
      ++count;
      return true;
    });
  }
  plane.inlier_fraction = static_cast<double>(count) / static_cast<double>(opaque.size());
  if (plane.inlier_fraction < options.min_inlier_fraction) return std::nullopt;
  return plane;
}

}  // namespace semfield
