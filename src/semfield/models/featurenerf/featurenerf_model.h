// FeatureNeRF bound to an object (type "featurenerf"): a FeatureNerfNetwork trained on a category and the object's
// source image(s) — `semfield apply --model M --data INSTANCE --source-view r_3` gives it exactly one. A SceneModel
// (render, eval, mesh) and a SemanticSource whose one scale is the descriptor the paper's tasks read: the internal
// feature v_NeRF (config "descriptor": "internal", composited along rays for views, evaluated directly at 3D points)
// or the distilled output v ("output"). Similarities are cosines (channel statistics mean 0, std 1).
//
// Source views: every view of the pool when it holds at most config.source_views views (the usual single image);
// otherwise the nearest ones to a batch of rays (source_views_for_rays) and views spread around the object for
// queries at points.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "semfield/data/scene.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/models/corpus_model.h"
#include "semfield/models/featurenerf/featurenerf_network.h"
#include "semfield/models/registry.h"
#include "semfield/models/scene_model.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

class FeatureNerfModel final : public SceneModel, public SemanticSource {
 public:
  FeatureNerfModel(FeatureNerfNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                   const Eigen::Vector3f& source_background, int source_views);

  // SceneModel
  std::string type() const override { return "featurenerf"; }
  const SceneFrame& frame() const override { return m_frame; }
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                         const at::Tensor& background) const override;
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const override;
  at::Tensor density(const at::Tensor& points) const override;
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override;
  TensorMap state() const override { return m_network.state(); }
  nlohmann::json config_json() const override { return to_json(m_network.config()); }

  // SemanticSource: one scale, the descriptor.
  bool has_classes() const override { return false; }
  std::vector<std::string> class_names() const override { return {}; }
  std::vector<int64_t> channels() const override;
  ChannelStats channel_stats(size_t scale) const override;
  SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const override;
  /// A whole view's descriptor map, fast (the 2D tasks' path): the full coarse + fine render at 1/4 resolution finds
  /// where the object is and how deep; each full-resolution pixel whose 3 x 3 low-resolution neighbourhood holds
  /// surface is then rendered from kViewRefineSamples samples spanning that neighbourhood's depths (+- two coarse
  /// intervals); other pixels are empty. Agrees with render() of every pixel (a trained model, 32^2 views: the object
  /// masks on 99.8 % of pixels, mean cosine 1.000 on the object; tests/unit/train/featurenerf_training_test.cpp) at
  /// about a third of its samples. Views smaller than 16 pixels use render().
  SemanticRenderOutput render_view(const Camera& camera) const override;
  static constexpr int64_t kViewRefineSamples = 12;
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override;
  const SceneModel& scene_model() const override { return *this; }
  /// x̂ when the model was trained with the coordinate loss (its head is untrained otherwise), read in the same pass
  /// as the descriptor (Readout::Both).
  bool has_canonical_positions() const override { return m_network.config().loss.coord > 0; }
  /// kTransferPositionWeight when the model has canonical positions.
  double default_position_weight() const override { return has_canonical_positions() ? kTransferPositionWeight : 0; }
  /// The joint distance's weight of x̂ (object units) beside the unit descriptor that `transfer` uses by default:
  /// chosen on a selection draw of unseen tables and mugs (W = 0 / 1 / 2 / 4 / inf) and better than v_NeRF alone on
  /// the benchmark draw's mean in every task but same-camera keypoints (BENCHMARKS.md, "Both heads").
  static constexpr double kTransferPositionWeight = 2.0;
  SemanticRenderOutput render_view_with_canonical_positions(const Camera& camera) const override;
  PointOutputs point_outputs_with_canonical_positions(const at::Tensor& points) const override;

  /// What a view or point readout returns: the descriptor (v_NeRF or v, by the config) or the coordinate head's
  /// regressed canonical coordinate x̂ (world units of the scene's files: the canonical frame of a category's
  /// instances), which eval-transfer --features coordinate matches by distance — how far the coordinate regression
  /// alone carries the tasks, against the true-coordinate oracle; or both, the descriptor's channels then x̂'s three
  /// (eval-transfer --features hybrid: v_NeRF's nearest neighbours kept near x̂).
  enum class Readout { Descriptor, Coordinate, Both };
  /// render_view's fast path with a chosen readout; a view's coordinates are the expected x̂ along each ray divided
  /// by its opacity (zero where the ray misses).
  SemanticRenderOutput render_view(const Camera& camera, Readout readout) const;
  /// The readout at points [N,3] (normalised frame), no grad.
  at::Tensor point_readout(const at::Tensor& points, Readout readout) const;

  const FeatureNerfNetwork& network() const { return m_network; }
  /// The source views' names (the pool).
  std::vector<std::string> source_names() const;

 private:
  /// The sources for a batch of rays (all of the pool when it is small enough).
  FeatureNerfSources sources_for(const at::Tensor& origins, const at::Tensor& dirs) const;
  FeatureNerfSources sources_of(const std::vector<int>& indices) const;
  /// The readout at points [N,3] (no grad): v_NeRF, or v along the sources' first camera's ray through each point,
  /// or x̂.
  at::Tensor readout_at(const at::Tensor& points, const FeatureNerfSources& sources, Readout readout) const;
  /// The readout's rays, each rendered in full (render() and render_view's path for tiny views).
  SemanticRenderOutput render_rays(const at::Tensor& origins, const at::Tensor& dirs, Readout readout) const;
  /// The config reads the distilled output v (not v_NeRF) as the descriptor.
  bool reads_output() const;
  /// A readout's width: the descriptor's channels, 3 for x̂, or their sum.
  int64_t readout_channels(Readout readout) const;
  /// The readout's per-sample tensor of `p` (its heads evaluated where it is v or x̂).
  at::Tensor pick(const FeatureNerfPoints& p, Readout readout) const;

  FeatureNerfNetwork m_network;
  std::shared_ptr<const Scene> m_scene;
  SceneFrame m_frame;
  Eigen::Vector3f m_background;
  int m_source_views;
  std::vector<const View*> m_pool;
  std::vector<Camera> m_cameras;
  std::vector<at::Tensor> m_colours;  ///< [3,H,W]
  std::vector<int> m_spread;
  mutable std::mutex m_mutex;
  mutable std::vector<at::Tensor> m_injections;  ///< per pool view [h,w,3W], on first use
};

