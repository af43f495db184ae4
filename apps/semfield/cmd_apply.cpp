// `semfield apply`: a generalizable model applied to a scene it never saw -> a run folder that render, eval,
// segment, mesh and serve read like any other (optionally fine-tuned on the scene first).
#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/models/model_file.h"
#include "semfield/train/apply.h"

namespace semfield::cli {

namespace {

struct ApplyArgs {
  std::string model, data, out;
  int source_views = 0;
  std::string source_view;
  int64_t finetune_steps = 0;
  int64_t finetune_head_steps = -1;
  double finetune_budget = 0;
  double finetune_lr = FinetuneOptions{}.lr;
  int finetune_rays = FinetuneOptions{}.rays;
  int finetune_source_pool = FinetuneOptions{}.source_pool;
  int downscale = 1;
  std::string split_rule = "auto";
  std::string background = "white";
  bool key_backdrop = false;
  std::string teacher;
  std::string finetune_config;
  std::string model_config;
  uint64_t seed = 0;
};

void run_apply(const ApplyArgs& args) {
  ApplyOptions options;
  options.model = resolve_model(args.model, default_models_dir());
  options.data = args.data;
  options.out = args.out;
  options.source_views = args.source_views;
  options.source_view = args.source_view;
  options.downscale = args.downscale;
  options.split_rule = args.split_rule;
  options.background = args.background;
  options.key_backdrop = args.key_backdrop;
  options.semantic_maps = args.teacher;
  options.finetune.steps = args.finetune_steps;
  options.finetune.time_budget = args.finetune_budget;
  options.finetune.lr = args.finetune_lr;
  options.finetune.rays = args.finetune_rays;
  options.finetune.source_pool = args.finetune_source_pool;
  options.finetune.seed = args.seed;
  options.finetune_head_steps = args.finetune_head_steps;
  // A JSON object given as text or as a file.
  auto json_object = [](const std::string& arg, const char* option) {
    const bool file = std::filesystem::exists(arg);
    const std::string text = file ? read_file_text(arg) : arg;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail_input(file ? arg : std::string(option), "", std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) fail_usage("{} must be a JSON object of the model type's config keys", option);
    return j;
  };
  if (!args.finetune_config.empty()) options.finetune_config = json_object(args.finetune_config, "--finetune-config");
  if (!args.model_config.empty()) options.model_config = json_object(args.model_config, "--model-config");
  const InterruptScope interrupt;
  options.finetune.stop_requested = interrupt.flag();
  const ApplyResult result = apply_model(options);
  std::printf("applied %s (%s) to %s -> %s\n", result.model_name.c_str(), result.model_type.c_str(),
              args.data.c_str(), args.out.c_str());
}

}  // namespace

void add_apply_command(CLI::App& app) {
  auto args = std::make_shared<ApplyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "apply", "Apply a generalizable model to an unseen scene: a run folder for render/eval/segment/mesh/serve");
  cmd->add_option("--model", args->model, "A model name (see `semfield models`) or a model file")->required();
  cmd->add_option("--data", args->data, "Scene folder; its training views are the source views")->required();
  cmd->add_option("--out", args->out, "Run folder to create")->required();
  cmd->add_option("--source-view", args->source_view,
                  "Condition the model on this one view only (an image stem such as r_3; FeatureNeRF's single image)");
  cmd->add_option("--source-views", args->source_views, "Source views per rendered view (default: the model's)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--finetune-steps", args->finetune_steps, "Fine-tune on the scene's views for this many steps")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  cmd->add_option("--finetune-head-steps", args->finetune_head_steps,
                  "After fine-tuning, this many steps training the model's heads alone on the maps it renders of the "
                  "scene's training views, as a novel view gives them (gp-nerf: its perception heads; instance AP and "
                  "mIoU of thin parts, BENCHMARKS.md); default: half the fine-tuning steps taken (fewer for views "
                  "over 128x128 pixels) for models with heads, none with --finetune-budget; 0 = none")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  cmd->add_option("--finetune-budget", args->finetune_budget,
                  "... or until this many seconds (with the steps; no default head stage then: an explicit "
                  "--finetune-head-steps runs after the budget)");
  cmd->add_option("--finetune-lr", args->finetune_lr, "Fine-tuning learning rate (Adam; decays to half)")
      ->capture_default_str()
      ->check(CLI::Range(1e-7, 1.0));
  cmd->add_option("--finetune-rays", args->finetune_rays, "Target rays per fine-tuning step")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--finetune-source-pool", args->finetune_source_pool,
                  "Each fine-tuning step draws its source views from this many training views nearest the target "
                  "(at least --source-views: by default exactly the nearest, as rendering picks them)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--finetune-config", args->finetune_config,
                  "Config keys changed for fine-tuning (JSON text or file), e.g. '{\"instance_slots\": 16}' adds "
                  "GP-NeRF's instance head, trained on the scene's instance maps");
  cmd->add_option("--model-config", args->model_config,
                  "Config keys replacing the model's in this run's renders (JSON text or file), e.g. "
                  "'{\"n_coarse_render\": 32, \"n_fine_render\": 32}' renders gp-nerf-synth with the sample "
                  "counts it was trained with");
  cmd->add_option("--teacher", args->teacher,
                  "Models voting over 2D semantic maps (gnesf): the source views' maps, labels:semantic | "
                  "labels:instance | labels:DIR (ids PNG or .npy ids / probabilities named like the images)");
  cmd->add_option("--downscale", args->downscale, "Integer image downscale factor")->check(CLI::Range(1, 64));
  cmd->add_option("--split-rule", args->split_rule, "auto | files | every:N | fraction:F | all");
  cmd->add_option("--background", args->background, "white | black | r,g,b (RGBA images are composited over it)");
  cmd->add_flag("--key-backdrop", args->key_backdrop,
                "RGB images of an object on a uniform backdrop (another renderer's black or coloured background): key "
                "the backdrop out into alpha, so the object is composited over --background as the corpora were");
  cmd->add_option("--seed", args->seed, "Fine-tuning seed");
  cmd->callback([args] { run_apply(*args); });
}

}  // namespace semfield::cli
