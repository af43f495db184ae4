// The model-type table.
#include "semfield/models/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "semfield/core/error.h"
#include "semfield/models/gnesf/gnesf_model.h"
#include "semfield/models/featurenerf/featurenerf_model.h"
#include "semfield/models/gpnerf/gpnerf_model.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/radiance_model.h"

namespace semfield {

namespace {

std::unique_ptr<SceneModel> create_hashgrid(const ModelBinding& binding) {
  auto model = std::make_unique<RadianceModel>(radiance_config_from_json(binding.config, binding.origin),
                                               binding.frame);
  model->load_state(binding.weights, binding.origin);
  return model;
}

}  // namespace

const std::vector<ModelType>& model_types() {
  static const std::vector<ModelType> types = {
      {"hashgrid", "per-scene hash-grid radiance field (instant-ngp), optimised on one scene by `semfield train`",
       false, &create_hashgrid, nullptr},
      {"ibr",
       "image-conditioned radiance model (IBRNet family): renders an unseen scene from its posed source images",
       true, &create_ibr_model, &create_ibr_trainable},
      {"gnesf",
       "GNeSF: semantics of an unseen scene by soft voting of its source views' 2D semantic maps (apply with "
       "--teacher labels:...), on the ibr radiance network",
       true, &create_gnesf_model, &create_gnesf_trainable, true},
      {"gp-nerf",
       "GP-NeRF: transformers co-aggregate radiance and semantic-embedding fields from an unseen scene's posed images; "
       "a context-aware perception head segments whole rendered views into the training corpus's classes",
       true, &create_gpnerf_model, &create_gpnerf_trainable},
      {"featurenerf",
       "FeatureNeRF: from one image of an unseen object of its category, density, colour, a distilled foundation-model "
       "feature and a view-independent internal feature for keypoint and part transfer across instances (2D and 3D)",
       true, &create_featurenerf_model, &create_featurenerf_trainable, false, &featurenerf_scene_frame},
  };
  return types;
}

const ModelType& find_model_type(const std::string& key) {
  for (const auto& type : model_types())
    if (type.key == key) return type;
  std::vector<std::string> keys;
  for (const auto& type : model_types()) keys.push_back(type.key);
  fail_usage("unknown model type '{}' (known: {})", key, fmt::join(keys, ", "));
}

std::unique_ptr<SceneModel> create_model(const std::string& key, const ModelBinding& binding) {
  const ModelType& type = find_model_type(key);
  if (type.image_conditioned && !binding.scene)
    fail_input(binding.origin, "", fmt::format("a model of type {} needs the scene it is applied to", key));
  return type.create(binding);
}

std::unique_ptr<CorpusModel> create_trainable_model(const std::string& key, const nlohmann::json& config,
                                                    const std::string& origin) {
  const ModelType& type = find_model_type(key);
  if (!type.create_trainable)
    fail_usage("models of type {} are not trained on corpora (they are trained per scene by their own command)", key);
  return type.create_trainable(config, origin);
}

}  // namespace semfield
