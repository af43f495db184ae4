// A trainable multiresolution hash-grid encoding: the parameter table plus its sparse Adam state.
//
// Training bypasses autograd for the table (its gradient would be a dense 2^19 x L x F tensor every step):
// forward_train() returns the features as a leaf tensor that requires grad; after loss.backward(),
// backward() scatters that leaf's gradient into the table's gradient buffer, marking touched entries,
// and step() runs Adam on the touched entries only.
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "semfield/kernels/hash_grid.h"
#include "semfield/kernels/sparse_adam.h"

namespace semfield {

class HashGridEncoding {
 public:
  /// Table initialised uniformly in [-1e-4, 1e-4] (instant-ngp) from `seed`.
  HashGridEncoding(const kernels::HashGridSpec& spec, uint64_t seed);

  const kernels::HashGridSpec& spec() const { return m_spec; }
  int n_output_dims() const { return m_spec.n_output_dims(); }

  /// xyz [N,3] in [0,1] -> features [N, n_output_dims]; no gradient tracking.
  at::Tensor forward(const at::Tensor& xyz) const;
  /// Same, returning a leaf tensor that requires grad; remembers xyz for backward().
  at::Tensor forward_train(const at::Tensor& xyz);
  /// Scatters the gradient of the last forward_train() output into the table gradient (no-op if the
  /// output received no gradient).
  void backward();
  /// One sparse Adam step over the entries touched since the last step.
  void step(const kernels::AdamHyper& hyper);

  /// Checkpoint state: "params", "exp_avg", "exp_avg_sq", "entry_steps".
  std::map<std::string, at::Tensor> state() const;
  /// Restores state; throws InputError(origin, name, ...) for a missing or mis-shaped tensor.
  void load_state(const std::map<std::string, at::Tensor>& state, const std::string& prefix,
                  const std::string& origin);

  at::Tensor& params() { return m_params; }

 private:
  kernels::HashGridSpec m_spec;
  at::Tensor m_params, m_grad, m_exp_avg, m_exp_avg_sq, m_entry_steps, m_touched;
  at::Tensor m_last_xyz, m_last_features;
};

}  // namespace semfield
