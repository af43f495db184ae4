// Activations with custom gradients used by the fields.
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield {

/// exp(x) whose gradient uses exp(min(x, 15)) so a single large pre-activation cannot blow up the
/// optimiser (instant-ngp's "truncated exponential" density activation).
at::Tensor trunc_exp(const at::Tensor& x);

}  // namespace semfield
