// The trainable radiance model: sampling, field evaluation and compositing of ray batches.
#include "semfield/models/radiance_model.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/composite.h"
#include "semfield/kernels/distortion.h"
#include "semfield/render/contraction.h"
#include "semfield/render/incremental_renderer.h"
#include "semfield/render/parallel_slices.h"

namespace semfield {

RadianceModel::RadianceModel(const RadianceConfig& config, const SceneFrame& frame)
    : m_config(config), m_frame(frame) {
  m_field = std::make_unique<RadianceField>(config.field, config.train.seed);
  OccupancyGridConfig grid_config;
  grid_config.resolution = config.render.grid_resolution;
  grid_config.threshold = config.render.occupancy_threshold;
  grid_config.warmup_steps = config.train.grid_warmup_steps;
  m_grid = std::make_unique<OccupancyGrid>(frame.aabb_min, frame.aabb_max, frame.unbounded, grid_config);
  m_grid->fill();

  // Smallest step: the box diagonal / steps_per_diagonal (instant-ngp: sqrt(3)/1024 of its unit cube).
  const float diagonal = frame.unbounded ? 2.0f * std::sqrt(3.0f) : (frame.aabb_max - frame.aabb_min).norm();
  m_march.min_step = diagonal / static_cast<float>(config.render.steps_per_diagonal);
  m_march.cone_angle = config.render.cone_angle >= 0 ? static_cast<float>(config.render.cone_angle)
                                                    : (frame.unbounded ? 1.0f / 256.0f : 0.0f);
  m_march.max_step = frame.unbounded ? 1.0f : 1e10f;
  m_march.max_samples_per_ray = config.render.max_samples_per_ray;
}

at::Tensor RadianceModel::density(const at::Tensor& points) const {
  return m_field->density(to_unit_cube(points));
}

PointRadiance RadianceModel::radiance(const at::Tensor& points, const at::Tensor& dirs) const {
  const at::NoGradGuard no_grad;
  RadianceField::Output out = m_field->forward(to_unit_cube(points), dirs);
  return {std::move(out.density), std::move(out.rgb)};
}

void RadianceModel::update_occupancy(int64_t step) {
  m_grid->update([this](const at::Tensor& points) { return density(points); }, step, m_march.min_step);
}

PackedSamples RadianceModel::march(const at::Tensor& origins, const at::Tensor& dirs, bool jitter,
                                  uint64_t seed) const {
  MarchConfig march = m_march;
  march.jitter = jitter;
  march.seed = seed;
  return march_rays(origins, dirs, *m_grid, march);
}

RayRenderOutput RadianceModel::composite_samples(const PackedSamples& samples, const RadianceField::Output& field_out,
                                                 const at::Tensor& background, bool differentiable,
                                                 bool with_distortion) const {
  const kernels::CompositeOutputs composited =
      differentiable
          ? kernels::composite(field_out.density, field_out.rgb, samples.dts, samples.ts, samples.ray_offsets)
          : kernels::composite_forward(field_out.density, field_out.rgb, samples.dts, samples.ts,
                                       samples.ray_offsets);
  RayRenderOutput out;
  out.opacity = composited.opacity;
  out.rgb = composited.values + (1.0f - composited.opacity).unsqueeze(1) * background;
  out.depth = composited.depth;
  out.n_samples = samples.n_samples();
  // The samples' ts and dts are the intervals' midpoints and widths along the ray (normalised units).
  if (with_distortion)
    out.distortion = kernels::distortion(composited.weights, samples.ts, samples.dts, samples.ray_offsets);
  return out;
}

RayRenderOutput RadianceModel::render_train(const at::Tensor& origins, const at::Tensor& dirs,
                                            const at::Tensor& background, uint64_t seed, bool with_distortion) {
  const PackedSamples samples = march(origins, dirs, /*jitter=*/true, seed);
  const RadianceField::Output field_out = m_field->forward_train(to_unit_cube(samples.positions), samples.directions);
  return composite_samples(samples, field_out, background, /*differentiable=*/true, with_distortion);
}

RayRenderOutput RadianceModel::render(const at::Tensor& origins, const at::Tensor& dirs,
                                      const at::Tensor& background) const {
  at::NoGradGuard no_grad;
  const SerialTorchScope serial;  // see parallel_slices.h
  const SampleFieldFn field = [this](const at::Tensor& positions, const at::Tensor& directions) {
    const at::NoGradGuard no_grad;
    RadianceField::Output o = m_field->forward(to_unit_cube(positions), directions);
    return std::make_pair(std::move(o.density), std::move(o.rgb));
  };
  const IncrementalOutput rendered = render_incremental(origins, dirs, *m_grid, m_march, field, 3);
  RayRenderOutput out;
  out.opacity = rendered.opacity;
  out.rgb = rendered.values + (1.0f - rendered.opacity).unsqueeze(1) * background;
  out.depth = rendered.depth;
  out.n_samples = rendered.stats.n_samples;
  out.stats = rendered.stats;
  return out;
}

WeightedSamples RadianceModel::render_weights(const at::Tensor& origins, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  IncrementalWeights found = march_weights_incremental(
      origins, dirs, *m_grid, m_march, [this](const at::Tensor& positions) { return density(positions); },
      WeightedSamples::kMinSampleWeight);
  WeightedSamples out;
  out.samples = std::move(found.samples);
  out.weights = std::move(found.weights);
  out.opacity = std::move(found.opacity);
  out.depth = std::move(found.depth);
  return out;
}

at::Tensor median_depth(const WeightedSamples& samples) {
  const at::Tensor offsets = samples.samples.ray_offsets.contiguous();
  const at::Tensor weights = samples.weights.contiguous(), ts = samples.samples.ts.contiguous();
  const at::Tensor opacity = samples.opacity.contiguous();
  const int64_t rays = opacity.size(0);
  at::Tensor out = at::zeros({rays}, at::kFloat);
  const int64_t* o = offsets.data_ptr<int64_t>();
  const float* w = weights.data_ptr<float>();
  const float* t = ts.data_ptr<float>();
  const float* a = opacity.data_ptr<float>();
  float* median = out.data_ptr<float>();
  parallel_for(0, rays, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (!(a[r] > 0) || o[r] == o[r + 1]) continue;
      const float half = 0.5f * a[r];
      float cumulative = 0;
      int64_t i = o[r];
      for (; i + 1 < o[r + 1]; ++i) {
        cumulative += w[i];
        if (cumulative >= half) break;
      }
      median[r] = t[i];
    }
  });
  return out;
}

