// The radiance field: composition of encoding, MLPs and activations.
#include "semfield/fields/radiance_field.h"

#include <ATen/ATen.h>

#include "semfield/fields/activations.h"
#include "semfield/fields/spherical_harmonics.h"

namespace semfield {

namespace {

kernels::HashGridSpec grid_spec(const FieldConfig& config) {
  kernels::HashGridSpec spec = config.grid;
  spec.per_level_scale =
      kernels::HashGridSpec::scale_for(spec.base_resolution, config.finest_resolution, spec.n_levels);
  return spec;
}

}  // namespace

RadianceField::RadianceField(const FieldConfig& config, uint64_t seed)
    : m_config(config), m_encoding(grid_spec(config), seed) {
  m_config.grid = m_encoding.spec();
  torch::manual_seed(seed);
  m_density_mlp = Mlp(m_encoding.n_output_dims(), config.density_hidden, 1, 1 + config.geo_features);
  const int sh_dims = config.sh_degree * config.sh_degree;
  m_color_mlp = Mlp(sh_dims + config.geo_features, config.color_hidden, config.color_layers, 3);
}

RadianceField::Output RadianceField::heads(const at::Tensor& features, const at::Tensor& dirs) const {
  const at::Tensor h = m_density_mlp.forward(features);
  Output out;
  out.density = trunc_exp(h.select(1, 0));
  const at::Tensor geo = h.narrow(1, 1, m_config.geo_features);
  const at::Tensor sh = spherical_harmonics(dirs, m_config.sh_degree);
  out.rgb = at::sigmoid(m_color_mlp.forward(at::cat({sh, geo}, 1)));
  return out;
}

RadianceField::Output RadianceField::forward_train(const at::Tensor& xyz, const at::Tensor& dirs) {
  return heads(m_encoding.forward_train(xyz), dirs);
}

RadianceField::Output RadianceField::forward(const at::Tensor& xyz, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  return heads(m_encoding.forward(xyz), dirs);
}

at::Tensor RadianceField::density(const at::Tensor& xyz) const {
  at::NoGradGuard no_grad;
  const at::Tensor h = m_density_mlp.forward(m_encoding.forward(xyz));
  return h.select(1, 0).clamp_max(15.0).exp();
}

std::vector<at::Tensor> RadianceField::mlp_parameters() const {
  std::vector<at::Tensor> params = m_density_mlp.parameters();  // shared handles, not copies
  for (const auto& p : m_color_mlp.parameters()) params.push_back(p);
  return params;
}

TensorMap RadianceField::state() const {
  TensorMap out;
  for (const auto& [name, tensor] : m_encoding.state()) out["grid." + name] = tensor;
  for (const auto& [name, tensor] : m_density_mlp.named_parameters()) out["density_mlp." + name] = tensor;
  for (const auto& [name, tensor] : m_color_mlp.named_parameters()) out["color_mlp." + name] = tensor;
  return out;
}

void RadianceField::load_state(const TensorMap& state, const std::string& origin) {
  m_encoding.load_state(state, "grid.", origin);
  for (auto& [name, tensor] : m_density_mlp.named_parameters()) restore_tensor(state, "density_mlp." + name, tensor, origin);
  for (auto& [name, tensor] : m_color_mlp.named_parameters()) restore_tensor(state, "color_mlp." + name, tensor, origin);
}

}  // namespace semfield
