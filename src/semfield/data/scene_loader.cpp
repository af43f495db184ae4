// load_scene: detects a scene's format, runs its parser, then the post-processing every format shares
// (splits, normalisation, images, background, downscaling, extras, labels).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/core/parallel.h"
#include "semfield/core/progress.h"
#include "semfield/data/backdrop.h"
#include "semfield/data/blender_parser.h"
#include "semfield/data/colmap_parser.h"
#include "semfield/data/frame_extras.h"
#include "semfield/data/image_probe.h"
#include "semfield/data/labels.h"
#include "semfield/data/llff_parser.h"
#include "semfield/data/nerfstudio_parser.h"
#include "semfield/data/parsed_scene.h"
#include "semfield/data/parser_common.h"
#include "semfield/data/scene.h"
#include "semfield/data/scene_bounds.h"
#include "semfield/data/scene_framing.h"
#include "semfield/io/image.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

ParsedScene parse_transforms_json(const fs::path& file) {
  const JsonNode doc = JsonNode::parse_file(file);
  if (!doc.is_object()) doc.fail("expected a JSON object");
  return is_nerfstudio_transforms(doc) ? parse_nerfstudio(doc) : parse_instant_ngp(doc);
}

// Format detection. A folder is tried as, in order: NeRF-synthetic, instant-ngp/nerfstudio, LLFF
// (LLFF releases also ship a COLMAP model, but poses_bounds.npy is their reference), then COLMAP.
ParsedScene parse_any(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail_input(path, "", "no such file or folder");
  if (is_file(path)) {
    const std::string name = path.filename().string();
    const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    if (name == "transforms_train.json" || name == "transforms_val.json" || name == "transforms_test.json")
      return parse_blender(folder);
    if (path.extension() == ".json") return parse_transforms_json(path);
    if (name == "poses_bounds.npy") return parse_llff(folder);
    if (name == "cameras.bin" || name == "cameras.txt" || name == "images.bin" || name == "images.txt")
      return parse_colmap(folder, folder);
    fail_input(path, "",
               "not a scene file (expected transforms*.json, poses_bounds.npy, or a COLMAP cameras/images file)");
  }
  for (const char* split : {"train", "val", "test"})
    if (is_file(path / fmt::format("transforms_{}.json", split))) return parse_blender(path);
  if (is_file(path / "transforms.json")) return parse_transforms_json(path / "transforms.json");
  if (is_file(path / "poses_bounds.npy")) return parse_llff(path);
  for (const char* sub : {"", "sparse/0", "sparse", "colmap/sparse/0"}) {
    const fs::path dir = *sub ? path / sub : path;
    if (is_colmap_model_dir(dir)) return parse_colmap(dir, path);
  }
  fail_input(path, "",
             "no scene found: expected transforms_train.json (NeRF-synthetic), transforms.json (instant-ngp / "
             "nerfstudio), poses_bounds.npy (LLFF), or a COLMAP model (cameras and images .bin/.txt, here or in "
             "sparse/0)");
}

}  // namespace

bool is_scene_folder(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  for (const char* split : {"train", "val", "test"})
    if (is_file(path / fmt::format("transforms_{}.json", split))) return true;
  if (is_file(path / "transforms.json") || is_file(path / "poses_bounds.npy")) return true;
  for (const char* sub : {"", "sparse/0", "sparse", "colmap/sparse/0"})
    if (is_colmap_model_dir(*sub ? path / sub : path)) return true;
  return false;
}

