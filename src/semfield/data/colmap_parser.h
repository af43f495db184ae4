// COLMAP sparse reconstruction scene parser (cameras + images, .bin or .txt).
#pragma once

#include <filesystem>

#include "semfield/data/colmap_model.h"
#include "semfield/data/parsed_scene.h"

namespace semfield {

/// Intrinsics of a COLMAP camera. Supported models: SIMPLE_PINHOLE, PINHOLE (-> Pinhole),
/// SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV (-> OpenCV; FULL_OPENCV's rational k4..k6 must be 0),
/// OPENCV_FISHEYE (-> OpenCVFisheye). Anything else is an InputError "unsupported camera model" naming
/// `origin` and the camera. COLMAP's pixel convention (origin at the image corner, first pixel centre at
/// 0.5) is semfield's, so cx, cy carry over unchanged.
Intrinsics colmap_intrinsics(const ColmapCamera& camera, const std::filesystem::path& origin);

/// Parses the model in `sparse_dir` (cameras and images; .bin preferred when both exist). Poses are
/// converted from COLMAP's world-to-camera (quaternion, translation; OpenCV axes) to camera-to-world
/// OpenGL. Images are looked up by name in root/images, sparse_dir/../images, sparse_dir/../../images and
/// sparse_dir/images, in that order; missing ones are skipped with a log::warn. Frames are sorted by
/// image name; no splits of their own (Auto = every:8, the LLFF convention); Framing RealCapture.
/// points3D is not read (see read_colmap_points3d).
ParsedScene parse_colmap(const std::filesystem::path& sparse_dir, const std::filesystem::path& root);

/// True if `dir` holds cameras.{bin,txt} and images.{bin,txt}.
bool is_colmap_model_dir(const std::filesystem::path& dir);

}  // namespace semfield
