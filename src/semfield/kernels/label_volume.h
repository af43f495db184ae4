// Laser's label volume (fields/laser_modules.h: TensoRF vector-matrix planes and lines, rank R per axis) sampled at
// the samples of packed rays and composited per ray in one pass - the inner loop of a class map with the volume.
//
// Hand-written because the LibTorch path (composite_label_values_reference: two grid_sampler_2d calls on [3,R,G,G]
// planes and [3,R,G,1] lines, a [3,R,S] product, the permute to [S,3R] and index_add) writes and re-reads [S,3R]
// temporaries and gathers each tap's R channels from R planes G^2 floats apart: a 256^2 class map has two chunks of
// ~550K weighted samples each. This kernel reads the volume channels-last (one tap is R contiguous floats, one vector
// for R = 16) and accumulates each ray's 3R values in place: bench/kernels_bench BM_LabelVolumeComposite (32,768 rays
// x 17 samples, rank 16, 64 cells, 2 threads, idle) 12.4 ms against the reference's 882 ms; a 256^2 class map with
// the volume went from 0.78 to 0.16 s (BENCHMARKS.md "Laser", with the render skipping the feature field).
//
// Inference only: no backward. Training composites through the reference (autograd), whose gradients it needs.
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

/// planes [3,R,G,G] (xy, xz, yz; grid_sampler's (width, height) = (x,y), (x,z), (y,z)), lines [3,R,G] (z, y, x),
/// float32; unit_points [S,3] in the unit cube, weights [S] float32; ray_offsets [N+1] int64 (packed rays).
/// out[n, i*R + r] = sum over the samples s of ray n with weights[s] > min_weight of
///   weights[s] * plane_i[r](point_s) * line_i[r](point_s),
/// each factor bilinear (linear for lines) with align_corners and border padding, as grid_sampler_2d(mode bilinear,
/// padding border, align_corners true) on coordinates 2u - 1. Returns [N, 3R] float32. Multithreaded over rays.
at::Tensor composite_label_values(const at::Tensor& planes, const at::Tensor& lines, const at::Tensor& unit_points,
                                  const at::Tensor& weights, const at::Tensor& ray_offsets, float min_weight);

/// The volume's 3R values at points [S,3] in the unit cube, [S,3R] (index i*R + r as above), with LibTorch ops
/// (grid_sampler_2d; differentiable w.r.t. planes, lines and points).
at::Tensor sample_label_volume(const at::Tensor& planes, const at::Tensor& lines, const at::Tensor& unit_points);

/// composite_label_values with LibTorch ops (grid_sampler_2d + index_add: the reference the kernel is tested against, and the
/// differentiable path training uses).
at::Tensor composite_label_values_reference(const at::Tensor& planes, const at::Tensor& lines,
                                            const at::Tensor& unit_points, const at::Tensor& weights,
                                            const at::Tensor& ray_offsets, float min_weight);

}  // namespace semfield::kernels
