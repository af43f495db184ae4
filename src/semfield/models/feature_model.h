// A feature (or label) field attached to a trained radiance model: the radiance model's frozen density gives
// each ray its compositing weights; the feature field's latents are composited with them and decoded
// (SAN Eq. 6), or taken at one surface point per ray (Eq. 7). The semantic source of per-scene runs.
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/fields/feature_field.h"
#include "semfield/fields/laser_modules.h"
#include "semfield/models/distill_config.h"
#include "semfield/models/scene_model.h"
#include "semfield/models/semantic_source.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

/// FeatureModel::render's outputs: maps in the teacher's units (Labels: class logits), latent always set.
using FeatureRenderOutput = SemanticRenderOutput;

/// SAN Eq. 6's quadrature for any per-sample values: out[r] = sum over ray r's samples of weights[i] *
/// values[i] (values [S,D], weights [S], ray_offsets int64 [R+1]); differentiable w.r.t. values and weights.
at::Tensor composite_weighted(const at::Tensor& values, const at::Tensor& weights, const at::Tensor& ray_offsets);

/// Laser's modules attached to a CLIP field; any of them may be absent (switched off).
struct LaserParts {
  std::unique_ptr<ClipAdapter> adapter;
  std::unique_ptr<TransientQueryAttention> attention;
  std::unique_ptr<LabelVolume> label_volume;
  std::vector<std::string> class_names;  ///< the class list the field was trained with (empty: none)
  at::Tensor class_text;                 ///< [K, D] their text embeddings (plain names); undefined without classes
  bool text_augmentation = true;         ///< per-class standardisation in class maps
};

class FeatureModel final : public SemanticSource {
 public:
  /// `radiance` must outlive this model; it is never modified.
  FeatureModel(const FeatureFieldConfig& config, TeacherOutputKind kind, bool surface, const SceneModel& radiance,
               uint64_t seed);

  /// Differentiable composited latents [R, D] (background included) for a ray batch; gradients reach the
  /// heads through autograd and the grid through field().backward_grid().
  /// With Laser's label volume and `label_features` given, also its composited output [R, D] (differentiable).
  at::Tensor render_latent_train(const at::Tensor& origins, const at::Tensor& dirs,
                                 at::Tensor* label_features = nullptr, at::Tensor* opacity = nullptr);
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

  /// Attaches Laser's modules (features fields with one scale): adapter, attention and (with a class list) the label
  /// volume, as `config` switches them. class_text [K, channels] or undefined.
  void attach_laser(const LaserConfig& config, std::vector<std::string> class_names, at::Tensor class_text,
                    uint64_t seed);
  const LaserParts* laser() const { return m_laser.get(); }
  LaserParts* laser() { return m_laser.get(); }
  /// Decoded maps of composited latents [R, D] in the teacher's units, with Laser's attention when attached.
  std::vector<at::Tensor> decode_maps(const at::Tensor& latent) const;
  /// Laser's label volume at points [N,3] (normalised scene frame) taken as opaque: [N, D]; UsageError without one.
  at::Tensor point_label_features(const at::Tensor& points) const;
  /// Laser's label volume rendered alone for rays [R,3] (inference, in chunks): its composited values [R, 3R] (before
  /// the linear map to the text space; LabelVolume::logits_of_values classifies them) and the opacity [R] - what
  /// classification with the volume needs, without the feature field's encode and decode. UsageError without one.
  std::pair<at::Tensor, at::Tensor> render_label_values(const at::Tensor& origins, const at::Tensor& dirs) const;

  FeatureField& field() { return *m_field; }
  const FeatureField& field() const { return *m_field; }
  TeacherOutputKind kind() const { return m_kind; }
  bool surface_mode() const { return m_surface; }

 private:
  // Composited latent (without background) and opacity from inference weights; `train` tracks gradients.
  std::pair<at::Tensor, at::Tensor> composite_latent(const at::Tensor& origins, const at::Tensor& dirs, bool train,
                                                     at::Tensor* depth, at::Tensor* median = nullptr,
                                                     at::Tensor* label_features = nullptr) const;

  // Laser's label volume composited along the rays of `ws` (the same weights as the feature path) -> values [R, 3R].
  at::Tensor composite_label_values(const LabelVolume& volume, const WeightedSamples& ws, const at::Tensor& origins,
                                    const at::Tensor& dirs) const;

  std::unique_ptr<FeatureField> m_field;
  TeacherOutputKind m_kind;
  bool m_surface;
  const SceneModel& m_radiance;
  std::unique_ptr<LaserParts> m_laser;
  int64_t m_chunk_rays = 1 << 15;
};

}  // namespace semfield
