// The semantic feature field.
#include "semfield/fields/feature_field.h"

#include <ATen/ATen.h>
#include <torch/types.h>

#include "semfield/core/error.h"

namespace semfield {

namespace {

kernels::HashGridSpec grid_spec(const FeatureFieldConfig& config) {
  kernels::HashGridSpec spec = config.grid;
  spec.per_level_scale =
      kernels::HashGridSpec::scale_for(spec.base_resolution, config.finest_resolution, spec.n_levels);
  return spec;
}

}  // namespace

FeatureField::FeatureField(const FeatureFieldConfig& config, uint64_t seed)
    : m_config(config), m_encoding(grid_spec(config), seed) {
  m_config.grid = m_encoding.spec();
  if (config.channels.empty()) fail_usage("a feature field needs at least one output scale");
  torch::manual_seed(seed + 1);
  for (const int64_t c : config.channels) {
    if (c < 1) fail_usage("feature channels must be positive, got {}", c);
    m_heads.push_back(Mlp(latent_dims(), config.head_hidden, config.head_layers, static_cast<int>(c), /*bias=*/true));
    m_mean.push_back(at::zeros({c}));
    m_std.push_back(at::ones({c}));
  }
  m_background = at::zeros({latent_dims()}).set_requires_grad(true);
}

at::Tensor FeatureField::encode(const at::Tensor& xyz) const { return m_encoding.forward(xyz); }

at::Tensor FeatureField::encode_train(const at::Tensor& xyz) { return m_encoding.forward_train(xyz); }

at::Tensor FeatureField::with_background(const at::Tensor& latent, const at::Tensor& opacity) const {
  return latent + (1.0f - opacity).unsqueeze(1) * m_background.unsqueeze(0);
}

std::vector<at::Tensor> FeatureField::decode_standardized(const at::Tensor& latent) const {
  std::vector<at::Tensor> out;
  for (const Mlp& head : m_heads) out.push_back(head.forward(latent));
  return out;
}

at::Tensor FeatureField::decode_standardized(const at::Tensor& latent, size_t scale) const {
  SEMFIELD_ASSERT(scale < m_heads.size(), "scale index out of range");
  return m_heads[scale].forward(latent);
}

std::vector<at::Tensor> FeatureField::decode(const at::Tensor& latent) const {
  std::vector<at::Tensor> out = decode_standardized(latent);
  for (size_t s = 0; s < out.size(); ++s) out[s] = out[s] * m_std[s] + m_mean[s];
  return out;
}

void FeatureField::set_normalization(const std::vector<at::Tensor>& mean, const std::vector<at::Tensor>& std) {
  SEMFIELD_ASSERT(mean.size() == m_heads.size() && std.size() == m_heads.size(), "one mean/std per scale");
  for (size_t s = 0; s < mean.size(); ++s) {
    SEMFIELD_ASSERT(mean[s].numel() == m_config.channels[s] && std[s].numel() == m_config.channels[s],
                    "mean/std channels");
    m_mean[s] = mean[s].to(at::kFloat).reshape({-1}).clone();
    m_std[s] = std[s].to(at::kFloat).reshape({-1}).clamp_min(1e-6f).clone();
  }
}

std::vector<at::Tensor> FeatureField::dense_parameters() const {
  std::vector<at::Tensor> params;
  for (const Mlp& head : m_heads)
    for (const auto& p : head.parameters()) params.push_back(p);
  params.push_back(m_background);
  return params;
}

TensorMap FeatureField::state() const {
  TensorMap out;
  for (const auto& [name, tensor] : m_encoding.state()) out["grid." + name] = tensor;
  for (size_t s = 0; s < m_heads.size(); ++s) {
    for (const auto& [name, tensor] : m_heads[s].named_parameters()) out[fmt::format("head{}.{}", s, name)] = tensor;
    out[fmt::format("mean{}", s)] = m_mean[s];
    out[fmt::format("std{}", s)] = m_std[s];
  }
  out["background"] = m_background;
  return out;
}

void FeatureField::load_state(const TensorMap& state, const std::string& origin) {
  m_encoding.load_state(state, "grid.", origin);
  for (size_t s = 0; s < m_heads.size(); ++s) {
    for (auto& [name, tensor] : m_heads[s].named_parameters())
      restore_tensor(state, fmt::format("head{}.{}", s, name), tensor, origin);
    restore_tensor(state, fmt::format("mean{}", s), m_mean[s], origin);
    restore_tensor(state, fmt::format("std{}", s), m_std[s], origin);
  }
  restore_tensor(state, "background", m_background, origin);
}

}  // namespace semfield
