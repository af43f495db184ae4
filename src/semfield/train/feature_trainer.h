// Distillation of a 2D teacher into a feature or label field on top of a trained radiance run (SAN
// sections 4.1-4.3): teacher maps of the training views, rays through map cells rendered with the frozen
// density, MSE (+ cross-scale correlation) or cross-entropy, camera augmentation with the FIFO cache.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "semfield/data/scene.h"
#include "semfield/models/distill_config.h"
#include "semfield/pipeline/feature_evaluator.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

struct DistillOptions {
  DistillConfig config;     ///< config.teacher must be the spec `teacher` was made from
  std::string name;         ///< RUN/distill/<name>
  std::filesystem::path run_dir;
  bool show_progress = true;
  const std::atomic<bool>* stop_requested = nullptr;  ///< set (e.g. by SIGINT) to save and stop early
  /// Laser (config.laser.enabled): the scene's class list and the text embeddings [K, D] of the plain names and, when
  /// a CLIP text tower is at hand, of the repeated names (text augmentation; undefined: the plain ones). Without a
  /// class list the class-dependent parts (label volume, relevancy losses) are off.
  std::vector<std::string> class_names;
  at::Tensor class_text, class_text_augmented;
};

struct DistillSummary {
  int64_t steps = 0;
  double seconds = 0;               ///< optimisation time (teacher precomputation excluded)
  double precompute_seconds = 0;    ///< running the teacher on the training views
  double augment_seconds = 0;       ///< rendering novel views and running the teacher on them
  int64_t augmented_fresh = 0;      ///< novel views rendered + teacher run
  int64_t augmented_cached = 0;     ///< augmented steps served from the cache
  bool interrupted = false;
  FeatureEvalResult final_eval;     ///< on the scene's test split (empty if none)
};

/// The feature grid's finest resolution when the config leaves it at 0: half the largest side of the teacher's
/// maps (map_sizes of the training images, rounded up), clamped to [max(32, base_resolution), 2048].
int auto_finest_resolution(const std::vector<std::pair<int64_t, int64_t>>& map_sizes, int base_resolution);

/// Trains a field for `teacher` on `run` (whose radiance model stays frozen) and writes RUN/distill/<name>/
/// {config.json, checkpoint.ckpt, progress.jsonl, eval/metrics.json}.
DistillSummary distill_field(const Scene& scene, const LoadedRun& run, const Teacher& teacher,
                             const DistillOptions& options);

}  // namespace semfield
