// `semfield segment`: click/box segmentation of a view of a trained run, followed into other views, and the 3D
// selection it builds.
#include <chrono>
#include <cstdio>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/mask_io.h"
#include "semfield/segment/segment_session.h"
#include "semfield/segment/selection.h"

namespace semfield::cli {

namespace {

struct SegmentArgs {
  std::string run, view, out, field, views, method = "auto";
  std::vector<std::string> clicks, negatives;
  std::string box;
  int resolution = 128;
};

nlohmann::json point_json(const Eigen::Vector2d& p) { return {p.x(), p.y()}; }

void run_segment(const SegmentArgs& args) {
  Prompts prompts;
  for (const std::string& c : args.clicks) prompts.positive.push_back(parse_point(c, "--click"));
  for (const std::string& c : args.negatives) prompts.negative.push_back(parse_point(c, "--negative"));
  if (!args.box.empty()) prompts.box = parse_box(args.box, "--box");

  const LoadedRun run = load_run(args.run);
  const CameraRecord& prompted = find_camera(run.cameras, args.view);
  // Check the prompts before the (slow) field loading and rendering.
  check_prompts(prompts, prompted.camera.intrinsics.width, prompted.camera.intrinsics.height, prompted.name);
  std::vector<const CameraRecord*> follow;
  if (!args.views.empty()) follow = split_cameras(run.cameras, args.views);

  const RunSemantics field = load_semantics(args.run, run, args.field, FieldUse::Segment);
  const std::string& field_name = field.name;
  const std::unique_ptr<Segmenter> segmenter = make_segmenter(field, segment_method_for(run, field.name, args.method));
  SessionOptions options;
  options.selection_resolution = args.resolution;
  SegmentSession session(*segmenter, *run.model, options);

  nlohmann::json summary = {{"run", args.run},
                            {"field", field_name},
                            {"teacher", field.origin()},
                            {"method", segmenter->method()},
                            {"view", prompted.name}};
  const SegmentView view = segmenter->prepare(prompted.camera, prompted.name);
  const auto start = std::chrono::steady_clock::now();
  const at::Tensor mask = session.prompt(view, prompts);
  const double click_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  write_mask_png(std::filesystem::path(args.out) / (prompted.name + ".png"), mask);
  std::printf("%s: %lld pixels selected (%s on field %s; render %.0f ms, click %.0f ms)\n", prompted.name.c_str(),
              static_cast<long long>(mask.sum().item<int64_t>()), segmenter->method().c_str(), field_name.c_str(),
              view.render_seconds * 1e3, click_ms);

  nlohmann::json views = nlohmann::json::object();
  views[prompted.name] = {{"pixels", mask.sum().item<int64_t>()}, {"prompted", true}};
  for (const CameraRecord* camera : follow) {
    if (camera->name == prompted.name) continue;
    const SegmentView other = segmenter->prepare(camera->camera, camera->name);
    const at::Tensor followed = session.follow(other);
    write_mask_png(std::filesystem::path(args.out) / (camera->name + ".png"), followed);
    views[camera->name] = {{"pixels", followed.sum().item<int64_t>()}, {"prompted", false}};
  }
  if (!follow.empty()) std::printf("followed the selection into %zu %s views\n", follow.size(), args.views.c_str());

  Selection& selection = session.selection();
  nlohmann::json prompt_json = {{"positive", nlohmann::json::array()}, {"negative", nlohmann::json::array()}};
  for (const auto& p : prompts.positive) prompt_json["positive"].push_back(point_json(p));
  for (const auto& p : prompts.negative) prompt_json["negative"].push_back(point_json(p));
  if (prompts.box) prompt_json["box"] = {(*prompts.box)[0], (*prompts.box)[1], (*prompts.box)[2], (*prompts.box)[3]};
  nlohmann::json lifted = nlohmann::json::array();
  for (const Eigen::Vector3d& p : session.lifted().positive) lifted.push_back({p.x(), p.y(), p.z()});
  selection.provenance() = {{"run", args.run},       {"field", field_name}, {"method", segmenter->method()},
                            {"view", prompted.name}, {"prompts", prompt_json}, {"lifted_clicks", lifted},
                            {"views", views.size()}};
  if (selection.empty())
    fail_usage("the selection is empty: no selected pixel of view {} lies on a surface the model renders",
               prompted.name);
  save_selection(std::filesystem::path(args.out) / "selection.safetensors", selection);
  summary["prompts"] = prompt_json;
  summary["lifted_clicks"] = lifted;
  summary["views"] = views;
  summary["selected_voxels"] = selection.selected_count();
  summary["click_ms"] = click_ms;
  write_file_atomic(std::filesystem::path(args.out) / "segment.json", summary.dump(2) + "\n");
  std::printf("selection: %lld voxels -> %s\n", static_cast<long long>(selection.selected_count()),
              (std::filesystem::path(args.out) / "selection.safetensors").string().c_str());
}

}  // namespace

void add_segment_command(CLI::App& app) {
  auto args = std::make_shared<SegmentArgs>();
  CLI::App* cmd = app.add_subcommand(
      "segment", "Segment an object by clicks or a box in one view, follow it into other views, save its 3D selection");
  cmd->add_option("--run", args->run,
                  "Run folder: `semfield train` + `distill`, or `semfield apply` of a model with semantics (gp-nerf...)")
      ->required();
  cmd->add_option("--view", args->view, "The prompted view: image stem (r_12) or split:index (test:0)")->required();
  cmd->add_option("--click", args->clicks, "Positive click x,y in pixels (column, row; repeatable)");
  cmd->add_option("--negative", args->negatives, "Negative click x,y (repeatable)");
  cmd->add_option("--box", args->box, "Box x0,y0,x1,y1 in pixels (inclusive)");
  cmd->add_option("--field", args->field,
                  "Distilled field to use, or `semantics` for the run model's own (default: a SAM field, else labels, "
                  "else features; the model's own when the run has no distilled field)");
  cmd->add_option("--method", args->method,
                  fmt::format("auto | similarity (the weight-free method on any feature field) | class (a gp-nerf run "
                              "with an instance head: select the clicked class, not the instance) | instance (the "
                              "clicked instance, even where the head scored below AP@0.75 {} at apply time, when auto "
                              "selects classes)",
                              kInstanceHeadMinAp));
  cmd->add_option("--views", args->views, "Also write masks for every view of this split (train | val | test)");
  cmd->add_option("--resolution", args->resolution, "Voxels along the longest side of the 3D selection")
      ->check(CLI::Range(8, 1024));
  cmd->add_option("--out", args->out, "Output folder: <view>.png masks, selection.safetensors, segment.json")
      ->required();
  cmd->callback([args] { run_segment(*args); });
}

}  // namespace semfield::cli
