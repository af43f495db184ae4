// `semfield apply`: a generalizable model applied to a scene it never saw -> a run folder that render, eval,
// segment, mesh and serve read like any other (optionally fine-tuned on the scene first).
#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/train/corpus_trainer.h"

namespace semfield::cli {

namespace {

struct ApplyArgs {
  std::string model, data, out;
  int source_views = 0;
  int64_t finetune_steps = 0;
  double finetune_budget = 0;
  double finetune_lr = FinetuneOptions{}.lr;
  int finetune_rays = FinetuneOptions{}.rays;
  int downscale = 1;
  std::string split_rule = "auto";
  std::string background = "white";
  uint64_t seed = 0;
};

void run_apply(const ApplyArgs& args) {
  const std::filesystem::path model_path = resolve_model(args.model, default_models_dir());
  ModelFile file = read_model_file(model_path);
  const ModelType& type = find_model_type(file.type);
  if (!type.image_conditioned)
    fail_usage("model {} is of type {}, which is trained per scene (`semfield train`), not applied", file.name,
               file.type);
  parse_background(args.background);
  LoadOptions load;
  load.downscale = args.downscale;
  load.split_rule = SplitRule::parse(args.split_rule);
  auto scene = std::make_shared<Scene>(load_scene(args.data, load));
  log::info("loaded {} ({}): {} train (source) / {} test views", args.data, scene->format, scene->count(Split::Train),
            scene->count(Split::Test));
  AppliedRunSpec spec;
  spec.data = args.data;
  spec.downscale = args.downscale;
  spec.split_rule = args.split_rule;
  spec.model = std::filesystem::absolute(model_path).lexically_normal();
  spec.model_name = file.name;
  spec.model_type = file.type;
  spec.background = args.background;
  spec.source_views = args.source_views;
  spec.frame = SceneFrame::from_scene(*scene);
  const RunPaths run{args.out};
  std::filesystem::create_directories(run.root);
  if (args.finetune_steps > 0) {
    std::unique_ptr<CorpusModel> model = create_trainable_model(file.type, file.config, model_path.string());
    model->load_state(file.weights, model_path.string());
    FinetuneOptions options;
    options.steps = args.finetune_steps;
    options.time_budget = args.finetune_budget;
    options.lr = args.finetune_lr;
    options.rays = args.finetune_rays;
    options.background = args.background;
    options.seed = args.seed;
    if (args.source_views > 0) options.source_views = args.source_views;
    options.source_pool = std::max(options.source_pool, options.source_views);
    CorpusTrainSummary summary;
    {
      const InterruptScope interrupt;
      options.stop_requested = interrupt.flag();
      summary = finetune_on_scene(*model, scene, spec.frame, options);
    }
    spec.finetune_steps = summary.steps;
    ModelFile tuned;
    tuned.name = file.name + "+finetuned";
    tuned.type = file.type;
    tuned.config = model->config_json();
    tuned.weights = model->state();
    tuned.info = {{"finetuned_from", spec.model.string()},
                  {"scene", std::filesystem::absolute(args.data).lexically_normal().string()},
                  {"steps", summary.steps},
                  {"seconds", summary.seconds}};
    write_model_file(run.weights(), tuned);
    log::info("fine-tuned {} steps in {:.1f} s", summary.steps, summary.seconds);
  } else {
    std::error_code ec;
    std::filesystem::remove(run.weights(), ec);  // a re-apply without fine-tuning must not pick up old weights
  }
  write_applied_run_spec(run, spec);
  std::printf("applied %s (%s) to %s -> %s\n", file.name.c_str(), file.type.c_str(), args.data.c_str(),
              args.out.c_str());
}

}  // namespace

void add_apply_command(CLI::App& app) {
  auto args = std::make_shared<ApplyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "apply", "Apply a generalizable model to an unseen scene: a run folder for render/eval/segment/mesh/serve");
  cmd->add_option("--model", args->model, "A model name (see `semfield models`) or a model file")->required();
  cmd->add_option("--data", args->data, "Scene folder; its training views are the source views")->required();
  cmd->add_option("--out", args->out, "Run folder to create")->required();
  cmd->add_option("--source-views", args->source_views, "Source views per rendered view (default: the model's)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--finetune-steps", args->finetune_steps, "Fine-tune on the scene's views for this many steps")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  cmd->add_option("--finetune-budget", args->finetune_budget, "... or until this many seconds (with the steps)");
  cmd->add_option("--finetune-lr", args->finetune_lr, "Fine-tuning learning rate (Adam; decays to half)")
      ->capture_default_str()
      ->check(CLI::Range(1e-7, 1.0));
  cmd->add_option("--finetune-rays", args->finetune_rays, "Target rays per fine-tuning step")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--downscale", args->downscale, "Integer image downscale factor")->check(CLI::Range(1, 64));
  cmd->add_option("--split-rule", args->split_rule, "auto | files | every:N | fraction:F | all");
  cmd->add_option("--background", args->background, "white | black | r,g,b (RGBA images are composited over it)");
  cmd->add_option("--seed", args->seed, "Fine-tuning seed");
  cmd->callback([args] { run_apply(*args); });
}

}  // namespace semfield::cli
