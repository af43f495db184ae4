// Camera models: OpenCV radial-tangential and equidistant-fisheye distortion, their inverses, and projection.
#include "semfield/geometry/camera.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "semfield/core/error.h"

namespace semfield {

namespace {

constexpr double kHalfPi = 1.57079632679489661923;

// Radial-tangential model (Brown-Conrady as in OpenCV):
//   r2 = x^2 + y^2, R = 1 + k1 r2 + k2 r2^2 + k3 r2^3
//   xd = x R + 2 p1 x y + p2 (r2 + 2 x^2)
//   yd = y R + p1 (r2 + 2 y^2) + 2 p2 x y
// Jacobian (with dR = dR/dr2 = k1 + 2 k2 r2 + 3 k3 r2^2):
//   dxd/dx = R + 2 x^2 dR + 2 p1 y + 6 p2 x      dxd/dy = 2 x y dR + 2 p1 x + 2 p2 y
//   dyd/dx = 2 x y dR + 2 p1 x + 2 p2 y          dyd/dy = R + 2 y^2 dR + 6 p1 y + 2 p2 x
Eigen::Vector2d distort_radtan(const Distortion& d, const Eigen::Vector2d& p, Eigen::Matrix2d* jacobian) {
  const double x = p.x(), y = p.y();
  const double r2 = x * x + y * y;
  const double radial = 1.0 + r2 * (d.k1 + r2 * (d.k2 + r2 * d.k3));
  const Eigen::Vector2d out(x * radial + 2.0 * d.p1 * x * y + d.p2 * (r2 + 2.0 * x * x),
                            y * radial + d.p1 * (r2 + 2.0 * y * y) + 2.0 * d.p2 * x * y);
  if (jacobian) {
    const double d_radial = d.k1 + r2 * (2.0 * d.k2 + 3.0 * d.k3 * r2);
    const double cross = 2.0 * x * y * d_radial + 2.0 * d.p1 * x + 2.0 * d.p2 * y;
    (*jacobian) << radial + 2.0 * x * x * d_radial + 2.0 * d.p1 * y + 6.0 * d.p2 * x, cross,
        cross, radial + 2.0 * y * y * d_radial + 6.0 * d.p1 * y + 2.0 * d.p2 * x;
  }
  return out;
}

// Equidistant fisheye: theta = atan(r), theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8),
// and the point is moved radially to radius theta_d.
double fisheye_theta_d(const Distortion& d, double theta, double* derivative) {
  const double t2 = theta * theta;
  if (derivative) *derivative = 1.0 + t2 * (3.0 * d.k1 + t2 * (5.0 * d.k2 + t2 * (7.0 * d.k3 + t2 * 9.0 * d.k4)));
  return theta * (1.0 + t2 * (d.k1 + t2 * (d.k2 + t2 * (d.k3 + t2 * d.k4))));
}

Eigen::Vector2d distort_fisheye(const Distortion& d, const Eigen::Vector2d& p) {
  const double r = p.norm();
  // Near the axis theta_d / r -> 1 (theta ~ r), so the point is unchanged to first order.
  if (r < 1e-12) return p;
  const double theta_d = fisheye_theta_d(d, std::atan(r), nullptr);
  return p * (theta_d / r);
}

Eigen::Vector2d undistort_radtan(const Distortion& d, const Eigen::Vector2d& target) {
  Eigen::Vector2d p = target;
  Eigen::Vector2d best = p;
  double best_residual = (distort_radtan(d, p, nullptr) - target).squaredNorm();
  for (int iter = 0; iter < 30 && best_residual > 1e-26; ++iter) {
    Eigen::Matrix2d jacobian;
    const Eigen::Vector2d residual = distort_radtan(d, p, &jacobian) - target;
    Eigen::Vector2d step;
    const double det = jacobian.determinant();
    // A (near-)singular Jacobian happens beyond the fold of a strongly distorting lens; a plain
    // fixed-point step still moves towards the target there.
    if (std::isfinite(det) && std::fabs(det) > 1e-12) {
      step = jacobian.inverse() * residual;
    } else {
      step = residual;
    }
    // Backtracking: accept the largest step (1, 1/2, 1/4, ...) that reduces the residual.
    bool improved = false;
    for (double scale = 1.0; scale > 1e-4; scale *= 0.5) {
      const Eigen::Vector2d candidate = p - scale * step;
      const double r = (distort_radtan(d, candidate, nullptr) - target).squaredNorm();
      if (std::isfinite(r) && r < best_residual) {
        p = candidate;
        best = candidate;
        best_residual = r;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  return best;
}

Eigen::Vector2d undistort_fisheye(const Distortion& d, const Eigen::Vector2d& target) {
  const double theta_d = target.norm();
  if (theta_d < 1e-12) return target;
  // Solve theta_d(theta) = target radius in 1D (Newton with backtracking), theta in [0, pi/2).
  double theta = std::min(theta_d, kHalfPi - 1e-6);
  double best = theta;
  double best_residual = std::fabs(fisheye_theta_d(d, theta, nullptr) - theta_d);
  for (int iter = 0; iter < 30 && best_residual > 1e-14; ++iter) {
    double derivative = 0.0;
    const double residual = fisheye_theta_d(d, theta, &derivative) - theta_d;
    const double step = (std::isfinite(derivative) && std::fabs(derivative) > 1e-12) ? residual / derivative
                                                                                    : residual;
    bool improved = false;
    for (double scale = 1.0; scale > 1e-4; scale *= 0.5) {
      const double candidate = std::clamp(theta - scale * step, 0.0, kHalfPi - 1e-6);
      const double r = std::fabs(fisheye_theta_d(d, candidate, nullptr) - theta_d);
      if (std::isfinite(r) && r < best_residual) {
        theta = candidate;
        best = candidate;
        best_residual = r;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  return target * (std::tan(best) / theta_d);
}

}  // namespace

Intrinsics Intrinsics::downscaled(int factor) const {
  if (factor < 1) fail_usage("downscale factor must be >= 1, got {}", factor);
  Intrinsics out = *this;
  out.width = width / factor;
  out.height = height / factor;
  // Pixel coordinates have their origin at the image corner, so a block downscale divides them exactly.
  out.fx = fx / factor;
  out.fy = fy / factor;
  out.cx = cx / factor;
  out.cy = cy / factor;
  return out;
}

Intrinsics Intrinsics::resized(int new_width, int new_height) const {
  if (new_width < 1 || new_height < 1) fail_usage("resized intrinsics need a positive size, got {}x{}", new_width, new_height);
  Intrinsics out = *this;
  const double sx = static_cast<double>(new_width) / width, sy = static_cast<double>(new_height) / height;
  out.width = new_width;
  out.height = new_height;
  out.fx = fx * sx;
  out.fy = fy * sy;
  out.cx = cx * sx;
  out.cy = cy * sy;
  return out;
}

Eigen::Vector2d distort(const Intrinsics& K, const Eigen::Vector2d& undistorted) {
  switch (K.model) {
    case CameraModel::Pinhole: return undistorted;
    case CameraModel::OpenCV: return distort_radtan(K.distortion, undistorted, nullptr);
    case CameraModel::OpenCVFisheye: return distort_fisheye(K.distortion, undistorted);
  }
  return undistorted;
}

Eigen::Vector2d undistort(const Intrinsics& K, const Eigen::Vector2d& distorted) {
  switch (K.model) {
    case CameraModel::Pinhole: return distorted;
    case CameraModel::OpenCV:
      return K.distortion.is_zero() ? distorted : undistort_radtan(K.distortion, distorted);
    case CameraModel::OpenCVFisheye: return undistort_fisheye(K.distortion, distorted);
  }
  return distorted;
}

Ray Camera::pixel_to_ray(double u, double v) const {
  const Intrinsics& K = intrinsics;
  const Eigen::Vector2d p = undistort(K, Eigen::Vector2d((u - K.cx) / K.fx, (v - K.cy) / K.fy));
  // OpenCV camera direction (x, y, 1) is (x, -y, -1) in OpenGL camera axes.
  const Eigen::Vector3d dir_cam(p.x(), -p.y(), -1.0);
  Ray ray;
  ray.origin = origin();
  ray.direction = (c2w.block<3, 3>(0, 0) * dir_cam).normalized();
  return ray;
}

bool Camera::world_to_pixel(const Eigen::Vector3d& world, Eigen::Vector2d* uv, double* depth) const {
  const Eigen::Vector3d cam = world_to_camera(world);
  const double z = -cam.z();
  if (depth) *depth = z;
  if (!(z > 0.0)) return false;
  const Intrinsics& K = intrinsics;
  const Eigen::Vector2d p = distort(K, Eigen::Vector2d(cam.x() / z, -cam.y() / z));
  if (uv) *uv = Eigen::Vector2d(K.fx * p.x() + K.cx, K.fy * p.y() + K.cy);
  return true;
}

Eigen::Vector3d Camera::world_to_camera(const Eigen::Vector3d& world) const {
  return c2w.block<3, 3>(0, 0).transpose() * (world - origin());
}

Eigen::Vector3d Camera::camera_to_world(const Eigen::Vector3d& cam) const {
  return c2w.block<3, 3>(0, 0) * cam + origin();
}

Eigen::Matrix4d flip_opencv_opengl(const Eigen::Matrix4d& c2w) {
  Eigen::Matrix4d out = c2w;
  out.block<3, 1>(0, 1) *= -1.0;
  out.block<3, 1>(0, 2) *= -1.0;
  return out;
}

}  // namespace semfield
