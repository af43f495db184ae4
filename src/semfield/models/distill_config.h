// Every hyper-parameter of feature/label distillation (SAN sections 4.1-4.3), with defaults documented once,
// and its JSON form (--config files and RUN/distill/<name>/config.json).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/fields/feature_field.h"

namespace semfield {

/// Laser's modules on a CLIP field (fields/laser_modules.h, docs/segmentation.md "Laser"); each can be switched on or
/// off alone. Losses and schedule: train/feature_trainer.cpp. Defaults: what measured best on held-out generated
/// scenes with the simulated teacher (BENCHMARKS.md, "Laser"): text augmentation on; the adapter, the attention and
/// the label volume off (added to text augmentation they gave +2 mIoU points on one scene and -9 on another, at two to
/// three times the distillation time) - switch them on to use them.
struct LaserConfig {
  bool enabled = false;         ///< `distill --laser on|off` (default: on for clip:PATH teachers)
  bool adapter = false;         ///< adapter + self-cross training on the CLIP side
  int adapter_hidden = 64;
  bool attention = false;       ///< low-rank transient query attention on the rendered features
  int attention_rank = 48;      ///< E (the bank holds 3E queries); the code uses 48 or 64
  bool label_volume = false;    ///< label volume: class logits as classification (needs the class list)
  int label_rank = 16;          ///< components per axis of the vector-matrix volume
  int label_resolution = 64;    ///< plane and line cells per axis
  bool text_augmentation = true;  ///< repeated class names (with a CLIP text tower) and per-class standardisation
  int text_repeat = 2;
  double temperature = 0.1;     ///< softmax temperature of the class distributions
  double relevancy_weight = 0.5;  ///< cross-entropy of the field's own class distribution against the targets
  double self_weight = 1.0;     ///< adapter: stay close to the original tokens
  double label_weight = 1.0;    ///< label volume's cross-entropy
  double cross_weight = 0.5;    ///< cross phase: adapted tokens towards the field and the label volume
  double cross_start = 0.53;    ///< fraction of the steps before the cross phase (the code: 8,000 of 15,000)
  double module_lr_scale = 0.1; ///< learning rate of the adapter and attention relative to `lr`
  /// Class targets from the adapted tokens (the released code) instead of the original ones (default): in the cross
  /// phase the adapter moves towards the field's rendering and the label volume's answers, so targets taken from it
  /// feed the field's own answers back as its targets (seed 203: full Laser 0.752 mIoU that way, 0.926 without).
  bool adapted_class_targets = false;
};

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

  LaserConfig laser;
};

nlohmann::json to_json(const DistillConfig& config);
/// Overrides defaults from a JSON object (keys as written by to_json); unknown keys and bad values are
/// InputError naming `origin` and the key.
DistillConfig distill_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);
DistillConfig load_distill_config(const std::filesystem::path& path);

}  // namespace semfield