at::Tensor median_depth(const at::Tensor& ts, const at::Tensor& weights) {
  const int64_t r = weights.size(0), s = weights.size(1);
  WeightedSamples packed;
  packed.samples.ray_offsets = at::arange(r + 1, at::kLong) * s;
  packed.samples.ts = ts.detach().to(at::kFloat).reshape({-1}).contiguous();
  packed.weights = weights.detach().to(at::kFloat).reshape({-1}).contiguous();
  packed.opacity = packed.weights.reshape({r, s}).sum(1);
  return median_depth(packed);
}

TensorMap RadianceModel::state() const {
  TensorMap out;
  for (const auto& [name, tensor] : m_field->state()) out["field." + name] = tensor;
  // Const access: the mutable accessors mark the grid's coarse levels stale.
  const OccupancyGrid& grid = *m_grid;
  out["occupancy.density"] = grid.density();
  out["occupancy.bitfield"] = grid.bitfield();
  return out;
}

void RadianceModel::load_state(const TensorMap& state, const std::string& origin) {
  TensorMap field_state;
  for (const auto& [name, tensor] : state)
    if (name.rfind("field.", 0) == 0) field_state[name.substr(6)] = tensor;
  m_field->load_state(field_state, origin);
  restore_tensor(state, "occupancy.density", m_grid->density(), origin);
  restore_tensor(state, "occupancy.bitfield", m_grid->bitfield(), origin);
  m_grid->refresh_levels();
}

}  // namespace semfield
