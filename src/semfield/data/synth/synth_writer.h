// Writes synthetic scenes to disk in the NeRF-synthetic layout with nerfstudio-style ground-truth extras.
//
// One scene folder holds (see docs/formats.md):
//   transforms_train.json, transforms_test.json  camera_angle_x, fl_x, fl_y, cx, cy, w, h,
//                                                depth_unit_scale_factor (0.001) and frames with file_path
//                                                ("./train/r_0", no extension), transform_matrix (c2w,
//                                                OpenGL axes), depth_file_path, instance_path, semantic_path
//   train/r_<i>.png            RGBA 8-bit, alpha 0 where the pixel centre misses everything
//   train/r_<i>_depth.png      16-bit z-depth, metres = value * 0.001, 0 = miss
//   train/r_<i>_instance.png   8-bit raw instance ids (0 none, 1 ground, 2..N+1 objects)
//   train/r_<i>_semantic.png   8-bit raw class ids (0 void, 1 ground, 2.. shape classes)
//   test/...                   the same for the test views
//   labels.json                classes and instances (with world-frame bounding boxes)
//   scene.json                 the generated description (config, light, cameras, objects and parts)
// Every file is written atomically; files of an earlier run that this one does not produce are left alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "semfield/data/synth/synth_files.h"  // kSynthDepthUnit
#include "semfield/data/synth/synth_scene.h"

namespace semfield {

/// What was written for one scene (for the CLI's one-line summary).
struct SynthSummary {
  std::filesystem::path dir;
  uint64_t seed = 0;
  int n_objects = 0, n_train = 0, n_test = 0, resolution = 0, height = 0;  ///< image width (resolution) and height
  std::vector<std::string> object_names;
  double seconds = 0.0;  ///< wall time of generation, rendering and writing
};

/// Generates the scene for config.seed and writes it into `dir` (created if needed), showing a progress
/// bar over the views. Throws UsageError for a bad config, InputError if a file cannot be written.
SynthSummary write_synth_scene(const SynthConfig& config, const std::filesystem::path& dir);

/// Writes config.n_scenes scenes: one scene directly into `out` when n_scenes == 1, else
/// out/scene_000 ... out/scene_{K-1} with seeds seed, seed + 1, ... . `on_scene` (optional) is called
/// after each scene is complete.
std::vector<SynthSummary> write_synth_dataset(const SynthConfig& config, const std::filesystem::path& out,
                                              const std::function<void(const SynthSummary&)>& on_scene = {});

}  // namespace semfield
