// `semfield info`: what a scene folder holds (format, splits, cameras, normalisation, extras), as text or JSON.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/json_vec.h"
#include "semfield/data/scene.h"

namespace semfield::cli {

namespace {

struct InfoOptions {
  std::string data;
  int downscale = 1;
  std::string split_rule = "auto";
  bool json = false;
  bool quick = false;
  bool key_backdrop = false;
};

const char* model_name(CameraModel model) {
  switch (model) {
    case CameraModel::Pinhole: return "pinhole";
    case CameraModel::OpenCV: return "opencv";
    case CameraModel::OpenCVFisheye: return "opencv_fisheye";
  }
  return "pinhole";
}

bool nearly_equal(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(a)); }

bool same_intrinsics(const Intrinsics& a, const Intrinsics& b) {
  const Distortion &da = a.distortion, &db = b.distortion;
  return a.width == b.width && a.height == b.height && a.model == b.model && nearly_equal(a.fx, b.fx) &&
         nearly_equal(a.fy, b.fy) && nearly_equal(a.cx, b.cx) && nearly_equal(a.cy, b.cy) && nearly_equal(da.k1, db.k1) && nearly_equal(da.k2, db.k2) &&
         nearly_equal(da.k3, db.k3) && nearly_equal(da.k4, db.k4) && nearly_equal(da.p1, db.p1) && nearly_equal(da.p2, db.p2);
}

// The coefficients a model uses, by name.
nlohmann::ordered_json distortion_json(const Intrinsics& K) {
  const Distortion& d = K.distortion;
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  if (K.model == CameraModel::OpenCV) {
    out = {{"k1", d.k1}, {"k2", d.k2}, {"k3", d.k3}, {"p1", d.p1}, {"p2", d.p2}};
  } else if (K.model == CameraModel::OpenCVFisheye) {
    out = {{"k1", d.k1}, {"k2", d.k2}, {"k3", d.k3}, {"k4", d.k4}};
  }
  return out;
}


nlohmann::ordered_json bounds_json(const SceneBounds& bounds) {
  nlohmann::ordered_json out;
  out["aabb_scale"] = bounds.aabb_scale;
  out["source"] = bounds_source_name(bounds.source);
  out["evidence"] = bounds_source_name(bounds.evidence);
  out["content_extent"] = bounds.content_extent ? nlohmann::ordered_json(*bounds.content_extent) : nullptr;
  out["views_sampled"] = bounds.views_sampled;
  return out;
}

nlohmann::ordered_json describe(const Scene& scene, const InfoOptions& options) {
  nlohmann::ordered_json out;
  out["path"] = scene.root.string();
  out["format"] = scene.format;
  out["views"] = {{"total", scene.views.size()},
                  {"train", scene.count(Split::Train)},
                  {"val", scene.count(Split::Val)},
                  {"test", scene.count(Split::Test)}};
  // --key-backdrop: the views the key took on, those with alpha of their own, the rest (decoded images only: not
  // with --quick); the source (train) views apart, as `apply` counts them.
  if (options.key_backdrop && !options.quick) {
    const auto count = [&](std::optional<Split> split) {
      size_t keyed = 0, own = 0, views = 0;
      for (const View& view : scene.views) {
        if (split && view.split != *split) continue;
        ++views;
        keyed += view.backdrop_keyed ? 1 : 0;
        own += !view.backdrop_keyed && view.has_alpha() ? 1 : 0;
      }
      return nlohmann::ordered_json{{"keyed", keyed}, {"own_alpha", own}, {"unchanged", views - keyed - own},
                                    {"views", views}};
    };
    out["key_backdrop"] = count(std::nullopt);
    out["key_backdrop"]["train"] = count(Split::Train);
  }
  // Frames whose image is missing: their cameras remain targets for render and transfer.
  if (!scene.imageless.empty()) out["cameras_without_images"] = scene.imageless.size();
  out["downscale"] = options.downscale;

  std::map<std::pair<int, int>, int> resolutions;
  std::map<std::string, int> models;
  bool varies = false;
  int depth = 0, mask = 0, instance = 0, semantic = 0;
  const Intrinsics& first = scene.views.front().camera.intrinsics;
  for (const View& view : scene.views) {
    const Intrinsics& K = view.camera.intrinsics;
    ++resolutions[{K.width, K.height}];
    ++models[model_name(K.model)];
    varies = varies || !same_intrinsics(K, first);
    depth += view.depth_path.empty() ? 0 : 1;
    mask += view.mask_path.empty() ? 0 : 1;
    instance += view.instance_path.empty() ? 0 : 1;
    semantic += view.semantic_path.empty() ? 0 : 1;
  }
  nlohmann::ordered_json sizes = nlohmann::ordered_json::array();
  for (const auto& [size, count] : resolutions)
    sizes.push_back({{"width", size.first}, {"height", size.second}, {"views", count}});
  out["resolutions"] = sizes;
  out["intrinsics"] = {{"view", scene.views.front().name},
                       {"width", first.width},
                       {"height", first.height},
                       {"fx", first.fx},
                       {"fy", first.fy},
                       {"cx", first.cx},
                       {"cy", first.cy},
                       {"model", model_name(first.model)},
                       {"distortion", distortion_json(first)},
                       {"varies", varies}};
  out["camera_models"] = models;
  out["normalization"] = {{"scale", scene.normalization.scale}, {"offset", vec_json<nlohmann::ordered_json>(scene.normalization.offset)}};
  out["aabb"] = {{"min", vec_json<nlohmann::ordered_json>(scene.aabb.min())}, {"max", vec_json<nlohmann::ordered_json>(scene.aabb.max())}};
  out["unbounded"] = scene.unbounded;
  out["near"] = scene.near;
  out["far"] = scene.far;
  out["bounds"] = bounds_json(scene.bounds);
  out["extras"] = {{"depth", depth}, {"mask", mask}, {"instance", instance}, {"semantic", semantic}};
  out["labels"] = {{"instances", scene.instance_labels.size()},
                   {"classes", scene.semantic_labels.size()},
                   {"error", scene.labels_error.empty() ? nlohmann::ordered_json(nullptr)
                                                        : nlohmann::ordered_json(scene.labels_error)}};
  nlohmann::ordered_json unreadable = nlohmann::ordered_json::array();
  for (const FileProblem& problem : scene.unreadable)
    unreadable.push_back({{"path", problem.path.string()}, {"message", problem.message}});
  out["files"] = {{"total", scene.views.size() + depth + mask + instance + semantic},
                  {"checked", options.quick ? "headers" : "decoded"},
                  {"unreadable", unreadable}};
  return out;
}

std::string vec_text(const nlohmann::ordered_json& v) {
  return fmt::format("({:.4g}, {:.4g}, {:.4g})", v[0].get<double>(), v[1].get<double>(), v[2].get<double>());
}

// What the bounds line says: the box, and what it came from.
std::string bounds_text(const nlohmann::ordered_json& b) {
  const std::string source = b["source"].get<std::string>(), evidence = b["evidence"].get<std::string>();
  const double scale = b["aabb_scale"].get<double>();
  const auto measured = [&] {
    const char* what = evidence == "depth" ? "depth maps" : evidence == "alpha" ? "alpha" : "background colour";
    return fmt::format("content reaches {:.3g} units from the centre ({} of {} views)",
                       b["content_extent"].get<double>(), what, b["views_sampled"].get<int>());
  };
  if (source == "cameras") return "the contracted space around the cameras (real capture; not inferred)";
  if (source == "default") return "aabb_scale 1 (default: no visible content to infer from)";
  if (source == "opaque")
    return fmt::format("aabb_scale {:g}, inferred: the images are opaque to their borders and there is no depth, "
                       "so the background is unbounded (the box holds the cameras)", scale);
  if (source != "file") return fmt::format("aabb_scale {:g}, inferred: {}", scale, measured());
  if (evidence == "opaque")
    return fmt::format("aabb_scale {:g} from the file; the images show an unbounded background", scale);
  return fmt::format("aabb_scale {:g} from the file{}", scale, b["content_extent"].is_null() ? "" : "; " + measured());
}

std::string text_report(const nlohmann::ordered_json& info) {
  std::string out;
  const auto line = [&](const char* key, const std::string& value) { out += fmt::format("{:<13}{}\n", key, value); };
  line("scene", info["path"].get<std::string>());
  line("format", info["format"].get<std::string>());
  const auto& views = info["views"];
  line("views", fmt::format("{} (train {}, val {}, test {})", views["total"].get<size_t>(), views["train"].get<size_t>(),
                            views["val"].get<size_t>(), views["test"].get<size_t>()));
  if (info.contains("key_backdrop"))
    line("key", fmt::format("--key-backdrop: {} of {} views keyed ({} of the {} train views), {} with alpha of their "
                            "own, {} unchanged (no uniform backdrop)",
                            info["key_backdrop"]["keyed"].get<size_t>(), info["key_backdrop"]["views"].get<size_t>(),
                            info["key_backdrop"]["train"]["keyed"].get<size_t>(),
                            info["key_backdrop"]["train"]["views"].get<size_t>(),
                            info["key_backdrop"]["own_alpha"].get<size_t>(),
                            info["key_backdrop"]["unchanged"].get<size_t>()));
  if (info.contains("cameras_without_images"))
    line("cameras", fmt::format("{} more without an image (targets for render and transfer only)",
                                info["cameras_without_images"].get<size_t>()));
  std::string sizes;
  for (const auto& r : info["resolutions"])
    sizes += fmt::format("{}{}x{}", sizes.empty() ? "" : ", ", r["width"].get<int>(), r["height"].get<int>()) +
             (info["resolutions"].size() > 1 ? fmt::format(" ({} views)", r["views"].get<int>()) : "");
  const int downscale = info["downscale"].get<int>();
  line("resolution", sizes + (info["resolutions"].size() == 1 ? " (all views)" : "") +
                         (downscale > 1 ? fmt::format(", downscaled {}x", downscale) : ""));
  const auto& K = info["intrinsics"];
  line("intrinsics", fmt::format("fx {:.6g} fy {:.6g} cx {:.6g} cy {:.6g} (view {}; {})", K["fx"].get<double>(),
                                 K["fy"].get<double>(), K["cx"].get<double>(), K["cy"].get<double>(),
                                 K["view"].get<std::string>(),
                                 K["varies"].get<bool>() ? "varies across views" : "same for every view"));
  std::string camera;
  for (const auto& [name, count] : info["camera_models"].items())
    camera += fmt::format("{}{} ({} views)", camera.empty() ? "" : ", ", name, count.get<int>());
  std::string coefficients;
  for (const auto& [name, value] : K["distortion"].items())
    coefficients += fmt::format("{}{} {:.6g}", coefficients.empty() ? "" : " ", name, value.get<double>());
  line("camera", camera + (coefficients.empty() ? ", no distortion" : "; first view: " + coefficients));
  const auto& n = info["normalization"];
  line("normalised", fmt::format("p_n = {:.6g} * p + {}", n["scale"].get<double>(), vec_text(n["offset"])));
  line("aabb", fmt::format("{} .. {} ({})", vec_text(info["aabb"]["min"]), vec_text(info["aabb"]["max"]),
                           info["unbounded"].get<bool>() ? "unbounded: contents beyond it are contracted" : "bounded"));
  const double near = info["near"].get<double>(), far = info["far"].get<double>();
  line("bounds", bounds_text(info["bounds"]));
  line("near/far", near > 0 || far > 0 ? fmt::format("{:.4g} .. {:.4g}", near, far) : std::string("from the aabb"));
  const auto& e = info["extras"];
  line("extras", fmt::format("views with depth {}, mask {}, instance {}, semantic {}", e["depth"].get<int>(),
                             e["mask"].get<int>(), e["instance"].get<int>(), e["semantic"].get<int>()));
  const auto& labels = info["labels"];
  line("labels", labels["error"].is_null()
                     ? fmt::format("{} instances, {} classes", labels["instances"].get<size_t>(),
                                   labels["classes"].get<size_t>())
                     : "labels.json ignored: " + labels["error"].get<std::string>());
  const auto& files = info["files"];
  const auto& unreadable = files["unreadable"];
  if (files["checked"] == "headers") {
    line("files", fmt::format("{} (headers only: --quick does not decode them)", files["total"].get<size_t>()));
  } else if (unreadable.empty()) {
    line("files", fmt::format("all {} decode", files["total"].get<size_t>()));
  } else {
    line("files", fmt::format("{} of {} cannot be used:", unreadable.size(), files["total"].get<size_t>()));
    for (const auto& problem : unreadable) out += fmt::format("{:<13}{}\n", "", problem["message"].get<std::string>());
  }
  return out;
}

void run_info(const InfoOptions& options) {
  LoadOptions load;
  load.downscale = options.downscale;
  load.split_rule = SplitRule::parse(options.split_rule);
  // No pixels are kept: every image and map is decoded (in parallel) with the checks `train` makes, so a
  // file train would reject is reported here, all of them at once; --quick reads headers only.
  load.load_images = false;
  load.verify_files = !options.quick;
  load.key_backdrop = options.key_backdrop;  // bounds inferred from the keyed alpha, as `apply --key-backdrop` does
  if (options.key_backdrop && options.quick)
    log::warn("info --key-backdrop --quick: headers only, so the views the key takes on are not counted (the box is "
              "still inferred from the keyed images it samples)");
  const Scene scene = load_scene(options.data, load);
  const nlohmann::ordered_json info = describe(scene, options);
  const std::string text = options.json ? info.dump(2) + "\n" : text_report(info);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  if (!scene.unreadable.empty())
    fail_input(scene.root, "", "{} file{} cannot be used ({}), so training would stop; fix or remove {}",
               scene.unreadable.size(), scene.unreadable.size() == 1 ? "" : "s",
               options.json ? "\"files\": \"unreadable\" above" : "listed above",
               scene.unreadable.size() == 1 ? "it" : "them");
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a scene folder: format, views per split, cameras, normalisation, extras");
  auto options = std::make_shared<InfoOptions>();
  cmd->add_option("--data", options->data,
                  "Scene folder or file (NeRF-synthetic, instant-ngp, nerfstudio, COLMAP, LLFF)")
      ->required();
  cmd->add_option("--downscale", options->downscale, "Integer image downscale factor")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--split-rule", options->split_rule, "auto | files | every:N | fraction:F | all")
      ->capture_default_str();
  cmd->add_flag("--json", options->json, "Print one JSON object on stdout instead of text");
  cmd->add_flag("--quick", options->quick,
                "Read image headers only instead of decoding every image and map (a truncated file passes)");
  cmd->add_flag("--key-backdrop", options->key_backdrop,
                "Key a uniform backdrop of RGB images out into alpha, as `apply --key-backdrop` does: the bounds and "
                "alpha reported are those apply would see");
  cmd->callback([options] { run_info(*options); });
}

}  // namespace semfield::cli
