// What the corpus trainer (train/corpus_trainer.h) trains: an image-conditioned network that renders a target
// view's pixels from source views of the same scene, whatever the method (IBR today; GNeSF, GP-NeRF and
// FeatureNeRF add their outputs and losses behind the same interface). Registered per type in models/registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"
#include "semfield/data/scene.h"
#include "semfield/geometry/camera.h"
#include "semfield/models/scene_frame.h"
#include "semfield/models/scene_model.h"

namespace semfield {

/// One training example: pixels of a target view of a scene, to be rendered from other views of it.
struct CorpusExample {
  std::vector<Camera> source_cameras;  ///< normalised frame of the scene
  at::Tensor source_colours;           ///< [V,3,H,W] in [0,1], over `background`
  at::Tensor origins, dirs;            ///< [R,3] target rays
  at::Tensor target;                   ///< [R,3] target colours over `background`
  at::Tensor background;               ///< [R,3]
  SceneFrame frame;                    ///< the scene's frame (its box bounds the samples)
  /// Models with semantic inputs (CorpusModel::label_inputs): the source views' 2D maps as the model is given them
  /// (ground truth corrupted by the simulated segmenter) [V,h,w] and the target pixels' ground truth [R], int64 ids,
  /// -1 unlabelled; undefined for other models.
  at::Tensor source_labels, target_labels;
  /// Models with a geometry volume (CorpusModel::geometry_views() > 0): views of the scene spread around it (cameras,
  /// [G,3,H,W] colours over `background`, [G,H,W] z-depth maps in the normalised frame, 0 = nothing hit); empty for
  /// other models.
  std::vector<Camera> geometry_cameras;
  at::Tensor geometry_colours, geometry_depths;
  /// Models that read the whole target view (CorpusModel::target_views(): GP-NeRF's perception head and teacher): its
  /// camera, image [3,H,W] over `background`, ground-truth map [H,W] (int64 ids of `label_names`, -1 unlabelled; with
  /// label inputs), z-depth map [H,W] (normalised frame, 0 = nothing hit; undefined where the scene has none), and the
  /// flat pixel index [R] of each target ray (distinct pixels; the rays go through their centres).
  Camera target_camera;
  at::Tensor target_image, target_label_map, target_depth_map, ray_pixels;
  /// With CorpusModel::instance_targets(): the target view's instance map [H,W] (int64 ids, -1 unlabelled).
  at::Tensor target_instance_map;
  /// The scene's name in its corpus (its folder) and the target view's name: keys of per-scene teachers.
  std::string scene_name, target_name;
  /// The scene's class names by id (labels.json "classes"; "" for ids without a name); empty when it names none.
  std::vector<std::string> label_names;
};

/// What a model with semantic inputs asks of the corpus trainer: the scenes' ground-truth maps of `gt` ("semantic" |
/// "instance") for the targets, and for the sources the same maps through the simulated 2D segmenter
/// (teachers/simulated_segmenter.h) at a severity drawn uniformly from [severity_min, severity_max] per example.
struct LabelInputs {
  bool needed = false;
  /// Whether the sources need maps too (GNeSF votes over them); false: only the targets' ground truth (GP-NeRF).
  bool sources = true;
  std::string gt = "semantic";
  double severity_min = 0, severity_max = 0;
};

struct CorpusLoss {
  at::Tensor loss;     ///< scalar, differentiable w.r.t. parameters()
  double mse = 0;      ///< of the final rendering (for PSNR)
  int64_t samples = 0; ///< samples evaluated
};

class CorpusModel {
 public:
  virtual ~CorpusModel() = default;
  virtual std::string type() const = 0;
  virtual nlohmann::json config_json() const = 0;
  /// Every trainable tensor, in a fixed order (the same on every rank: gradients are all-reduced in this order).
  virtual std::vector<at::Tensor> parameters() const = 0;
  virtual TensorMap state() const = 0;
  virtual void load_state(const TensorMap& state, const std::string& origin) = 0;
  /// Whether examples carry semantic maps (CorpusExample::source_labels / target_labels).
  virtual LabelInputs label_inputs() const { return {}; }
  /// How many views spread around the scene (with their depth maps) examples carry for a geometry volume
  /// (CorpusExample::geometry_*); 0: none.
  virtual int geometry_views() const { return 0; }
  /// Whether examples carry the whole target view (CorpusExample::target_camera, target_image, ...).
  virtual bool target_views() const { return false; }
  /// Whether whole target views carry their instance maps too (CorpusExample::target_instance_map).
  virtual bool instance_targets() const { return false; }
  /// Learning-rate multipliers of parameters(), in its order (empty: 1 for all).
  virtual std::vector<double> lr_scales() const { return {}; }
  /// Starts from another model file's weights (`train-corpus --init`): by default a model of the same type and
  /// config; a type may accept others (GNeSF takes a trained ibr model as its radiance network). InputError naming
  /// `origin` when the weights do not fit.
  virtual void initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                               const std::string& origin);
  /// The config of a stage that trains only the model's output heads, on the outputs it renders for a whole view as at
  /// inference (`apply --finetune-head-steps`: after fine-tuning, the heads fitted to the scene's rendered maps instead
  /// of what training showed them); null when the type has no such stage.
  virtual nlohmann::json head_stage_config() const { return nullptr; }
  /// Config keys a fine-tuning on one scene sets over the model file's (`apply --finetune-steps`; keys the user's
  /// --finetune-config gives win; a file itself fine-tuned, whose info has "finetuned_from", keeps its own); null when
  /// the type has none.
  virtual nlohmann::json scene_finetune_config() const { return nullptr; }
  /// The training loss of one example; `seed` drives its random samples.
  virtual CorpusLoss loss(const CorpusExample& example, uint64_t seed) const = 0;
  /// A scene model rendering `scene` (train split = source views, cameras in `frame`) with the current weights
  /// (shared, not copied: later steps change it), for validation renders.
  virtual std::unique_ptr<SceneModel> bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                           const Eigen::Vector3f& background, int source_views) const = 0;
};

}  // namespace semfield
