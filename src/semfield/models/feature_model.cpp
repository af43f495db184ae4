// Feature/label rendering with the frozen density of a radiance model.
#include "semfield/models/feature_model.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"

namespace semfield {

at::Tensor composite_weighted(const at::Tensor& values, const at::Tensor& weights, const at::Tensor& ray_offsets) {
  const int64_t n_rays = ray_offsets.size(0) - 1, n_samples = values.size(0);
  if (values.dim() != 2 || weights.dim() != 1 || weights.size(0) != n_samples || n_rays < 0 ||
      ray_offsets.scalar_type() != at::kLong)
    fail_usage("composite_weighted: expected values [S,D], weights [S], int64 ray_offsets [R+1]");
  if (n_samples == 0) return at::zeros({n_rays, values.size(1)}, values.options()) + 0 * values.sum();
  const at::Tensor counts = ray_offsets.narrow(0, 1, n_rays) - ray_offsets.narrow(0, 0, n_rays);
  const at::Tensor ray_index = at::repeat_interleave(at::arange(n_rays, at::kLong), counts, 0, n_samples);
  // index_add's backward is a gather: both directions stay O(S * D).
  return at::zeros({n_rays, values.size(1)}, values.options()).index_add(0, ray_index, values * weights.unsqueeze(1));
}

FeatureModel::FeatureModel(const FeatureFieldConfig& config, TeacherOutputKind kind, bool surface,
                           const SceneModel& radiance, uint64_t seed)
    : m_field(std::make_unique<FeatureField>(config, seed)), m_kind(kind), m_surface(surface), m_radiance(radiance) {}

std::pair<at::Tensor, at::Tensor> FeatureModel::composite_latent(const at::Tensor& origins, const at::Tensor& dirs,
                                                                 bool train, at::Tensor* depth,
                                                                 at::Tensor* median) const {
  const WeightedSamples ws = m_radiance.render_weights(origins, dirs);
  const at::Tensor opacity = ws.opacity;
  const at::Tensor t = ws.depth / opacity.clamp_min(1e-6f);
  if (depth != nullptr) *depth = at::where(opacity.gt(1e-6f), t, at::zeros_like(t));
  if (median != nullptr) *median = median_depth(ws);
  auto encode = [&](const at::Tensor& points) {
    const at::Tensor xyz = m_radiance.to_unit_cube(points);
    return train ? const_cast<FeatureField&>(*m_field).encode_train(xyz) : m_field->encode(xyz);
  };
  if (m_surface) {
    // Eq. 7: one point per ray at the expected termination distance, weighted by the ray's opacity.
    const at::Tensor points = origins + dirs * t.unsqueeze(1);
    return {encode(points) * opacity.unsqueeze(1), opacity};
  }
  return {composite_weighted(encode(ws.samples.positions), ws.weights, ws.samples.ray_offsets), opacity};
}

at::Tensor FeatureModel::render_latent_train(const at::Tensor& origins, const at::Tensor& dirs) {
  auto [latent, opacity] = composite_latent(origins, dirs, /*train=*/true, nullptr);
  return m_field->with_background(latent, opacity);
}

FeatureRenderOutput FeatureModel::render(const at::Tensor& origins, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const int64_t n = origins.size(0);
  std::vector<std::vector<at::Tensor>> maps(static_cast<size_t>(m_field->n_scales()));
  std::vector<at::Tensor> latents, opacities, depths, medians;
  for (int64_t begin = 0; begin < n; begin += m_chunk_rays) {
    const int64_t len = std::min(m_chunk_rays, n - begin);
    at::Tensor depth, median;
    auto [latent, opacity] = composite_latent(origins.narrow(0, begin, len).contiguous(),
                                              dirs.narrow(0, begin, len).contiguous(), false, &depth, &median);
    latent = m_field->with_background(latent, opacity);
    const std::vector<at::Tensor> decoded = m_field->decode(latent);
    for (size_t s = 0; s < decoded.size(); ++s) maps[s].push_back(decoded[s]);
    latents.push_back(latent);
    opacities.push_back(opacity);
    depths.push_back(depth);
    medians.push_back(median);
  }
  FeatureRenderOutput out;
  if (n == 0) {
    for (int s = 0; s < m_field->n_scales(); ++s) out.maps.push_back(at::zeros({0, m_field->config().channels[s]}));
    out.latent = at::zeros({0, m_field->latent_dims()});
    out.opacity = at::zeros({0});
    out.depth = at::zeros({0});
    out.median_depth = at::zeros({0});
    return out;
  }
  for (auto& m : maps) out.maps.push_back(at::cat(m));
  out.latent = at::cat(latents);
  out.opacity = at::cat(opacities);
  out.depth = at::cat(depths);
  out.median_depth = at::cat(medians);
  return out;
}

ChannelStats FeatureModel::channel_stats(size_t scale) const {
  SEMFIELD_ASSERT(scale < m_field->mean().size(), "scale out of range");
  return {m_field->mean()[scale], m_field->std()[scale]};
}

std::vector<at::Tensor> FeatureModel::point_outputs(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  if (points.dim() != 2 || points.size(1) != 3) fail_usage("points must be [N,3], got {}", describe_tensor(points));
  return m_field->decode(m_field->encode(m_radiance.to_unit_cube(points.to(at::kFloat).contiguous())));
}

}  // namespace semfield
