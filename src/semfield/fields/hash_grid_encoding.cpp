// Trainable hash-grid encoding with sparse Adam.
#include "semfield/fields/hash_grid_encoding.h"

#include "semfield/core/tensor_state.h"

namespace semfield {

HashGridEncoding::HashGridEncoding(const kernels::HashGridSpec& spec, uint64_t seed) : m_spec(spec) {
  const int64_t n_entries = spec.n_entries();
  const int64_t n_params = spec.n_params();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  m_params = at::empty({n_params}, at::kFloat).uniform_(-1e-4, 1e-4, generator);
  m_grad = at::zeros({n_params}, at::kFloat);
  m_exp_avg = at::zeros({n_params}, at::kFloat);
  m_exp_avg_sq = at::zeros({n_params}, at::kFloat);
  m_entry_steps = at::zeros({n_entries}, at::kInt);
  m_touched = at::zeros({n_entries}, at::kByte);
}

at::Tensor HashGridEncoding::forward(const at::Tensor& xyz) const {
  return kernels::hash_grid_forward(xyz, m_params, m_spec);
}

at::Tensor HashGridEncoding::forward_train(const at::Tensor& xyz) {
  m_last_xyz = xyz.contiguous();
  m_last_features = kernels::hash_grid_forward(m_last_xyz, m_params, m_spec).requires_grad_(true);
  return m_last_features;
}

void HashGridEncoding::backward() {
  if (!m_last_features.defined()) return;
  const at::Tensor grad = m_last_features.grad();
  if (grad.defined()) kernels::hash_grid_backward(grad, m_last_xyz, m_spec, m_grad, m_touched);
  m_last_features = at::Tensor();
  m_last_xyz = at::Tensor();
}

void HashGridEncoding::step(const kernels::AdamHyper& hyper) {
  kernels::sparse_adam_step(m_params, m_grad, m_exp_avg, m_exp_avg_sq, m_entry_steps, m_touched,
                            m_spec.n_features, hyper);
}

std::map<std::string, at::Tensor> HashGridEncoding::state() const {
  return {{"params", m_params},
          {"exp_avg", m_exp_avg},
          {"exp_avg_sq", m_exp_avg_sq},
          {"entry_steps", m_entry_steps}};
}

void HashGridEncoding::load_state(const std::map<std::string, at::Tensor>& state, const std::string& prefix,
                                  const std::string& origin) {
  restore_tensor(state, prefix + "params", m_params, origin);
  restore_tensor(state, prefix + "exp_avg", m_exp_avg, origin);
  restore_tensor(state, prefix + "exp_avg_sq", m_exp_avg_sq, origin);
  restore_tensor(state, prefix + "entry_steps", m_entry_steps, origin);
}

}  // namespace semfield
