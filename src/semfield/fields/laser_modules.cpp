// Laser's adapter, low-rank transient query attention and label volume.
#include "semfield/fields/laser_modules.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/kernels/label_volume.h"

namespace semfield {

namespace {

at::Generator laser_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(splitmix64_finalize(seed)); }

at::Tensor laser_param(at::Tensor t) { return t.contiguous().set_requires_grad(true); }

const at::Tensor& laser_take(const TensorMap& state, const std::string& name, const at::Tensor& like,
                             const std::string& origin) {
  const auto it = state.find(name);
  if (it == state.end()) fail_input(origin, name, "missing tensor");
  if (it->second.sizes() != like.sizes())
    fail_input(origin, name, "expected shape {}, got {}", describe_tensor(like), describe_tensor(it->second));
  return it->second;
}

void laser_assign(at::Tensor& param, const at::Tensor& value) {
  at::NoGradGuard guard;
  param.copy_(value.to(param.scalar_type()));
}

}  // namespace

// ---------------------------------------------------------------- adapter
ClipAdapter::ClipAdapter(int64_t dim, int64_t hidden, uint64_t seed) {
  at::Generator g = laser_generator(seed ^ 0xADA9ull);
  m_w1 = laser_param(at::randn({dim, hidden}, g) * std::sqrt(2.0 / static_cast<double>(dim)));
  m_b1 = laser_param(at::zeros({hidden}));
  m_w2 = laser_param(at::zeros({hidden, dim}));
  m_b2 = laser_param(at::zeros({dim}));
}

at::Tensor ClipAdapter::forward(const at::Tensor& x) const {
  return x + at::addmm(m_b2, at::relu(at::addmm(m_b1, x, m_w1)), m_w2);
}

TensorMap ClipAdapter::state() const { return {{"w1", m_w1}, {"b1", m_b1}, {"w2", m_w2}, {"b2", m_b2}}; }

void ClipAdapter::load_state(const TensorMap& state, const std::string& origin) {
  for (auto [name, param] : {std::pair<const char*, at::Tensor*>{"w1", &m_w1}, {"b1", &m_b1}, {"w2", &m_w2}, {"b2", &m_b2}})
    laser_assign(*param, laser_take(state, name, *param, origin));
}

// ---------------------------------------------------------------- attention
TransientQueryAttention::TransientQueryAttention(int64_t dim, int64_t rank, uint64_t seed, double momentum)
    : m_rank(rank), m_momentum(momentum) {
  if (rank < 1 || dim < 1) fail_usage("query attention: rank {} and width {} must be positive", rank, dim);
  at::Generator g = laser_generator(seed ^ 0xA77Eull);
  const double in_scale = 1.0 / std::sqrt(static_cast<double>(dim));
  m_wq = laser_param(at::randn({dim, rank}, g) * in_scale);
  m_wk = laser_param(at::randn({dim, rank}, g) * in_scale);
  m_wv = laser_param(at::randn({dim, rank}, g) * in_scale);
  m_bank = laser_param((at::randn({3 * rank, rank}, g) * 0.02).clamp(-0.04, 0.04));  // truncated normal
  m_wout = laser_param(at::randn({rank, dim}, g) / std::sqrt(static_cast<double>(rank)));
  m_context = at::zeros({3 * rank, rank});
}

at::Tensor TransientQueryAttention::context_of(const at::Tensor& k, const at::Tensor& v) const {
  // softmax over the N features of each bank query's scores: [3E,N] @ [N,E].
  return at::matmul(at::softmax(at::matmul(m_bank, k.t()), 1), v);
}

at::Tensor TransientQueryAttention::apply(const at::Tensor& q, const at::Tensor& context) const {
  return at::matmul(at::matmul(at::softmax(at::matmul(q, m_bank.t()), 1), context) + q, m_wout);
}

at::Tensor TransientQueryAttention::forward_train(const at::Tensor& x) {
  const at::Tensor q = at::matmul(x, m_wq);
  const at::Tensor context = context_of(at::matmul(x, m_wk), at::matmul(x, m_wv));
  {
    at::NoGradGuard guard;
    const at::Tensor c = context.detach();
    if (!m_has_context) m_context = c.clone();
    else m_context.mul_(1 - m_momentum).add_(c, m_momentum);
    m_has_context = true;
  }
  return apply(q, context);
}

at::Tensor TransientQueryAttention::forward(const at::Tensor& x) const {
  const at::Tensor q = at::matmul(x, m_wq);
  if (!m_has_context) return apply(q, context_of(at::matmul(x, m_wk), at::matmul(x, m_wv)));
  return apply(q, m_context);
}

int64_t TransientQueryAttention::flops(int64_t n, int64_t dim, int64_t rank) {
  // q, k, v projections; bank scores against k and q; context; attention @ context; output projection.
  return 3 * n * dim * rank + 2 * (3 * rank) * n * rank + (3 * rank) * n * rank + n * (3 * rank) * rank + n * rank * dim;
}

