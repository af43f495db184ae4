// GP-NeRF bound to a scene (type "gp-nerf"): renders any view of a scene it never saw from that scene's posed images
// (its training split is the pool of reference views) — colour from the transformers, and semantic classes of whole
// views from the perception head over the rendered semantic feature map (the head reads a view's context, so classes
// come per view: SemanticSource::render_view; ray subsets and 3D points have no context and are refused with an error
// saying so). Its class set is the training corpus's (config "classes"), by name.
//
// Reference views: the `source_views` pool views nearest a view's mean ray origin and direction (nearest_source_views),
// the same for every ray of the view. Density at points (mesh extraction) is the proposal's (first view transformer
// + point head) from views spread around the scene. Extractor outputs of every pool view are computed once, on first
// use.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/models/corpus_model.h"
#include "semfield/models/gpnerf/gpnerf_network.h"
#include "semfield/models/registry.h"
#include "semfield/models/scene_model.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

/// A whole view rendered by GP-NeRF.
struct GpnerfView {
  at::Tensor rgb;       ///< [H,W,3]
  at::Tensor semantic;  ///< [D,H,W] the rendered semantic feature map S_sem
  at::Tensor logits;    ///< [K,H,W] the perception head's class logits
  at::Tensor instance_logits;  ///< [slots,H,W] the instance head's, with one (undefined otherwise)
  at::Tensor opacity, depth, median_depth;  ///< [H,W] (the proposal's)
};

class GpnerfModel final : public SceneModel, public SemanticSource {
 public:
  GpnerfModel(GpnerfNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
              const Eigen::Vector3f& source_background, int source_views);

  // SceneModel
  std::string type() const override { return "gp-nerf"; }
  const SceneFrame& frame() const override { return m_frame; }
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                         const at::Tensor& background) const override;
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const override;
  at::Tensor density(const at::Tensor& points) const override;
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override;
  TensorMap state() const override { return m_network.state(); }
  nlohmann::json config_json() const override { return to_json(m_network.config()); }

  // SemanticSource: class logits of whole views.
  bool has_classes() const override { return true; }
  bool labels_points() const override { return false; }
  bool has_instances() const override { return m_network.has_instances(); }
  at::Tensor render_instances(const Camera& camera) const override;
  std::vector<std::string> class_names() const override { return m_network.config().classes; }
  std::vector<int64_t> channels() const override { return {m_network.classes()}; }
  ChannelStats channel_stats(size_t scale) const override;
  /// UsageError: the head needs a whole view (render_view).
  SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const override;
  SemanticRenderOutput render_view(const Camera& camera) const override;
  bool renders_colour() const override { return true; }
  SemanticRenderOutput render_view_with_colour(const Camera& camera, const Eigen::Vector3f& background) const override;
  /// UsageError: GP-NeRF labels 2D views.
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override;
  const SceneModel& scene_model() const override { return *this; }

  /// Colour, semantic features, class logits and depth of a whole view (over `background`).
  GpnerfView render_full(const Camera& camera, const Eigen::Vector3f& background) const;
  const GpnerfNetwork& network() const { return m_network; }
  /// Rays per pass when a whole view is rendered; 0 (default): automatic (16,384 through the fused CPU kernels, else
  /// 1,024: the LibTorch path's temporaries grow with it). A view's outputs do not depend on it but for float rounding
  /// in the last bit (the semantic adaptor's GEMM over another row count; tested).
  void set_view_chunk(int64_t rays) { m_view_chunk = std::max<int64_t>(rays, 0); }

 private:
  struct PoolFeatures {
    at::Tensor rgb, semantic;  ///< [h,w,C], [h,w,D]
    at::Tensor colour;         ///< [h',w',C] the "ibr" colour's own encoder's map (colour_encoder "own")
  };
  const PoolFeatures& features(int index) const;
  GpnerfSources sources(const std::vector<int>& indices) const;
  std::vector<int> source_indices_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const;

  GpnerfNetwork m_network;
  std::shared_ptr<const Scene> m_scene;
  SceneFrame m_frame;
  Eigen::Vector3f m_background;
  int m_source_views;
  int64_t m_view_chunk = 0;
  std::vector<const View*> m_pool;
  std::vector<Camera> m_cameras;
  std::vector<at::Tensor> m_colours;  ///< [3,H,W] per pool view
  std::vector<int> m_spread;
  mutable std::mutex m_mutex;
  mutable std::vector<PoolFeatures> m_features;
};

