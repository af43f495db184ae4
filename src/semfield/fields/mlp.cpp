// Small fully-connected network.
#include "semfield/fields/mlp.h"

#include <cmath>

#include <torch/nn/init.h>

namespace semfield {

MlpImpl::MlpImpl(int n_input, int n_hidden, int n_hidden_layers, int n_output, bool bias)
    : m_n_input(n_input), m_n_output(n_output) {
  int fan_in = n_input;
  for (int i = 0; i <= n_hidden_layers; ++i) {
    const int fan_out = i == n_hidden_layers ? n_output : n_hidden;
    at::Tensor w = torch::empty({fan_out, fan_in});
    // Uniform bound sqrt(6 / fan_in): He initialisation for ReLU networks.
    const double bound = std::sqrt(6.0 / fan_in);
    torch::nn::init::uniform_(w, -bound, bound);
    m_weights.push_back(register_parameter("weight" + std::to_string(i), w));
    if (bias) m_biases.push_back(register_parameter("bias" + std::to_string(i), torch::zeros({fan_out})));
    fan_in = fan_out;
  }
}

at::Tensor MlpImpl::forward(const at::Tensor& x) const {
  at::Tensor h = x;
  const size_t n = m_weights.size();
  for (size_t i = 0; i < n; ++i) {
    h = m_biases.empty() ? at::mm(h, m_weights[i].t()) : at::addmm(m_biases[i], h, m_weights[i].t());
    if (i + 1 < n) h = at::relu_(h);  // in place: saves a 4*N*width-byte pass per layer
  }
  return h;
}

}  // namespace semfield
