// Ray generation for batches of pixels drawn from many cameras at once (training batches rays across
// images), including OpenCV / fisheye undistortion, as a multithreaded CPU kernel.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"

namespace semfield::kernels {

/// Cameras packed into tensors (float32 CPU): intrinsics [V,4] = fx,fy,cx,cy; distortion [V,6] =
/// k1,k2,k3,k4,p1,p2; model int32 [V] (CameraModel as int); c2w [V,3,4] (OpenGL axes, see camera.h).
struct CameraBatch {
  at::Tensor intrinsics, distortion, model, c2w;
  static CameraBatch from_cameras(const std::vector<Camera>& cameras);
  int64_t size() const;
};

struct Rays {
  at::Tensor origins;     ///< [R,3]
  at::Tensor directions;  ///< [R,3], unit length
};

/// Rays through pixel positions uv [R,2] (pixel centres are i + 0.5) of cameras view_ids int64 [R].
/// Same result as Camera::pixel_to_ray for each ray, in float32.
Rays generate_rays(const CameraBatch& cameras, const at::Tensor& view_ids, const at::Tensor& uv);

/// All pixel-centre rays of one camera, row-major ([H*W] rays).
Rays generate_image_rays(const Camera& camera);

/// z-depth (along `camera`'s viewing axis, as depth maps store it) -> distance along the unit rays `directions` [R,3]
/// of that camera: t = z / cos(angle between ray and axis), the cosine clamped at 1e-6. z: [R] (or [R,1]: the result
/// has z's shape).
at::Tensor ray_distance_from_z(const Camera& camera, const at::Tensor& directions, const at::Tensor& z);
/// The inverse: distance t along the unit rays -> z-depth, t * cos (same shapes).
at::Tensor z_from_ray_distance(const Camera& camera, const at::Tensor& directions, const at::Tensor& t);

}  // namespace semfield::kernels
