// Sampling along rays and compositing (ray_samples.h).
#include "semfield/models/ibr/ray_samples.h"

#include <ATen/ATen.h>

#include "semfield/models/scene_model.h"

namespace semfield {

at::Tensor masked_view_softmax(const at::Tensor& logits, const at::Tensor& valid) {
  return at::softmax(logits.masked_fill(valid.eq(0), -1e9), 0) * valid;
}

at::Tensor sample_intervals(const at::Tensor& ts, const at::Tensor& near, const at::Tensor& far) {
  const at::Tensor mids = (ts.narrow(1, 1, ts.size(1) - 1) + ts.narrow(1, 0, ts.size(1) - 1)) * 0.5f;
  const at::Tensor edges = at::cat({near.unsqueeze(1), mids, far.unsqueeze(1)}, 1);
  return (edges.narrow(1, 1, ts.size(1)) - edges.narrow(1, 0, ts.size(1))).clamp_min(0);
}

at::Tensor relative_t(const at::Tensor& ts, const at::Tensor& near, const at::Tensor& span) {
  return (ts - near.unsqueeze(1)) / span.clamp_min(1e-6f).unsqueeze(1);
}

SampleComposite composite_samples(const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& ts,
                                  const at::Tensor& dts, const at::Tensor& background) {
  const at::Tensor alpha = 1.0f - at::exp(-sigma * dts);
  const at::Tensor transmittance =
      at::cumprod(at::cat({at::ones_like(alpha.narrow(1, 0, 1)), 1.0f - alpha + 1e-10f}, 1), 1).narrow(1, 0, alpha.size(1));
  SampleComposite out;
  out.weights = alpha * transmittance;
  out.opacity = out.weights.sum(1);
  out.rgb = (out.weights.unsqueeze(2) * rgb).sum(1) + (1.0f - out.opacity).unsqueeze(1) * background;
  out.depth = (out.weights * ts).sum(1);
  return out;
}

at::Tensor seeded_uniform(at::IntArrayRef sizes, at::Generator& generator, const at::TensorOptions& options) {
  const at::Tensor u = at::rand(sizes, generator, options.device(at::kCPU));
  return options.device().is_cpu() ? u : u.to(options.device());
}

at::Tensor sample_pdf(const at::Tensor& edges, const at::Tensor& weights, int64_t n, at::Generator* generator) {
  const at::Tensor w = weights.detach() + 1e-5f;
  const at::Tensor pdf = w / w.sum(1, true);
  const at::Tensor cdf = at::cat({at::zeros_like(pdf.narrow(1, 0, 1)), at::cumsum(pdf, 1)}, 1).contiguous();
  at::Tensor u;
  const int64_t r = weights.size(0);
  if (generator) {
    u = std::get<0>(at::sort(seeded_uniform({r, n}, *generator, weights.options()), 1));
  } else {
    u = ((at::arange(n, weights.options()) + 0.5f) / static_cast<float>(n)).expand({r, n});
  }
  u = u.contiguous();
  const at::Tensor above = at::searchsorted(cdf, u, false, true).clamp(1, cdf.size(1) - 1);
  const at::Tensor below = above - 1;
  const at::Tensor c0 = cdf.gather(1, below), c1 = cdf.gather(1, above);
  const at::Tensor e0 = edges.gather(1, below), e1 = edges.gather(1, above);
  const at::Tensor denom = (c1 - c0).clamp_min(1e-8f);
  return e0 + (u - c0) / denom * (e1 - e0);
}

at::Tensor stratified_samples(const at::Tensor& near, const at::Tensor& far, int64_t n, at::Generator* generator,
                              at::Tensor* edges) {
  const int64_t r = near.size(0);
  const auto opts = near.options();
  const at::Tensor span = (far - near).clamp_min(0).unsqueeze(1);
  const at::Tensor bins = at::arange(n + 1, opts) / static_cast<float>(n);
  const at::Tensor e = near.unsqueeze(1) + span * bins.unsqueeze(0);  // [R,n+1]
  const at::Tensor offset = generator ? seeded_uniform({r, n}, *generator, opts) : at::full({r, n}, 0.5f, opts);
  if (edges) *edges = e;
  return e.narrow(1, 0, n) + offset * span / static_cast<float>(n);
}

}  // namespace semfield

namespace semfield {

WeightedSamples pack_weighted_samples(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& ts,
                                      const at::Tensor& dts, const at::Tensor& weights) {
  const int64_t r = origins.size(0);
  WeightedSamples out;
  if (r == 0) {
    out.samples.positions = out.samples.directions = at::zeros({0, 3});
    out.samples.ts = out.samples.dts = out.weights = out.opacity = out.depth = at::zeros({0});
    out.samples.ray_offsets = at::zeros({1}, at::kLong);
    return out;
  }
  const int64_t s = ts.size(1);
  const at::Tensor keep = weights.ge(WeightedSamples::kMinSampleWeight);
  const at::Tensor ray_dirs = dirs.unsqueeze(1).expand({r, s, 3});
  const at::Tensor points = origins.unsqueeze(1) + ray_dirs * ts.unsqueeze(2);
  out.samples.positions = points.index({keep}).contiguous();
  out.samples.directions = ray_dirs.index({keep}).contiguous();
  out.samples.ts = ts.index({keep}).contiguous();
  out.samples.dts = dts.index({keep}).contiguous();
  out.weights = weights.index({keep}).contiguous();
  const at::Tensor count = keep.sum(1);
  out.samples.ray_offsets = at::cat({at::zeros({1}, at::kLong), at::cumsum(count, 0)});
  const at::Tensor ray_index = at::repeat_interleave(at::arange(r, at::kLong), count);
  out.opacity = at::zeros({r}).index_add_(0, ray_index, out.weights);
  out.depth = at::zeros({r}).index_add_(0, ray_index, out.weights * out.samples.ts);
  return out;
}

}  // namespace semfield
