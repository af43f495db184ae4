// `semfield transfer`: labels or keypoints given on one view go to other views and to 3D points by nearest
// neighbours in rendered feature space (FeatureNeRF).
#include <cstdio>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/crc32.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/core/tensor_state.h"
#include "semfield/models/model_file.h"
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
  std::string run, from, source, labels, keypoints, views, points, source_points, source_point_labels, field, out;
  int max_side = 512;
  /// > 0: canonical positions weighed beside the features (with_canonical_positions); unset: the source's
  /// default_position_weight (FeatureNeRF with a coordinate head: 2; else 0).
  std::optional<double> coordinate_weight;
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
    // Click convention: pixel i covers [i - 0.5, i + 0.5), so the image spans [-0.5, width - 0.5).
    if (!(kp.xy.x() >= -0.5 && kp.xy.x() < width - 0.5 && kp.xy.y() >= -0.5 && kp.xy.y() < height - 0.5))
      k.fail(fmt::format("keypoint ({:g}, {:g}) lies outside the {} x {} source view (pixel centres at 0 .. {}, {}: "
                         "x in [-0.5, {:g}), y in [-0.5, {:g}))",
                         kp.xy.x(), kp.xy.y(), width, height, width - 1, height - 1, width - 0.5, height - 0.5));
    out.push_back(kp);
  }
  return out;
}

// A source's point features [N,C] (scale 0) as unit vectors like the views'.
at::Tensor unit_point_features(const SemanticSource& semantics, const at::Tensor& raw) {
  const ChannelStats stats = semantics.channel_stats(0);
  return unit_features(raw.t().unsqueeze(2), stats.mean, stats.std).squeeze(2).t();
}

// Point features of normalised scene points [N,3] from the field, as unit vectors like the views'.
at::Tensor point_unit_features(const SemanticSource& semantics, const at::Tensor& points) {
  return unit_point_features(semantics, semantics.point_outputs(points)[0]);
}

// Points [N,3] as given (the scene's world frame).
at::Tensor read_points(const fs::path& path) {
  const at::Tensor points = array_to_tensor(read_npy(path)).to(at::kFloat);
  if (points.dim() != 2 || points.size(1) != 3 || points.size(0) == 0)
    fail_input(path, "", "expected points [N, 3] (world coordinates), got {}", describe_tensor(points));
  if (!at::isfinite(points).all().item<bool>()) fail_input(path, "", "points must be finite");
  return points.contiguous();
}

// Working-resolution pixel (click convention) -> image pixel (click convention).
Eigen::Vector2d to_image_pixel(const Eigen::Vector2d& xy, const SegmentView& view, const Camera& image) {
  return {(xy.x() + 0.5) * image.intrinsics.width / view.width() - 0.5,
          (xy.y() + 0.5) * image.intrinsics.height / view.height() - 0.5};
}

// One side of a transfer: a run and the semantic source its features come from (the run's own features for models
// that have them, FeatureNeRF; else a distilled feature field).
struct TransferSide {
  std::string dir;
  LoadedRun run;
  std::optional<LoadedDistill> field;
  const SemanticSource* semantics = nullptr;
  std::string field_name;
};

void open_run(TransferSide& side, const std::string& dir) {
  side.dir = dir;
  side.run = load_run(dir);
}

void open_semantics(TransferSide& side, const std::string& dir, const std::string& field) {
  RunSemantics semantics = load_semantics(dir, side.run, field, FieldUse::Transfer);
  side.field_name = semantics.name;
  side.semantics = semantics.source;
  side.field = std::move(semantics.field);  // the source lives on the heap: side.semantics stays valid
  if (side.semantics->has_classes())
    fail_usage("transfer: {} holds labels; transfer compares features (use a feature field)",
               side.field ? fmt::format("field '{}'", side.field_name) : std::string("the run model's own semantics"));
}

uint32_t file_crc(const fs::path& path) {
  const std::string bytes = read_file_text(path);
  return crc32(bytes.data(), bytes.size());
}

