// A feature (or label) field attached to a trained radiance model: the radiance model's frozen density gives
// each ray its compositing weights; the feature field's latents are composited with them and decoded
// (SAN Eq. 6), or taken at one surface point per ray (Eq. 7). The semantic source of per-scene runs.
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/fields/feature_field.h"
#include "semfield/models/scene_model.h"
#include "semfield/models/semantic_source.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

/// FeatureModel::render's outputs: maps in the teacher's units (Labels: class logits), latent always set.
using FeatureRenderOutput = SemanticRenderOutput;

/// SAN Eq. 6's quadrature for any per-sample values: out[r] = sum over ray r's samples of weights[i] *
/// values[i] (values [S,D], weights [S], ray_offsets int64 [R+1]); differentiable w.r.t. values and weights.
at::Tensor composite_weighted(const at::Tensor& values, const at::Tensor& weights, const at::Tensor& ray_offsets);

class FeatureModel final : public SemanticSource {
 public:
  /// `radiance` must outlive this model; it is never modified.
  FeatureModel(const FeatureFieldConfig& config, TeacherOutputKind kind, bool surface, const SceneModel& radiance,
               uint64_t seed);

  /// Differentiable composited latents [R, D] (background included) for a ray batch; gradients reach the
  /// heads through autograd and the grid through field().backward_grid().
  at::Tensor render_latent_train(const at::Tensor& origins, const at::Tensor& dirs);
  /// Inference in chunks: maps, latents, opacity and depth for rays [R,3].
  FeatureRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const override;
  /// Per-point outputs (decoded grid latents as if the point were opaque), points [N,3] in normalised scene
  /// coordinates; for label fields these are the class logits of the points.
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override;

  /// Label fields: the teacher's label ids, without names.
  bool has_classes() const override { return m_kind == TeacherOutputKind::Labels; }
  std::vector<std::string> class_names() const override { return {}; }
  std::vector<int64_t> channels() const override { return m_field->config().channels; }
  /// The field's standardisation of the teacher's maps (FeatureField::mean / std).
  ChannelStats channel_stats(size_t scale) const override;
  const SceneModel& scene_model() const override { return m_radiance; }

  FeatureField& field() { return *m_field; }
  const FeatureField& field() const { return *m_field; }
  TeacherOutputKind kind() const { return m_kind; }
  bool surface_mode() const { return m_surface; }

 private:
  // Composited latent (without background) and opacity from inference weights; `train` tracks gradients.
  std::pair<at::Tensor, at::Tensor> composite_latent(const at::Tensor& origins, const at::Tensor& dirs, bool train,
                                                     at::Tensor* depth, at::Tensor* median = nullptr) const;

  std::unique_ptr<FeatureField> m_field;
  TeacherOutputKind m_kind;
  bool m_surface;
  const SceneModel& m_radiance;
  int64_t m_chunk_rays = 1 << 15;
};

}  // namespace semfield
