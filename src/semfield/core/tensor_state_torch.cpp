// Validated restoring of named tensors.
#include "semfield/core/tensor_state.h"

#include <sstream>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

std::string describe_tensor(const at::Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  std::ostringstream out;
  out << tensor.sizes() << " " << c10::toString(tensor.scalar_type());
  return out.str();
}

void restore_tensor(const TensorMap& state, const std::string& name, at::Tensor& into, const std::string& origin) {
  auto it = state.find(name);
  if (it == state.end()) throw InputError(origin, name, "missing tensor");
  if (!it->second.sizes().equals(into.sizes()) || it->second.scalar_type() != into.scalar_type())
    throw InputError(origin, name,
                     fmt::format("expected {}, got {}", describe_tensor(into), describe_tensor(it->second)));
  at::NoGradGuard no_grad;
  into.copy_(it->second);
}

std::vector<at::Tensor> tensors_of(const NamedTensors& named) {
  std::vector<at::Tensor> out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

TensorMap state_of(const NamedTensors& named) {
  TensorMap out;
  for (const auto& [name, t] : named) out[name] = t.detach();
  return out;
}

void restore_tensors(const TensorMap& state, const NamedTensors& named, const std::string& origin) {
  for (const auto& [name, t] : named) {
    at::Tensor target = t.detach();  // shares storage with the module's tensor
    restore_tensor(state, name, target, origin);
  }
}

void move_tensors_to(const NamedTensors& named, const at::Device& device) {
  for (const auto& [name, t] : named) {
    // Already there: the same type, and the same index where one is named ("cuda" is whichever GPU holds it).
    if (!t.defined() || (t.device().type() == device.type() && (!device.has_index() || t.device() == device))) continue;
    at::Tensor handle = t;  // a shared handle: set_data changes the tensor every copy of it refers to
    if (handle.grad().defined()) handle.mutable_grad() = at::Tensor();
    handle.set_data(t.detach().to(device));
  }
}

}  // namespace semfield
