// Small fully-connected network.
#include "semfield/fields/mlp.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>

#include "semfield/core/env.h"
#include "semfield/kernels/fused_mlp.h"

namespace semfield {

Mlp::Mlp(int n_input, int n_hidden, int n_hidden_layers, int n_output, bool bias)
    : m_n_input(n_input), m_n_output(n_output) {
  int fan_in = n_input;
  for (int i = 0; i <= n_hidden_layers; ++i) {
    const int fan_out = i == n_hidden_layers ? n_output : n_hidden;
    at::Tensor w = at::empty({fan_out, fan_in});
    // Uniform bound sqrt(6 / fan_in): He initialisation for ReLU networks (torch::nn::init::uniform_ draws the
    // same numbers from the global generator).
    const double bound = std::sqrt(6.0 / fan_in);
    w.uniform_(-bound, bound);
    m_weights.push_back(w.set_requires_grad(true));
    if (bias) m_biases.push_back(at::zeros({fan_out}).set_requires_grad(true));
    fan_in = fan_out;
  }
}

std::vector<at::Tensor> Mlp::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& named : named_parameters()) out.push_back(named.second);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Mlp::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < m_weights.size(); ++i) {
    out.emplace_back("weight" + std::to_string(i), m_weights[i]);
    if (!m_biases.empty()) out.emplace_back("bias" + std::to_string(i), m_biases[i]);
  }
  return out;
}

namespace {

// SEMFIELD_FUSED_MLP=0 runs the plain LibTorch layers instead of the fused kernel (for benchmarks).
bool fused_enabled() {
  static const bool enabled = env_switch_on("SEMFIELD_FUSED_MLP");
  return enabled;
}

}  // namespace

at::Tensor Mlp::forward(const at::Tensor& x) const {
  // The fused CPU kernel (kernels/fused_mlp.h) covers bias-free float32 networks; anything else takes the
  // LibTorch layers below.
  if (m_biases.empty() && x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && fused_enabled()) {
    bool needs_grad = false;
    if (at::GradMode::is_enabled()) {
      needs_grad = x.requires_grad();
      for (const at::Tensor& w : m_weights) needs_grad = needs_grad || w.requires_grad();
    }
    return needs_grad ? kernels::fused_mlp(x, m_weights) : kernels::fused_mlp_forward(x, m_weights);
  }
  at::Tensor h = x;
  const size_t n = m_weights.size();
  for (size_t i = 0; i < n; ++i) {
    h = m_biases.empty() ? at::mm(h, m_weights[i].t()) : at::addmm(m_biases[i], h, m_weights[i].t());
    if (i + 1 < n) h = at::relu_(h);  // in place: saves a 4*N*width-byte pass per layer
  }
  return h;
}

}  // namespace semfield
