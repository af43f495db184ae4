// A small fully-connected network (ReLU hidden layers, no output activation), as in tiny-cuda-nn's MLPs.
#pragma once

#include <torch/nn/module.h>

namespace semfield {

class MlpImpl : public torch::nn::Module {
 public:
  /// in -> hidden (x n_hidden_layers, ReLU) -> out. Weights [out, in] as in torch::nn::Linear, named
  /// "weight<i>"/"bias<i>"; Kaiming-uniform init (ReLU gain), zero biases. No biases by default, as in
  /// tiny-cuda-nn: the encodings feeding these MLPs supply offsets, and a bias costs an extra pass.
  MlpImpl(int n_input, int n_hidden, int n_hidden_layers, int n_output, bool bias = false);
  /// x [N, n_input] -> [N, n_output].
  at::Tensor forward(const at::Tensor& x) const;
  int n_input() const { return m_n_input; }
  int n_output() const { return m_n_output; }

 private:
  int m_n_input, m_n_output;
  std::vector<at::Tensor> m_weights, m_biases;
};
TORCH_MODULE(Mlp);

}  // namespace semfield
