// A small fully-connected network (ReLU hidden layers, no output activation), as in tiny-cuda-nn's MLPs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

/// A value type over shared tensor handles: copies of an Mlp share its weights (as torch::nn module holders do).
/// Deliberately not a torch::nn::Module: it needs parameters and their names only, and torch/nn/module.h would be
/// parsed by every file that sees a field (~2 s of compile time each).
class Mlp {
 public:
  Mlp() = default;  ///< no layers; assign a constructed one before use
  /// in -> hidden (x n_hidden_layers, ReLU) -> out. Weights [out, in] as in torch::nn::Linear, named
  /// "weight<i>"/"bias<i>"; Kaiming-uniform init (ReLU gain), zero biases. No biases by default, as in
  /// tiny-cuda-nn: the encodings feeding these MLPs supply offsets, and a bias costs an extra pass.
  /// Parameters require grad.
  Mlp(int n_input, int n_hidden, int n_hidden_layers, int n_output, bool bias = false);
  /// x [N, n_input] -> [N, n_output].
  at::Tensor forward(const at::Tensor& x) const;
  int n_input() const { return m_n_input; }
  int n_output() const { return m_n_output; }
  /// Every weight and bias in layer order (weight0, bias0, weight1, ...): shared handles, not copies.
  std::vector<at::Tensor> parameters() const;
  /// The same with their names.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  /// Layer weights [out, in] and biases (empty without biases): shared handles.
  const std::vector<at::Tensor>& weights() const { return m_weights; }
  const std::vector<at::Tensor>& biases() const { return m_biases; }

 private:
  int m_n_input = 0, m_n_output = 0;
  std::vector<at::Tensor> m_weights, m_biases;
};

}  // namespace semfield
