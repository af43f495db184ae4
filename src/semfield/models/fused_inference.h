// When a generalizable network's fused CPU inference kernel may stand in for its LibTorch path.
#pragma once

#include <initializer_list>
#include <vector>

#include <ATen/ATen.h>

namespace semfield {

/// Whether a network's fused inference kernel (kernels/ibr_aggregate.h, gpnerf_forward.h, featurenerf_forward.h) may
/// replace its LibTorch ops for `inputs`: the network's switch is `enabled` (its SEMFIELD_FUSED_* variable is not 0),
/// every defined input is a CPU float32 tensor, and no gradient is wanted — grad mode off, or neither a defined input
/// nor one of the network's `parameters` requires one (the kernels have no backward; training takes the LibTorch
/// path). Undefined inputs (optional maps a config leaves out) are skipped.
bool fused_inference_applies(bool enabled, std::initializer_list<const at::Tensor*> inputs,
                             const std::vector<at::Tensor>& parameters);

}  // namespace semfield
