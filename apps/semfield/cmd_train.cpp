// `semfield train`: fit a radiance field to a posed image folder.
#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/models/radiance_config.h"
#include "semfield/train/trainer.h"

namespace semfield::cli {

namespace {

struct TrainArgs {
  std::string data, out, config;
  int64_t steps = -1;
  double time_budget = -1;
  int downscale = 1;
  std::string split_rule = "auto";
  bool resume = false;
  int eval_interval = -1;
};

void run_train(const TrainArgs& args) {
  RunSpec spec;
  spec.data = args.data;
  spec.downscale = args.downscale;
  spec.split_rule = args.split_rule;
  if (!args.config.empty())
    spec.config = load_radiance_config(args.config);
  else if (args.resume)
    spec.config = read_run_spec(RunPaths{args.out}).config;  // continue with the run's own settings
  if (args.steps >= 0) spec.config.train.steps = args.steps;
  if (args.time_budget >= 0) spec.config.train.time_budget = args.time_budget;
  if (args.eval_interval >= 0) spec.config.train.eval_interval = args.eval_interval;

  LoadOptions load;
  load.downscale = spec.downscale;
  load.split_rule = SplitRule::parse(spec.split_rule);
  const Scene scene = load_scene(spec.data, load);
  log::info("loaded {} ({}): {} train / {} test views", spec.data.string(), scene.format, scene.count(Split::Train),
            scene.count(Split::Test));

  TrainOptions options;
  options.spec = spec;
  options.run_dir = args.out;
  options.resume = args.resume;
  TrainSummary summary;
  {
    const InterruptScope interrupt;  // first Ctrl-C: finish the step, save and exit
    options.stop_requested = interrupt.flag();
    summary = train_radiance_field(scene, options);
  }
  if (!summary.final_eval.views.empty())
    std::printf("test psnr %.2f ssim %.4f over %zu views (%lld steps, %.1f s, %.2f M samples/s)\n",
                summary.final_eval.psnr, summary.final_eval.ssim, summary.final_eval.views.size(),
                static_cast<long long>(summary.steps), summary.seconds, summary.samples_per_second / 1e6);
  if (summary.interrupted) std::printf("interrupted: checkpoint saved in %s\n", args.out.c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a radiance field on a posed image folder");
  cmd->add_option("--data", args->data, "Scene folder (NeRF-synthetic, instant-ngp, nerfstudio, COLMAP, LLFF)")
      ->required();
  cmd->add_option("--out", args->out, "Run folder to create (config, checkpoint, progress, eval)")->required();
  cmd->add_option("--steps", args->steps, "Training steps (default: config's train.steps)");
  cmd->add_option("--time-budget", args->time_budget, "Stop after this many seconds of training");
  cmd->add_option("--config", args->config, "JSON config overriding defaults (sections field/render/train)");
  cmd->add_option("--downscale", args->downscale, "Integer image downscale factor")->check(CLI::Range(1, 64));
  cmd->add_option("--split-rule", args->split_rule, "auto | files | every:N | fraction:F | all");
  cmd->add_option("--eval-interval", args->eval_interval, "Evaluate test views every N steps (0 = at the end)");
  cmd->add_flag("--resume", args->resume, "Continue from the run folder's checkpoint");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace semfield::cli
