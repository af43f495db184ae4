// Dense Adam.
#include "semfield/train/adam.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

DenseAdam::DenseAdam(std::vector<at::Tensor> params) : m_params(std::move(params)) {
  for (const auto& p : m_params) {
    m_exp_avg.push_back(at::zeros_like(p));
    m_exp_avg_sq.push_back(at::zeros_like(p));
  }
}

void DenseAdam::step(const kernels::AdamHyper& h) {
  at::NoGradGuard no_grad;
  ++m_step;
  const double bias1 = 1.0 - std::pow(h.beta1, static_cast<double>(m_step));
  const double bias2 = 1.0 - std::pow(h.beta2, static_cast<double>(m_step));
  for (size_t i = 0; i < m_params.size(); ++i) {
    at::Tensor& p = m_params[i];
    at::Tensor grad = p.mutable_grad();
    if (!grad.defined()) continue;
    if (h.weight_decay != 0) grad = grad.add(p, h.weight_decay);
    m_exp_avg[i].mul_(h.beta1).add_(grad, 1.0 - h.beta1);
    m_exp_avg_sq[i].mul_(h.beta2).addcmul_(grad, grad, 1.0 - h.beta2);
    const at::Tensor denom = (m_exp_avg_sq[i] / bias2).sqrt_().add_(h.eps);
    const double scale = m_lr_scales.empty() ? 1.0 : m_lr_scales[i];
    p.addcdiv_(m_exp_avg[i], denom, -h.lr * scale / bias1);
    p.mutable_grad().zero_();
  }
}

void DenseAdam::set_lr_scales(std::vector<double> scales) {
  SEMFIELD_ASSERT(scales.empty() || scales.size() == m_params.size(), "one learning-rate scale per parameter");
  m_lr_scales = std::move(scales);
}

TensorMap DenseAdam::state(const std::string& prefix) const {
  TensorMap out;
  for (size_t i = 0; i < m_params.size(); ++i) {
    out[prefix + "exp_avg." + std::to_string(i)] = m_exp_avg[i];
    out[prefix + "exp_avg_sq." + std::to_string(i)] = m_exp_avg_sq[i];
  }
  out[prefix + "step"] = at::scalar_tensor(static_cast<int64_t>(m_step), at::kLong);
  return out;
}

void DenseAdam::load_state(const TensorMap& state, const std::string& prefix, const std::string& origin) {
  for (size_t i = 0; i < m_params.size(); ++i) {
    restore_tensor(state, prefix + "exp_avg." + std::to_string(i), m_exp_avg[i], origin);
    restore_tensor(state, prefix + "exp_avg_sq." + std::to_string(i), m_exp_avg_sq[i], origin);
  }
  at::Tensor step = at::zeros({}, at::kLong);
  restore_tensor(state, prefix + "step", step, origin);
  m_step = step.item<int64_t>();
}

}  // namespace semfield
