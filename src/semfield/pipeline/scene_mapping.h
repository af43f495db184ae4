// Re-expresses a loaded scene in another normalised frame, so held-out views loaded on their own can be
// evaluated by a model trained with its dataset's normalisation.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/models/scene_frame.h"

namespace semfield {

/// Changes every camera (and depth map) of `scene` from scene.normalization to `target`. Both are uniform
/// scale + translation maps of the same file coordinates, so rotations are unchanged.
void renormalize_scene(Scene& scene, const Normalization& target);

/// The frame a model of type `model_type` (models/registry.h key) reads `scene` in, with `config` the config it
/// renders or trains with: a type that frames scenes itself (ModelType::frame_scene; featurenerf: the cameras'
/// look-at point, in its training corpora's units) gets the scene renormalised into that frame; any other type keeps
/// `own` (the scene's frame, left as it is). Serves apply, train-corpus and eval-transfer alike, so a scene is framed
/// the same way wherever a model meets it.
SceneFrame frame_scene_for_model(Scene& scene, const std::string& model_type, const nlohmann::json& config,
                                 const SceneFrame& own);

}  // namespace semfield
