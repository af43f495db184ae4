// Lifting clicks to 3D through rendered depth and re-projecting them with a visibility test.
#include "semfield/segment/click_lifting.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

namespace {

float depth_at(const at::Tensor& depth, int x, int y) {
  SEMFIELD_ASSERT(depth.dim() == 2 && depth.scalar_type() == at::kFloat, "depth must be float [H,W]");
  return depth.accessor<float, 2>()[y][x];
}

}  // namespace

std::optional<Eigen::Vector3d> lift_click(const Camera& camera, const at::Tensor& depth, const Eigen::Vector2d& click) {
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  SEMFIELD_ASSERT(depth.size(0) == h && depth.size(1) == w, "depth must match the camera's size");
  const Eigen::Vector2i pixel = click_pixel(click, w, h);
  const double z = depth_at(depth, pixel.x(), pixel.y());
  if (!(z > 0)) return std::nullopt;
  const Ray ray = camera.pixel_to_ray(click.x() + 0.5, click.y() + 0.5);
  // z-depth is measured along the viewing axis; the ray reaches it after z / cos(angle to the axis).
  const double cos_axis = ray.direction.dot(camera.forward());
  if (!(cos_axis > 1e-6)) return std::nullopt;
  return ray.origin + ray.direction * (z / cos_axis);
}

Reprojection reproject_point(const Camera& target, const at::Tensor& depth, const Eigen::Vector3d& point,
                             double tolerance) {
  Reprojection out;
  Eigen::Vector2d uv;
  double z = 0;
  out.in_front = target.world_to_pixel(point, &uv, &z);
  out.depth = z;
  out.click = uv - Eigen::Vector2d(0.5, 0.5);
  if (!out.in_front) return out;
  const int w = target.intrinsics.width, h = target.intrinsics.height;
  out.in_image = uv.x() >= 0 && uv.x() < w && uv.y() >= 0 && uv.y() < h;
  if (!out.in_image) return out;
  const Eigen::Vector2i pixel = click_pixel(out.click, w, h);
  const double rendered = depth_at(depth, pixel.x(), pixel.y());
  out.visible = !(rendered > 0) || z <= rendered * (1 + tolerance);
  return out;
}

LiftedPrompts lift_prompts(const Camera& camera, const at::Tensor& depth, const Prompts& prompts) {
  LiftedPrompts lifted;
  for (const Eigen::Vector2d& c : prompts.positive)
    if (auto p = lift_click(camera, depth, c)) lifted.positive.push_back(*p);
  for (const Eigen::Vector2d& c : prompts.negative)
    if (auto p = lift_click(camera, depth, c)) lifted.negative.push_back(*p);
  return lifted;
}

Prompts reproject_prompts(const LiftedPrompts& lifted, const Camera& target, const at::Tensor& depth,
                          double tolerance) {
  Prompts out;
  for (const Eigen::Vector3d& p : lifted.positive) {
    const Reprojection r = reproject_point(target, depth, p, tolerance);
    if (r.visible) out.positive.push_back(r.click);
  }
  for (const Eigen::Vector3d& p : lifted.negative) {
    const Reprojection r = reproject_point(target, depth, p, tolerance);
    if (r.visible) out.negative.push_back(r.click);
  }
  return out;
}

}  // namespace semfield
