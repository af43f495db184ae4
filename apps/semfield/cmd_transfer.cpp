// `semfield transfer`: labels or keypoints given on one view go to other views and to 3D points by nearest
// neighbours in rendered feature space (FeatureNeRF).
#include <cstdio>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/tensor_state.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/click_lifting.h"
#include "semfield/segment/feature_transfer.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/mask_io.h"
#include "semfield/segment/segment_view.h"
#include "semfield/segment/similarity_segmenter.h"

namespace semfield::cli {

namespace fs = std::filesystem;

namespace {

struct TransferArgs {
  std::string run, source, labels, keypoints, views, points, field, out;
  int max_side = 512;
};

struct Keypoint {
  std::string name;
  Eigen::Vector2d xy;
};

// {"keypoints": [{"name": "tip", "x": 12, "y": 30}, ...]} in the source view's pixels (click convention).
std::vector<Keypoint> read_keypoints(const fs::path& path, int width, int height) {
  const JsonNode root = JsonNode::parse_file(path);
  root.reject_unknown_keys({"keypoints"});
  const JsonNode list = root.at("keypoints");
  if (!list.is_array() || list.size() == 0) list.fail("expected a non-empty array of {\"name\", \"x\", \"y\"}");
  std::vector<Keypoint> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonNode k = list.at(i);
    k.reject_unknown_keys({"name", "x", "y"});
    Keypoint kp{k.string_or("name", fmt::format("{}", i)), {k.at("x").as_double(), k.at("y").as_double()}};
    if (!(kp.xy.x() >= 0 && kp.xy.x() < width && kp.xy.y() >= 0 && kp.xy.y() < height))
      k.fail(fmt::format("keypoint ({:g}, {:g}) lies outside the {} x {} source view", kp.xy.x(), kp.xy.y(), width,
                         height));
    out.push_back(kp);
  }
  return out;
}

// Point features of normalised scene points [N,3] from the field, as unit vectors like the views'.
at::Tensor point_unit_features(const SemanticSource& semantics, const at::Tensor& points) {
  const at::Tensor raw = semantics.point_outputs(points)[0];  // [N,C]
  const ChannelStats stats = semantics.channel_stats(0);
  return unit_features(raw.t().unsqueeze(2), stats.mean, stats.std).squeeze(2).t();
}

at::Tensor read_points(const fs::path& path) {
  const at::Tensor points = array_to_tensor(read_npy(path)).to(at::kFloat);
  if (points.dim() != 2 || points.size(1) != 3 || points.size(0) == 0)
    fail_input(path, "", "expected points [N, 3] (normalised scene coordinates), got {}", describe_tensor(points));
  if (!at::isfinite(points).all().item<bool>()) fail_input(path, "", "points must be finite");
  return points.contiguous();
}

// Working-resolution pixel (click convention) -> image pixel (click convention).
Eigen::Vector2d to_image_pixel(const Eigen::Vector2d& xy, const SegmentView& view, const Camera& image) {
  return {(xy.x() + 0.5) * image.intrinsics.width / view.width() - 0.5,
          (xy.y() + 0.5) * image.intrinsics.height / view.height() - 0.5};
}

void run_transfer(const TransferArgs& args) {
  if (args.labels.empty() == args.keypoints.empty()) fail_usage("transfer: give exactly one of --labels or --keypoints");
  const LoadedRun run = load_run(args.run);
  const CameraRecord& source = find_camera(run.cameras, args.source);
  const int sw = source.camera.intrinsics.width, sh = source.camera.intrinsics.height;
  at::Tensor labels;
  std::vector<Keypoint> keypoints;
  if (!args.labels.empty()) labels = read_label_png(args.labels, sw, sh);
  else keypoints = read_keypoints(args.keypoints, sw, sh);
  std::vector<const CameraRecord*> targets;
  if (!args.views.empty()) targets = split_cameras(run.cameras, args.views);
  const at::Tensor points = args.points.empty() ? at::Tensor() : read_points(args.points);
  if (targets.empty() && !points.defined()) fail_usage("transfer: give --views SPLIT and/or --points FILE as targets");

  const std::string field_name = choose_field(args.run, args.field, FieldUse::Transfer);
  const LoadedDistill field = load_distilled(args.run, field_name, *run.model);
  const SemanticSource& semantics = *field.model;
  if (semantics.has_classes())
    fail_usage("transfer: field '{}' holds labels; transfer compares features (use a feature field)", field_name);
  const ChannelStats stats = semantics.channel_stats(0);
  auto render = [&](const CameraRecord& c) {
    SegmentView v = render_field_view(semantics, working_camera(c.camera, args.max_side), c.name, 0);
    v.maps = unit_features(v.maps, stats.mean, stats.std);
    return v;
  };
  const SegmentView src = render(source);
  const fs::path out(args.out);
  nlohmann::json summary = {{"run", args.run}, {"field", field_name}, {"source", source.name}};

  if (labels.defined()) {
    const LabelledFeatures sources =
        labelled_features(src.maps, resample_nearest(labels, src.height(), src.width()), src.opacity);
    if (sources.labels.numel() == 0)
      fail_input(args.labels, "", "no labelled pixel lies on a surface of view {} (all labelled pixels are empty space)",
                 source.name);
    nlohmann::json views = nlohmann::json::object();
    for (const CameraRecord* target : targets) {
      const SegmentView tv = render(*target);
      const int64_t c = tv.maps.size(0);
      const TransferredLabels t = transfer_labels(sources, tv.maps.reshape({c, -1}).t(), tv.opacity.reshape(-1) >= 0.5);
      const at::Tensor ids = resample_nearest(t.labels.view({tv.height(), tv.width()}),
                                              target->camera.intrinsics.height, target->camera.intrinsics.width);
      write_ids_png(out / (target->name + ".png"), ids);
      write_png(out / (target->name + "_color.png"), colorize_labels(ids));
      views[target->name] = {{"labelled_pixels", (ids > 0).sum().item<int64_t>()},
                             {"mean_similarity", t.similarity.mean().item<double>()}};
    }
    summary["views"] = views;
    if (points.defined()) {
      const TransferredLabels t = transfer_labels(sources, point_unit_features(semantics, points), {});
      write_npy(out / "points_labels.npy", tensor_to_array(t.labels));
      write_npy(out / "points_similarity.npy", tensor_to_array(t.similarity));
      summary["points"] = {{"count", points.size(0)}, {"labels", "points_labels.npy"}};
    }
    std::printf("transferred labels of %s (%lld source pixels) to %zu views%s\n", source.name.c_str(),
                static_cast<long long>(sources.labels.numel()), targets.size(), points.defined() ? " and 3D points" : "");
  } else {
    // Keypoint features: the unit feature at the keypoint's pixel of the working-resolution source render.
    std::vector<at::Tensor> rows;
    nlohmann::json source_json = nlohmann::json::array();
    for (const Keypoint& k : keypoints) {
      const Eigen::Vector2d local((k.xy.x() + 0.5) * src.width() / sw - 0.5, (k.xy.y() + 0.5) * src.height() / sh - 0.5);
      const Eigen::Vector2i p = click_pixel(local, src.width(), src.height());
      rows.push_back(src.maps.select(1, p.y()).select(1, p.x()));
      const auto lifted = lift_click(src.camera, src.depth, local);
      source_json.push_back({{"name", k.name}, {"x", k.xy.x()}, {"y", k.xy.y()},
                             {"point", lifted ? nlohmann::json{lifted->x(), lifted->y(), lifted->z()} : nlohmann::json()}});
    }
    const at::Tensor queries = at::stack(rows);
    summary["keypoints"] = source_json;
    nlohmann::json views = nlohmann::json::object();
    for (const CameraRecord* target : targets) {
      const SegmentView tv = render(*target);
      const TransferredKeypoints t = transfer_keypoints(queries, tv.maps, tv.opacity);
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < keypoints.size(); ++i) {
        const int64_t k = static_cast<int64_t>(i);
        const double similarity = t.similarity[k].item<double>();
        nlohmann::json entry = {{"name", keypoints[i].name}, {"similarity", similarity}};
        if (similarity > -2) {
          const Eigen::Vector2d xy = to_image_pixel({t.xy[k][0].item<double>(), t.xy[k][1].item<double>()}, tv,
                                                    target->camera);
          entry["x"] = xy.x();
          entry["y"] = xy.y();
        }
        list.push_back(entry);
      }
      views[target->name] = list;
    }
    summary["views"] = views;
    if (points.defined()) {
      const auto [index, similarity] = nearest_features(queries, point_unit_features(semantics, points));
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < keypoints.size(); ++i) {
        const int64_t k = static_cast<int64_t>(i), n = index[k].item<int64_t>();
        list.push_back({{"name", keypoints[i].name},
                        {"index", n},
                        {"point", {points[n][0].item<double>(), points[n][1].item<double>(), points[n][2].item<double>()}},
                        {"similarity", similarity[k].item<double>()}});
      }
      summary["points"] = list;
    }
    std::printf("transferred %zu keypoints of %s to %zu views%s\n", keypoints.size(), source.name.c_str(),
                targets.size(), points.defined() ? " and 3D points" : "");
  }
  write_file_atomic(out / (labels.defined() ? "labels.json" : "keypoints.json"), summary.dump(2) + "\n");
}

}  // namespace

