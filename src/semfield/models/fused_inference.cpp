// The networks' shared test for their fused inference kernels (fused_inference.h).
#include "semfield/models/fused_inference.h"

namespace semfield {

bool fused_inference_applies(bool enabled, std::initializer_list<const at::Tensor*> inputs,
                             const std::vector<at::Tensor>& parameters) {
  if (!enabled) return false;
  for (const at::Tensor* t : inputs)
    if (t->defined() && (!t->device().is_cpu() || t->scalar_type() != at::kFloat)) return false;
  if (!at::GradMode::is_enabled()) return true;
  for (const at::Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return false;
  for (const at::Tensor& p : parameters)
    if (p.requires_grad()) return false;
  return true;
}

}  // namespace semfield
