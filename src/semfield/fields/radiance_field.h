// The radiance field: hash-grid encoding -> density MLP (log-density + geometry features), and
// SH(view direction) + geometry features -> colour MLP (instant-ngp's architecture). Composition only:
// the maths lives in the kernels and the MLPs.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/hash_grid_encoding.h"
#include "semfield/fields/mlp.h"

namespace semfield {

/// Field architecture (instant-ngp's "base" network, scaled for 2 CPU cores).
struct FieldConfig {
  kernels::HashGridSpec grid{/*n_levels=*/16, /*n_features=*/2, /*log2_table_size=*/19,
                             /*base_resolution=*/16, /*per_level_scale=*/1.3819};
  int finest_resolution = 2048;   ///< sets grid.per_level_scale (instant-ngp: 2048 * aabb_scale)
  int density_hidden = 64;        ///< one hidden layer: grid features -> 64 -> 16 (first = log density)
  int geo_features = 15;          ///< density-MLP outputs passed on to the colour MLP (besides density)
  int color_hidden = 64;          ///< two hidden layers: SH(dir) + geo -> 64 -> 64 -> 3
  int color_layers = 2;
  int sh_degree = 4;              ///< view-direction encoding: spherical harmonics of this degree (16 coeffs)
};
class RadianceField {
 public:
  RadianceField(const FieldConfig& config, uint64_t seed);

  struct Output {
    at::Tensor density;  ///< [S] >= 0, per unit length in normalised scene units
    at::Tensor rgb;      ///< [S,3] in [0,1]
  };
  /// xyz [S,3] in [0,1]^3 (the field's unit cube), dirs [S,3] unit. Training mode: differentiable w.r.t.
  /// the MLPs; the grid gradient is collected by backward_grid() after loss.backward().
  Output forward_train(const at::Tensor& xyz, const at::Tensor& dirs);
  /// Inference (no autograd).
  Output forward(const at::Tensor& xyz, const at::Tensor& dirs) const;
  /// Density only (inference), for the occupancy grid and mesh extraction.
  at::Tensor density(const at::Tensor& xyz) const;

  void backward_grid() { m_encoding.backward(); }
  void step_grid(const kernels::AdamHyper& hyper) { m_encoding.step(hyper); }
  /// Parameters optimised by dense Adam (the MLPs).
  std::vector<at::Tensor> mlp_parameters() const;

  TensorMap state() const;  ///< "grid.*", "density_mlp.*", "color_mlp.*"
  void load_state(const TensorMap& state, const std::string& origin);
  const FieldConfig& config() const { return m_config; }

 private:
  Output heads(const at::Tensor& features, const at::Tensor& dirs) const;

  FieldConfig m_config;
  HashGridEncoding m_encoding;
  Mlp m_density_mlp, m_color_mlp;
};

}  // namespace semfield
