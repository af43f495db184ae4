// The files every generated scene folder shares: view maps as PNGs, transforms headers and atomic JSON.
#include "semfield/data/synth/synth_files.h"

#include <algorithm>
#include <cmath>

#include "semfield/core/file_util.h"
#include "semfield/io/image.h"

namespace semfield::synth {

namespace {

// Quantises z-depth to the PNG unit; a hit never rounds to 0 (which means "miss") or overflows 16 bits.
Image files_depth_to_png_units(const Image& depth) {
  Image out = depth;
  for (float& value : out.pixels)
    if (value > 0) value = static_cast<float>(std::clamp(std::round(value / kSynthDepthUnit), 1.0, 65535.0));
  return out;
}

}  // namespace

nlohmann::json matrix_to_json(const Eigen::Matrix4d& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (int r = 0; r < 4; ++r) rows.push_back({m(r, 0), m(r, 1), m(r, 2), m(r, 3)});
  return rows;
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& doc) {
  write_file_atomic(path, doc.dump(2) + "\n");
}

nlohmann::json transforms_header(double fov_x, const Intrinsics& K) {
  return {{"camera_angle_x", fov_x}, {"fl_x", K.fx}, {"fl_y", K.fy}, {"cx", K.cx}, {"cy", K.cy},
          {"w", K.width},            {"h", K.height}, {"depth_unit_scale_factor", kSynthDepthUnit}};
}

nlohmann::json write_view_files(const std::filesystem::path& dir, const std::string& stem, const SynthRender& render,
                                const Camera& camera) {
  write_png(dir / (stem + ".png"), render.rgba, 8, ImageRange::Unit);
  write_png(dir / (stem + "_depth.png"), files_depth_to_png_units(render.depth), 16, ImageRange::Raw);
  write_png(dir / (stem + "_instance.png"), render.instance, 8, ImageRange::Raw);
  write_png(dir / (stem + "_semantic.png"), render.semantic, 8, ImageRange::Raw);
  return {{"file_path", "./" + stem},
          {"transform_matrix", matrix_to_json(camera.c2w)},
          {"depth_file_path", "./" + stem + "_depth.png"},
          {"instance_path", "./" + stem + "_instance.png"},
          {"semantic_path", "./" + stem + "_semantic.png"}};
}

}  // namespace semfield::synth
