// `semfield eval`: PSNR/SSIM of a trained run on its test split or on other views of the same scene.
#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/pipeline/evaluator.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/scene_mapping.h"

namespace semfield::cli {

namespace {

struct EvalArgs {
  std::string run, data, split = "test";
  bool no_images = false;
};

void run_eval(const EvalArgs& args) {
  const LoadedRun loaded = load_run(args.run);
  const RunPaths run{args.run};
  LoadOptions load;
  load.downscale = loaded.spec.downscale;
  load.split_rule = SplitRule::parse(loaded.spec.split_rule);
  const std::filesystem::path data = args.data.empty() ? loaded.spec.data : std::filesystem::path(args.data);
  Scene scene = load_scene(data, load);
  // Held-out folders are normalised by their own loader; express them in the run's frame.
  renormalize_scene(scene, loaded.model->frame().normalization);
  const Split split = parse_split(args.split);
  auto views = scene.split(split);
  if (views.empty()) {
    // A folder holding only held-out frames may put them in any split: evaluate all of them.
    for (const auto& v : scene.views) views.push_back(&v);
  }
  if (views.empty()) fail_input(data, "", "no views to evaluate");
  const Eigen::Vector3f background = parse_background(loaded.spec.config.render.background);
  const EvalResult result =
      evaluate(*loaded.model, views, background, args.no_images ? std::filesystem::path() : run.eval_dir() / "renders");
  nlohmann::json metrics = result.to_json();
  metrics["data"] = std::filesystem::absolute(data).lexically_normal().string();
  metrics["step"] = loaded.progress.step;
  write_file_atomic(run.eval_dir() / "metrics.json", metrics.dump(2) + "\n");
  for (const auto& v : result.views) std::printf("%-24s psnr %6.2f  ssim %.4f\n", v.name.c_str(), v.psnr, v.ssim);
  std::printf("mean over %zu views: psnr %.2f ssim %.4f -> %s\n", result.views.size(), result.psnr, result.ssim,
              (run.eval_dir() / "metrics.json").c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a trained run: PSNR and SSIM per view and mean");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--data", args->data, "Other views of the same scene (default: the run's data)");
  cmd->add_option("--split", args->split, "Split to evaluate (default test; all views if the folder lacks it)");
  cmd->add_flag("--no-images", args->no_images, "Do not write renders");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace semfield::cli
