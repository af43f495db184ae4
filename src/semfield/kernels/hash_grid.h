// Multiresolution hash-grid encoding (instant-ngp, Müller et al. 2022): CPU forward/backward kernels,
// an autograd wrapper, and a plain-LibTorch reference used by the gradient tests.
//
// Level l (0-based) has resolution N_l = floor(base_resolution * per_level_scale^l) cells per axis and
// (N_l + 1)^3 vertices. A level stores T_l = min(2^log2_table_size, (N_l + 1)^3) entries (rounded up to
// a multiple of 8), indexed densely (x + y*(N_l+1) + z*(N_l+1)^2) when all vertices fit and by the spatial
// hash (x*1 xor y*2654435761 xor z*805459861) mod T_l otherwise. Each entry holds n_features floats.
// A point x in [0,1]^3 at level l is the trilinear interpolation of its cell's 8 vertex entries, with
// position p = x * N_l (vertex coordinates are integers 0..N_l).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

struct HashGridSpec {
  int n_levels = 16;
  int n_features = 2;         ///< features per level (instant-ngp: 2)
  int log2_table_size = 19;   ///< T = 2^19 entries per level at most
  int base_resolution = 16;   ///< N_min
  double per_level_scale = 1.3819;  ///< b; instant-ngp picks b so the finest level is 2048 (for 16 levels)

  int resolution(int level) const;
  int64_t level_entries(int level) const;   ///< T_l (multiple of 8)
  int64_t level_offset(int level) const;    ///< index of the level's first entry
  int64_t n_entries() const;                ///< sum of T_l
  int64_t n_params() const { return n_entries() * n_features; }
  int n_output_dims() const { return n_levels * n_features; }
  /// b such that the finest level has `finest_resolution` cells per axis.
  static double scale_for(int base_resolution, int finest_resolution, int n_levels);
};

/// Forward: xyz [N,3] float32 in [0,1] (clamped), params [n_params] float32 (level, entry, feature order).
/// Returns features [N, n_levels * n_features], level-major.
at::Tensor hash_grid_forward(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec);

/// Backward w.r.t. params: accumulates (+=) into dL_dparams [n_params] (float32, contiguous).
/// If `touched` is defined (uint8 [n_entries]), sets touched[e] = 1 for every entry that received a
/// gradient, so a sparse optimizer can skip the rest (see sparse_adam.h).
void hash_grid_backward(const at::Tensor& dL_dfeatures, const at::Tensor& xyz, const HashGridSpec& spec,
                        at::Tensor& dL_dparams, const at::Tensor& touched = at::Tensor());

/// Autograd-aware encoding: differentiable w.r.t. params (not xyz). Dense gradient.
at::Tensor hash_grid_encode(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec);

/// Same maths with plain LibTorch ops (gather + trilinear weights); slow, for tests only.
at::Tensor hash_grid_reference(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec);

}  // namespace semfield::kernels
