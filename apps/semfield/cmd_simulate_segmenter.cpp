// `semfield simulate-segmenter`: a scene's ground-truth label maps corrupted the way 2D segmenters err, calibrated
// to a requested mIoU (teachers/simulated_segmenter.h), written as label PNGs named like the images — the form a
// real segmenter's output takes (`labels:DIR`). A measuring instrument for methods that read 2D semantic maps.
#include <algorithm>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/data/scene.h"
#include "semfield/io/image.h"
#include "semfield/teachers/simulated_segmenter.h"

namespace semfield::cli {

namespace {

struct SimulateArgs {
  std::string data, out, gt = "semantic", calibrate = "train";
  double miou = 0.75;
  uint64_t seed = 0;
};

void run_simulate(const SimulateArgs& args) {
  if (args.gt != "semantic" && args.gt != "instance") fail_usage("--gt must be semantic or instance, got {}", args.gt);
  const Split calibrate = parse_split(args.calibrate);
  const Scene scene = load_scene(args.data);
  std::vector<const View*> views;
  std::vector<LabelMap> truth, calibration;
  std::vector<uint64_t> calibration_keys;  // the keys segment() draws those views with below: their index
  for (const View& v : scene.views) {
    const std::optional<Image>& map = args.gt == "semantic" ? v.semantic : v.instance;
    if (!map) continue;
    views.push_back(&v);
    truth.push_back(label_map_from_image(*map));
    if (v.split == calibrate) {
      calibration.push_back(truth.back());
      calibration_keys.push_back(truth.size() - 1);
    }
  }
  if (truth.empty()) fail_input(args.data, "", "no view has a {} map to corrupt", args.gt);
  if (calibration.empty()) fail_input(args.data, "", "no {} view has a {} map to calibrate on", args.calibrate, args.gt);
  // Calibrated on the maps it writes for the calibration split: those reach the target, not just its expectation.
  const SimulatedSegmenter segmenter(calibration, args.miou, args.seed, calibration_keys);
  std::filesystem::create_directories(args.out);
  std::vector<LabelMap> out;
  std::map<Split, std::pair<std::vector<LabelMap>, std::vector<LabelMap>>> by_split;
  for (size_t i = 0; i < views.size(); ++i) {
    out.push_back(segmenter.segment(truth[i], i));
    by_split[views[i]->split].first.push_back(out.back());
    by_split[views[i]->split].second.push_back(truth[i]);
    write_png(std::filesystem::path(args.out) / (views[i]->name + ".png"), label_map_to_image(out.back()), 16, ImageRange::Raw);
  }
  nlohmann::json report = {{"instrument", "semfield simulated 2D segmenter (ground truth with segmenter-like errors; "
                                          "not a model)"},
                           {"data", args.data},
                           {"gt", args.gt},
                           {"seed", args.seed},
                           {"target_miou", args.miou},
                           {"severity", segmenter.severity()},
                           {"calibration_split", args.calibrate},
                           {"calibration_miou", segmenter.achieved_miou()},
                           {"views", views.size()}};
  for (const auto& [split, maps] : by_split) {
    const SegmentationScore s = score_segmentation(maps.first, maps.second);
    report[std::string("miou_") + split_name(split)] = s.miou;
    report[std::string("accuracy_") + split_name(split)] = s.accuracy;
    std::printf("%s: %zu views, 2D mIoU %.3f, accuracy %.3f\n", split_name(split), maps.first.size(), s.miou,
                s.accuracy);
  }
  write_file_atomic(std::filesystem::path(args.out) / "simulated_segmenter.json", report.dump(2) + "\n");
  // The ids keep the scene's meaning: its class (or instance) names go along, for readers of labels:DIR.
  const auto& names = args.gt == "semantic" ? scene.semantic_labels : scene.instance_labels;
  if (!names.empty()) {
    nlohmann::json classes = nlohmann::json::array();
    for (const auto& [id, label] : names) classes.push_back({{"id", id}, {"name", label.name}});
    write_file_atomic(std::filesystem::path(args.out) / "labels.json", nlohmann::json({{"classes", classes}}).dump(2) + "\n");
  }
  std::printf("simulated segmenter (severity %.3f, target mIoU %.2f) -> %s (%zu maps; read them with labels:%s)\n",
              segmenter.severity(), args.miou, args.out.c_str(), views.size(), args.out.c_str());
}

}  // namespace

void add_simulate_segmenter_command(CLI::App& app) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "simulate-segmenter",
      "A measuring instrument: ground-truth label maps with 2D-segmenter errors at a target mIoU, as label PNGs");
  cmd->add_option("--data", args->data, "Scene folder with semantic or instance maps")->required();
  cmd->add_option("--out", args->out, "Folder for <view>.png (16-bit ids) and simulated_segmenter.json")->required();
  cmd->add_option("--gt", args->gt, "semantic | instance: the maps to corrupt")->capture_default_str();
  cmd->add_option("--miou", args->miou, "Target 2D mIoU (calibrated on --calibrate views)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--calibrate", args->calibrate, "Split whose views calibrate the severity")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the errors")->capture_default_str();
  cmd->callback([args] { run_simulate(*args); });
}

}  // namespace semfield::cli
