// Feature/label rendering with the frozen density of a radiance model.
#include "semfield/models/feature_model.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"

namespace semfield {

namespace {
// Samples lighter than this add nothing visible to a ray's label features and are skipped.
constexpr float kLabelMinWeight = 1e-4f;
}  // namespace

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
                                                                 at::Tensor* median, at::Tensor* label_features) const {
  const WeightedSamples ws = m_radiance.render_weights(origins, dirs);
  const at::Tensor opacity = ws.opacity;
  const at::Tensor t = ws.depth / opacity.clamp_min(1e-6f);
  if (depth != nullptr) *depth = at::where(opacity.gt(1e-6f), t, at::zeros_like(t));
  if (median != nullptr) *median = median_depth(ws);
  auto encode = [&](const at::Tensor& points) {
    const at::Tensor xyz = m_radiance.to_unit_cube(points);
    return train ? const_cast<FeatureField&>(*m_field).encode_train(xyz) : m_field->encode(xyz);
  };
  if (label_features != nullptr) {
    const LabelVolume* volume = m_laser ? m_laser->label_volume.get() : nullptr;
    *label_features =
        volume != nullptr ? volume->project(composite_label_values(*volume, ws, origins, dirs), opacity) : at::Tensor();
  }
  if (m_surface) {
    // Eq. 7: one point per ray at the expected termination distance, weighted by the ray's opacity.
    const at::Tensor points = origins + dirs * t.unsqueeze(1);
    return {encode(points) * opacity.unsqueeze(1), opacity};
  }
  return {composite_weighted(encode(ws.samples.positions), ws.weights, ws.samples.ray_offsets), opacity};
}

at::Tensor FeatureModel::composite_label_values(const LabelVolume& volume, const WeightedSamples& ws,
                                                 const at::Tensor& origins, const at::Tensor& dirs) const {
  const at::Tensor& opacity = ws.opacity;
  if (m_surface) {
    // One point per ray at the expected termination distance, as the feature path (Eq. 7).
    const at::Tensor t = ws.depth / opacity.clamp_min(1e-6f);
    const at::Tensor points = origins + dirs * t.unsqueeze(1);
    return volume.values(m_radiance.to_unit_cube(points)) * opacity.unsqueeze(1);
  }
  // Only samples that carry weight reach the volume (the density is frozen, so the rest add nothing): a ray's
  // samples past its surface or in empty space are most of them.
  return volume.composite(m_radiance.to_unit_cube(ws.samples.positions), ws.weights, ws.samples.ray_offsets,
                          kLabelMinWeight);
}

at::Tensor FeatureModel::render_latent_train(const at::Tensor& origins, const at::Tensor& dirs,
                                             at::Tensor* label_features, at::Tensor* opacity_out) {
  auto [latent, opacity] = composite_latent(origins, dirs, /*train=*/true, nullptr, nullptr, label_features);
  if (opacity_out != nullptr) *opacity_out = opacity;
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
    const std::vector<at::Tensor> decoded = decode_maps(latent);
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

void FeatureModel::attach_laser(const LaserConfig& config, std::vector<std::string> class_names, at::Tensor class_text,
                                uint64_t seed) {
  if (m_kind != TeacherOutputKind::Features || m_field->n_scales() != 1)
    fail_usage("Laser's modules need a one-scale feature field (a CLIP teacher), not {} scales of {}",
               m_field->n_scales(), m_kind == TeacherOutputKind::Labels ? "labels" : "features");
  const int64_t dim = m_field->config().channels.front();
  auto parts = std::make_unique<LaserParts>();
  if (config.adapter) parts->adapter = std::make_unique<ClipAdapter>(dim, config.adapter_hidden, seed);
  if (config.attention) parts->attention = std::make_unique<TransientQueryAttention>(dim, config.attention_rank, seed);
  if (class_text.defined()) {
    if (class_text.dim() != 2 || class_text.size(1) != dim || class_text.size(0) != static_cast<int64_t>(class_names.size()))
      fail_usage("Laser: class text embeddings {} do not match {} classes of width {}", describe_tensor(class_text),
                 class_names.size(), dim);
    parts->class_text = class_text.to(at::kFloat).contiguous();
    if (config.label_volume)
      parts->label_volume = std::make_unique<LabelVolume>(config.label_rank, config.label_resolution, dim, seed);
  }
  parts->class_names = std::move(class_names);
  parts->text_augmentation = config.text_augmentation;
  m_laser = std::move(parts);
}

std::vector<at::Tensor> FeatureModel::decode_maps(const at::Tensor& latent) const {
  if (!m_laser || !m_laser->attention) return m_field->decode(latent);
  const at::Tensor standardized = m_laser->attention->forward(m_field->decode_standardized(latent, 0));
  return {standardized * m_field->std()[0] + m_field->mean()[0]};
}

at::Tensor FeatureModel::point_label_features(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  if (!m_laser || !m_laser->label_volume) fail_usage("this field has no label volume (distill with --laser on and a class list)");
  if (points.dim() != 2 || points.size(1) != 3) fail_usage("points must be [N,3], got {}", describe_tensor(points));
  return m_laser->label_volume->forward(m_radiance.to_unit_cube(points.to(at::kFloat).contiguous()));
}

std::pair<at::Tensor, at::Tensor> FeatureModel::render_label_values(const at::Tensor& origins,
                                                                     const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  if (!m_laser || !m_laser->label_volume) fail_usage("this field has no label volume (distill with --laser on and a class list)");
  if (origins.dim() != 2 || origins.size(1) != 3 || dirs.sizes() != origins.sizes())
    fail_usage("rays must be origins and directions [R,3], got {} and {}", describe_tensor(origins), describe_tensor(dirs));
  const int64_t n = origins.size(0);
  std::vector<at::Tensor> values, opacities;
  for (int64_t begin = 0; begin < n; begin += m_chunk_rays) {
    const int64_t len = std::min(m_chunk_rays, n - begin);
    const at::Tensor o = origins.narrow(0, begin, len).contiguous(), d = dirs.narrow(0, begin, len).contiguous();
    const WeightedSamples ws = m_radiance.render_weights(o, d);
    values.push_back(composite_label_values(*m_laser->label_volume, ws, o, d));
    opacities.push_back(ws.opacity);
  }
  if (n == 0) return {at::zeros({0, 3 * m_laser->label_volume->rank()}), at::zeros({0})};
  return {at::cat(values), at::cat(opacities)};
}

ChannelStats FeatureModel::channel_stats(size_t scale) const {
  SEMFIELD_ASSERT(scale < m_field->mean().size(), "scale out of range");
  return {m_field->mean()[scale], m_field->std()[scale]};
}

std::vector<at::Tensor> FeatureModel::point_outputs(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  if (points.dim() != 2 || points.size(1) != 3) fail_usage("points must be [N,3], got {}", describe_tensor(points));
  return decode_maps(m_field->encode(m_radiance.to_unit_cube(points.to(at::kFloat).contiguous())));
}

}  // namespace semfield