// Features of two runs are comparable only when one network made both: the same model file applied to two scenes
// without fine-tuning (FeatureNeRF's cross-instance transfer). Anything else is refused, naming why.
void require_same_feature_space(const TransferSide& a, const TransferSide& b) {
  const auto describe = [](const TransferSide& s) {
    return s.run.applied ? fmt::format("model {} (type {})", s.run.applied->model.string(), s.run.applied->model_type)
                         : fmt::format("a per-scene run's field '{}'", s.field_name);
  };
  const auto refuse = [&](const std::string& why) {
    fail_usage("transfer --from: runs {} and {} have different feature spaces ({}): their features cannot be compared. "
               "Apply one generalizable model (e.g. a FeatureNeRF model) to both scenes without fine-tuning",
               a.dir, b.dir, why);
  };
  if (!a.run.applied || !b.run.applied) {
    if (fs::equivalent(a.dir, b.dir)) return;
    refuse(fmt::format("{} against {}: per-scene fields are each their own space", describe(a), describe(b)));
  }
  if (a.field || b.field) refuse("distilled per-scene fields are each their own space");
  if (a.run.applied->finetune_steps > 0 || b.run.applied->finetune_steps > 0)
    refuse("a fine-tuned model is its own network");
  if (a.run.applied->model_type != b.run.applied->model_type)
    refuse(fmt::format("{} against {}", describe(a), describe(b)));
  // The configs the runs render with (the model file's, then apply --model-config): a key set to the file's own value
  // changes nothing.
  const auto effective = [](const TransferSide& s) {
    nlohmann::json c = read_model_file(s.run.applied->model, /*weights=*/false).config;
    if (s.run.applied->model_config.is_object()) c.update(s.run.applied->model_config);
    return c;
  };
  if (effective(a) != effective(b))
    refuse(fmt::format("applied with different --model-config: {} against {}", a.run.applied->model_config.dump(),
                       b.run.applied->model_config.dump()));
  // Positions enter the features in the model's units: a run applied before scenes were framed in the corpora's
  // units (2026-11-29: no model_unit_scale in its frame) against one applied since may read them at another scale.
  const double ua = a.run.model->frame().model_unit_scale, ub = b.run.model->frame().model_unit_scale;
  if (ua != ub)
    refuse(fmt::format("framed in different units (scene_frame.model_unit_scale {} against {}; 0: the scene's own "
                       "units, as a run applied before 2026-11-29 or one whose cameras fix no look-at point, which "
                       "`apply` warned about): apply the model to both scenes again, with cameras that look at the "
                       "object",
                       ua, ub));
  if (a.semantics->channels() != b.semantics->channels()) refuse("different feature channels");
  if (a.semantics->has_canonical_positions() != b.semantics->has_canonical_positions())
    refuse("one regresses canonical positions, the other does not");
  if (!fs::equivalent(a.run.applied->model, b.run.applied->model) &&
      file_crc(a.run.applied->model) != file_crc(b.run.applied->model))
    refuse(fmt::format("{} against {}", describe(a), describe(b)));
}

// Target cameras: a split (train | val | test), or view names / split:index separated by commas.
std::vector<const CameraRecord*> target_cameras(const std::vector<CameraRecord>& cameras, const std::string& views) {
  if (views.empty()) return {};
  if (views == "train" || views == "val" || views == "test") return split_cameras(cameras, views);
  std::vector<const CameraRecord*> out;
  size_t begin = 0;
  while (begin <= views.size()) {
    const size_t end = std::min(views.find(',', begin), views.size());
    const std::string name = views.substr(begin, end - begin);
    if (!name.empty()) out.push_back(&find_camera(cameras, name));
    begin = end + 1;
  }
  return out;
}

// A run's normalised frame -> world (transforms-file) coordinates (the other way: SceneFrame::to_normalised).
Eigen::Vector3d normalised_to_world(const Eigen::Vector3d& p, const LoadedRun& run) {
  return run.model->frame().normalization.invert(p);
}

