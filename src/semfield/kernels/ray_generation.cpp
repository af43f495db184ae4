// Multithreaded pixel -> world ray kernel: pinhole fast path, float Newton undistortion for OpenCV and
// fisheye.
#include "semfield/kernels/ray_generation.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "semfield/core/error.h"

namespace semfield::kernels {

namespace {

constexpr int64_t kGrainRays = 2048;
constexpr int kMaxNewtonIterations = 20;
constexpr float kHalfPi = 1.57079632679489661923f;
// Upper end of the fisheye angle: directions at or beyond 90 degrees have no pinhole (x, y) and the
// Camera class clamps just below it, so this kernel does the same.
constexpr float kMaxFisheyeTheta = kHalfPi - 1e-6f;

/// One camera unpacked into floats for the per-ray loop.
struct CameraParams {
  float fx, fy, cx, cy;
  float k1, k2, k3, k4, p1, p2;
  CameraModel model;
  float rotation[9];  ///< c2w[0:3, 0:3], row-major
  float origin[3];
};

CameraParams params_from_camera(const Camera& camera) {
  const Intrinsics& K = camera.intrinsics;
  CameraParams p{};
  p.fx = static_cast<float>(K.fx);
  p.fy = static_cast<float>(K.fy);
  p.cx = static_cast<float>(K.cx);
  p.cy = static_cast<float>(K.cy);
  const Distortion& d = K.distortion;
  p.k1 = static_cast<float>(d.k1);
  p.k2 = static_cast<float>(d.k2);
  p.k3 = static_cast<float>(d.k3);
  p.k4 = static_cast<float>(d.k4);
  p.p1 = static_cast<float>(d.p1);
  p.p2 = static_cast<float>(d.p2);
  p.model = K.model;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) p.rotation[3 * r + c] = static_cast<float>(camera.c2w(r, c));
    p.origin[r] = static_cast<float>(camera.c2w(r, 3));
  }
  return p;
}

// An OpenCV camera without distortion coefficients is a pinhole (Camera::pixel_to_ray agrees).
void use_pinhole_path_if_undistorted(CameraParams& p) {
  if (p.model == CameraModel::OpenCV && p.k1 == 0 && p.k2 == 0 && p.k3 == 0 && p.p1 == 0 && p.p2 == 0)
    p.model = CameraModel::Pinhole;
}

// Radial-tangential distortion (see camera.cpp for the formulas and Jacobian), in float.
inline void distort_radtan(const CameraParams& c, float x, float y, float* xd, float* yd, float* j) {
  const float r2 = x * x + y * y;
  const float radial = 1.0f + r2 * (c.k1 + r2 * (c.k2 + r2 * c.k3));
  *xd = x * radial + 2.0f * c.p1 * x * y + c.p2 * (r2 + 2.0f * x * x);
  *yd = y * radial + c.p1 * (r2 + 2.0f * y * y) + 2.0f * c.p2 * x * y;
  if (j) {
    const float d_radial = c.k1 + r2 * (2.0f * c.k2 + 3.0f * c.k3 * r2);
    const float cross = 2.0f * x * y * d_radial + 2.0f * c.p1 * x + 2.0f * c.p2 * y;
    j[0] = radial + 2.0f * x * x * d_radial + 2.0f * c.p1 * y + 6.0f * c.p2 * x;
    j[1] = cross;
    j[2] = cross;
    j[3] = radial + 2.0f * y * y * d_radial + 6.0f * c.p1 * y + 2.0f * c.p2 * x;
  }
}

