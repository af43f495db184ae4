// Adam that updates only the hash-grid entries touched this step (instant-ngp's behaviour), so a step
// costs O(touched) instead of a dense pass over a 2^19 x 16-level table.
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield::kernels {

struct AdamHyper {
  double lr = 1e-2, beta1 = 0.9, beta2 = 0.99, eps = 1e-15, weight_decay = 0.0;
};

/// For every entry e with touched[e] != 0: Adam update of params[e*F .. e*F+F) from grad, using per-entry
/// step counts `entry_steps` (int32 [n_entries]) for bias correction (lazy Adam), then zeroes those grad
/// values and touched[e]. Untouched entries are not read or written. All tensors contiguous CPU:
/// params/grad/exp_avg/exp_avg_sq float32 [n_entries*F], touched uint8 [n_entries].
void sparse_adam_step(at::Tensor& params, at::Tensor& grad, at::Tensor& exp_avg, at::Tensor& exp_avg_sq,
                      at::Tensor& entry_steps, at::Tensor& touched, int n_features, const AdamHyper& hyper);

}  // namespace semfield::kernels
