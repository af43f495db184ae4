// Projection of 3D samples into source views and bilinear gathering of per-view maps (colours, CNN features):
// the inner loop of image-conditioned models (IBRNet, GNeSF, pixelNeRF-style FeatureNeRF).
//
// project_points and sample_maps are the plain LibTorch implementation (batched matmul + grid_sampler_2d, gradients
// by autograd); sample_maps is also the reference of gather_bilinear, the hand-written fused gather below.
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

// ---------------------------------------------------------------------------------------------------------------
// Fused bilinear gather (hand-written CPU kernel): sample_maps' semantics on channels-last maps. bench/ibr_bench
// BM_Gather (8 views, 3 colour + 32 feature channels, 2 threads on a shared, noisy 2-core VM): 42 M (sample, view)
// gathers/s forward against sample_maps' 7.7 M/s, 22 M/s forward + backward to the feature maps against 1.4 M/s, at
// 64K and 1M samples alike. At 1M samples the forward writes 1.2 GB of output: memory bound.
//
// Layout: maps_hwc is [V,h,w,C] (channels last), float32 or float64, contiguous. One sample reads 4 taps of C
// channels; channels-last makes each tap one contiguous C-vector (the 4 taps are 2 pairs of neighbouring vectors),
// so the channel loop is a vector loop over contiguous memory, while [V,C,h,w] scatters each tap over C cache lines
// h*w apart. Callers keep features channels-last: an encoder's [V,C,h,w] output is converted once per scene or
// step with maps.permute({0, 2, 3, 1}).contiguous() (the copy is small next to the gathers).
//
// Semantics, identical to sample_maps (grid_sampler_2d, bilinear, zero padding, align_corners = false): the map
// covers the image's rectangle [0,W] x [0,H], so image pixel u lands at map position x = u w / W - 0.5 (computed in
// grid_sampler's order of operations: g = 2 u / W - 1, x = (g + 1) w / 2 - 0.5); the sample is the bilinear combination of the taps
// (floor(x), floor(y)) .. (floor(x) + 1, floor(y) + 1), and a tap outside the map contributes zero (so near the
// border the weights of the taps inside sum to less than 1, and a sample more than a map pixel outside is 0).
// A non-finite coordinate gives NaN, as grid_sampler does. sizes [V,2] (W, H > 0) may be any floating dtype.
//
// Threads (semfield::parallel_for): the forward splits the V*N samples (results identical for any thread count). The
// backward's map gradient is race-free without atomics: one task per view (each thread owns whole views; identical
// results for any thread count) when the views keep the threads busy, as 8 views on 2 threads do; otherwise (3 views
// on 2 threads) per-thread gradient copies summed at the end, equal to rounding. See gather_project.cpp.
// ---------------------------------------------------------------------------------------------------------------

/// Forward: maps_hwc [V,h,w,C], uv [V,N,2] (same dtype), sizes [V,2] -> [V,N,C]. CPU tensors; not differentiable.
at::Tensor gather_bilinear_forward(const at::Tensor& maps_hwc, const at::Tensor& uv, const at::Tensor& sizes);

struct GatherBilinearGrads {
  at::Tensor dL_dmaps;  ///< [V,h,w,C] (undefined unless requested)
  at::Tensor dL_duv;    ///< [V,N,2] (undefined unless requested)
};

/// Backward of gather_bilinear_forward given dL_dout [V,N,C]: the map gradient (the bilinear weights times dL_dout,
/// scattered to the taps) and / or the uv gradient (dL_dout against the weights' derivatives).
GatherBilinearGrads gather_bilinear_backward(const at::Tensor& dL_dout, const at::Tensor& maps_hwc,
                                             const at::Tensor& uv, const at::Tensor& sizes, bool maps_grad = true,
                                             bool uv_grad = true);

/// Autograd-aware fused gather, differentiable w.r.t. maps_hwc and uv (not sizes). On CPU it runs the kernels above;
/// maps on another device fall back to sample_maps on maps_hwc.permute({0, 3, 1, 2}) (same result, same layout).
at::Tensor gather_bilinear(const at::Tensor& maps_hwc, const at::Tensor& uv, const at::Tensor& sizes);

}  // namespace semfield