// Newton with backtracking, keeping the best iterate (the same policy as semfield::undistort, so both
// land on the same root).
inline void undistort_radtan(const CameraParams& c, float tx, float ty, float* x_out, float* y_out) {
  float x = tx, y = ty;
  float xd, yd;
  distort_radtan(c, x, y, &xd, &yd, nullptr);
  float best = (xd - tx) * (xd - tx) + (yd - ty) * (yd - ty);
  for (int iter = 0; iter < kMaxNewtonIterations && best > 1e-16f; ++iter) {
    float j[4];
    distort_radtan(c, x, y, &xd, &yd, j);
    const float rx = xd - tx, ry = yd - ty;
    const float det = j[0] * j[3] - j[1] * j[2];
    float sx = rx, sy = ry;
    if (std::isfinite(det) && std::fabs(det) > 1e-12f) {
      sx = (j[3] * rx - j[1] * ry) / det;
      sy = (j[0] * ry - j[2] * rx) / det;
    }
    bool improved = false;
    for (float scale = 1.0f; scale > 1e-4f; scale *= 0.5f) {
      const float cx = x - scale * sx, cy = y - scale * sy;
      distort_radtan(c, cx, cy, &xd, &yd, nullptr);
      const float r = (xd - tx) * (xd - tx) + (yd - ty) * (yd - ty);
      if (std::isfinite(r) && r < best) {
        x = cx;
        y = cy;
        best = r;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  *x_out = x;
  *y_out = y;
}

// theta_d(theta) = theta (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8) of the equidistant fisheye.
inline float fisheye_theta_d(const CameraParams& c, float theta, float* derivative) {
  const float t2 = theta * theta;
  if (derivative)
    *derivative = 1.0f + t2 * (3.0f * c.k1 + t2 * (5.0f * c.k2 + t2 * (7.0f * c.k3 + t2 * 9.0f * c.k4)));
  return theta * (1.0f + t2 * (c.k1 + t2 * (c.k2 + t2 * (c.k3 + t2 * c.k4))));
}

// Unnormalised OpenCV-axes camera direction of the fisheye pixel with distorted coordinates (xd, yd):
// (sin(theta) xd / theta_d, sin(theta) yd / theta_d, cos(theta)), i.e. the undistorted point
// tan(theta) (xd, yd) / theta_d at depth 1, without tan's blow-up near 90 degrees.
inline void fisheye_direction(const CameraParams& c, float xd, float yd, float* dir) {
  const float theta_d = std::sqrt(xd * xd + yd * yd);
  if (theta_d < 1e-12f) {
    dir[0] = xd;
    dir[1] = yd;
    dir[2] = 1.0f;
    return;
  }
  float theta = std::min(theta_d, kMaxFisheyeTheta);
  float best = std::fabs(fisheye_theta_d(c, theta, nullptr) - theta_d);
  for (int iter = 0; iter < kMaxNewtonIterations && best > 1e-9f; ++iter) {
    float derivative = 0.0f;
    const float residual = fisheye_theta_d(c, theta, &derivative) - theta_d;
    const float step =
        (std::isfinite(derivative) && std::fabs(derivative) > 1e-12f) ? residual / derivative : residual;
    bool improved = false;
    for (float scale = 1.0f; scale > 1e-4f; scale *= 0.5f) {
      const float candidate = std::clamp(theta - scale * step, 0.0f, kMaxFisheyeTheta);
      const float r = std::fabs(fisheye_theta_d(c, candidate, nullptr) - theta_d);
      if (std::isfinite(r) && r < best) {
        theta = candidate;
        best = r;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  const float radial = std::sin(theta) / theta_d;
  dir[0] = xd * radial;
  dir[1] = yd * radial;
  dir[2] = std::cos(theta);
}

/// Unit world direction of the ray through pixel position (u, v).
inline void pixel_direction(const CameraParams& c, float u, float v, float* out) {
  const float xd = (u - c.cx) / c.fx;
  const float yd = (v - c.cy) / c.fy;
  float cam[3] = {xd, yd, 1.0f};  // OpenCV axes, unnormalised
  if (c.model == CameraModel::OpenCV) {
    undistort_radtan(c, xd, yd, &cam[0], &cam[1]);
  } else if (c.model == CameraModel::OpenCVFisheye) {
    fisheye_direction(c, xd, yd, cam);
  }
  // OpenCV (x, y, z) is (x, -y, -z) in the OpenGL camera axes the pose uses.
  const float gl[3] = {cam[0], -cam[1], -cam[2]};
  const float* R = c.rotation;
  float w[3];
  for (int r = 0; r < 3; ++r) w[r] = R[3 * r] * gl[0] + R[3 * r + 1] * gl[1] + R[3 * r + 2] * gl[2];
  // Normalised after the rotation, as Camera::pixel_to_ray does (a pose with scale still gives unit rays).
  const float inv_norm = 1.0f / std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
  out[0] = w[0] * inv_norm;
  out[1] = w[1] * inv_norm;
  out[2] = w[2] * inv_norm;
}

CameraParams params_from_batch(const CameraBatch& batch, int64_t v) {
  const float* K = batch.intrinsics.data_ptr<float>() + 4 * v;
  const float* D = batch.distortion.data_ptr<float>() + 6 * v;
  const float* P = batch.c2w.data_ptr<float>() + 12 * v;
  CameraParams p{};
  p.fx = K[0];
  p.fy = K[1];
  p.cx = K[2];
  p.cy = K[3];
  p.k1 = D[0];
  p.k2 = D[1];
  p.k3 = D[2];
  p.k4 = D[3];
  p.p1 = D[4];
  p.p2 = D[5];
  const int32_t model = batch.model.data_ptr<int32_t>()[v];
  SEMFIELD_ASSERT(model >= 0 && model <= static_cast<int32_t>(CameraModel::OpenCVFisheye),
                  fmt::format("CameraBatch.model[{}] = {} is not a CameraModel", v, model));
  p.model = static_cast<CameraModel>(model);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) p.rotation[3 * r + c] = P[4 * r + c];
    p.origin[r] = P[4 * r + 3];
  }
  return p;
}

void check_batch(const CameraBatch& batch) {
  const int64_t V = batch.intrinsics.defined() ? batch.intrinsics.size(0) : -1;
  SEMFIELD_ASSERT(V >= 0 && batch.intrinsics.dim() == 2 && batch.intrinsics.size(1) == 4,
                  "CameraBatch.intrinsics must be [V,4]");
  SEMFIELD_ASSERT(batch.distortion.defined() && batch.distortion.dim() == 2 &&
                      batch.distortion.size(0) == V && batch.distortion.size(1) == 6,
                  "CameraBatch.distortion must be [V,6]");
  SEMFIELD_ASSERT(batch.model.defined() && batch.model.dim() == 1 && batch.model.size(0) == V,
                  "CameraBatch.model must be [V]");
  SEMFIELD_ASSERT(batch.c2w.defined() && batch.c2w.dim() == 3 && batch.c2w.size(0) == V &&
                      batch.c2w.size(1) == 3 && batch.c2w.size(2) == 4,
                  "CameraBatch.c2w must be [V,3,4]");
  for (const at::Tensor* t : {&batch.intrinsics, &batch.distortion, &batch.c2w})
    SEMFIELD_ASSERT(t->scalar_type() == at::kFloat && t->device().is_cpu() && t->is_contiguous(),
                    "CameraBatch tensors must be contiguous float32 CPU tensors");
  SEMFIELD_ASSERT(batch.model.scalar_type() == at::kInt && batch.model.is_contiguous(),
                  "CameraBatch.model must be contiguous int32");
}

}  // namespace

CameraBatch CameraBatch::from_cameras(const std::vector<Camera>& cameras) {
  const auto V = static_cast<int64_t>(cameras.size());
  CameraBatch batch;
  batch.intrinsics = at::empty({V, 4}, at::kFloat);
  batch.distortion = at::empty({V, 6}, at::kFloat);
  batch.model = at::empty({V}, at::kInt);
  batch.c2w = at::empty({V, 3, 4}, at::kFloat);
  float* K = batch.intrinsics.data_ptr<float>();
  float* D = batch.distortion.data_ptr<float>();
  int32_t* M = batch.model.data_ptr<int32_t>();
  float* P = batch.c2w.data_ptr<float>();
  for (int64_t v = 0; v < V; ++v) {
    const Intrinsics& in = cameras[static_cast<size_t>(v)].intrinsics;
    const Distortion& d = in.distortion;
    const double k[4] = {in.fx, in.fy, in.cx, in.cy};
    const double dist[6] = {d.k1, d.k2, d.k3, d.k4, d.p1, d.p2};
    for (int i = 0; i < 4; ++i) K[4 * v + i] = static_cast<float>(k[i]);
    for (int i = 0; i < 6; ++i) D[6 * v + i] = static_cast<float>(dist[i]);
    M[v] = static_cast<int32_t>(in.model);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c)
        P[12 * v + 4 * r + c] = static_cast<float>(cameras[static_cast<size_t>(v)].c2w(r, c));
  }
  return batch;
}

int64_t CameraBatch::size() const { return intrinsics.defined() ? intrinsics.size(0) : 0; }

Rays generate_rays(const CameraBatch& cameras, const at::Tensor& view_ids, const at::Tensor& uv) {
  check_batch(cameras);
  SEMFIELD_ASSERT(
      view_ids.dim() == 1 && view_ids.device().is_cpu() && !at::isFloatingType(view_ids.scalar_type()),
      "generate_rays: view_ids must be an integer CPU tensor [R]");
  const int64_t R = view_ids.size(0);
  SEMFIELD_ASSERT(uv.dim() == 2 && uv.size(0) == R && uv.size(1) == 2 && uv.device().is_cpu(),
                  "generate_rays: uv must be [R,2] on the CPU with R = view_ids.size(0)");
  const at::Tensor ids = view_ids.to(at::kLong).contiguous();
  const at::Tensor pix = uv.to(at::kFloat).contiguous();
  const int64_t V = cameras.size();
  const int64_t* id = ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < R; ++r)
    SEMFIELD_ASSERT(id[r] >= 0 && id[r] < V,
                    fmt::format("generate_rays: view id {} of ray {} is outside [0, {})", id[r], r, V));

  std::vector<CameraParams> params(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) {
    params[static_cast<size_t>(v)] = params_from_batch(cameras, v);
    use_pinhole_path_if_undistorted(params[static_cast<size_t>(v)]);
  }

  Rays rays{at::empty({R, 3}, at::kFloat), at::empty({R, 3}, at::kFloat)};
  const float* p = pix.data_ptr<float>();
  float* o = rays.origins.data_ptr<float>();
  float* d = rays.directions.data_ptr<float>();
  at::parallel_for(0, R, kGrainRays, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const CameraParams& c = params[static_cast<size_t>(id[r])];
      pixel_direction(c, p[2 * r], p[2 * r + 1], d + 3 * r);
      o[3 * r] = c.origin[0];
      o[3 * r + 1] = c.origin[1];
      o[3 * r + 2] = c.origin[2];
    }
  });
  return rays;
}