/// Registry hooks (models/registry.cpp).
std::unique_ptr<SceneModel> create_featurenerf_model(const ModelBinding& binding);
std::unique_ptr<CorpusModel> create_featurenerf_trainable(const nlohmann::json& config, const std::string& origin);
/// ModelType::frame_scene: the scene normalised on its cameras' look-at point, at the config's camera_distance
/// (FeatureNerfConfig::camera_distance); `own` where that is 0 or the cameras' axes fix no point (with a warning).
SceneFrame featurenerf_scene_frame(const Scene& scene, const nlohmann::json& config, const SceneFrame& own);

/// The canonical coordinate (the scene files' world frame; in the model's units where the frame has them:
/// SceneFrame::to_model) of every pixel of a view from its z-depth map [H,W]
/// (normalised frame, 0 = nothing) -> [H,W,3]; zero where nothing is hit.
at::Tensor canonical_points_from_depth(const Camera& camera, const at::Tensor& depth, const SceneFrame& frame);

/// The contrast loss (FeatureNerfLossWeights::contrast; not in the paper) of descriptors [N,F] at canonical positions
/// [N,3]: for each anchor i, the KL divergence of softmax_j(cos(v_i, v_j) / temperature) from the target
/// softmax_j(-|c_i - c_j|^2 / (2 sigma^2)), both over j != i, averaged over the anchors — 0 exactly when every
/// descriptor's cosine neighbourhood is its position's. Cosines, so the descriptors' scale does not matter; the
/// positions carry no gradient. A scalar 0 (still attached to `descriptors`) for N < 2.
at::Tensor featurenerf_contrast_loss(const at::Tensor& descriptors, const at::Tensor& positions, double sigma,
                                     double temperature);

