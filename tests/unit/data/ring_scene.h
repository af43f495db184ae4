// A NeRF-synthetic scene ray-traced on the fly for the loader tests: spheres (and a ground disc) seen by
// cameras on a ring around the origin, with alpha, a white or an opaque background, optional depth maps.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <Eigen/Geometry>
#include <fmt/format.h>

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace semfield::test {

struct RingScene {
  enum class Background { Alpha, White, Opaque };
  struct Sphere {
    Eigen::Vector3d centre;
    double radius;
  };
  std::vector<Sphere> spheres;  ///< world units
  double ground_radius = 0.0;   ///< > 0: a ground disc of this radius on z = 0, centred on the origin
  int n_views = 12;             ///< cameras at angles 2 pi k / n_views on the ring, looking at the origin
  double distance = 6.0;        ///< ring radius (world units)
  double height = 1.5;          ///< ring height above z = 0
  int size = 48;                ///< square images
  double angle_x = 1.5;         ///< camera_angle_x (radians)
  Background background = Background::Alpha;
  bool depth = false;           ///< write depth maps (16-bit PNG, millimetres)
  std::string top;              ///< extra top-level keys of transforms_train.json, e.g. R"("aabb_scale": 2)"
};

/// The camera of view k: OpenGL axes, looking at the origin with +z up.
inline Camera ring_camera(const RingScene& scene, int k) {
  const double angle = 2.0 * M_PI * k / scene.n_views;
  const Eigen::Vector3d position(scene.distance * std::cos(angle), scene.distance * std::sin(angle), scene.height);
  const Eigen::Vector3d forward = -position.normalized();
  const Eigen::Vector3d right = forward.cross(Eigen::Vector3d::UnitZ()).normalized();
  const Eigen::Vector3d up = right.cross(forward);
  Camera camera;
  camera.c2w.block<3, 1>(0, 0) = right;
  camera.c2w.block<3, 1>(0, 1) = up;
  camera.c2w.block<3, 1>(0, 2) = -forward;
  camera.c2w.block<3, 1>(0, 3) = position;
  Intrinsics& K = camera.intrinsics;
  K.width = K.height = scene.size;
  K.fx = K.fy = 0.5 * scene.size / std::tan(0.5 * scene.angle_x);
  K.cx = K.cy = 0.5 * scene.size;
  return camera;
}

/// Writes transforms_train.json and train/r_<k>.png (+ r_<k>_depth.png) into `dir`.
inline void write_ring_scene(const std::filesystem::path& dir, const RingScene& scene) {
  std::filesystem::create_directories(dir / "train");
  std::string frames;
  for (int k = 0; k < scene.n_views; ++k) {
    const Camera camera = ring_camera(scene, k);
    const bool rgba = scene.background == RingScene::Background::Alpha;
    Image image(scene.size, scene.size, rgba ? 4 : 3), depth(scene.size, scene.size, 1);
    for (int y = 0; y < scene.size; ++y) {
      for (int x = 0; x < scene.size; ++x) {
        const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
        double nearest = INFINITY;
        Eigen::Vector3d normal = Eigen::Vector3d::Zero();
        for (const auto& sphere : scene.spheres) {
          // |o + t d - c|^2 = r^2 with |d| = 1.
          const Eigen::Vector3d oc = ray.origin - sphere.centre;
          const double b = oc.dot(ray.direction), c = oc.squaredNorm() - sphere.radius * sphere.radius;
          const double disc = b * b - c;
          if (disc < 0) continue;
          const double t = -b - std::sqrt(disc);
          if (t > 0 && t < nearest) {
            nearest = t;
            normal = (oc + t * ray.direction).normalized();
          }
        }
        if (scene.ground_radius > 0 && ray.direction.z() < 0) {
          const double t = -ray.origin.z() / ray.direction.z();
          const Eigen::Vector3d p = ray.origin + t * ray.direction;
          if (t > 0 && t < nearest && p.head<2>().norm() <= scene.ground_radius) {
            nearest = t;
            normal = Eigen::Vector3d::UnitZ();
          }
        }
        const bool hit = std::isfinite(nearest);
        for (int c = 0; c < 3; ++c) {
          const float shade = static_cast<float>(0.25 + 0.5 * std::fabs(normal[c]));
          const float sky = static_cast<float>(0.3 + 0.4 * y / scene.size + 0.1 * c);  // no uniform colour
          image.at(x, y, c) = hit ? shade : scene.background == RingScene::Background::White ? 1.0f
                                         : scene.background == RingScene::Background::Opaque ? sky
                                                                                              : 0.0f;
        }
        if (rgba) image.at(x, y, 3) = hit ? 1.0f : 0.0f;
        // z-depth in millimetres; 0 where nothing is hit.
        const double z_depth = nearest * ray.direction.dot(camera.forward());
        depth.at(x, y) = hit ? static_cast<float>(std::round(1000.0 * z_depth)) : 0.0f;
      }
    }
    write_png(dir / "train" / fmt::format("r_{}.png", k), image, 8);
    std::string extra;
    if (scene.depth) {
      write_png(dir / "train" / fmt::format("r_{}_depth.png", k), depth, 16, ImageRange::Raw);
      extra = fmt::format(R"(, "depth_file_path": "./train/r_{}_depth.png")", k);
    }
    frames += fmt::format(R"({}{{"file_path": "./train/r_{}", "transform_matrix": {}{}}})", k ? ", " : "", k,
                          matrix_json(camera.c2w), extra);
  }
  write_text(dir / "transforms_train.json",
             fmt::format(R"({{"camera_angle_x": {}, {}"frames": [{}]}})", scene.angle_x,
                         scene.top.empty() ? "" : scene.top + ", ", frames));
}

}  // namespace semfield::test
