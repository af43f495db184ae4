// Every hyper-parameter of feature/label distillation (SAN sections 4.1-4.3), with defaults documented once,
// and its JSON form (--config files and RUN/distill/<name>/config.json).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/fields/feature_field.h"

namespace semfield {

struct DistillConfig {
  std::string teacher;            ///< teacher spec (teachers/teacher.h)
  FeatureFieldConfig field;       ///< field.channels come from the teacher
  bool surface = false;           ///< SAN Eq. 7: one surface point per ray instead of quadrature (Eq. 6)

  int64_t steps = 3000;           ///< stop after this many steps (or time_budget, whichever first)
  double time_budget = 0;         ///< seconds; 0 = none
  int rays_per_step = 4096;
  double lr = 1e-2;
  double lr_final_fraction = 0.1;
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-15;

  double cross_scale_weight = 1.0;  ///< Eq. 9-11 for multi-scale teachers (0 disables)
  int cross_scale_pixels = 256;     ///< pixels per scale in the cosine-similarity maps S_ij

  bool camera_augmentation = true;  ///< train on interpolated poses too (teachers that run on images)
  double augment_probability = 0.5; ///< fraction of steps trained on an augmented view
  bool cache = true;                ///< FIFO cache of augmented views and their teacher maps
  int cache_capacity = 256;         ///< SAN: 256
  double cache_reuse = 0.75;        ///< SAN: 75 % of augmented steps reuse a cached view, 25 % make a new one
  int augment_max_side = 256;       ///< augmented views are rendered at most this many pixels on a side

  double label_noise = 0;         ///< labels teachers: corrupt this fraction of training pixels (study)
  double label_keep = 1;          ///< labels teachers: keep only this fraction of labelled pixels (study)

  int eval_interval = 0;          ///< evaluate held-out views every N steps; 0 = only at the end
  uint64_t seed = 0;
};

nlohmann::json to_json(const DistillConfig& config);
/// Overrides defaults from a JSON object (keys as written by to_json); unknown keys and bad values are
/// InputError naming `origin` and the key.
DistillConfig distill_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);
DistillConfig load_distill_config(const std::filesystem::path& path);

}  // namespace semfield