namespace {

std::vector<Split> resolve_splits(const ParsedScene& parsed, const SplitRule& rule) {
  const size_t n = parsed.frames.size();
  if (rule.kind == SplitRule::Kind::Files && !parsed.splits_from_files)
    fail_usage("split rule 'files': this {} scene ({}) does not define splits; use auto, every:N, fraction:F or all",
               parsed.format, parsed.root.string());
  if (rule.kind == SplitRule::Kind::Auto || rule.kind == SplitRule::Kind::Files) {
    if (parsed.splits_from_files) {
      std::vector<Split> out(n);
      for (size_t i = 0; i < n; ++i) {
        SEMFIELD_ASSERT(parsed.frames[i].split.has_value(), "a format with splits left a frame without one");
        out[i] = *parsed.frames[i].split;
      }
      return out;
    }
    return split_by_rule(parsed.auto_rule, n);
  }
  return split_by_rule(rule, n);
}

// A frame's image path below the scene's root (the path itself where it lies elsewhere): what tells apart frames that
// share a stem.
fs::path path_below_root(const ParsedScene& parsed, const fs::path& path) {
  const fs::path relative = path.lexically_relative(parsed.root);
  return relative.empty() || relative.string().rfind("..", 0) == 0 ? path : relative;
}

// View names are image stems; where two frames share a stem, their paths below the root tell them apart.
std::vector<std::string> unique_names(const ParsedScene& parsed) {
  std::map<std::string, int> stem_count;
  for (const FrameRecord& frame : parsed.frames) ++stem_count[frame.name];
  std::vector<std::string> out;
  std::set<std::string> used;
  for (const FrameRecord& frame : parsed.frames) {
    std::string name = frame.name;
    if (stem_count[name] > 1) {
      name = path_below_root(parsed, frame.image_path).replace_extension().generic_string();
    }
    const std::string base = name;
    for (int k = 2; !used.insert(name).second; ++k) name = base + "#" + std::to_string(k);
    out.push_back(name);
  }
  return out;
}

// Names of the cameras without an image: their stems where no view and no other such camera has the same, else their
// path under the scene's folder ("test/r_0" beside a view "r_0": NeRF-synthetic numbers each split's images from 0).
// The views' names (unique_names) never change for them.
std::vector<std::string> imageless_names(const ParsedScene& parsed, const std::vector<std::string>& view_names) {
  std::map<std::string, int> stem_count;
  for (const FrameRecord& frame : parsed.imageless) ++stem_count[frame.name];
  std::set<std::string> used(view_names.begin(), view_names.end());
  std::vector<std::string> out;
  for (const FrameRecord& frame : parsed.imageless) {
    std::string name = frame.name;
    if (stem_count[name] > 1 || used.count(name) > 0) {
      name = path_below_root(parsed, frame.image_path).generic_string();  // as "file_path" gives it
    }
    const std::string base = name;
    for (int k = 2; !used.insert(name).second; ++k) name = base + "#" + std::to_string(k);
    out.push_back(name);
  }
  return out;
}

// Gray -> RGB and gray+alpha -> RGBA, so every view is 3 or 4 channels.
Image to_colour(Image image) {
  if (image.channels >= 3) return image;
  const int c_out = image.channels == 1 ? 3 : 4;
  Image out(image.width, image.height, c_out);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      for (int c = 0; c < 3; ++c) out.at(x, y, c) = image.at(x, y, 0);
      if (c_out == 4) out.at(x, y, 3) = image.at(x, y, 1);
    }
  }
  return out;
}

// Straight-alpha RGBA over an opaque background: rgb * a + bg * (1 - a).
Image composite(const Image& rgba, const Eigen::Vector3d& background) {
  Image out(rgba.width, rgba.height, 3);
  for (int y = 0; y < rgba.height; ++y) {
    for (int x = 0; x < rgba.width; ++x) {
      const float a = rgba.at(x, y, 3);
      for (int c = 0; c < 3; ++c)
        out.at(x, y, c) = rgba.at(x, y, c) * a + static_cast<float>(background(c)) * (1.0f - a);
    }
  }
  return out;
}

// Averaging straight-alpha colour would bleed the (arbitrary) colour of transparent pixels into the
// edges; averaging premultiplied colour and dividing back by the averaged alpha does not.
Image downscale_colour(Image image, int factor) {
  if (factor == 1) return image;
  if (image.channels != 4) return downscale_box(image, factor);
  for (size_t i = 0; i < image.pixels.size(); i += 4)
    for (size_t c = 0; c < 3; ++c) image.pixels[i + c] *= image.pixels[i + 3];
  Image out = downscale_box(image, factor);
  for (size_t i = 0; i < out.pixels.size(); i += 4) {
    const float a = out.pixels[i + 3];
    for (size_t c = 0; c < 3; ++c) out.pixels[i + c] = a > 0.0f ? std::min(1.0f, out.pixels[i + c] / a) : 0.0f;
  }
  return out;
}

