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

}  // namespace semfield
