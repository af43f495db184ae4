// `semfield train`: fit a radiance field to a posed image folder.
#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/models/radiance_config.h"
#include "semfield/train/pixel_sampler.h"
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
  std::string image_memory = "auto";
  int64_t image_rotation = 0;
};

// "auto" -> half the physical memory; else gigabytes (decimal), > 0.
int64_t parse_image_memory(const std::string& text) {
  if (text == "auto") return default_image_memory_cap();
  double gb = 0;
  size_t used = 0;
  try {
    gb = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(gb > 0) || gb > 1e6)
    fail_usage("--image-memory: expected 'auto' or a size in GB > 0 (e.g. 12 or 0.5), got '{}'", text);
  return static_cast<int64_t>(gb * 1e9);
}

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

  const int64_t image_memory = parse_image_memory(args.image_memory);
  LoadOptions load;
  load.downscale = spec.downscale;
  load.split_rule = SplitRule::parse(spec.split_rule);
  // Cameras and headers only: the trainer decodes the training images into its 8-bit store (bounded by
  // --image-memory) and the test images one at a time when it evaluates.
  load.load_images = false;
  load.load_extras = false;
  const Scene scene = load_scene(spec.data, load);
  log::info("loaded {} ({}): {} train / {} test views", spec.data.string(), scene.format, scene.count(Split::Train),
            scene.count(Split::Test));

  TrainOptions options;
  options.spec = spec;
  options.run_dir = args.out;
  options.resume = args.resume;
  options.image_memory_bytes = image_memory;
  options.image_rotation_steps = args.image_rotation;
  options.reload = load;
  options.reload.load_images = true;
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
  cmd->add_option("--image-memory", args->image_memory,
                  "Most memory for training images, in GB (8-bit, 4 bytes a pixel); beyond it a rotating subset of "
                  "the views is held (default: auto = half the physical memory)");
  cmd->add_option("--image-rotation", args->image_rotation,
                  "When the views exceed --image-memory: steps between replacing a quarter of the resident views "
                  "(0 = auto: decoding kept to ~0.5 Mpx a step, every 10..1000 steps)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  cmd->add_flag("--resume", args->resume, "Continue from the run folder's checkpoint");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace semfield::cli