/// Registry hooks (models/registry.cpp).
std::unique_ptr<SceneModel> create_gpnerf_model(const ModelBinding& binding);
std::unique_ptr<CorpusModel> create_gpnerf_trainable(const nlohmann::json& config, const std::string& origin);

/// The losses of one GP-NeRF training example (Eq. 8-13), unweighted.
struct GpnerfLosses {
  at::Tensor rgb, point, semantic, distill, depth_guided, instance, surface_rgb, surface_pool, total;
  double mse = 0;
  int64_t samples = 0;
};

/// Whether a config weighs the "ibr" colour's loss alone (rgb > 0, every other weight 0): its training step then
/// renders that colour without the fine pass's transformers, S_novel and the heads (GpnerfNetwork::render_colour),
/// the same loss up to float rounding. (head_input "rendered" and "segmenter" train the heads instead: losses()
/// takes those first.)
bool colour_loss_only(const GpnerfConfig& config);

/// The trainable side: Eq. 8 = rgb + point + semantic cross-entropy of the head over the target view's labelled pixels
/// (its map: the rendered pixels fused into S_novel, or S_novel alone with head_input "novel") + 2D distill (Eq. 11) +
/// depth-guided distill (Eq. 12-13: the surface sample from the target's depth map, else the ray attention's arg-max)
/// + with an instance head, DM-NeRF's instance loss on the same map (instance_loss).
class GpnerfCorpusModel final : public CorpusModel {
 public:
  explicit GpnerfCorpusModel(const GpnerfConfig& config) : m_network(config) {}
  std::string type() const override { return "gp-nerf"; }
  /// The config, with encode_size set to the training images' longest side when it was 0 and they all shared one.
  nlohmann::json config_json() const override;
  std::vector<at::Tensor> parameters() const override { return m_network.parameters(); }
  std::vector<double> lr_scales() const override;
  TensorMap state() const override { return m_network.state(); }
  void load_state(const TensorMap& state, const std::string& origin) override { m_network.load_state(state, origin); }
  LabelInputs label_inputs() const override;
  bool target_views() const override { return true; }
  bool instance_targets() const override { return m_network.has_instances(); }
  /// This config with head_input "rendered": the perception heads (classes and instances) alone, on the target view's
  /// map rendered whole as at inference.
  nlohmann::json head_stage_config() const override;
  /// Fine-tuning on one scene encodes the reference and target images at twice the model's encode_size (at most
  /// 4096; nothing when it is 0): F_sem at 1/4 of the encoded side then resolves thin parts (a table's legs) that the
  /// generalized model's resolution blurs. BENCHMARKS.md ("GP-NeRF", eighteenth session).
  nlohmann::json scene_finetune_config() const override;
  /// Also takes an ibr model whose encoder has the extractor's backbone config: the backbone starts from it.
  void initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                       const std::string& origin) override;
  CorpusLoss loss(const CorpusExample& example, uint64_t seed) const override;
  /// Every term of the loss (for tests and ablations).
  GpnerfLosses losses(const CorpusExample& example, uint64_t seed) const;
  /// head_input "rendered": the target view's semantic map rendered whole without a gradient, [D,H,W].
  at::Tensor rendered_target_map(const CorpusExample& example) const;
  /// The perception heads' terms on the target view's map [D,H,W]: semantic cross-entropy over its labelled pixels
  /// and, with an instance head, the instance loss (0 with a graph where there is nothing to score).
  void head_losses(const CorpusExample& example, const at::Tensor& map, GpnerfLosses& l) const;
  /// The losses of a stage that trains the heads on `map` alone (head_input "rendered" and "segmenter"): head_losses,
  /// the other terms 0 with a graph.
  GpnerfLosses head_only_losses(const CorpusExample& example, const at::Tensor& map) const;
  std::unique_ptr<SceneModel> bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                   const Eigen::Vector3f& background, int source_views) const override;
  const GpnerfNetwork& network() const { return m_network; }

 private:
  GpnerfNetwork m_network;
  mutable TrainingImageSide m_seen_side;  ///< of the reference images losses() has seen
};

/// The example's target ids [H,W] as the model's class ids: by name where the example's scene names its classes
/// (unknown names -> -1), else as they are (ids >= classes -> -1).
at::Tensor model_class_ids(const at::Tensor& ids, const std::vector<std::string>& label_names,
                           const std::vector<std::string>& classes);

}  // namespace semfield
