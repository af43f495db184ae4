// libFuzzer target: the COLMAP model parsers (.bin and .txt cameras, images, points3D) on arbitrary bytes.
// The first byte picks the parser (mod 6); the rest is the file. Parsed records then go through the
// camera and pose conversions the scene loader applies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "semfield/core/error.h"
#include "semfield/data/colmap_model.h"
#include "semfield/data/colmap_parser.h"
#include "semfield/data/parser_common.h"

namespace {

void convert_cameras(const std::vector<semfield::ColmapCamera>& cameras) {
  for (const auto& camera : cameras) {
    try {
      const semfield::Intrinsics K = semfield::colmap_intrinsics(camera, "cameras");
      if (!(K.fx > 0) || K.width <= 0) std::abort();  // accepted intrinsics must be valid
    } catch (const semfield::Error&) {
    }
  }
}

void convert_images(const std::vector<semfield::ColmapImage>& images) {
  for (const auto& image : images) {
    try {
      const Eigen::Matrix4d c2w = semfield::c2w_from_opencv_w2c(image.qvec, image.tvec, "images", image.name);
      if (!c2w.allFinite()) std::abort();
    } catch (const semfield::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 6;
  const uint8_t* body = data + 1;
  const size_t n = size - 1;
  const std::string text(reinterpret_cast<const char*>(body), n);
  try {
    switch (which) {
      case 0: convert_cameras(semfield::parse_colmap_cameras_bin(body, n, "cameras.bin")); break;
      case 1: convert_images(semfield::parse_colmap_images_bin(body, n, "images.bin")); break;
      case 2: semfield::parse_colmap_points3d_bin(body, n, "points3D.bin"); break;
      case 3: convert_cameras(semfield::parse_colmap_cameras_txt(text, "cameras.txt")); break;
      case 4: convert_images(semfield::parse_colmap_images_txt(text, "images.txt")); break;
      case 5: semfield::parse_colmap_points3d_txt(text, "points3D.txt"); break;
    }
  } catch (const semfield::Error&) {
  }
  return 0;
}