// A decoded image as RGB or RGBA colour, its uniform backdrop keyed out into alpha when the options ask (before bounds
// inference samples it: a keyed scene is bounded as the same scene rendered with alpha).
// `keyed`: set to whether the key took.
Image decoded_colour(Image image, const LoadOptions& options, bool* keyed = nullptr) {
  Image rgb = to_colour(std::move(image));
  if (keyed) *keyed = false;
  if (options.key_backdrop)
    if (std::optional<Image> key = key_uniform_backdrop(rgb)) {
      rgb = std::move(*key);
      if (keyed) *keyed = true;
    }
  return rgb;
}

void check_image_size(const FrameRecord& frame, int width, int height) {
  const Intrinsics& K = frame.camera.intrinsics;
  if (width != K.width || height != K.height)
    fail_input(frame.source, frame.field, "image {} is {}x{} but the camera says {}x{}", frame.image_path.string(),
               width, height, K.width, K.height);
}

}  // namespace

Image load_view_colour(const View& view, const LoadOptions& options) {
  if (options.downscale < 1) fail_usage("downscale factor must be >= 1, got {}", options.downscale);
  Image rgb = decoded_colour(read_image(view.image_path, ImageRange::Unit), options);
  if (options.background && rgb.channels == 4) rgb = composite(rgb, *options.background);
  rgb = downscale_colour(std::move(rgb), options.downscale);
  const Intrinsics& k = view.camera.intrinsics;
  if (rgb.width != k.width || rgb.height != k.height)
    fail_input(view.image_path, "", "image is {}x{} after downscaling by {} but its camera is {}x{}", rgb.width,
               rgb.height, options.downscale, k.width, k.height);
  return rgb;
}

