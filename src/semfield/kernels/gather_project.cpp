// Projection and bilinear gathering with LibTorch ops (see the header).
#include "semfield/kernels/gather_project.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

SourceCameraBatch SourceCameraBatch::from_cameras(const std::vector<Camera>& cameras) {
  const int64_t V = static_cast<int64_t>(cameras.size());
  SourceCameraBatch out;
  out.w2c = at::empty({V, 3, 4}, at::kFloat);
  out.intrinsics = at::empty({V, 4}, at::kFloat);
  out.sizes = at::empty({V, 2}, at::kFloat);
  out.origins = at::empty({V, 3}, at::kFloat);
  auto w2c = out.w2c.accessor<float, 3>();
  auto k = out.intrinsics.accessor<float, 2>();
  auto sizes = out.sizes.accessor<float, 2>();
  auto origins = out.origins.accessor<float, 2>();
  for (int64_t v = 0; v < V; ++v) {
    const Camera& c = cameras[static_cast<size_t>(v)];
    const Intrinsics& K = c.intrinsics;
    if (K.model != CameraModel::Pinhole && !K.distortion.is_zero())
      fail_usage("source view {}: cameras with lens distortion are not supported as source views; undistort the "
                 "images first",
                 v);
    // OpenGL c2w -> OpenCV w2c: R^T, then negate the camera's y and z rows.
    const Eigen::Matrix3d R = c.c2w.block<3, 3>(0, 0).transpose();
    const Eigen::Vector3d t = -R * c.origin();
    for (int r = 0; r < 3; ++r) {
      const double sign = r == 0 ? 1.0 : -1.0;
      for (int col = 0; col < 3; ++col) w2c[v][r][col] = static_cast<float>(sign * R(r, col));
      w2c[v][r][3] = static_cast<float>(sign * t[r]);
      origins[v][r] = static_cast<float>(c.origin()[r]);
    }
    k[v][0] = static_cast<float>(K.fx);
    k[v][1] = static_cast<float>(K.fy);
    k[v][2] = static_cast<float>(K.cx);
    k[v][3] = static_cast<float>(K.cy);
    sizes[v][0] = static_cast<float>(K.width);
    sizes[v][1] = static_cast<float>(K.height);
  }
  return out;
}

SourceCameraBatch SourceCameraBatch::to(const at::Device& device) const {
  return {w2c.to(device), intrinsics.to(device), sizes.to(device), origins.to(device)};
}

Projection project_points(const at::Tensor& points, const SourceCameraBatch& cameras) {
  SEMFIELD_ASSERT(points.dim() == 2 && points.size(1) == 3, "project_points: points must be [N,3]");
  const int64_t V = cameras.size();
  // x_cam[v] = R[v] p + t[v]  ->  [V,N,3]
  const at::Tensor R = cameras.w2c.narrow(2, 0, 3), t = cameras.w2c.narrow(2, 3, 1);  // [V,3,3], [V,3,1]
  const at::Tensor cam = at::matmul(R, points.t().unsqueeze(0).expand({V, 3, points.size(0)})) + t;  // [V,3,N]
  const at::Tensor z = cam.select(1, 2);                                                               // [V,N]
  const at::Tensor safe_z = at::where(z.abs() > 1e-6f, z, at::full_like(z, 1e-6f));
  const at::Tensor fx = cameras.intrinsics.select(1, 0).unsqueeze(1), fy = cameras.intrinsics.select(1, 1).unsqueeze(1);
  const at::Tensor cx = cameras.intrinsics.select(1, 2).unsqueeze(1), cy = cameras.intrinsics.select(1, 3).unsqueeze(1);
  const at::Tensor u = fx * cam.select(1, 0) / safe_z + cx, v = fy * cam.select(1, 1) / safe_z + cy;
  Projection out;
  out.uv = at::stack({u, v}, 2);
  out.depth = z;
  const at::Tensor w = cameras.sizes.select(1, 0).unsqueeze(1), h = cameras.sizes.select(1, 1).unsqueeze(1);
  out.valid = (z > 1e-6f) & (u >= 0) & (u <= w) & (v >= 0) & (v <= h);
  return out;
}

at::Tensor sample_maps(const at::Tensor& maps, const at::Tensor& uv, const at::Tensor& sizes) {
  SEMFIELD_ASSERT(maps.dim() == 4 && uv.dim() == 3 && uv.size(2) == 2 && maps.size(0) == uv.size(0),
                  "sample_maps: maps [V,C,h,w] and uv [V,N,2] expected");
  // grid_sampler's normalised coordinates with align_corners = false: -1 and 1 are the image's outer edges, so
  // a pixel coordinate of the full-size image maps to 2 u / W - 1 whatever the map's resolution.
  const at::Tensor grid = (uv / sizes.unsqueeze(1)) * 2.0f - 1.0f;  // [V,N,2]
  const at::Tensor sampled = at::grid_sampler_2d(maps, grid.unsqueeze(1).to(maps.scalar_type()), /*bilinear*/ 0,
                                                 /*zeros*/ 0, /*align_corners=*/false);  // [V,C,1,N]
  return sampled.squeeze(2).permute({0, 2, 1});
}

}  // namespace semfield
