// nerfstudio transforms.json scene parser.
#include "semfield/data/nerfstudio_parser.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/parser_common.h"
#include "semfield/data/transforms_common.h"

namespace semfield {

namespace fs = std::filesystem;

ParsedScene parse_nerfstudio(const JsonNode& doc) {
  ParsedScene scene;
  if (!doc.is_object()) doc.fail("expected a JSON object");
  const fs::path base = doc.file().parent_path();
  scene.root = base;
  scene.format = "nerfstudio";
  scene.framing = Framing::RealCapture;
  scene.auto_rule.kind = SplitRule::Kind::Fraction;
  scene.auto_rule.train_fraction = 0.9;
  scene.depth_unit_scale = read_depth_unit_scale(doc);

  if (const auto applied = doc.find("applied_transform")) {
    if (applied->size() != 3) applied->fail(fmt::format("expected a 3x4 matrix, got {} rows", applied->size()));
    check_pose(applied->as_matrix4(), applied->file(), applied->key_path());
  }

  const JsonNode frames = doc.at("frames");
  const size_t n = frames.size();
  // Sort by file_path so index-based split rules do not depend on the order a tool wrote frames in.
  std::vector<std::string> file_paths(n);
  for (size_t i = 0; i < n; ++i) file_paths[i] = frames.at(i).at("file_path").as_string();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return file_paths[a] < file_paths[b]; });

  // Split lists name frames by their file_path, relative to the json's folder.
  std::map<fs::path, Split> listed;
  bool has_lists = false;
  for (Split split : {Split::Train, Split::Val, Split::Test}) {
    const auto list = doc.find(fmt::format("{}_filenames", split_name(split)));
    if (!list) continue;
    has_lists = true;
    for (size_t i = 0; i < list->size(); ++i) {
      const JsonNode entry = list->at(i);
      const fs::path key = (base / entry.as_string()).lexically_normal();
      if (std::none_of(file_paths.begin(), file_paths.end(),
                       [&](const std::string& p) { return (base / p).lexically_normal() == key; }))
        entry.fail(fmt::format("'{}' is not the file_path of any frame", entry.as_string()));
      if (!listed.emplace(key, split).second) entry.fail("file listed in more than one split (or twice)");
    }
  }
  scene.splits_from_files = has_lists;

  size_t dropped = 0;
  for (size_t i : order) {
    const JsonNode frame = frames.at(i);
    const Eigen::Matrix4d c2w = read_transform_matrix(frame);
    std::optional<Split> split;
    if (has_lists) {
      const auto it = listed.find((base / file_paths[i]).lexically_normal());
      if (it == listed.end()) {
        ++dropped;
        continue;
      }
      split = it->second;
    }
    const auto image = resolve_frame_image(frame, base);
    if (!image) continue;
    FrameRecord record;
    record.image_path = *image;
    record.name = image_stem(*image);
    record.camera.c2w = c2w;
    record.camera.intrinsics = read_transforms_intrinsics(doc, frame, *image, std::string("OPENCV"));
    record.split = split;
    record.source = doc.file();
    record.field = frame.key_path();
    read_frame_extras(frame, base, &record);
    scene.frames.push_back(std::move(record));
  }
  if (dropped > 0)
    log::info("{}: {} frames are in none of train/val/test_filenames and were left out", doc.file().string(),
              dropped);
  if (scene.frames.empty())
    fail_input(doc.file(), "frames",
               n == 0 ? std::string("no frames") : fmt::format("none of the {} frames is usable", n));
  return scene;
}

}  // namespace semfield
