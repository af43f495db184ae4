// Re-expresses a loaded scene in another normalised frame, so held-out views loaded on their own can be
// evaluated by a model trained with its dataset's normalisation.
#pragma once

#include "semfield/data/scene.h"

namespace semfield {

/// Changes every camera (and depth map) of `scene` from scene.normalization to `target`. Both are uniform
/// scale + translation maps of the same file coordinates, so rotations are unchanged.
void renormalize_scene(Scene& scene, const Normalization& target);

}  // namespace semfield
