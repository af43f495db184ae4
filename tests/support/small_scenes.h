// Small generated scenes and corpora for tests that train or apply a model (the generator's tabletop scenes with
// 3 objects; several scenes vary in object count, cameras and lighting, as `semfield synth --vary` corpora do).
#pragma once

#include <cstdint>
#include <filesystem>

#include "semfield/data/synth/synth_scene.h"
#include "semfield/data/synth/synth_writer.h"

namespace semfield::test {

/// Writes `scenes` generated scenes of `views` views at `resolution` into `out` (scene folders scene_000..., or the
/// scene itself when scenes == 1) from `seed`; returns `out`.
inline std::filesystem::path write_small_scenes(const std::filesystem::path& out, int scenes, int views,
                                                int resolution, uint64_t seed) {
  SynthConfig config;
  config.n_scenes = scenes;
  config.n_views = views;
  config.resolution = resolution;
  config.n_objects = 3;
  config.vary = scenes > 1;
  config.seed = seed;
  write_synth_dataset(config, out);
  return out;
}

/// Writes one generated "open" scene (`synth --preset open`: 2 objects on a ground disc of radius 5 seen from 6 units
/// away, content beyond the box the models' scenes are framed in) of `views` views at `resolution` into `out` from `seed`; returns `out`.
inline std::filesystem::path write_small_open_scene(const std::filesystem::path& out, int views, int resolution,
                                                    uint64_t seed) {
  SynthConfig config;
  config.preset = "open";
  config.n_views = views;
  config.resolution = resolution;
  config.n_objects = 2;
  config.seed = seed;
  write_synth_dataset(config, out);
  return out;
}

}  // namespace semfield::test
