// A tiny generated scene (with semantic and instance maps) for teacher tests.
#pragma once

#include <filesystem>

#include "semfield/data/scene.h"
#include "semfield/data/synth/synth_writer.h"
#include "support/test_support.h"

namespace semfield::test {

/// 32x32 pixels, 6 training + 4 test views, 3 objects.
inline Scene tiny_synth_scene(const TempDir& dir) {
  SynthConfig config;
  config.n_objects = 3;
  config.n_views = 6;
  config.resolution = 32;
  config.seed = 5;
  write_synth_scene(config, dir / "scene");
  return load_scene(dir / "scene");
}

}  // namespace semfield::test