void add_transfer_command(CLI::App& app) {
  auto args = std::make_shared<TransferArgs>();
  CLI::App* cmd = app.add_subcommand(
      "transfer", "Transfer labels or keypoints of one view to other views and 3D points (feature nearest neighbours)");
  cmd->add_option("--run", args->run, "Run folder with a distilled feature field")->required();
  cmd->add_option("--source", args->source, "The view the labels/keypoints are given on (r_12 or split:index)")
      ->required();
  cmd->add_option("--labels", args->labels, "Label PNG of the source view: 1-channel integer ids, 0 = unlabelled");
  cmd->add_option("--keypoints", args->keypoints, "Keypoint JSON: {\"keypoints\": [{\"name\", \"x\", \"y\"}, ...]}");
  cmd->add_option("--views", args->views, "Target views: every view of this split (train | val | test)");
  cmd->add_option("--points", args->points, "Target 3D points: .npy [N,3] in normalised scene coordinates");
  cmd->add_option("--field", args->field, "Feature field to compare (default: the first non-label, non-SAM field)");
  cmd->add_option("--max-side", args->max_side, "Render features at most this many pixels on a side")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--out", args->out, "Output folder (docs/segmentation.md lists its files)")->required();
  cmd->callback([args] { run_transfer(*args); });
}

}  // namespace semfield::cli
