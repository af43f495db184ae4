// The one place a scene-model type registers: a type key ("hashgrid", "ibr", ...) -> how to build the model from
// its config and weights, bound to a scene. Run folders, `semfield apply` and `semfield models` go through it;
// nothing above models/ names a concrete model type. To add a method: a folder under models/ with its model,
// config and losses, and one row in registry.cpp's table (as llama.cpp adds an architecture).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"
#include "semfield/data/scene.h"
#include "semfield/models/corpus_model.h"
#include "semfield/models/scene_frame.h"
#include "semfield/models/scene_model.h"

namespace semfield {

/// What a model is made from when it is loaded.
struct ModelBinding {
  nlohmann::json config;  ///< the type's own config (keys checked by the type)
  TensorMap weights;      ///< the type's state() (without prefix)
  SceneFrame frame;       ///< the frame of the scene the model renders
  /// Image-conditioned types: the scene they are applied to (its train split is the pool of source views, its
  /// cameras in `frame`). Per-scene types ignore it.
  std::shared_ptr<const Scene> scene;
  Eigen::Vector3f background = Eigen::Vector3f::Ones();  ///< what RGBA source images are composited over
  int source_views = 0;              ///< image-conditioned types: views per target (0 = the config's)
  /// Types with semantic inputs (gnesf): the labels teacher spec of the source views' 2D maps; empty = none.
  std::string semantic_maps;
  std::string origin;                ///< the file named in error messages
};

struct ModelType {
  std::string key;
  std::string description;
  /// Renders a scene it was not trained on from that scene's posed images (needs ModelBinding::scene).
  bool image_conditioned = false;
  std::unique_ptr<SceneModel> (*create)(const ModelBinding& binding) = nullptr;
  /// Image-conditioned types: a freshly initialised trainable network from a config of the type (keys checked;
  /// missing keys take their defaults), for `semfield train-corpus`. Null for types trained per scene by their own
  /// command.
  std::unique_ptr<CorpusModel> (*create_trainable)(const nlohmann::json& config, const std::string& origin) = nullptr;
  /// Takes the source views' 2D semantic maps when applied (ModelBinding::semantic_maps; `apply --teacher`).
  bool semantic_maps = false;
  /// Image-conditioned types that frame the scene they are applied to themselves (featurenerf: object-centric, in
  /// the training corpora's units): `own` is the scene's framing (SceneFrame::from_scene), `config` the model file's
  /// with --model-config on top. Null: the scene's own framing.
  SceneFrame (*frame_scene)(const Scene& scene, const nlohmann::json& config, const SceneFrame& own) = nullptr;
};

/// The type's trainable network (UsageError for a type without one).
std::unique_ptr<CorpusModel> create_trainable_model(const std::string& key, const nlohmann::json& config,
                                                    const std::string& origin);

/// Every registered type, in registration order.
const std::vector<ModelType>& model_types();
/// UsageError listing the known keys for an unknown one.
const ModelType& find_model_type(const std::string& key);
/// find_model_type(key).create(binding); InputError(binding.origin) when an image-conditioned type has no scene.
std::unique_ptr<SceneModel> create_model(const std::string& key, const ModelBinding& binding);

}  // namespace semfield
