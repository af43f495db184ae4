// `semfield query`: text queries on a CLIP-distilled field — LERF relevancy maps per phrase and, for several
// phrases, a per-pixel class map with Laser's text augmentation.
#include <cstdio>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/mask_io.h"
#include "semfield/segment/segment_view.h"
#include "semfield/segment/text_query.h"

namespace semfield::cli {

namespace {

struct QueryArgs {
  std::vector<std::string> texts, negatives;
  std::string run, out, field, views, view;
  int repeat = 2, max_side = 256;
  bool no_standardise = false;
};

void run_query(const QueryArgs& args) {
  if (args.texts.empty()) fail_usage("query: give at least one --text phrase");
  for (const std::string& t : args.texts)
    if (t.find_first_not_of(" \t") == std::string::npos) fail_usage("query: --text phrases must not be empty");
  if (!args.view.empty() && !args.views.empty()) fail_usage("query: give --view or --views, not both");
  const LoadedRun run = load_run(args.run);
  std::vector<const CameraRecord*> cameras;
  if (!args.view.empty()) cameras.push_back(&find_camera(run.cameras, args.view));
  else cameras = split_cameras(run.cameras, args.views.empty() ? "test" : args.views);

  const std::string field_name = choose_field(args.run, args.field, FieldUse::Query);
  const LoadedDistill field = load_distilled(args.run, field_name, *run.model);
  TextQueryOptions options;
  options.repeat = args.repeat;
  options.standardise = !args.no_standardise;
  if (!args.negatives.empty()) options.negatives = args.negatives;
  TextQuery query = TextQuery::for_field(field, options);

  const std::filesystem::path out(args.out);
  nlohmann::json summary = {{"run", args.run}, {"field", field_name}, {"phrases", args.texts},
                            {"negatives", options.negatives}, {"repeat", options.repeat},
                            {"standardise", options.standardise}};
  nlohmann::json views = nlohmann::json::object();
  for (const CameraRecord* camera : cameras) {
    const int64_t h = camera->camera.intrinsics.height, w = camera->camera.intrinsics.width;
    const SegmentView view =
        render_field_view(*field.model, working_camera(camera->camera, args.max_side), camera->name, 0);
    const TextQueryResult result = query.run(view.maps, view.opacity, args.texts);
    const at::Tensor classes = resample_nearest(result.classes, h, w);
    nlohmann::json counts = nlohmann::json::array();
    for (size_t k = 0; k < args.texts.size(); ++k) {
      write_scalar_png(out / fmt::format("{}_relevancy_{}.png", camera->name, k),
                       resample_bilinear(result.relevancy[k], h, w));
      const at::Tensor mask = classes == static_cast<int64_t>(k);
      write_mask_png(out / fmt::format("{}_mask_{}.png", camera->name, k), mask);
      counts.push_back(mask.sum().item<int64_t>());
    }
    if (args.texts.size() > 1) {
      // Class k is drawn in label colour k + 1 (colour 0 is reserved for "nothing"); empty pixels are black.
      write_png(out / fmt::format("{}_classes.png", camera->name), colorize_labels(at::where(classes >= 0, classes + 1,
                                                                                          classes)));
    }
    views[camera->name] = {{"pixels_per_phrase", counts}};
    std::printf("%s: %s\n", camera->name.c_str(), counts.dump().c_str());
  }
  summary["views"] = views;
  write_file_atomic(out / "query.json", summary.dump(2) + "\n");
}

}  // namespace

void add_query_command(CLI::App& app) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand(
      "query", "Text queries on a CLIP-distilled field: relevancy maps per phrase and a per-pixel class map");
  cmd->add_option("--run", args->run, "Run folder with a CLIP-distilled field")->required();
  cmd->add_option("--text", args->texts, "A phrase (repeatable: several phrases give a class map)")->required();
  cmd->add_option("--views", args->views, "Views of this split (train | val | test; default test)");
  cmd->add_option("--view", args->view, "One view instead: image stem (r_12) or split:index (test:0)");
  cmd->add_option("--field", args->field, "The CLIP field to use (default: the run's first CLIP field)");
  cmd->add_option("--negative", args->negatives,
                  "Canonical negative phrase for the relevancy (repeatable; default object, things, stuff, texture)");
  cmd->add_option("--repeat", args->repeat, "Laser's text repetition for the class map (1 = off)")
      ->check(CLI::Range(1, 8));
  cmd->add_flag("--no-standardise", args->no_standardise, "Skip the per-class standardisation of relevancy maps");
  cmd->add_option("--max-side", args->max_side, "Render features at most this many pixels on a side (upsampled after)")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--out", args->out,
                  "Output folder: <view>_relevancy_<k>.png, <view>_mask_<k>.png, <view>_classes.png, query.json")
      ->required();
  cmd->callback([args] { run_query(*args); });
}

}  // namespace semfield::cli
