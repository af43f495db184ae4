// Pieces shared by the transforms.json-style parsers (NeRF-synthetic, instant-ngp, nerfstudio):
// per-frame cameras whose keys fall back to the top level, poses, image and extras paths.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "semfield/core/json_reader.h"
#include "semfield/data/parsed_scene.h"

namespace semfield {

/// A key of `frame`, else of `top` (per-frame values override file-wide ones); nullopt if neither has it.
std::optional<JsonNode> frame_or_top(const JsonNode& top, const JsonNode& frame, const std::string& key);

/// Reads a frame's intrinsics. Keys (each per frame or top level):
///  - w, h: image size; when absent, read from the image header of `image_path`;
///  - fl_x / camera_angle_x (radians, full horizontal field of view; fx = 0.5 w / tan(0.5 angle)),
///    fl_y / camera_angle_y (defaults to fx), cx (default w/2), cy (default h/2);
///  - camera_model: "PINHOLE" | "SIMPLE_PINHOLE" | "OPENCV" | "OPENCV_FISHEYE" (others: InputError
///    "unsupported camera model"); when absent `default_model` if given, else is_fisheye (bool) picks
///    the fisheye model, any non-zero k1 k2 k3 p1 p2 the OpenCV model, and none Pinhole;
///  - k1 k2 k3 k4 p1 p2: distortion. A coefficient the chosen model cannot use must be 0 (InputError).
/// Every error names the file and the key path.
Intrinsics read_transforms_intrinsics(const JsonNode& top, const JsonNode& frame,
                                      const std::filesystem::path& image_path,
                                      const std::optional<std::string>& default_model = std::nullopt);

/// Reads "transform_matrix" (4x4 or 3x4, camera-to-world, OpenGL axes) and checks it (check_pose).
Eigen::Matrix4d read_transform_matrix(const JsonNode& frame);

/// Records the frame's extras (depth_file_path, mask_path, instance_path, semantic_path), resolved
/// against `base`. Existence is checked later, when (and if) the extras are loaded.
void read_frame_extras(const JsonNode& frame, const std::filesystem::path& base, FrameRecord* record);

/// Resolves the frame's "file_path" against `base` (find_image_file). Returns nullopt, after a
/// log::warn naming the file, the frame and the path, when the image does not exist; `camera_kept`: the warning says
/// the frame's camera stays a render / transfer target (ParsedScene::imageless); `warn` false: no warning (the caller
/// sums up).
std::optional<std::filesystem::path> resolve_frame_image(const JsonNode& frame, const std::filesystem::path& base,
                                                         bool camera_kept = false, bool warn = true);

/// "depth_unit_scale_factor" (positive; default 0.001).
double read_depth_unit_scale(const JsonNode& top);

}  // namespace semfield
