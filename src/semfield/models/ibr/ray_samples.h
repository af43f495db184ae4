// Sampling along rays and compositing for the image-conditioned models (models/ibr, models/gpnerf): stratified bins,
// interval lengths, inverse-CDF importance samples, alpha compositing, and the masked softmax over source views.
// Shapes: R rays, S samples per ray, V views, N samples.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <ATen/core/Generator.h>

namespace semfield {

/// Softmax over views (dim 0) of logits [V,N,C] restricted to valid [V,N,1] (float 0/1); all-invalid -> zeros.
at::Tensor masked_view_softmax(const at::Tensor& logits, const at::Tensor& valid);

/// Interval lengths [R,S] of sorted samples ts [R,S] in [near, far] ([R] each): each sample owns the span between the
/// midpoints to its neighbours, the first and last reaching near and far.
at::Tensor sample_intervals(const at::Tensor& ts, const at::Tensor& near, const at::Tensor& far);

/// Position of samples ts [R,S] in their ray's sampled interval: 0 at near, 1 at far (span = far - near).
at::Tensor relative_t(const at::Tensor& ts, const at::Tensor& near, const at::Tensor& span);

struct SampleComposite {
  at::Tensor rgb;      ///< [R,3] over the background
  at::Tensor opacity;  ///< [R]
  at::Tensor depth;    ///< [R] expected t (not divided by the opacity)
  at::Tensor weights;  ///< [R,S]
};

/// Alpha compositing of densities sigma [R,S] and colours rgb [R,S,3] at samples ts with interval lengths dts over
/// background [R,3].
SampleComposite composite_samples(const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& ts,
                                  const at::Tensor& dts, const at::Tensor& background);

/// Uniform numbers in [0, 1) of shape `sizes` drawn from a CPU generator and placed on options' device: a seeded
/// training render draws the same numbers on every device (a CPU generator cannot fill a CUDA tensor).
at::Tensor seeded_uniform(at::IntArrayRef sizes, at::Generator& generator, const at::TensorOptions& options);

/// Inverse-CDF samples [R,n] from per-bin weights [R,B] over bins with edges [R,B+1]; deterministic (evenly spaced
/// quantiles) unless a generator is given. No gradient.
at::Tensor sample_pdf(const at::Tensor& edges, const at::Tensor& weights, int64_t n, at::Generator* generator);

/// Samples per ray of a pass: at inference the config's render count where it sets one (n_coarse_render /
/// n_fine_render; 0 means the training count), otherwise (training, and gp-nerf's recorded passes) the training
/// count. The ibr and gp-nerf networks share this rule.
inline int64_t pass_samples(bool inference, int render_count, int training_count) {
  return inference && render_count > 0 ? render_count : training_count;
}

/// Stratified samples [R,n] between near and far ([R] each): one per bin of n equal bins, at a uniform random offset
/// within it when a generator is given, else at its midpoint; their bin edges [R,n+1] in `edges` when not null.
at::Tensor stratified_samples(const at::Tensor& near, const at::Tensor& far, int64_t n, at::Generator* generator,
                              at::Tensor* edges = nullptr);

}  // namespace semfield

namespace semfield {

struct WeightedSamples;

/// The samples of rays origins/dirs [R,3] at ts [R,S] (interval lengths dts [R,S]) with compositing weights [R,S],
/// packed as SceneModel::render_weights returns them: samples below WeightedSamples::kMinSampleWeight dropped,
/// opacity and depth summed over the kept ones. R may be 0.
WeightedSamples pack_weighted_samples(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& ts,
                                      const at::Tensor& dts, const at::Tensor& weights);

}  // namespace semfield
