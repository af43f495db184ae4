// Per-view extras (depth, mask, instance and semantic maps): loading, checking and downscaling.
#include "semfield/data/frame_extras.h"

#include <cmath>

#include "semfield/core/error.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

struct Extra {
  const fs::path* path;
  const char* key;
};

std::string field_of(const FrameRecord& frame, const char* key) {
  return frame.field.empty() ? std::string(key) : frame.field + "." + key;
}

void check_size(const FrameRecord& frame, const char* key, const fs::path& path, int w, int h, int width,
                int height) {
  if (w != width || h != height)
    fail_input(frame.source, field_of(frame, key), "{} is {}x{} but its image is {}x{}", path.string(), w, h, width,
               height);
}

Image first_channel(const Image& image) {
  if (image.channels == 1) return image;
  Image out(image.width, image.height, 1);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) out.at(x, y) = image.at(x, y, 0);
  return out;
}

}  // namespace

Image read_depth_map(const FrameRecord& frame, int width, int height, double depth_to_scene) {
  const fs::path& path = frame.depth_path;
  Image depth;
  if (path.extension() == ".npy") {
    const Array array = read_npy(path);
    const bool shape_ok = (array.shape.size() == 2 || (array.shape.size() == 3 && array.shape[2] == 1));
    if (!shape_ok) fail_input(path, "shape", "expected a depth map [H, W] or [H, W, 1]");
    check_size(frame, "depth_file_path", path, static_cast<int>(array.shape[1]), static_cast<int>(array.shape[0]),
               width, height);
    depth = Image(width, height, 1);
    const std::vector<float> values = array.to_float();
    for (size_t i = 0; i < values.size(); ++i) depth.pixels[i] = std::isfinite(values[i]) ? values[i] : 0.0f;
  } else {
    depth = read_image(path, ImageRange::Raw);
    check_size(frame, "depth_file_path", path, depth.width, depth.height, width, height);
    if (depth.channels != 1)
      fail_input(frame.source, field_of(frame, "depth_file_path"), "{} has {} channels; a depth map has 1",
                 path.string(), depth.channels);
  }
  for (float& v : depth.pixels) {
    if (v < 0.0f) fail_input(path, "", "negative depth value {}", v);
    v = static_cast<float>(v * depth_to_scene);
  }
  return depth;
}

namespace {

Image read_mask(const FrameRecord& frame, int width, int height) {
  Image mask = first_channel(read_image(frame.mask_path, ImageRange::Raw));
  check_size(frame, "mask_path", frame.mask_path, mask.width, mask.height, width, height);
  for (float& v : mask.pixels) v = v > 0.0f ? 1.0f : 0.0f;
  return mask;
}

Image read_ids(const FrameRecord& frame, const fs::path& path, const char* key, int width, int height) {
  Image ids = read_image(path, ImageRange::Raw);
  check_size(frame, key, path, ids.width, ids.height, width, height);
  if (ids.channels != 1)
    fail_input(frame.source, field_of(frame, key), "{} has {} channels; an id map must be a single-channel PNG",
               path.string(), ids.channels);
  return ids;
}

}  // namespace

void check_extras_exist(const FrameRecord& frame) {
  for (const Extra& extra : {Extra{&frame.depth_path, "depth_file_path"}, Extra{&frame.mask_path, "mask_path"},
                             Extra{&frame.instance_path, "instance_path"},
                             Extra{&frame.semantic_path, "semantic_path"}}) {
    std::error_code ec;
    if (!extra.path->empty() && !fs::is_regular_file(*extra.path, ec))
      fail_input(frame.source, field_of(frame, extra.key), "file not found: {}", extra.path->string());
  }
}

void load_extras(const FrameRecord& frame, int width, int height, int factor, double depth_to_scene, View* view,
                 Image* full_depth) {
  check_extras_exist(frame);
  if (!frame.depth_path.empty()) {
    Image depth = read_depth_map(frame, width, height, depth_to_scene);
    view->depth = downscale_nearest(depth, factor);
    if (full_depth) *full_depth = std::move(depth);
  }
  if (!frame.mask_path.empty()) view->mask = downscale_nearest(read_mask(frame, width, height), factor);
  if (!frame.instance_path.empty())
    view->instance = downscale_nearest(read_ids(frame, frame.instance_path, "instance_path", width, height), factor);
  if (!frame.semantic_path.empty())
    view->semantic = downscale_nearest(read_ids(frame, frame.semantic_path, "semantic_path", width, height), factor);
}

void verify_extras(const FrameRecord& frame, int width, int height, double depth_to_scene,
                   std::vector<FileProblem>* problems, Image* full_depth) {
  const auto check = [&](const fs::path& path, const char* key, const auto& read) {
    if (path.empty()) return;
    try {
      std::error_code ec;
      if (!fs::is_regular_file(path, ec))
        fail_input(frame.source, field_of(frame, key), "file not found: {}", path.string());
      read();
    } catch (const InputError& e) {
      problems->push_back({path, e.what()});
    }
  };
  check(frame.depth_path, "depth_file_path", [&] {
    Image depth = read_depth_map(frame, width, height, depth_to_scene);
    if (full_depth) *full_depth = std::move(depth);
  });
  check(frame.mask_path, "mask_path", [&] { read_mask(frame, width, height); });
  check(frame.instance_path, "instance_path",
        [&] { read_ids(frame, frame.instance_path, "instance_path", width, height); });
  check(frame.semantic_path, "semantic_path",
        [&] { read_ids(frame, frame.semantic_path, "semantic_path", width, height); });
}

}  // namespace semfield