void run_transfer(const TransferArgs& args) {
  const bool point_mode = !args.source_points.empty() || !args.source_point_labels.empty();
  if (point_mode) {
    if (args.source_points.empty() || args.source_point_labels.empty() || args.points.empty())
      fail_usage("transfer: 3D label transfer needs --source-points, --source-point-labels and --points together");
    if (!args.labels.empty() || !args.keypoints.empty())
      fail_usage("transfer: give either --source-points (3D labels) or --labels / --keypoints (a source view)");
  } else if (args.labels.empty() == args.keypoints.empty()) {
    fail_usage("transfer: give exactly one of --labels or --keypoints");
  }
  if (!point_mode && args.source.empty()) fail_usage("transfer: --source V names the view the labels/keypoints are on");
  TransferSide target_side, from_side;
  open_run(target_side, args.run);
  if (!args.from.empty()) {
    open_run(from_side, args.from);
    // Runs of two model types (an ibr or gp-nerf run against a FeatureNeRF one) are refused as such, before either
    // side's features are looked for (a run without any would otherwise ask for a distilled field).
    const auto& a = from_side.run.applied;
    const auto& b = target_side.run.applied;
    if (a && b && a->model_type != b->model_type)
      fail_usage("transfer --from: runs {} and {} have different feature spaces (model {} (type {}) against model {} "
                 "(type {})): their features cannot be compared. Apply one generalizable model (e.g. a FeatureNeRF "
                 "model) to both scenes without fine-tuning",
                 from_side.dir, target_side.dir, a->model.string(), a->model_type, b->model.string(), b->model_type);
  }
  open_semantics(target_side, args.run, args.field);
  const TransferSide* source_side = &target_side;
  if (!args.from.empty()) {
    open_semantics(from_side, args.from, args.field);
    require_same_feature_space(from_side, target_side);
    source_side = &from_side;
  }
  const SemanticSource& semantics = *target_side.semantics;
  const SemanticSource& source_semantics = *source_side->semantics;
  const double w = args.coordinate_weight.value_or(semantics.default_position_weight());
  if (w > 0 && !semantics.has_canonical_positions())
    fail_usage("transfer --coordinate-weight: the features of {} regress no canonical positions (only FeatureNeRF "
               "models trained with the coordinate loss do)", args.run);
  // Unit rows [N,C] of points, with their canonical positions when weighed.
  const auto point_rows = [&](const SemanticSource& from, const at::Tensor& p, PositionRole role) {
    if (w == 0) return point_unit_features(from, p);
    const PointOutputs o = from.point_outputs_with_canonical_positions(p);
    return with_canonical_positions(unit_point_features(from, o.maps[0]), o.canonical_positions, w, role, 1);
  };
  const fs::path out(args.out);
  std::vector<const CameraRecord*> targets = target_cameras(target_side.run.cameras, args.views);
  const SceneFrame& target_frame = target_side.run.model->frame();
  const at::Tensor points = args.points.empty() ? at::Tensor() : target_frame.to_normalised(read_points(args.points));
  if (targets.empty() && !points.defined()) fail_usage("transfer: give --views SPLIT|V,.. and/or --points FILE as targets");
  nlohmann::json summary = {{"run", args.run}, {"field", target_side.field_name}};
  if (!args.from.empty()) summary["from"] = args.from;
  if (semantics.has_canonical_positions()) summary["coordinate_weight"] = w;

  if (point_mode) {
    // 3D part transfer: every target point takes the label of its most similar labelled source point.
    const at::Tensor src_points = source_side->run.model->frame().to_normalised(read_points(args.source_points));
    // Integer ids, one per source point ([N] or [N,1]); 0 = unlabelled. Floats only where they hold whole numbers.
    const at::Tensor raw = array_to_tensor(read_npy(args.source_point_labels));
    if (!(raw.dim() == 1 || (raw.dim() == 2 && raw.size(1) == 1)))
      fail_input(args.source_point_labels, "", "expected one label per point, shape [N] or [N,1]; got {}",
                 fmt::format("{}", fmt::join(raw.sizes(), " x ")));
    if (raw.is_floating_point() && !at::equal(raw, raw.round()))
      fail_input(args.source_point_labels, "", "labels must be integer ids; the array holds fractions");
    const at::Tensor src_labels = raw.to(at::kLong).reshape(-1);
    if (src_labels.size(0) != src_points.size(0))
      fail_input(args.source_point_labels, "", "{} labels for {} source points", src_labels.size(0), src_points.size(0));
    if (src_labels.lt(0).any().item<bool>())
      fail_input(args.source_point_labels, "", "negative label ids (0 = unlabelled, ids > 0 = parts)");
    const at::Tensor keep = src_labels.gt(0);
    if (!keep.any().item<bool>()) fail_input(args.source_point_labels, "", "no labelled source point (all are 0)");
    LabelledFeatures sources;
    sources.features = point_rows(source_semantics, src_points.index({keep}), PositionRole::Key);
    sources.labels = src_labels.index({keep});
    const TransferredLabels t = transfer_labels(sources, point_rows(semantics, points, PositionRole::Query), {});
    write_npy(out / "points_labels.npy", tensor_to_array(t.labels));
    write_npy(out / "points_similarity.npy", tensor_to_array(t.similarity));
    summary["points"] = {{"count", points.size(0)}, {"source_points", sources.labels.size(0)},
                         {"labels", "points_labels.npy"}};
    write_file_atomic(out / "labels.json", summary.dump(2) + "\n");
    std::printf("transferred labels of %lld 3D points to %lld points\n", static_cast<long long>(sources.labels.size(0)),
                static_cast<long long>(points.size(0)));
    return;
  }

  const CameraRecord& source = find_camera(source_side->run.cameras, args.source);
  summary["source"] = source.name;
  const int sw = source.camera.intrinsics.width, sh = source.camera.intrinsics.height;
  at::Tensor labels;
  std::vector<Keypoint> keypoints;
  if (!args.labels.empty()) labels = read_label_png(args.labels, sw, sh);
  else keypoints = read_keypoints(args.keypoints, sw, sh);
  // A view's unit feature maps [C,h,w], with its canonical positions in `role` when weighed.
  auto render = [&](const SemanticSource& from, const CameraRecord& c, PositionRole role) {
    const ChannelStats stats = from.channel_stats(0);
    const Camera camera = working_camera(c.camera, args.max_side);
    if (w == 0) {
      SegmentView v = render_field_view(from, camera, c.name, 0);
      v.maps = unit_features(v.maps, stats.mean, stats.std);
      return v;
    }
    const SemanticRenderOutput o = from.render_view_with_canonical_positions(camera);  // one pass, both heads
    SegmentView v = field_view_of(o, camera, c.name, 0);
    const at::Tensor positions = o.canonical_positions.t().reshape({3, v.height(), v.width()});
    v.maps = with_canonical_positions(unit_features(v.maps, stats.mean, stats.std), positions, w, role, 0);
    return v;
  };
  // Labels: the source view's pixels are the neighbours (keys); keypoints: the target views' pixels are.
  const SegmentView src = render(source_semantics, source, labels.defined() ? PositionRole::Key : PositionRole::Query);

  if (labels.defined()) {
    const LabelledFeatures sources =
        labelled_features(src.maps, resample_nearest(labels, src.height(), src.width()), src.opacity);
    if (sources.labels.numel() == 0)
      fail_input(args.labels, "", "no labelled pixel lies on a surface of view {} (all labelled pixels are empty space)",
                 source.name);
    nlohmann::json views = nlohmann::json::object();
    for (const CameraRecord* target : targets) {
      const SegmentView tv = render(semantics, *target, PositionRole::Query);
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
      const TransferredLabels t = transfer_labels(sources, point_rows(semantics, points, PositionRole::Query), {});
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
    std::vector<std::string> on_background;
    for (const Keypoint& k : keypoints) {
      const Eigen::Vector2d local((k.xy.x() + 0.5) * src.width() / sw - 0.5, (k.xy.y() + 0.5) * src.height() / sh - 0.5);
      const Eigen::Vector2i p = click_pixel(local, src.width(), src.height());
      rows.push_back(src.maps.select(1, p.y()).select(1, p.x()));
      const auto lifted = lift_click(src.camera, src.depth, local);
      nlohmann::json point;
      if (!lifted) on_background.push_back(k.name);
      if (lifted) {
        const Eigen::Vector3d w = normalised_to_world(lifted->cast<double>(), source_side->run);
        point = {w.x(), w.y(), w.z()};
      }
      source_json.push_back({{"name", k.name}, {"x", k.xy.x()}, {"y", k.xy.y()}, {"point", point}});
    }
    if (!on_background.empty())
      log::warn("transfer: keypoints on {}'s background (no surface rendered at their pixel; their feature is the "
                "background's, their `point` null): {}", args.source, fmt::join(on_background, ", "));
    const at::Tensor queries = at::stack(rows);
    summary["keypoints"] = source_json;
    nlohmann::json views = nlohmann::json::object();
    for (const CameraRecord* target : targets) {
      const SegmentView tv = render(semantics, *target, PositionRole::Key);
      const TransferredKeypoints t = transfer_keypoints(queries, tv.maps, tv.opacity);
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < keypoints.size(); ++i) {
        const int64_t k = static_cast<int64_t>(i);
        const double similarity = t.similarity[k].item<double>();
        nlohmann::json entry = {{"name", keypoints[i].name}, {"similarity", similarity}};
        if (t.xy[k][0].item<float>() >= 0) {  // found (the similarity of weighed positions may fall below -2)
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
      const auto [index, similarity] = best_dot(queries, point_rows(semantics, points, PositionRole::Key));
      const at::Tensor world = read_points(args.points);
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < keypoints.size(); ++i) {
        const int64_t k = static_cast<int64_t>(i), n = index[k].item<int64_t>();
        list.push_back({{"name", keypoints[i].name},
                        {"index", n},
                        {"point", {world[n][0].item<double>(), world[n][1].item<double>(), world[n][2].item<double>()}},
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
  cmd->add_option("--run", args->run, "Run folder with features (a FeatureNeRF run or a distilled feature field): the "
                  "targets' scene")->required();
  cmd->add_option("--from", args->from,
                  "Run the source view belongs to (cross-instance transfer: the same generalizable model applied to "
                  "another scene); default: --run itself");
  cmd->add_option("--source", args->source,
                  "The view the labels/keypoints are given on (r_12 or split:index; a view of --from when given)");
  cmd->add_option("--labels", args->labels, "Label PNG of the source view: 1-channel integer ids, 0 = unlabelled");
  cmd->add_option("--keypoints", args->keypoints, "Keypoint JSON: {\"keypoints\": [{\"name\", \"x\", \"y\"}, ...]}");
  cmd->add_option("--views", args->views,
                  "Target views of --run: a split (train | val | test) or view names / split:index, comma-separated");
  cmd->add_option("--points", args->points,
                  "Target 3D points: .npy [N,3] in the scene's world frame (its transforms file's coordinates)");
  cmd->add_option("--source-points", args->source_points,
                  "3D label transfer: labelled source points, .npy [N,3] in the --from (or --run) scene's world frame");
  cmd->add_option("--source-point-labels", args->source_point_labels,
                  "3D label transfer: the source points' label ids, .npy [N] integers, 0 = unlabelled");
  cmd->add_option("--field", args->field,
                  "Feature field to compare, or `semantics` for the run model's own (default: the model's own features "
                  "(FeatureNeRF), else the first non-label, non-SAM field)");
  cmd->add_option_function<double>(
         "--coordinate-weight", [args](const double& w) { args->coordinate_weight = w; },
         "Weigh canonical positions beside the features (FeatureNeRF models trained with the coordinate loss): "
         "nearest neighbours of |v1-v2|^2 + W^2 |x1-x2|^2 over unit features v and regressed canonical coordinates x "
         "(object units); similarities are then 1 - that / 2. 0: features alone (cosine; the paper's v_NeRF "
         "protocol). Default: 2 for such models, else 0")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--max-side", args->max_side, "Render features at most this many pixels on a side")
      ->check(CLI::Range(8, 4096));
  cmd->add_option("--out", args->out, "Output folder (docs/segmentation.md lists its files)")->required();
  cmd->callback([args] { run_transfer(*args); });
}

}  // namespace semfield::cli
