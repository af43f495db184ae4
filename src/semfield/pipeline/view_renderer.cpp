// Whole-view rendering and orbit camera paths.
#include "semfield/pipeline/view_renderer.h"

#include <chrono>
#include <cmath>

#include <ATen/ATen.h>
#include <Eigen/Geometry>

#include "semfield/core/error.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/render/parallel_slices.h"

namespace semfield {

namespace {

RenderedView pixels_to_view(const Camera& camera, const at::Tensor& dirs, const at::Tensor& rgb,
                            const at::Tensor& opacity, const at::Tensor& distance) {
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  const at::Tensor zdepth =
      at::where(opacity > 0.5f, kernels::z_from_ray_distance(camera, dirs, distance), at::zeros_like(distance));
  RenderedView view;
  view.rgb = tensor_to_image(rgb.clamp(0.0f, 1.0f).reshape({h, w, 3}));
  view.depth = tensor_to_image(zdepth.reshape({h, w}));
  view.opacity = tensor_to_image(opacity.clamp(0.0f, 1.0f).reshape({h, w}));
  return view;
}

}  // namespace

RenderedView render_view(const SceneModel& model, const Camera& camera, const Eigen::Vector3f& background) {
  const auto start = std::chrono::steady_clock::now();
  // The render parallelises itself; the few whole-view ops around it are cheaper single-threaded than
  // waking LibTorch's OpenMP team (whose idle threads would then spin beside the render, see
  // parallel_slices.h).
  const SerialTorchScope serial;
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const at::Tensor bg = at::tensor({background.x(), background.y(), background.z()});
  const RayRenderOutput out = model.render(rays.origins, rays.directions, bg);
  RenderedView view =
      pixels_to_view(camera, rays.directions, out.rgb, out.opacity, out.depth / out.opacity.clamp_min(1e-6f));
  view.n_samples = out.n_samples;
  view.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return view;
}

RenderedView view_from_colour_pass(const Camera& camera, const SemanticRenderOutput& out) {
  const int64_t r = static_cast<int64_t>(camera.intrinsics.width) * camera.intrinsics.height;
  SEMFIELD_ASSERT(out.rgb.defined(), "view_from_colour_pass: outputs without colour (not render_view_with_colour's)");
  SEMFIELD_ASSERT(out.rgb.sizes().equals({r, 3}) && out.opacity.sizes().equals({r}) && out.depth.sizes().equals({r}),
                  "view_from_colour_pass: outputs of another size than the camera's view");
  return pixels_to_view(camera, kernels::generate_image_rays(camera).directions, out.rgb, out.opacity, out.depth);
}

std::vector<Camera> orbit_cameras(const std::vector<Camera>& dataset, int n) {
  if (dataset.empty()) fail_usage("orbit: the run has no dataset cameras to derive a path from");
  if (n < 1) fail_usage("orbit: need at least 1 view, got {}", n);
  // Look-at centre: least-squares point closest to every camera's viewing axis.
  Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero();
  Eigen::Vector3d up = Eigen::Vector3d::Zero();
  for (const auto& cam : dataset) {
    const Eigen::Vector3d d = cam.forward();
    const Eigen::Matrix3d p = Eigen::Matrix3d::Identity() - d * d.transpose();
    a += p;
    b += p * cam.origin();
    up += cam.c2w.block<3, 1>(0, 1);
  }
  Eigen::Vector3d centre = a.fullPivLu().isInvertible() ? Eigen::Vector3d(a.fullPivLu().solve(b))
                                                         : Eigen::Vector3d::Zero();
  up.normalize();
  double radius = 0, height = 0;
  for (const auto& cam : dataset) {
    const Eigen::Vector3d rel = cam.origin() - centre;
    height += rel.dot(up);
    radius += (rel - rel.dot(up) * up).norm();
  }
  radius /= static_cast<double>(dataset.size());
  height /= static_cast<double>(dataset.size());
  // An orthonormal frame (e1, e2) of the plane orthogonal to `up`.
  Eigen::Vector3d e1 = up.unitOrthogonal();
  Eigen::Vector3d e2 = up.cross(e1);
  std::vector<Camera> out;
  for (int i = 0; i < n; ++i) {
    const double angle = 2.0 * M_PI * i / n;
    const Eigen::Vector3d pos = centre + radius * (std::cos(angle) * e1 + std::sin(angle) * e2) + height * up;
    const Eigen::Vector3d back = (pos - centre).normalized();  // camera +z points away from the target
    const Eigen::Vector3d right = up.cross(back).normalized();
    const Eigen::Vector3d cam_up = back.cross(right);
    Camera cam;
    cam.intrinsics = dataset.front().intrinsics;
    cam.c2w.setIdentity();
    cam.c2w.block<3, 1>(0, 0) = right;
    cam.c2w.block<3, 1>(0, 1) = cam_up;
    cam.c2w.block<3, 1>(0, 2) = back;
    cam.c2w.block<3, 1>(0, 3) = pos;
    out.push_back(cam);
  }
  return out;
}

Image composite_over(const Image& rgba, const Eigen::Vector3f& background) {
  if (rgba.channels != 4) return rgba;
  Image out(rgba.width, rgba.height, 3);
  const size_t n = static_cast<size_t>(rgba.width) * rgba.height;
  for (size_t i = 0; i < n; ++i) {
    const float a = rgba.pixels[4 * i + 3];
    for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = rgba.pixels[4 * i + c] * a + (1.0f - a) * background[c];
  }
  return out;
}

}  // namespace semfield
