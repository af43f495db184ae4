// Training an image-conditioned model across the scenes of a corpus (`semfield train-corpus`), data-parallel on
// torch.distributed (train/distributed.h): every step draws a global batch of examples (a scene, a target view of
// it, source views from a pool of its nearest other views, random target pixels); rank r takes examples r, r+W,
// ...; gradients are averaged over the ranks, so W ranks take the same step as one rank on the whole batch.
//
// RUN/ holds config.json (these options), checkpoint.ckpt (weights, Adam state, step: --resume continues it,
// also on another machine), model.safetensors (the current weights as a model file, models/model_file.h),
// progress.jsonl (loss, train PSNR and validation PSNR on held-out scenes over time). Rank 0 writes them.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/models/corpus_model.h"

namespace semfield {

class ProcessGroup;

struct CorpusTrainOptions {
  std::filesystem::path corpus;    ///< data/corpus.h folder
  std::filesystem::path run_dir;
  std::string model_type = "ibr";  ///< models/registry.h key of an image-conditioned type
  nlohmann::json model_config = nlohmann::json::object();  ///< the type's config (defaults for missing keys)
  std::string name;                ///< model name written into model.safetensors (default: the run folder's name)
  int64_t steps = 20000;
  double time_budget = 0;          ///< seconds; 0 = none
  double lr = 1e-3;
  double lr_final_fraction = 0.1;  ///< exponential decay to lr * this at the end
  /// Decay of an exponential moving average of the parameters (0 = none), updated after every step with the rate
  /// min(ema, (1 + n) / (10 + n)) at its n-th update (the usual warm-up, so early weights fade fast). Validation and
  /// model.safetensors use the average; the checkpoint keeps the trained weights and the average ("ema.<i>") and a
  /// resume continues both (a run resumed with --ema that had none starts its average from the current weights).
  double ema = 0;
  int rays = 512;                  ///< target rays per example
  int batch = 1;                   ///< examples per step (global, over all ranks: a multiple of the world size)
  int source_views = 8;            ///< source views per example
  int source_pool = 12;            ///< ... drawn from this many nearest views (target excluded)
  int64_t eval_interval = 500;     ///< validation every this many steps (0 = only at the end)
  int val_scenes = 4;              ///< validation scenes rendered (the first of the corpus's validation split)
  int val_views = 1;               ///< test views per validation scene
  int val_every = 10;              ///< corpus split when it has no corpus.json (data/corpus.h)
  int64_t checkpoint_interval = 200;
  uint64_t seed = 0;
  std::string background = "white";
  /// A model file to start from (not when resuming): CorpusModel::initialise_from (e.g. a trained ibr model as a
  /// gnesf model's radiance network). Empty = a fresh initialisation.
  std::filesystem::path init_model;
  bool resume = false;
  /// Ranks of the job on this machine (DistributedOptions::local_world_size): each holds the whole corpus, which the
  /// memory check counts.
  int local_ranks = 1;
  bool show_progress = true;
  const std::atomic<bool>* stop_requested = nullptr;

  /// UsageError naming the first bad option.
  void validate() const;
};

struct CorpusTrainSummary {
  int64_t steps = 0;          ///< in this session
  double seconds = 0;         ///< training time in this session
  bool interrupted = false;
  double val_psnr = 0;        ///< last validation (0 if none ran)
  double all_reduce_seconds = 0;  ///< total over this session's steps (0 on one rank)
};

struct FinetuneOptions {
  int64_t steps = 100;
  double time_budget = 0;         ///< seconds; 0 = none (the step count bounds it)
  double lr = 2e-4;
  double lr_final_fraction = 0.5;
  int rays = 512;
  int source_views = 8;
  /// Each step's sources: `source_views` of this many training views nearest the target (at least source_views).
  /// Default: exactly the nearest ones, as rendering picks them — drawn from 12 (the corpus training's pool) the
  /// fine-tuned PSNR was 0.35 dB lower on four unseen scenes, from 20 0.8 dB lower (BENCHMARKS.md, issue 21).
  int source_pool = 8;
  uint64_t seed = 0;
  std::string background = "white";
  bool show_progress = true;
  const std::atomic<bool>* stop_requested = nullptr;
};

/// Per-scene fine-tuning ("finetuned" in the papers): trains `model` on one scene's training views, targets and
/// sources both from its train split (the target never among its own sources), `frame` the scene's frame.
CorpusTrainSummary finetune_on_scene(CorpusModel& model, std::shared_ptr<Scene> scene, const SceneFrame& frame,
                                     const FinetuneOptions& options);

/// Trains (rank 0 writes RUN/). `group`: the process group of a distributed run, or null for one process.
CorpusTrainSummary train_corpus(const CorpusTrainOptions& options, ProcessGroup* group = nullptr);

}  // namespace semfield
