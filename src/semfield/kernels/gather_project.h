// Projection of 3D samples into source views and bilinear gathering of per-view maps (colours, CNN features):
// the inner loop of image-conditioned models (IBRNet, GNeSF, pixelNeRF-style FeatureNeRF).
//
// This is the plain LibTorch implementation (batched matmul + grid_sampler_2d, gradients by autograd), which also
// serves as the reference for a hand-written kernel should profiling show it dominating a step.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"

namespace semfield {

/// V pinhole source cameras packed as tensors (float32, CPU or the maps' device).
struct SourceCameraBatch {
  at::Tensor w2c;         ///< [V,3,4] world -> OpenCV camera frame (x right, y down, z forward)
  at::Tensor intrinsics;  ///< [V,4] fx, fy, cx, cy (pixels)
  at::Tensor sizes;       ///< [V,2] image width, height (pixels)
  at::Tensor origins;     ///< [V,3] camera centres (world)

  int64_t size() const { return w2c.defined() ? w2c.size(0) : 0; }
  /// Packs cameras; UsageError naming the view for a camera with lens distortion (undistort such images first).
  static SourceCameraBatch from_cameras(const std::vector<Camera>& cameras);
  SourceCameraBatch to(const at::Device& device) const;
};

struct Projection {
  at::Tensor uv;     ///< [V,N,2] pixel coordinates (u right, v down; the centre of pixel (i, j) is (i + .5, j + .5))
  at::Tensor depth;  ///< [V,N] z-depth in each camera (world units)
  at::Tensor valid;  ///< [V,N] bool: in front of the camera and inside its image
};

/// Projects points [N,3] into every source view. Differentiable w.r.t. points (uv and depth).
Projection project_points(const at::Tensor& points, const SourceCameraBatch& cameras);

/// Bilinear samples of per-view maps [V,C,h,w] at pixel coordinates uv [V,N,2] of the views' images (sizes [V,2]):
/// the maps may be smaller than the images (a CNN's 1/4-resolution features) as long as they cover the same
/// rectangle. Outside the image the sample is 0. Returns [V,N,C]; differentiable w.r.t. maps and uv.
at::Tensor sample_maps(const at::Tensor& maps, const at::Tensor& uv, const at::Tensor& sizes);

}  // namespace semfield