Rays generate_image_rays(const Camera& camera) {
  CameraParams c = params_from_camera(camera);
  use_pinhole_path_if_undistorted(c);
  const int64_t W = std::max(camera.intrinsics.width, 0);
  const int64_t H = std::max(camera.intrinsics.height, 0);
  Rays rays{at::empty({H * W, 3}, at::kFloat), at::empty({H * W, 3}, at::kFloat)};
  float* o = rays.origins.data_ptr<float>();
  float* d = rays.directions.data_ptr<float>();
  const int64_t grain_rows = std::max<int64_t>(1, kGrainRays / std::max<int64_t>(W, 1));
  at::parallel_for(0, H, grain_rows, [&](int64_t row_begin, int64_t row_end) {
    for (int64_t j = row_begin; j < row_end; ++j) {
      const float v = static_cast<float>(j) + 0.5f;
      for (int64_t i = 0; i < W; ++i) {
        const int64_t r = j * W + i;
        pixel_direction(c, static_cast<float>(i) + 0.5f, v, d + 3 * r);
        o[3 * r] = c.origin[0];
        o[3 * r + 1] = c.origin[1];
        o[3 * r + 2] = c.origin[2];
      }
    }
  });
  return rays;
}

namespace {

// cos(angle between each unit ray and the camera's viewing axis), shaped like `like` ([R] or [R,1]).
at::Tensor axis_cosine(const Camera& camera, const at::Tensor& directions, const at::Tensor& like) {
  const Eigen::Vector3d f = camera.forward();
  const at::Tensor axis =
      torch::tensor({static_cast<float>(f.x()), static_cast<float>(f.y()), static_cast<float>(f.z())}, at::kFloat)
          .to(directions.device());
  return at::matmul(directions.to(at::kFloat), axis).view(like.sizes());
}

}  // namespace

at::Tensor ray_distance_from_z(const Camera& camera, const at::Tensor& directions, const at::Tensor& z) {
  return z / axis_cosine(camera, directions, z).clamp_min(1e-6f);
}

at::Tensor z_from_ray_distance(const Camera& camera, const at::Tensor& directions, const at::Tensor& t) {
  return t * axis_cosine(camera, directions, t);
}

}  // namespace semfield::kernels
