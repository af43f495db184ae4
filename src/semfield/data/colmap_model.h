// COLMAP sparse model files (cameras, images, points3D; .txt and .bin) read into plain records.
//
// Binary layouts (little-endian), as COLMAP writes them:
//   cameras.bin:  u64 n; n x { u32 camera_id, i32 model_id, u64 width, u64 height, f64 params[k(model)] }
//   images.bin:   u64 n; n x { u32 image_id, f64 qw qx qy qz, f64 tx ty tz, u32 camera_id, name '\0',
//                              u64 n_points2D, n_points2D x { f64 x, f64 y, i64 point3D_id } }
//   points3D.bin: u64 n; n x { u64 point3D_id, f64 x y z, u8 r g b, f64 error, u64 track_length,
//                              track_length x { u32 image_id, u32 point2D_idx } }
// Text files hold the same fields, one record per line ('#' comments); an image takes two lines (the
// second lists its 2D points and may be empty).
// Every parser validates as it goes: a truncated record, an unknown model id, a non-finite number, a
// duplicate id or trailing garbage throws InputError naming the file, the record and the field.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace semfield {

struct ColmapCamera {
  uint32_t id = 0;
  std::string model;  ///< COLMAP model name, e.g. "PINHOLE", "OPENCV"
  int64_t width = 0, height = 0;
  std::vector<double> params;  ///< in COLMAP's order for the model
};

struct ColmapImage {
  uint32_t id = 0;
  Eigen::Vector4d qvec = Eigen::Vector4d(1, 0, 0, 0);  ///< world-to-camera rotation (w, x, y, z)
  Eigen::Vector3d tvec = Eigen::Vector3d::Zero();      ///< world-to-camera translation (OpenCV axes)
  uint32_t camera_id = 0;
  std::string name;  ///< image path relative to the image folder
  uint64_t n_points2d = 0;
};

struct ColmapPoint {
  uint64_t id = 0;
  Eigen::Vector3d xyz = Eigen::Vector3d::Zero();
  std::array<uint8_t, 3> rgb{};
  double error = 0.0;
  uint64_t track_length = 0;
};

/// Number of parameters of a COLMAP camera model, or -1 for an unknown name.
int colmap_model_num_params(const std::string& model);

std::vector<ColmapCamera> parse_colmap_cameras_bin(const uint8_t* data, size_t size,
                                                   const std::filesystem::path& origin);
std::vector<ColmapImage> parse_colmap_images_bin(const uint8_t* data, size_t size,
                                                 const std::filesystem::path& origin);
std::vector<ColmapPoint> parse_colmap_points3d_bin(const uint8_t* data, size_t size,
                                                   const std::filesystem::path& origin);
std::vector<ColmapCamera> parse_colmap_cameras_txt(const std::string& text, const std::filesystem::path& origin);
std::vector<ColmapImage> parse_colmap_images_txt(const std::string& text, const std::filesystem::path& origin);
std::vector<ColmapPoint> parse_colmap_points3d_txt(const std::string& text, const std::filesystem::path& origin);

/// Reads a file, choosing the parser by its extension (.bin or .txt).
std::vector<ColmapCamera> read_colmap_cameras(const std::filesystem::path& path);
std::vector<ColmapImage> read_colmap_images(const std::filesystem::path& path);
std::vector<ColmapPoint> read_colmap_points3d(const std::filesystem::path& path);

}  // namespace semfield
