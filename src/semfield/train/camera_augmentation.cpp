// Camera augmentation by pose interpolation.
#include "semfield/train/camera_augmentation.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Geometry>

#include "semfield/core/error.h"

namespace semfield {

Camera interpolate_cameras(const Camera& a, const Camera& b, double t) {
  const Eigen::Quaterniond qa(Eigen::Matrix3d(a.c2w.block<3, 3>(0, 0)));
  const Eigen::Quaterniond qb(Eigen::Matrix3d(b.c2w.block<3, 3>(0, 0)));
  Camera out = a;
  out.c2w.block<3, 3>(0, 0) = qa.slerp(t, qb).normalized().toRotationMatrix();
  out.c2w.block<3, 1>(0, 3) = (1.0 - t) * a.origin() + t * b.origin();
  return out;
}

Camera random_interpolated_camera(const std::vector<Camera>& cameras, std::mt19937_64& rng, int max_side,
                                  int neighbours) {
  if (cameras.empty()) fail_usage("camera augmentation needs at least one training camera");
  const size_t i = std::uniform_int_distribution<size_t>(0, cameras.size() - 1)(rng);
  Camera out = cameras[i];
  if (cameras.size() > 1) {
    std::vector<std::pair<double, size_t>> by_distance;
    for (size_t j = 0; j < cameras.size(); ++j)
      if (j != i) by_distance.emplace_back((cameras[j].origin() - cameras[i].origin()).squaredNorm(), j);
    const size_t k = std::min<size_t>(std::max(neighbours, 1), by_distance.size());
    std::partial_sort(by_distance.begin(), by_distance.begin() + static_cast<std::ptrdiff_t>(k), by_distance.end());
    const size_t j = by_distance[std::uniform_int_distribution<size_t>(0, k - 1)(rng)].second;
    out = interpolate_cameras(cameras[i], cameras[j], std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  }
  const int w = out.intrinsics.width, h = out.intrinsics.height;
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(w, h));
  if (scale < 1.0)
    out.intrinsics = out.intrinsics.resized(std::max(1, static_cast<int>(std::lround(w * scale))),
                                            std::max(1, static_cast<int>(std::lround(h * scale))));
  return out;
}

}  // namespace semfield
