// `semfield eval-transfer`: FeatureNeRF's keypoint and part transfer scored on a labelled category dataset
// (pipeline/transfer_benchmark.h).
#include <cstdio>

#include "commands.h"
#include "semfield/models/model_file.h"
#include "semfield/pipeline/transfer_benchmark.h"

namespace semfield::cli {

void add_eval_transfer_command(CLI::App& app) {
  auto options = std::make_shared<TransferBenchOptions>();
  auto model = std::make_shared<std::string>();
  auto settings = std::make_shared<std::string>("same-camera,diff-camera,novel-view,3d");
  CLI::App* cmd = app.add_subcommand(
      "eval-transfer", "Score keypoint and part transfer across instances (FeatureNeRF's tasks) on a category dataset");
  cmd->add_option("--model", *model, "A FeatureNeRF model (name or file)")->required();
  cmd->add_option("--data", options->data, "Category dataset (`semfield synth --category`) of unseen instances")
      ->required();
  cmd->add_option("--out", options->out, "Folder for metrics.json and pictures of the first pairs");
  cmd->add_option("--features", options->features,
                  "model (the model's descriptor) | coordinate (the model's regressed canonical coordinates, matched by "
                  "distance) | hybrid (both: the unit descriptor and the weighted coordinates, matched by distance) | "
                  "teacher (the simulated DINO teacher's 2D maps: the baseline) | canonical (an oracle: the true "
                  "canonical coordinates, matched by distance)")
      ->capture_default_str();
  cmd->add_option("--coordinate-weight", options->coordinate_weight,
                  "hybrid: the weight w of the coordinates (object units) beside the unit descriptor")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  cmd->add_option("--settings", *settings, "Comma-separated: same-camera, diff-camera, novel-view, 3d")
      ->capture_default_str();
  cmd->add_option("--pairs", options->pairs, "Pairs per setting")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--pictures", options->pictures, "Pairs drawn per 2D setting")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the pairs drawn")->capture_default_str();
  cmd->add_flag("--key-backdrop", options->key_backdrop,
                "Key a uniform backdrop out of RGB instances (as apply --key-backdrop) before compositing over white");
  cmd->callback([options, model, settings] {
    options->model = resolve_model(*model, default_models_dir());
    options->settings.clear();
    size_t begin = 0;
    while (begin <= settings->size()) {
      const size_t end = std::min(settings->find(',', begin), settings->size());
      if (end > begin) options->settings.push_back(settings->substr(begin, end - begin));
      begin = end + 1;
    }
    const nlohmann::json result = run_transfer_benchmark(*options);
    std::printf("%s\n", result.dump(2).c_str());
  });
}

}  // namespace semfield::cli
