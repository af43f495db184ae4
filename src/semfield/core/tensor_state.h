// Named-tensor state maps (what models save into checkpoints) and validated restoring from them.
// Torch-facing: include only from the semfield (torch) library; implemented in tensor_state_torch.cpp.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

using TensorMap = std::map<std::string, at::Tensor>;
/// A module's parameters with their names, in a fixed order (what named_parameters() returns): shared handles.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// "[16, 32] float32"-style description for messages.
std::string describe_tensor(const at::Tensor& tensor);

/// Copies state[name] into `into` (same shape and dtype required); InputError(origin, name, ...) names the
/// missing tensor or the expected vs. found shape/dtype.
void restore_tensor(const TensorMap& state, const std::string& name, at::Tensor& into, const std::string& origin);

/// The tensors of `named`, in its order (a module's parameters()).
std::vector<at::Tensor> tensors_of(const NamedTensors& named);
/// `named` as a state map of detached handles (a module's state()).
TensorMap state_of(const NamedTensors& named);
/// restore_tensor for every entry of `named` (a module's load_state()).
void restore_tensors(const TensorMap& state, const NamedTensors& named, const std::string& origin);
/// Moves every tensor of `named` to `device` in place: the handles, and so the module members they share, then hold
/// their data there (requires_grad kept; a module's to(device)). Gradients of the tensors moved are dropped; tensors
/// already on `device` (a device without an index matches any of its type) are left as they are. An optimizer's state
/// is not moved: move a module before making its optimizer.
void move_tensors_to(const NamedTensors& named, const at::Device& device);

}  // namespace semfield
