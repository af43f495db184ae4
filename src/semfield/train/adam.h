// Dense Adam for the (small) MLP parameters, with explicit state so checkpoints can resume it exactly.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/kernels/sparse_adam.h"

namespace semfield {

class DenseAdam {
 public:
  explicit DenseAdam(std::vector<at::Tensor> params);
  /// One step using each parameter's .grad() (skipped if undefined), then zeroes the gradients.
  /// Decoupled weight decay is not used: hyper.weight_decay is added to the gradient (L2), as Adam does.
  void step(const kernels::AdamHyper& hyper);
  /// Per-parameter multipliers of the learning rate (one per parameter; empty: 1 for all).
  void set_lr_scales(std::vector<double> scales);
  int64_t steps() const { return m_step; }
  TensorMap state(const std::string& prefix) const;
  void load_state(const TensorMap& state, const std::string& prefix, const std::string& origin);

 private:
  std::vector<at::Tensor> m_params, m_exp_avg, m_exp_avg_sq;
  std::vector<double> m_lr_scales;
  int64_t m_step = 0;
};

}  // namespace semfield
