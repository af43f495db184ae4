// NeRF-synthetic and instant-ngp scene parsers.
#include "semfield/data/blender_parser.h"

#include <algorithm>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/parser_common.h"
#include "semfield/data/transforms_common.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

// instant-ngp's unit-cube placement keys; the defaults are instant-ngp's own.
void read_unit_cube(const JsonNode& doc, ParsedScene* scene) {
  scene->framing = Framing::UnitCube;
  scene->framing_source = doc.file();
  if (const auto scale = doc.find("scale")) {
    scene->unit_cube_scale = scale->as_double();
    if (!(scene->unit_cube_scale > 0.0)) scale->fail(fmt::format("must be positive, got {}", scene->unit_cube_scale));
  }
  if (const auto offset = doc.find("offset")) {
    const std::vector<double> v = offset->as_doubles();
    if (v.size() != 3) offset->fail(fmt::format("expected 3 numbers, got {}", v.size()));
    scene->unit_cube_offset = Eigen::Vector3d(v[0], v[1], v[2]);
  }
  if (const auto aabb = doc.find("aabb_scale")) {
    const double value = aabb->as_double();
    if (!(value > 0.0)) aabb->fail(fmt::format("must be positive, got {}", value));
    scene->aabb_scale = value;
  }
  scene->depth_unit_scale = read_depth_unit_scale(doc);
}

// A frame of a split file whose image is missing: its camera is kept once every file is read (sized then).
struct MissingFrame {
  JsonNode doc, frame;
  Split split;
};

// The name a frame's "file_path" gives: its stem where it names an image file ("r_0.png" -> "r_0"), else its whole
// file name ("frame.0001" -> "frame.0001": NeRF-synthetic paths often give no extension).
std::string frame_name(const fs::path& file_path) {
  return has_image_extension(file_path) ? image_stem(file_path) : file_path.filename().string();
}

// Appends the frames of one transforms file; returns how many were kept. With a split (NeRF-synthetic), a frame whose
// image is missing goes to `missing` (keep_imageless_cameras).
size_t read_frames(const JsonNode& doc, std::optional<Split> split, ParsedScene* scene,
                   std::vector<MissingFrame>* missing) {
  const fs::path base = doc.file().parent_path();
  const JsonNode frames = doc.at("frames");
  const size_t n = frames.size();
  size_t kept = 0, without_image = 0;
  constexpr size_t kNamed = 3;  // frames without an image warned one by one; the rest summed up
  const bool keep_camera = split.has_value() && missing != nullptr;
  for (size_t i = 0; i < n; ++i) {
    const JsonNode frame = frames.at(i);
    if (!frame.is_object()) frame.fail("expected an object");
    const Eigen::Matrix4d c2w = read_transform_matrix(frame);
    const auto image = resolve_frame_image(frame, base, keep_camera, without_image < kNamed);
    if (!image) {
      ++without_image;
      if (keep_camera) missing->push_back({doc, frame, *split});
      continue;
    }
    FrameRecord record;
    record.image_path = *image;
    record.name = image_stem(*image);
    record.camera.c2w = c2w;
    record.camera.intrinsics = read_transforms_intrinsics(doc, frame, *image);
    record.split = split;
    record.source = doc.file();
    record.field = frame.key_path();
    read_frame_extras(frame, base, &record);
    scene->frames.push_back(std::move(record));
    ++kept;
  }
  if (without_image > kNamed)
    log::warn("{}: {} more frames whose image is not found: {}", doc.file().string(), without_image - kNamed,
              keep_camera ? "skipped as views (their cameras stay targets for render and transfer)" : "skipped");
  if (n == 0) fail_input(doc.file(), "frames", "no frames: the split is empty");
  if (kept == 0 && missing == nullptr)
    fail_input(doc.file(), "frames", fmt::format("none of the {} frames has an existing image file", n));
  return kept;
}

