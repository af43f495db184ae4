// The semantic feature field (SAN, Eq. 6-7): its own hash grid E_sem over the frozen radiance field's cube,
// features composited as a low-dimensional latent, and one small MLP head per teacher scale applied *after*
// quadrature, so a 256-channel map costs one MLP per pixel instead of one per sample. Label fields are the
// same with one head of K class logits.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/fields/hash_grid_encoding.h"
#include "semfield/fields/mlp.h"

namespace semfield {

struct FeatureFieldConfig {
  kernels::HashGridSpec grid{/*n_levels=*/16, /*n_features=*/2, /*log2_table_size=*/18,
                             /*base_resolution=*/16, /*per_level_scale=*/1.3195};
  /// Finest level's cells per axis of the unit cube; 0 = chosen by distill_field from the teacher's maps
  /// (auto_finest_resolution).
  int finest_resolution = 0;
  int head_hidden = 128;  ///< hidden width of each head
  int head_layers = 1;    ///< hidden layers of each head
  std::vector<int64_t> channels;  ///< output channels per scale (teacher's)
};

class FeatureField {
 public:
  FeatureField(const FeatureFieldConfig& config, uint64_t seed);

  int latent_dims() const { return m_encoding.n_output_dims(); }
  int n_scales() const { return static_cast<int>(m_heads.size()); }

  /// Grid latents at xyz [S,3] in the unit cube: inference, or a grad-tracking leaf for training (its
  /// gradient reaches the table through backward_grid() after loss.backward()).
  at::Tensor encode(const at::Tensor& xyz) const;
  at::Tensor encode_train(const at::Tensor& xyz);

  /// Completes composited latents: latent [R,D] (sum of weights * grid latents) + (1 - opacity [R]) * the
  /// learned background latent, so rays that hit nothing still get a (learned) feature.
  at::Tensor with_background(const at::Tensor& latent, const at::Tensor& opacity) const;
  /// Heads: latent [R,D] -> per scale [R, C_s], in the teacher's units (the heads work on standardised
  /// features; see set_normalization). Differentiable when the input is.
  std::vector<at::Tensor> decode(const at::Tensor& latent) const;
  /// The same, in standardised units (what the losses compare).
  std::vector<at::Tensor> decode_standardized(const at::Tensor& latent) const;
  /// One scale only, standardised.
  at::Tensor decode_standardized(const at::Tensor& latent, size_t scale) const;

  /// Per-channel mean and std of the teacher's maps (one pair [C_s] per scale); targets are standardised
  /// with them during training and decode() undoes it.
  void set_normalization(const std::vector<at::Tensor>& mean, const std::vector<at::Tensor>& std);
  const std::vector<at::Tensor>& mean() const { return m_mean; }
  const std::vector<at::Tensor>& std() const { return m_std; }

  void backward_grid() { m_encoding.backward(); }
  void step_grid(const kernels::AdamHyper& hyper) { m_encoding.step(hyper); }
  /// Parameters for dense Adam: the heads and the background latent.
  std::vector<at::Tensor> dense_parameters() const;

  TensorMap state() const;  ///< "grid.*", "head<s>.*", "background", "mean<s>", "std<s>"
  void load_state(const TensorMap& state, const std::string& origin);
  const FeatureFieldConfig& config() const { return m_config; }

 private:
  FeatureFieldConfig m_config;
  HashGridEncoding m_encoding;
  std::vector<Mlp> m_heads;
  at::Tensor m_background;
  std::vector<at::Tensor> m_mean, m_std;
};

}  // namespace semfield
