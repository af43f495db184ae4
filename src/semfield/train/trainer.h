// The radiance-field training loop: ray batches across images, Adam (sparse for the grid), exponential LR
// decay, occupancy-grid updates, progress bar, periodic evaluation, checkpoints, Ctrl-C and time budget.
#pragma once

#include <atomic>
#include <filesystem>

#include "semfield/data/scene.h"
#include "semfield/pipeline/evaluator.h"
#include "semfield/pipeline/run_folder.h"

namespace semfield {

struct TrainOptions {
  RunSpec spec;                       ///< data, load options and config (written to RUN/config.json)
  std::filesystem::path run_dir;
  bool resume = false;                ///< continue from RUN/checkpoint.ckpt
  bool show_progress = true;
  const std::atomic<bool>* stop_requested = nullptr;  ///< set (e.g. by SIGINT) to save and stop early
  /// Training pixels are held as 8-bit RGBA under this many bytes (0 = no cap); beyond it a rotating subset of
  /// the views is resident (train/pixel_sampler.h, docs/memory.md).
  int64_t image_memory_bytes = 0;
  int64_t image_rotation_steps = 0;  ///< steps between rotations of the resident subset; 0 = auto
  /// How views loaded without pixels (load_scene with load_images false) are decoded, for training and
  /// evaluation: the scene's own load options.
  LoadOptions reload;
};

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0;
  double samples_per_second = 0;  ///< ray samples through forward+backward+optimiser per second
  bool interrupted = false;
  EvalResult final_eval;          ///< on the test split (empty if the scene has none)
};

/// Trains on scene's train split, writes RUN/{config.json, checkpoint.ckpt, progress.jsonl,
/// eval/metrics.json, eval/*.png}.
TrainSummary train_radiance_field(const Scene& scene, const TrainOptions& options);

}  // namespace semfield
