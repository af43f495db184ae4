// A generalizable (image-conditioned) model applied to a scene it never saw: a run folder that render, eval,
// segment, mesh and serve read like any other, optionally after fine-tuning on the scene's training views.
// `semfield apply` and the demo's last step both go through apply_model.
#pragma once

#include <filesystem>
#include <string>

#include "semfield/pipeline/run_folder.h"
#include "semfield/train/corpus_trainer.h"

namespace semfield {

struct ApplyOptions {
  std::filesystem::path model;  ///< a model file (resolve a name with resolve_model first)
  std::filesystem::path data;   ///< the scene folder: its training views are the source views
  std::filesystem::path out;    ///< the run folder to create (or overwrite)
  int source_views = 0;         ///< per rendered view; 0 = the model's
  int downscale = 1;
  std::string split_rule = "auto";
  std::string background = "white";
  /// RGB images of an object on a uniform backdrop keyed into RGBA (LoadOptions::key_backdrop), recorded in the run.
  bool key_backdrop = false;
  /// Models that take 2D semantic maps (gnesf): the labels teacher spec of the source views' maps
  /// ("labels:semantic", "labels:instance", "labels:DIR"); empty for none. UsageError for other models.
  std::string semantic_maps;
  /// Condition the model on this one view only (an image stem; FeatureNeRF's single input image); empty = every
  /// training view. UsageError listing names when the scene has no such view.
  std::string source_view;
  /// Config keys replacing the model's whenever the run is loaded (render, eval, segment, serve; top-level keys, after
  /// fine-tuning); checked by the model type here. Empty = none.
  nlohmann::json model_config = nlohmann::json::object();
  /// Fine-tuning on the scene first when finetune.steps > 0 (its background and source views follow the options
  /// above). No fine-tuning by default.
  /// Config keys changed for fine-tuning (merged into the model's config; the type checks them); empty = none.
  nlohmann::json finetune_config = nlohmann::json::object();
  FinetuneOptions finetune = [] {
    FinetuneOptions none;
    none.steps = 0;
    return none;
  }();
  /// After fine-tuning (finetune.steps > 0), this many steps of the model's head stage
  /// (CorpusModel::head_stage_config: gp-nerf's perception heads alone, fitted to the maps it renders of the scene's
  /// training views, as a novel view gives them), with the fine-tuning's options otherwise (no time budget). The
  /// weights file keeps the fine-tuning's config. -1 (default): default_head_steps for a type with a head stage and
  /// fine-tuning bounded by steps alone (with finetune.time_budget: none, so the budget bounds apply's time); 0: none.
  /// A count > 0 is a UsageError for a type without one or without finetune.steps.
  int64_t finetune_head_steps = -1;
};

/// The head stage's default length: half the fine-tuning steps taken, for training views of up to 128² pixels; for
/// larger views fewer in proportion to their pixels (a head step renders a whole view), so that the stage costs about
/// what it costs at 128² (a quarter of the fine-tuning's time there, BENCHMARKS.md); at least 1 when steps > 0.
int64_t default_head_steps(int64_t finetune_steps_taken, int64_t view_pixels);

struct ApplyResult {
  AppliedRunSpec spec;           ///< what RUN/config.json now holds
  std::string model_name, model_type;
  CorpusTrainSummary finetune;   ///< steps == 0 without fine-tuning
  CorpusTrainSummary head_stage; ///< steps == 0 without finetune_head_steps
};

/// Writes the run folder: RUN/config.json naming the model and the scene binding, and RUN/weights.safetensors after
/// fine-tuning (removed otherwise, so a re-apply never picks up older weights). UsageError for a model trained per
/// scene (not image-conditioned); InputError for unreadable model files or scenes.
ApplyResult apply_model(const ApplyOptions& options);

}  // namespace semfield
