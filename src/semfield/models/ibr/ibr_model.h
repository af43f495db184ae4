// The image-conditioned radiance model bound to one scene (type "ibr"): an IbrNetwork (trained on a corpus) and
// the scene's posed training images, which it renders any view of the scene from. A SceneModel like the per-scene
// hash-grid model: render, eval, segment, mesh and serve take it unchanged.
//
// Source views: a batch of rays is rendered from the `source_views` training views nearest its mean origin and
// direction (nearest_source_views), so every ray of a view uses the same ones. Queries at points without rays
// (density, radiance: mesh extraction) use views spread around the scene (farthest-point sampling of the camera
// positions) and the per-point density. Encoded features of every source view are computed once, on first use.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/models/corpus_model.h"
#include "semfield/models/ibr/ibr_network.h"
#include "semfield/models/registry.h"
#include "semfield/models/scene_model.h"

namespace semfield {

/// A view's image as [3,H,W] colours in [0,1], RGBA composited over `background`.
at::Tensor view_colours(const View& view, const Eigen::Vector3f& background);

/// Near/far of rays in a frame: its box (bounded) or its box scaled by `unbounded_extent` (unbounded).
IbrRays ibr_rays(const at::Tensor& origins, const at::Tensor& dirs, const SceneFrame& frame,
                 double unbounded_extent);

/// Per point [N,3], the unit direction from the nearest of the source cameras to it: a plausible viewing direction
/// for queries at points without rays.
at::Tensor nearest_camera_dirs(const at::Tensor& points, const SourceCameraBatch& cameras);

/// The `count` cameras nearest a batch of rays' mean origin and mean direction (nearest_source_views; rays in all
/// directions look at the origin): the source views every ray of the batch is rendered from.
std::vector<int> source_views_for_rays(const at::Tensor& origins, const at::Tensor& dirs,
                                       const std::vector<Camera>& cameras, int count);

/// `count` indices of `cameras` spread around the scene: farthest-point sampling of their positions, starting
/// from camera `first` (-1: the camera nearest the mean position).
std::vector<int> spread_views(const std::vector<Camera>& cameras, int count, int first = -1);

class IbrModel final : public SceneModel {
 public:
  /// `scene`: its train split is the pool of source views (at least one, with images), its cameras in `frame`.
  IbrModel(IbrNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
           const Eigen::Vector3f& source_background, int source_views);

  std::string type() const override { return "ibr"; }
  const SceneFrame& frame() const override { return m_frame; }
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                         const at::Tensor& background) const override;
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const override;
  at::Tensor density(const at::Tensor& points) const override;
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override;
  TensorMap state() const override { return m_network.state(); }
  nlohmann::json config_json() const override { return to_json(m_network.config()); }

  const IbrNetwork& network() const { return m_network; }
  IbrNetwork& network() { return m_network; }
  /// The source-view pool (the scene's training views).
  const std::vector<const View*>& pool() const { return m_pool; }
  int source_view_count() const { return m_source_views; }
  /// Sources for rays origins/dirs [R,3] (the nearest to their mean pose), features from the cache.
  IbrSources sources_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const;
  /// Which pool views those are.
  std::vector<int> source_indices_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const;
  /// Pool views spread around the scene, the sources of queries at points.
  const std::vector<int>& spread() const { return m_spread; }
  /// Sources of the given pool views (features from the cache).
  IbrSources sources(const std::vector<int>& indices) const;
  /// Forgets cached features (after the network's weights changed: fine-tuning).
  void clear_cache();

 private:
  const at::Tensor& features(int index) const;

  IbrNetwork m_network;
  std::shared_ptr<const Scene> m_scene;
  SceneFrame m_frame;
  Eigen::Vector3f m_background;
  int m_source_views;
  std::vector<const View*> m_pool;
  std::vector<Camera> m_cameras;
  std::vector<at::Tensor> m_colours;  ///< [3,H,W] per pool view
  std::vector<int> m_spread;          ///< pool indices for point queries
  mutable std::mutex m_mutex;
  mutable std::vector<at::Tensor> m_features;  ///< [h,w,C] per pool view, computed on first use
};

/// Registry hooks (models/registry.cpp).
std::unique_ptr<SceneModel> create_ibr_model(const ModelBinding& binding);
std::unique_ptr<CorpusModel> create_ibr_trainable(const nlohmann::json& config, const std::string& origin);

/// The trainable side of the IBR model (models/corpus_model.h): loss = MSE of the fine pass + MSE of the coarse
/// pass + kPointLossWeight * MSE of the per-point-density rendering.
class IbrCorpusModel final : public CorpusModel {
 public:
  static constexpr double kPointLossWeight = 0.5;
  explicit IbrCorpusModel(const IbrConfig& config) : m_network(config) {}
  std::string type() const override { return "ibr"; }
  /// The config, with encode_size set to the training images' longest side when it was 0 and they all shared one.
  nlohmann::json config_json() const override;
  std::vector<at::Tensor> parameters() const override { return m_network.parameters(); }
  TensorMap state() const override { return m_network.state(); }
  void load_state(const TensorMap& state, const std::string& origin) override { m_network.load_state(state, origin); }
  /// From an ibr model file whose config differs from this one's at most in its inference and input settings
  /// (with_inference_settings_of): this model keeps its own.
  void initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                       const std::string& origin) override;
  CorpusLoss loss(const CorpusExample& example, uint64_t seed) const override;
  std::unique_ptr<SceneModel> bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                   const Eigen::Vector3f& background, int source_views) const override;
  const IbrNetwork& network() const { return m_network; }

 private:
  IbrNetwork m_network;
  mutable TrainingImageSide m_seen_side;  ///< of the source images loss() has seen
};

}  // namespace semfield