Scene load_scene(const fs::path& path, const LoadOptions& options) {
  if (options.downscale < 1) fail_usage("downscale factor must be >= 1, got {}", options.downscale);
  if (options.background && !options.background->allFinite())
    fail_usage("background colour must be finite");

  ParsedScene parsed = parse_any(path);
  if (parsed.frames.empty()) fail_input(path, "", "the scene has no usable views");
  const std::vector<Split> splits = resolve_splits(parsed, options.split_rule);
  const std::vector<std::string> names = unique_names(parsed);
  SceneFraming framing = compute_framing(parsed);

  Scene scene;
  scene.root = parsed.root;
  scene.format = parsed.format;
  scene.normalization = framing.normalization;
  scene.near = parsed.near * framing.normalization.scale;
  scene.far = parsed.far * framing.normalization.scale;

  const fs::path labels_file = parsed.root / "labels.json";
  if (is_file(labels_file)) {
    try {
      LabelSet labels = read_labels(labels_file);
      scene.instance_labels = std::move(labels.instances);
      scene.semantic_labels = std::move(labels.classes);
    } catch (const InputError& e) {
      // Many exported datasets carry a labels.json of their own; only the label teachers need ours.
      scene.labels_error = e.what();
      log::warn("{}; ignoring labels.json: it is not in semfield's schema (docs/formats.md). RGB training is "
                "unaffected; the labels:instance and labels:semantic teachers will refuse the scene",
                scene.labels_error);
    }
  }

  const double depth_to_scene = parsed.depth_unit_scale * framing.normalization.scale;
  const size_t n = parsed.frames.size();
  // Bounds inference (UnitCube scenes) samples the same frames at full resolution whatever the options,
  // so `info` and every load of a scene agree on its box.
  const bool infer = parsed.framing == Framing::UnitCube;
  std::vector<int> sample_slot(n, -1);
  std::vector<std::optional<BoundsView>> samples;
  if (infer) {
    for (const size_t i : bounds_sample_frames(n)) {
      sample_slot[i] = static_cast<int>(samples.size());
      samples.emplace_back();
    }
  }
  const auto sample = [&](size_t i, const Image& image, const Image* depth) {
    Camera camera = parsed.frames[i].camera;
    camera.c2w.block<3, 1>(0, 3) = framing.normalization.apply(camera.origin());
    samples[static_cast<size_t>(sample_slot[i])] =
        sample_bounds_view(names[i], camera, image, depth && !depth->empty() ? depth : nullptr);
  };
  // A depth map only bounds inference wants (extras not loaded): a broken one just is not evidence.
  const auto depth_for_bounds = [&](const FrameRecord& frame) {
    Image depth;
    if (frame.depth_path.empty()) return depth;
    try {
      depth = read_depth_map(frame, frame.camera.intrinsics.width, frame.camera.intrinsics.height, depth_to_scene);
    } catch (const InputError& e) {
      log::debug("bounds inference skips a depth map: {}", e.what());
    }
    return depth;
  };

  std::unique_ptr<ProgressBar> progress;
  if (options.load_images && n >= 20) progress = std::make_unique<ProgressBar>("loading images", static_cast<int64_t>(n), "img");
  scene.views.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const FrameRecord& frame = parsed.frames[i];
    const Intrinsics& K = frame.camera.intrinsics;
    View view;
    view.name = names[i];
    view.image_path = frame.image_path;
    view.split = splits[i];
    view.depth_path = frame.depth_path;
    view.mask_path = frame.mask_path;
    view.instance_path = frame.instance_path;
    view.semantic_path = frame.semantic_path;
    view.downscale = options.downscale;
    view.key_backdrop = options.key_backdrop;
    view.camera.intrinsics = K.downscaled(options.downscale);
    view.camera.c2w = frame.camera.c2w;
    view.camera.c2w.block<3, 1>(0, 3) = framing.normalization.apply(frame.camera.origin());

    const bool decode = options.load_images && (!options.pixels_only_for || splits[i] == *options.pixels_only_for);
    if (decode) {
      Image rgb = read_image(frame.image_path, ImageRange::Unit);
      check_image_size(frame, rgb.width, rgb.height);
      rgb = decoded_colour(std::move(rgb), options, &view.backdrop_keyed);
      const bool sampled = sample_slot[i] >= 0;
      Image full_depth;
      if (options.load_extras)
        load_extras(frame, K.width, K.height, options.downscale, depth_to_scene, &view,
                    sampled ? &full_depth : nullptr);
      else if (sampled)
        full_depth = depth_for_bounds(frame);
      if (sampled) sample(i, rgb, &full_depth);
      if (options.background && rgb.channels == 4) {
        rgb = composite(rgb, *options.background);
        scene.background = options.background;
      }
      view.rgb = downscale_colour(std::move(rgb), options.downscale);
    } else if (options.load_images || !options.verify_files) {
      const ImageSize size = probe_image_size(frame.image_path);
      check_image_size(frame, size.width, size.height);
      view.alpha_on_disk = size.alpha;
      if (options.background && size.alpha) scene.background = options.background;  // composited on decoding
      if (options.load_extras) check_extras_exist(frame);
    }
    scene.views.push_back(std::move(view));
    if (progress) progress->update(static_cast<int64_t>(i + 1));
  }
  if (progress) progress->finish();
  {
    const std::vector<std::string> imageless = imageless_names(parsed, names);
    for (size_t j = 0; j < parsed.imageless.size(); ++j) {
      const FrameRecord& frame = parsed.imageless[j];
      ImagelessCamera c;
      c.name = imageless[j];
      c.split = frame.split.value_or(Split::Test);
      c.camera.intrinsics = frame.camera.intrinsics.downscaled(options.downscale);
      c.camera.c2w = frame.camera.c2w;
      c.camera.c2w.block<3, 1>(0, 3) = framing.normalization.apply(frame.camera.origin());
      scene.imageless.push_back(std::move(c));
    }
  }

  if (!options.load_images && options.verify_files) {
    // Every file decoded and checked as loading would, in parallel; problems collected, not thrown.
    std::vector<std::vector<FileProblem>> problems(n);
    std::unique_ptr<ProgressBar> checking;
    if (n >= 20) checking = std::make_unique<ProgressBar>("checking images", static_cast<int64_t>(n), "img");
    std::mutex progress_mutex;
    int64_t checked = 0;
    parallel_for(0, static_cast<int64_t>(n), 1, [&](int64_t begin, int64_t end) {
      for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
        const FrameRecord& frame = parsed.frames[i];
        const Intrinsics& K = frame.camera.intrinsics;
        const bool sampled = sample_slot[i] >= 0;
        Image rgb;
        try {
          rgb = read_image(frame.image_path, ImageRange::Unit);
          check_image_size(frame, rgb.width, rgb.height);
        } catch (const InputError& e) {
          problems[i].push_back({frame.image_path, e.what()});
          rgb = Image();  // also when it decoded but has the wrong size: no evidence from it
        }
        Image full_depth;
        if (options.load_extras)
          verify_extras(frame, K.width, K.height, depth_to_scene, &problems[i], sampled ? &full_depth : nullptr);
        else if (sampled)
          full_depth = depth_for_bounds(frame);
        if (!rgb.empty()) {
          // Keyed as loading would (bounds and alpha alike).
          rgb = decoded_colour(std::move(rgb), options, &scene.views[i].backdrop_keyed);
          scene.views[i].alpha_on_disk = rgb.channels == 4;
          if (sampled) sample(i, rgb, &full_depth);
        }
        if (checking) {
          const std::lock_guard<std::mutex> lock(progress_mutex);
          checking->update(++checked);
        }
      }
    });
    if (checking) checking->finish();
    for (auto& list : problems) scene.unreadable.insert(scene.unreadable.end(), list.begin(), list.end());
  } else if (infer && (!options.load_images || options.pixels_only_for)) {
    // Headers only (for some or all views): decode just the frames bounds inference samples that were not decoded
    // above. A file that fails is no evidence (loading it for training reports it).
    std::vector<size_t> frames;
    for (const size_t i : bounds_sample_frames(n))
      if (!samples[static_cast<size_t>(sample_slot[i])]) frames.push_back(i);
    parallel_for(0, static_cast<int64_t>(frames.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const size_t i = frames[static_cast<size_t>(k)];
        Image rgb;
        try {
          rgb = read_image(parsed.frames[i].image_path, ImageRange::Unit);
          check_image_size(parsed.frames[i], rgb.width, rgb.height);
        } catch (const InputError& e) {
          log::debug("bounds inference skips an image: {}", e.what());
          continue;
        }
        const Image depth = depth_for_bounds(parsed.frames[i]);
        sample(i, decoded_colour(std::move(rgb), options), &depth);
      }
    });
  }

  if (infer) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<BoundsView> views;
    for (auto& s : samples)
      if (s) views.push_back(std::move(*s));
    std::vector<Eigen::Vector3d> cameras;
    for (const View& view : scene.views) cameras.push_back(view.camera.origin());
    BoundsInference inferred = infer_bounds(views, cameras, parsed.aabb_scale, parsed.framing_source);
    set_unit_cube_box(inferred.bounds.aabb_scale, &framing);
    scene.bounds = inferred.bounds;
    for (const std::string& warning : inferred.warnings) log::warn("{}", warning);
    log::debug("bounds inference: {} views, {:.3f} s", views.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  } else {
    scene.bounds.aabb_scale = framing.aabb.max().x();
    scene.bounds.source = BoundsSource::Cameras;
  }
  scene.aabb = framing.aabb;
  scene.unbounded = framing.unbounded;

  if (scene.count(Split::Train) == 0)
    log::warn("{}: no training views (splits: {} val, {} test)", parsed.root.string(), scene.count(Split::Val),
              scene.count(Split::Test));
  return scene;
}

}  // namespace semfield
