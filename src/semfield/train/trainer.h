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