// The cameras of the frames without an image, as scene->imageless: sized by the file's "w" / "h", else like the
// scene's first image (NeRF-synthetic: one size throughout); without either, dropped with a warning.
void keep_imageless_cameras(const std::vector<MissingFrame>& missing, ParsedScene* scene) {
  const std::optional<fs::path> donor =
      scene->frames.empty() ? std::nullopt : std::optional<fs::path>(scene->frames.front().image_path);
  for (const MissingFrame& m : missing) {
    const bool sized = frame_or_top(m.doc, m.frame, "w").has_value() && frame_or_top(m.doc, m.frame, "h").has_value();
    if (!sized && !donor) {
      log::warn("{}: {}: no image, and neither the file's \"w\" / \"h\" nor another image gives its size: its "
                "camera is dropped too", m.doc.file().string(), m.frame.key_path());
      continue;
    }
    const std::string relative = m.frame.at("file_path").as_string();
    FrameRecord record;
    record.image_path = (m.doc.file().parent_path() / relative).lexically_normal();  // no file there
    record.name = frame_name(relative);
    record.camera.c2w = read_transform_matrix(m.frame);
    record.camera.intrinsics = read_transforms_intrinsics(m.doc, m.frame, donor ? *donor : fs::path());
    record.split = m.split;
    record.source = m.doc.file();
    record.field = m.frame.key_path();
    scene->imageless.push_back(std::move(record));
  }
}

}  // namespace

bool is_nerfstudio_transforms(const JsonNode& doc) {
  return doc.has("camera_model") || doc.has("applied_transform") || doc.has("ply_file_path");
}

ParsedScene parse_blender(const fs::path& folder) {
  ParsedScene scene;
  scene.root = folder;
  scene.format = "blender";
  scene.splits_from_files = true;
  bool first = true;
  std::vector<MissingFrame> missing;
  std::vector<std::pair<JsonNode, size_t>> files;  // each split file and how many of its frames have an image
  for (Split split : {Split::Train, Split::Val, Split::Test}) {
    const fs::path file = folder / fmt::format("transforms_{}.json", split_name(split));
    std::error_code ec;
    if (!fs::exists(file, ec)) continue;
    const JsonNode doc = JsonNode::parse_file(file);
    if (!doc.is_object()) doc.fail("expected a JSON object");
    if (first) {
      read_unit_cube(doc, &scene);
      first = false;
    }
    files.emplace_back(doc, read_frames(doc, split, &scene, &missing));
  }
  if (first) fail_input(folder, "", "no transforms_train.json, transforms_val.json or transforms_test.json");
  keep_imageless_cameras(missing, &scene);
  // A split file none of whose frames has an image: its cameras are targets only (a warning), or, where none could
  // be kept either, an error.
  for (const auto& [doc, kept] : files) {
    if (kept > 0) continue;
    const size_t n = doc.at("frames").size();
    const auto cameras = std::count_if(scene.imageless.begin(), scene.imageless.end(),
                                       [&, &d = doc](const FrameRecord& r) { return r.source == d.file(); });
    if (cameras == 0) fail_input(doc.file(), "frames", fmt::format("none of the {} frames has an existing image file", n));
    log::warn("{}: none of its {} frames has an existing image file: the split has no views, its cameras are targets "
              "for render and transfer only", doc.file().string(), n);
  }
  // `semfield synth` writes the generated description beside the NeRF-synthetic files.
  std::error_code ec;
  if (fs::is_regular_file(folder / "scene.json", ec)) scene.format = "semfield-synth";
  return scene;
}

ParsedScene parse_instant_ngp(const JsonNode& doc) {
  ParsedScene scene;
  scene.root = doc.file().parent_path();
  if (!doc.is_object()) doc.fail("expected a JSON object");
  scene.format = "instant-ngp";
  scene.auto_rule.kind = SplitRule::Kind::Fraction;
  scene.auto_rule.train_fraction = 0.9;
  read_unit_cube(doc, &scene);
  read_frames(doc, std::nullopt, &scene, nullptr);
  return scene;
}

}  // namespace semfield
