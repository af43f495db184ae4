// Cameras: pinhole intrinsics with optional OpenCV radial-tangential or fisheye distortion, and poses.
//
// Conventions (used everywhere in semfield):
//  - Pixel coordinates (u, v): origin at the top-left corner of the image, u right, v down; the centre of
//    pixel (i, j) is (i + 0.5, j + 0.5).
//  - Normalised image coordinates follow OpenCV: x = (u - cx) / fx, y = (v - cy) / fy, camera looks +z.
//  - Poses are camera-to-world 4x4 matrices in the OpenGL / NeRF-synthetic convention: camera x right,
//    y up, looking down -z. (COLMAP's world-to-camera OpenCV poses are converted by the COLMAP loader.)
//  - "Depth" of a point is its z-depth: distance along the camera's viewing axis, in world units.
#pragma once

#include <Eigen/Core>

namespace semfield {

enum class CameraModel {
  Pinhole,       ///< no distortion
  OpenCV,        ///< radial k1,k2,k3 + tangential p1,p2 (OpenCV / COLMAP "OPENCV", "FULL_OPENCV" subset)
  OpenCVFisheye  ///< equidistant fisheye k1..k4 (OpenCV fisheye / COLMAP "OPENCV_FISHEYE")
};

/// Distortion coefficients; unused ones stay 0.
struct Distortion {
  double k1 = 0, k2 = 0, k3 = 0, k4 = 0, p1 = 0, p2 = 0;
  bool is_zero() const { return k1 == 0 && k2 == 0 && k3 == 0 && k4 == 0 && p1 == 0 && p2 == 0; }
};

struct Intrinsics {
  int width = 0, height = 0;        ///< pixels
  double fx = 0, fy = 0;            ///< focal lengths, pixels
  double cx = 0, cy = 0;            ///< principal point, pixels (same origin as u, v)
  CameraModel model = CameraModel::Pinhole;
  Distortion distortion;

  /// Intrinsics for an image downscaled by `factor` (width/height floored, focal and centre divided).
  Intrinsics downscaled(int factor) const;
  /// Intrinsics of the same image rectangle sampled at width x height pixels (a feature map's grid): pixel
  /// (j + 0.5, i + 0.5) of the result sees what (j + 0.5) * W / width, (i + 0.5) * H / height of this sees.
  Intrinsics resized(int new_width, int new_height) const;
};

/// Normalised (undistorted) -> distorted normalised coordinates for the intrinsics' model.
Eigen::Vector2d distort(const Intrinsics& K, const Eigen::Vector2d& undistorted);
/// Inverse of distort by Newton iterations (converges for the distortions real lenses have; the result
/// of a diverged solve is the best iterate).
Eigen::Vector2d undistort(const Intrinsics& K, const Eigen::Vector2d& distorted);

struct Ray {
  Eigen::Vector3d origin;
  Eigen::Vector3d direction;  ///< unit length, world frame
};

struct Camera {
  Intrinsics intrinsics;
  Eigen::Matrix4d c2w = Eigen::Matrix4d::Identity();  ///< camera-to-world, OpenGL axes

  Eigen::Vector3d origin() const { return c2w.block<3, 1>(0, 3); }
  /// Unit world direction the camera looks along (its -z axis).
  Eigen::Vector3d forward() const { return -c2w.block<3, 1>(0, 2); }

  /// World ray through pixel position (u, v) (use u = i + 0.5 for pixel centres), distortion removed.
  Ray pixel_to_ray(double u, double v) const;
  /// Projects a world point into the image (distortion applied). Returns false if the point is not in
  /// front of the camera (z-depth <= 0); `uv` may lie outside the image. `depth` receives the z-depth.
  bool world_to_pixel(const Eigen::Vector3d& world, Eigen::Vector2d* uv, double* depth = nullptr) const;

  /// Rigid transforms between world and camera frames (OpenGL camera axes).
  Eigen::Vector3d world_to_camera(const Eigen::Vector3d& world) const;
  Eigen::Vector3d camera_to_world(const Eigen::Vector3d& cam) const;
};

/// Converts a camera-to-world pose between the OpenCV (y down, z forward) and OpenGL (y up, z backward)
/// camera conventions; the operation is its own inverse (negates the camera's y and z axes).
Eigen::Matrix4d flip_opencv_opengl(const Eigen::Matrix4d& c2w);

}  // namespace semfield
