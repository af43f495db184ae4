// Every hyper-parameter of the radiance field and its training, with defaults documented once, and the
// JSON (de)serialisation used for --config files and the config.json written into each run folder.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/fields/radiance_field.h"

namespace semfield {

/// Sampling and rendering.
struct RenderConfig {
  int grid_resolution = 128;      ///< occupancy grid cells per axis
  int max_samples_per_ray = 1024;
  double cone_angle = -1;         ///< < 0: automatic (0 for bounded scenes, 1/256 for unbounded)
  int steps_per_diagonal = 1024;  ///< smallest marching step = aabb diagonal / this (instant-ngp: 1024)
  double occupancy_threshold = 0.01;  ///< occupied if one step of alpha would exceed this
  std::string background = "white";   ///< render/eval background for RGBA data: white | black | r,g,b
  int chunk_rays = 16384;         ///< rays per chunk when rendering images
};

/// Optimisation.
struct TrainConfig {
  int64_t steps = 20000;          ///< stop after this many steps (or --time-budget, whichever first)
  double time_budget = 0;         ///< seconds; 0 = none
  int target_samples = 1 << 18;   ///< ray batch is adapted so each step marches ~this many samples
  int initial_rays = 4096;
  int max_rays = 1 << 16;
  double lr = 1e-2;               ///< Adam learning rate (grid and MLPs), as in instant-ngp
  double lr_final_fraction = 0.1; ///< exponential decay to lr * this at the last step
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-15;
  double mlp_weight_decay = 1e-6;
  std::string loss = "huber";     ///< "huber" (delta 0.1; robust to aliased edges) or "mse"
  /// Weight of the Mip-NeRF 360 distortion loss (kernels/distortion.h), averaged over the batch's rays; 0 = off.
  double distortion_weight = 0;
  bool random_background = true;  ///< train RGBA data on random background colours (instant-ngp)
  int grid_update_interval = 16;  ///< occupancy-grid EMA update every N steps
  int grid_warmup_steps = 256;
  int eval_interval = 0;          ///< evaluate the test split every N steps; 0 = only at the end
  int eval_views = 3;             ///< test views used by periodic evaluation (all at the end)
  int checkpoint_interval = 2000; ///< also saved on Ctrl-C and at the end
  uint64_t seed = 0;
};

struct RadianceConfig {
  FieldConfig field;
  RenderConfig render;
  TrainConfig train;
};

/// Serialises every field (the run folder's config.json).
nlohmann::json to_json(const RadianceConfig& config);
/// Overrides defaults from a JSON object with sections "field", "render", "train"; unknown keys and
/// wrong types are InputError naming `origin` and the key path.
RadianceConfig radiance_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);
RadianceConfig load_radiance_config(const std::filesystem::path& path);

}  // namespace semfield
