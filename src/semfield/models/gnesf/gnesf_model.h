// GNeSF bound to a scene (type "gnesf"): the radiance of the image-conditioned model (models/ibr) and the semantics
// of GNeSF's soft voting (gnesf_network.h) over the scene's source views' 2D semantic maps, given when the model is
// applied (`semfield apply --teacher labels:semantic | labels:instance | labels:DIR`). A SceneModel (render, eval,
// mesh, serve) and a SemanticSource (semantic maps of any view, labels of 3D points, labelled meshes): class k of its
// outputs is id k of the maps.
//
// Labels at points without a ray (3D segmentation, mesh vertices): each point is looked at from the nearest of its 4
// nearest pool cameras that sees it (the nearest camera when none does), and voted on by that camera's source views,
// as when that view is rendered. "Sees": the model's own density does not block the ray before the point (less than
// half the ray's weight) or, with a geometry volume (geometry_volume.h), the paper's SDF sign-change test; with
// "sdf_mask_sources" the test also drops each blocked source view from the vote. (Views spread around the scene
// instead, most of which do not see a given surface point, scored lower; masking the sources too: BENCHMARKS.md.)
// With a volume, semantics may be rendered with the SDF's weights (Eq. 8, 9; "semantic_weights": "sdf") and density
// at points is the SDF's.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "semfield/models/corpus_model.h"
#include "semfield/models/gnesf/gnesf_network.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/registry.h"
#include "semfield/models/semantic_source.h"
#include "semfield/teachers/teacher_spec.h"

namespace semfield {

class GnesfModel final : public SceneModel, public SemanticSource {
 public:
  /// `maps`: the labels spec of the source views' 2D maps (every training view needs one: InputError naming a view
  /// without); nullopt renders radiance only (semantic queries are then a UsageError).
  GnesfModel(GnesfNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
             const Eigen::Vector3f& source_background, int source_views, const std::optional<TeacherSpec>& maps);

  // SceneModel: the radiance network's rendering (IbrModel).
  std::string type() const override { return "gnesf"; }
  const SceneFrame& frame() const override { return m_ibr.frame(); }
  /// The radiance network's rendering, or with "radiance_density": "sdf" the geometry volume's density over its
  /// colours (render_sdf_radiance).
  RayRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs,
                         const at::Tensor& background) const override;
  WeightedSamples render_weights(const at::Tensor& origins, const at::Tensor& dirs) const override {
    return m_ibr.render_weights(origins, dirs);
  }
  /// Density at points: with a geometry volume, from its SDF (sdf_density: the surfaces of meshes and other point
  /// queries are the SDF's zero level set); otherwise the radiance network's per-point density.
  at::Tensor density(const at::Tensor& points) const override;
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override;
  TensorMap state() const override { return m_network.state(); }
  nlohmann::json config_json() const override { return to_json(m_network.config()); }

  // SemanticSource: class probabilities as log-probabilities (one scale of K classes).
  bool has_semantics() const override { return has_maps(); }
  bool has_classes() const override { return true; }
  std::vector<std::string> class_names() const override { return m_class_names; }
  std::vector<int64_t> channels() const override;
  ChannelStats channel_stats(size_t scale) const override;
  SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const override;
  bool renders_colour() const override;
  SemanticRenderOutput render_view_with_colour(const Camera& camera, const Eigen::Vector3f& background) const override;
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override;
  const SceneModel& scene_model() const override { return *this; }

  const GnesfNetwork& network() const { return m_network; }
  /// The scene's SDF from the geometry volume (built from config.geometry.views pool views spread around the scene,
  /// on first use); undefined without a geometry volume.
  const SdfVolume& sdf() const;
  bool has_maps() const { return !m_maps.empty(); }
  /// The maps' spec ("labels:semantic", ...), empty without maps.
  const std::string& maps_spec() const { return m_maps_spec; }

 private:
  SemanticMaps maps_of(const std::vector<int>& indices) const;
  /// View synthesis with the geometry volume's density: kSdfRaySamples evenly spaced samples per ray through the box,
  /// sdf_composite_weights, and the radiance network's blend of source colours at each ray's kSdfColourSamples
  /// heaviest samples (their weights scaled to the ray's opacity).
  RayRenderOutput render_sdf_radiance(const at::Tensor& origins, const at::Tensor& dirs,
                                      const at::Tensor& background) const;
  void require_maps(const char* what) const;
  /// render's outputs over `background` [3] (the semantics do not depend on it), with the radiance's colour in `rgb`
  /// when `colour`.
  SemanticRenderOutput render_semantics(const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& background,
                                        bool colour) const;

  GnesfNetwork m_network;
  IbrModel m_ibr;
  std::string m_maps_spec;
  int64_t m_classes = 0;
  std::vector<at::Tensor> m_maps;  ///< [h,w,K] class probabilities per pool view
  std::vector<std::string> m_class_names;
  mutable std::mutex m_sdf_mutex;
  mutable SdfVolume m_sdf;
};

/// Registry hooks (models/registry.cpp).
std::unique_ptr<SceneModel> create_gnesf_model(const ModelBinding& binding);
std::unique_ptr<CorpusModel> create_gnesf_trainable(const nlohmann::json& config, const std::string& origin);

/// The trainable side: loss = cross-entropy of the rendered semantics (Eq. 6) against the target pixels' ground
/// truth, normalised over the classes the maps assign (+ the ibr losses when the radiance network trains too)
/// (+ the geometry volume's TSDF loss against targets fused from the example's depth maps, with a volume; that loss
/// alone with "train_geometry_only").
class GnesfCorpusModel final : public CorpusModel {
 public:
  explicit GnesfCorpusModel(const GnesfConfig& config) : m_network(config) {}
  std::string type() const override { return "gnesf"; }
  nlohmann::json config_json() const override { return to_json(m_network.config()); }
  std::vector<at::Tensor> parameters() const override { return m_network.parameters(); }
  TensorMap state() const override { return m_network.state(); }
  void load_state(const TensorMap& state, const std::string& origin) override { m_network.load_state(state, origin); }
  LabelInputs label_inputs() const override;
  int geometry_views() const override {
    return m_network.config().geometry.enabled ? m_network.config().geometry.views : 0;
  }
  /// Also takes an ibr model (same config as "radiance") as the radiance network, and a gnesf model without a
  /// geometry volume (otherwise the same config) as everything but the volume, which starts from its initialisation.
  void initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                       const std::string& origin) override;
  CorpusLoss loss(const CorpusExample& example, uint64_t seed) const override;
  std::unique_ptr<SceneModel> bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                   const Eigen::Vector3f& background, int source_views) const override;
  const GnesfNetwork& network() const { return m_network; }

 private:
  GnesfNetwork m_network;
};

/// Cross-entropy of rendered class probabilities [R,K] against ids [R] (-1 or >= K ignored), each row normalised
/// to sum 1 first; 0 (with a graph) when no pixel is labelled.
at::Tensor semantic_cross_entropy(const at::Tensor& probabilities, const at::Tensor& ids);

}  // namespace semfield
