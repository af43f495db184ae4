#include "semfield/train/weight_average.h"

#include <algorithm>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "semfield/core/error.h"

namespace semfield {

WeightAverage::WeightAverage(double decay, std::vector<at::Tensor> params) : m_decay(decay) {
  if (!(decay >= 0 && decay < 1)) fail_usage("weight average: decay must be in [0, 1) (got {})", decay);
  if (!enabled()) return;
  m_params = std::move(params);
  at::NoGradGuard no_grad;
  for (const at::Tensor& p : m_params) m_average.push_back(p.detach().clone());
}

double WeightAverage::rate() const {
  const double n = static_cast<double>(m_updates);
  return std::min(m_decay, (1.0 + n) / (10.0 + n));
}

void WeightAverage::update() {
  if (!enabled()) return;
  const double r = rate();
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < m_params.size(); ++i) m_average[i].mul_(r).add_(m_params[i].detach(), 1.0 - r);
  ++m_updates;
}

TensorMap WeightAverage::state() const {
  TensorMap out;
  for (size_t i = 0; i < m_average.size(); ++i) out[std::to_string(i)] = m_average[i];
  return out;
}

void WeightAverage::load(const TensorMap& state, int64_t updates, const std::string& origin) {
  if (!enabled()) return;
  if (state.size() != m_average.size())
    fail_input(origin, "ema", "the saved weight average has {} tensors, the model {} parameters", state.size(),
               m_average.size());
  if (updates < 0) fail_input(origin, "ema_updates", "must not be negative (got {})", updates);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < m_average.size(); ++i) {
    const auto it = state.find(std::to_string(i));
    if (it == state.end()) fail_input(origin, "ema." + std::to_string(i), "missing from the saved weight average");
    if (!it->second.sizes().equals(m_average[i].sizes()))
      fail_input(origin, "ema." + std::to_string(i), "shape {} does not match the parameter's {}",
                 fmt::format("{}", fmt::join(it->second.sizes(), "x")),
                 fmt::format("{}", fmt::join(m_average[i].sizes(), "x")));
    m_average[i].copy_(it->second);
  }
  m_updates = updates;
}

WeightAverage::Swap::Swap(WeightAverage* owner) : m_owner(owner) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < owner->m_params.size(); ++i) {
    m_saved.push_back(owner->m_params[i].detach().clone());
    owner->m_params[i].detach().copy_(owner->m_average[i]);
  }
}

WeightAverage::Swap::~Swap() {
  if (!m_owner) return;
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < m_saved.size(); ++i) m_owner->m_params[i].detach().copy_(m_saved[i]);
}

}  // namespace semfield
