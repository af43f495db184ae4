// Checks and lookups every format parser shares: finding image files, validating poses and intrinsics.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "semfield/geometry/camera.h"

namespace semfield {

/// True if `path` is a regular file; never throws (errors such as missing permissions read as false).
bool is_file(const std::filesystem::path& path);

/// The image `relative` names below `base`: the path itself if it is a file, else the path with a
/// .png/.jpg/.jpeg extension (either case) appended (NeRF-synthetic's file_path omits it). nullopt if none.
std::optional<std::filesystem::path> find_image_file(const std::filesystem::path& base,
                                                     const std::string& relative);

/// Checks a camera-to-world pose read from `file` at `field`: finite, bottom row [0 0 0 1], and a
/// rotation block that is orthonormal with determinant +1 (to 1e-2). Throws InputError otherwise.
void check_pose(const Eigen::Matrix4d& c2w, const std::filesystem::path& file, const std::string& field);

/// Checks intrinsics read from `file` at `field`: positive size (at most 2^20), positive finite focal
/// lengths, finite principal point and distortion. Throws InputError otherwise.
void check_intrinsics(const Intrinsics& K, const std::filesystem::path& file, const std::string& field);

/// Camera-to-world (OpenGL axes) from a world-to-camera OpenCV pose given as a quaternion (w, x, y, z;
/// normalised here) and translation, as COLMAP stores it. Throws InputError for a zero or non-finite
/// quaternion or a non-finite translation.
Eigen::Matrix4d c2w_from_opencv_w2c(const Eigen::Vector4d& qvec, const Eigen::Vector3d& tvec,
                                    const std::filesystem::path& file, const std::string& field);

/// "stem" of a file name: "images/r_12.png" -> "r_12".
std::string image_stem(const std::filesystem::path& path);

/// True for .png/.jpg/.jpeg in any case.
bool has_image_extension(const std::filesystem::path& path);

}  // namespace semfield
