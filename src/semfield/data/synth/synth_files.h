// The files every generated scene folder shares: view maps as PNGs, transforms headers and atomic JSON.
#pragma once

#include <filesystem>
#include <string>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/synth/ray_tracer.h"
#include "semfield/geometry/camera.h"

namespace semfield {

/// Depth PNG unit: stored value = round(depth / factor); 16 bits then reach 65.5 world units.
constexpr double kSynthDepthUnit = 0.001;

namespace synth {

/// A 4x4 matrix as rows of a JSON array (transform_matrix).
nlohmann::json matrix_to_json(const Eigen::Matrix4d& m);

/// Writes `doc` (2-space indent, trailing newline) atomically; InputError if it cannot be written.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& doc);

/// The top-level keys of a transforms_<split>.json: camera_angle_x, fl_x, fl_y, cx, cy, w, h and
/// depth_unit_scale_factor (frames are added by the caller).
nlohmann::json transforms_header(double fov_x, const Intrinsics& intrinsics);

/// Writes one rendered view under `dir`: <stem>.png (RGBA 8-bit), <stem>_depth.png (16-bit, unit
/// kSynthDepthUnit, 0 = miss), <stem>_instance.png and <stem>_semantic.png (8-bit raw ids), and returns its
/// transforms frame (file_path "./<stem>", transform_matrix, depth_file_path, instance_path, semantic_path).
nlohmann::json write_view_files(const std::filesystem::path& dir, const std::string& stem, const SynthRender& render,
                                const Camera& camera);

}  // namespace synth
}  // namespace semfield
