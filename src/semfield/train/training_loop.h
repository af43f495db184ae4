// The loop every trainer shares: step count and time budget (whichever ends first; a resumed run's budget is its
// total), Ctrl-C, the learning-rate schedule's progress, the progress bar, progress.jsonl, and the bookkeeping of
// periodic evaluation and checkpoints (their time is not training time). Trainers own their models, batches,
// losses and optimisers; this owns when things happen.
//
//   TrainingLoop loop(options, progress, run.progress(), resume);
//   while (loop.next()) {
//     const double lr = loop.exponential_lr(lr0, final_fraction);
//     ... one step ...
//     loop.end_step(bar_text, {{"loss", loss}, ...});        // progress bar, progress.jsonl every log_interval
//     if (loop.eval_due()) loop.pause([&] { ... loop.log({{"val_psnr", p}}); });
//     if (loop.checkpoint_due()) loop.pause(save);
//   }
//   loop.finish();
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/core/progress.h"

namespace semfield {

struct TrainingLoopOptions {
  int64_t steps = 1000;              ///< the run's total step count
  double time_budget = 0;            ///< seconds of training (excluding evaluation/checkpoints); 0 = none
  int64_t eval_interval = 0;         ///< 0 = never
  int64_t checkpoint_interval = 0;   ///< 0 = never (trainers save at the end)
  int64_t log_interval = 50;         ///< progress.jsonl line every this many steps (and at the last)
  std::string label = "train";       ///< progress bar label
  bool show_progress = true;
  bool write_log = true;             ///< false on ranks other than 0 of a distributed run
  const std::atomic<bool>* stop_requested = nullptr;  ///< e.g. set by SIGINT: stop (and save) early
};

/// Where a run stands (what checkpoints keep).
struct LoopProgress {
  int64_t step = 0;
  double elapsed_seconds = 0;  ///< training time, excluding evaluation and checkpoints
};

class TrainingLoop {
 public:
  /// `log_path`: progress.jsonl (appended to when resuming, else truncated).
  TrainingLoop(const TrainingLoopOptions& options, const LoopProgress& start, const std::filesystem::path& log_path,
               bool resume);
  ~TrainingLoop();

  /// Whether to run another step: false once the steps are done, the budget is spent, or a stop was requested.
  bool next();
  /// The index of the step being run (0-based; after end_step, the number of steps done).
  int64_t step() const { return m_progress.step; }
  int64_t first_step() const { return m_first_step; }
  /// Schedule position in [0,1]: steps done over the total, or the budget's spent share if that is further.
  double fraction() const;
  /// lr0 * final_fraction^fraction(): exponential decay to lr0 * final_fraction at the end.
  double exponential_lr(double lr0, double final_fraction) const;
  /// Finishes the step: advances the count, updates the bar with `bar_text`, and writes `fields` (plus step and
  /// seconds) to progress.jsonl every log_interval steps and at the last one.
  void end_step(const std::string& bar_text, const nlohmann::json& fields);
  bool eval_due() const;
  bool checkpoint_due() const;
  /// Runs `work` (evaluation, checkpoint) with the clock paused.
  void pause(const std::function<void()>& work);
  /// Writes one progress.jsonl line: `fields` with step and seconds added.
  void log(const nlohmann::json& fields);
  LoopProgress progress() const { return m_progress; }
  bool interrupted() const { return m_interrupted; }
  /// Seconds of training in this session (not counting earlier sessions of a resumed run).
  double session_seconds() const { return m_progress.elapsed_seconds - m_start_elapsed; }
  /// Closes the progress bar.
  void finish();

 private:
  double elapsed() const;

  TrainingLoopOptions m_options;
  LoopProgress m_progress;
  int64_t m_first_step;
  double m_start_elapsed;
  double m_paused = 0;
  bool m_interrupted = false;
  std::chrono::steady_clock::time_point m_segment_start;
  std::unique_ptr<ProgressBar> m_bar;
  std::ofstream m_log;
};

}  // namespace semfield