TensorMap TransientQueryAttention::state() const {
  return {{"wq", m_wq}, {"wk", m_wk}, {"wv", m_wv}, {"bank", m_bank}, {"wout", m_wout}, {"context", m_context}};
}

void TransientQueryAttention::load_state(const TensorMap& state, const std::string& origin) {
  for (auto [name, param] : {std::pair<const char*, at::Tensor*>{"wq", &m_wq}, {"wk", &m_wk}, {"wv", &m_wv},
                             {"bank", &m_bank}, {"wout", &m_wout}})
    laser_assign(*param, laser_take(state, name, *param, origin));
  m_context = laser_take(state, "context", m_context, origin).to(at::kFloat).clone();
  m_has_context = true;
}

// ---------------------------------------------------------------- label volume
LabelVolume::LabelVolume(int64_t rank, int64_t resolution, int64_t dim, uint64_t seed)
    : m_rank(rank), m_resolution(resolution) {
  if (rank < 1 || resolution < 2) fail_usage("label volume: rank {} >= 1 and resolution {} >= 2", rank, resolution);
  at::Generator g = laser_generator(seed ^ 0x1AB3ull);
  m_planes = laser_param(at::randn({3, rank, resolution, resolution}, g) * 0.1);
  m_lines = laser_param(at::randn({3, rank, resolution}, g) * 0.1);
  m_basis = laser_param(at::randn({3 * rank, dim}, g) / std::sqrt(static_cast<double>(3 * rank)));
  m_bias = laser_param(at::zeros({dim}));
  m_log_scale = laser_param(at::full({}, std::log(10.0f)));
}

at::Tensor LabelVolume::forward(const at::Tensor& unit_points) const {
  return at::addmm(m_bias, values(unit_points), m_basis);
}

at::Tensor LabelVolume::project(const at::Tensor& values, const at::Tensor& opacity) const {
  return at::matmul(values, m_basis) + opacity.unsqueeze(1) * m_bias.unsqueeze(0);
}

at::Tensor LabelVolume::values(const at::Tensor& unit_points) const {
  return kernels::sample_label_volume(m_planes, m_lines, unit_points);
}

at::Tensor LabelVolume::logits(const at::Tensor& features, const at::Tensor& texts) const {
  const at::Tensor f = features / features.norm(2, 1, true).clamp_min(1e-6f);
  const at::Tensor t = texts.to(at::kFloat) / texts.to(at::kFloat).norm(2, 1, true).clamp_min(1e-6f);
  return at::exp(m_log_scale) * at::matmul(f, t.t());
}

at::Tensor LabelVolume::composite(const at::Tensor& unit_points, const at::Tensor& weights, const at::Tensor& ray_offsets,
                                  float min_weight) const {
  if (at::GradMode::is_enabled() && (m_planes.requires_grad() || m_lines.requires_grad()))
    return kernels::composite_label_values_reference(m_planes, m_lines, unit_points, weights, ray_offsets, min_weight);
  return kernels::composite_label_values(m_planes.detach(), m_lines.detach(), unit_points.to(at::kFloat).contiguous(),
                                         weights.to(at::kFloat).contiguous(), ray_offsets, min_weight);
}

at::Tensor LabelVolume::logits_of_values(const at::Tensor& values, const at::Tensor& opacity,
                                         const at::Tensor& texts) const {
  at::NoGradGuard guard;
  const at::Tensor a = at::cat({m_basis, m_bias.unsqueeze(0)});                      // [3R+1, D]
  const at::Tensor u = at::cat({values.to(at::kFloat), opacity.to(at::kFloat).unsqueeze(1)}, 1);  // [N, 3R+1]
  const at::Tensor t = texts.to(at::kFloat) / texts.to(at::kFloat).norm(2, 1, true).clamp_min(1e-6f);
  const at::Tensor dots = at::matmul(u, at::matmul(a, t.t()));                      // [N, K]
  const at::Tensor norms = (at::matmul(u, at::matmul(a, a.t())) * u).sum(1, true).clamp_min(0).sqrt();
  return at::exp(m_log_scale) * dots / norms.clamp_min(1e-6f);
}

TensorMap LabelVolume::state() const {
  return {{"planes", m_planes}, {"lines", m_lines}, {"basis", m_basis}, {"bias", m_bias}, {"log_scale", m_log_scale}};
}

void LabelVolume::load_state(const TensorMap& state, const std::string& origin) {
  for (auto [name, param] : {std::pair<const char*, at::Tensor*>{"planes", &m_planes}, {"lines", &m_lines},
                             {"basis", &m_basis}, {"bias", &m_bias}, {"log_scale", &m_log_scale}})
    laser_assign(*param, laser_take(state, name, *param, origin));
}

}  // namespace semfield