/// The trainable side (paper §3.2-3.3): L = rgb (coarse + fine MSE) + distill (coarse + fine MSE of the composited v
/// against the teacher's map bilinearly sampled at each ray's pixel) + coord (Eq. 8 per sample, or the code's mean
/// residual) [+ contrast: featurenerf_contrast_loss of the composited v_NeRF of the foreground rays at their pixels'
/// canonical positions, from the target view's depth]. Examples carry the whole target view (its part map and depth
/// give the simulated teacher's map and pick the rays: config.rays, at most background_rays of them on the
/// background).
class FeatureNerfCorpusModel final : public CorpusModel {
 public:
  explicit FeatureNerfCorpusModel(const FeatureNerfConfig& config) : m_network(config) {}
  std::string type() const override { return "featurenerf"; }
  /// The config, with encode_size set to the training images' longest side when it was 0 and every example's source
  /// images shared one (what a model applied to images of another size resamples them to).
  nlohmann::json config_json() const override;
  std::vector<at::Tensor> parameters() const override { return m_network.parameters(); }
  TensorMap state() const override { return m_network.state(); }
  void load_state(const TensorMap& state, const std::string& origin) override { m_network.load_state(state, origin); }
  LabelInputs label_inputs() const override;
  bool target_views() const override { return true; }
  CorpusLoss loss(const CorpusExample& example, uint64_t seed) const override;
  /// `train-corpus --init`: a featurenerf model whose config differs from this one's only in what training alone reads
  /// — the loss weights and the contrast loss's options, colour jitter, the initialisation seed, encode_size — (e.g.
  /// a shipped model fine-tuned with another loss); InputError naming `origin` for any other difference.
  void initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                       const std::string& origin) override;
  std::unique_ptr<SceneModel> bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                   const Eigen::Vector3f& background, int source_views) const override;
  const FeatureNerfNetwork& network() const { return m_network; }
  /// The teacher's map [Dt, h, w] of an example's target view (simulated teacher: from its part map and depth; dino:
  /// DINO's keys of the target image, cached per scene and view).
  at::Tensor teacher_map(const CorpusExample& example) const;

 private:
  FeatureNerfNetwork m_network;
  mutable TrainingImageSide m_seen_side;  ///< of the source images loss() has seen
  // The dino:PATH teacher, loaded on first use, and its maps by "scene/view" (float16, up to kDinoCacheBytes).
  static constexpr int64_t kDinoCacheBytes = int64_t{4} << 30;
  mutable std::mutex m_teacher_mutex;
  mutable std::shared_ptr<const foundation::DinoModel> m_dino;
  mutable std::map<std::string, at::Tensor> m_dino_cache;
  mutable int64_t m_dino_cache_bytes = 0;
};

/// FeatureNerfConfig::colour_jitter's map of one example: M [3,3] (float) drawn from `seed` with strength j in [0, 1];
/// a colour c becomes 1 - M (1 - c), clamped to [0, 1]. M = s (P + a R Q): P projects on the grey axis, Q = I - P,
/// R turns about it by theta (R commutes with P: greys stay grey, their ink scaled by s; chroma by s a);
/// s, a = exp(U(-j, j)), theta = U(-pi j, pi j). The identity for j = 0.
at::Tensor featurenerf_colour_jitter_map(double strength, uint64_t seed);
/// Colours with the channel axis at `channel_dim` (in [0, 1]) through the map of featurenerf_colour_jitter_map.
at::Tensor featurenerf_apply_colour_jitter(const at::Tensor& colours, const at::Tensor& map, int64_t channel_dim);

/// The dino:PATH teacher's map of a view (teachers/dino_keys.h) with the config's block, checked against teacher_dim.
at::Tensor featurenerf_dino_map(const foundation::DinoModel& model, const FeatureNerfConfig& config,
                                const at::Tensor& rgb, const at::Tensor& foreground, const std::string& origin);

}  // namespace semfield
