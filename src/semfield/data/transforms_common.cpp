// Pieces shared by the transforms.json-style parsers.
#include "semfield/data/transforms_common.h"

#include <cmath>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/image_probe.h"
#include "semfield/data/parser_common.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {


double focal_from_angle(const JsonNode& angle, int size) {
  const double a = angle.as_double();
  if (!(a > 0.0 && a < kPi)) angle.fail(fmt::format("field of view must be in (0, pi) radians, got {}", a));
  return 0.5 * size / std::tan(0.5 * a);
}

}  // namespace

std::optional<JsonNode> frame_or_top(const JsonNode& top, const JsonNode& frame, const std::string& key) {
  if (auto node = frame.find(key)) return node;
  return top.find(key);
}

Intrinsics read_transforms_intrinsics(const JsonNode& top, const JsonNode& frame, const fs::path& image_path,
                                      const std::optional<std::string>& default_model) {
  Intrinsics K;
  // NeRF-synthetic files give no size: it is whatever the image is (read from its header, once).
  std::optional<ImageSize> probed;
  const auto dimension = [&](const char* key, bool width) {
    if (const auto node = frame_or_top(top, frame, key)) {
      const int64_t v = node->as_int();
      if (v <= 0 || v > (1 << 20)) node->fail(fmt::format("image size must be positive, got {}", v));
      return static_cast<int>(v);
    }
    if (!probed) probed = probe_image_size(image_path);
    return width ? probed->width : probed->height;
  };
  K.width = dimension("w", true);
  K.height = dimension("h", false);

  std::optional<double> fx, fy;
  if (auto node = frame_or_top(top, frame, "fl_x")) fx = node->as_double();
  else if (auto angle = frame_or_top(top, frame, "camera_angle_x")) fx = focal_from_angle(*angle, K.width);
  if (auto node = frame_or_top(top, frame, "fl_y")) fy = node->as_double();
  else if (auto angle = frame_or_top(top, frame, "camera_angle_y")) fy = focal_from_angle(*angle, K.height);
  if (!fx && !fy)
    frame.fail("no focal length: expected fl_x or camera_angle_x (in the frame or at the top level)");
  K.fx = fx ? *fx : *fy;
  K.fy = fy ? *fy : *fx;
  const auto cx = frame_or_top(top, frame, "cx");
  const auto cy = frame_or_top(top, frame, "cy");
  K.cx = cx ? cx->as_double() : 0.5 * K.width;
  K.cy = cy ? cy->as_double() : 0.5 * K.height;

  Distortion& d = K.distortion;
  const auto coefficient = [&](const char* key) {
    const auto node = frame_or_top(top, frame, key);
    return node ? node->as_double() : 0.0;
  };
  d.k1 = coefficient("k1");
  d.k2 = coefficient("k2");
  d.k3 = coefficient("k3");
  d.k4 = coefficient("k4");
  d.p1 = coefficient("p1");
  d.p2 = coefficient("p2");

  std::optional<JsonNode> model_node = frame_or_top(top, frame, "camera_model");
  std::string model;
  if (model_node) {
    model = model_node->as_string();
  } else if (default_model) {
    model = *default_model;
  } else {
    const auto fisheye = frame_or_top(top, frame, "is_fisheye");
    if (fisheye && fisheye->as_bool()) model = "OPENCV_FISHEYE";
    else if (d.k1 != 0 || d.k2 != 0 || d.k3 != 0 || d.p1 != 0 || d.p2 != 0) model = "OPENCV";
    else model = "PINHOLE";
  }
  // The key a bad coefficient is reported under: where it was found, else the model's key.
  const auto fail_unused = [&](const char* key, const std::string& why) {
    const auto node = frame_or_top(top, frame, key);
    if (node) node->fail(why);
    frame.fail(why);
  };
  if (model == "PINHOLE" || model == "SIMPLE_PINHOLE") {
    K.model = CameraModel::Pinhole;
    for (const char* key : {"k1", "k2", "k3", "k4", "p1", "p2"})
      if (coefficient(key) != 0) fail_unused(key, "must be 0 for camera model " + model);
  } else if (model == "OPENCV") {
    K.model = CameraModel::OpenCV;
    if (d.k4 != 0)
      fail_unused("k4", "OpenCV radial-tangential cameras use k1 k2 k3 p1 p2; k4 needs OPENCV_FISHEYE");
  } else if (model == "OPENCV_FISHEYE") {
    K.model = CameraModel::OpenCVFisheye;
    if (d.p1 != 0) fail_unused("p1", "fisheye cameras have no tangential distortion (p1 must be 0)");
    if (d.p2 != 0) fail_unused("p2", "fisheye cameras have no tangential distortion (p2 must be 0)");
  } else {
    const std::string message = fmt::format(
        "unsupported camera model '{}' (supported: PINHOLE, SIMPLE_PINHOLE, OPENCV, OPENCV_FISHEYE)", model);
    if (model_node) model_node->fail(message);
    frame.fail(message);
  }
  check_intrinsics(K, frame.file(), frame.key_path());
  return K;
}

Eigen::Matrix4d read_transform_matrix(const JsonNode& frame) {
  const JsonNode node = frame.at("transform_matrix");
  const Eigen::Matrix4d c2w = node.as_matrix4();
  check_pose(c2w, node.file(), node.key_path());
  return c2w;
}

void read_frame_extras(const JsonNode& frame, const fs::path& base, FrameRecord* record) {
  const auto path_of = [&](const char* key) -> fs::path {
    const auto node = frame.find(key);
    if (!node) return {};
    const std::string text = node->as_string();
    if (text.empty()) node->fail("empty path");
    return (base / text).lexically_normal();
  };
  record->depth_path = path_of("depth_file_path");
  record->mask_path = path_of("mask_path");
  record->instance_path = path_of("instance_path");
  record->semantic_path = path_of("semantic_path");
}

std::optional<fs::path> resolve_frame_image(const JsonNode& frame, const fs::path& base, bool camera_kept,
                                            bool warn) {
  const JsonNode node = frame.at("file_path");
  const std::string relative = node.as_string();
  if (relative.empty()) node.fail("empty path");
  auto found = find_image_file(base, relative);
  if (!found && warn)
    log::warn("{}: {}: image '{}' not found (looked for {} with and without .png/.jpg); skipping this view{}",
              frame.file().string(), frame.key_path(), relative, (base / relative).lexically_normal().string(),
              camera_kept ? " (its camera stays a target for render and transfer)" : "");
  return found;
}

double read_depth_unit_scale(const JsonNode& top) {
  const auto node = top.find("depth_unit_scale_factor");
  if (!node) return 0.001;
  const double v = node->as_double();
  if (!(v > 0.0)) node->fail(fmt::format("must be positive, got {}", v));
  return v;
}

}  // namespace semfield
