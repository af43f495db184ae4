// Image files: PNG (8/16-bit, gray/GA/RGB/RGBA) and JPEG read via libpng/stb; PNG write via libpng.
#pragma once

#include <filesystem>
#include <vector>

namespace semfield {

/// A row-major H x W x C image of floats (C = 1..4). Values are either in [0,1] (colour, ImageRange::Unit)
/// or the raw integers stored in the file (ids, depth in file units; ImageRange::Raw) — floats hold every
/// 16-bit integer exactly.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<float> pixels;  ///< size width*height*channels

  Image() = default;
  Image(int w, int h, int c, float fill = 0.0f)
      : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {}
  bool empty() const { return pixels.empty(); }
  float& at(int x, int y, int c = 0) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  float at(int x, int y, int c = 0) const {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

enum class ImageRange {
  Unit,  ///< divide by 255 (8-bit) or 65535 (16-bit) on read; multiply on write (clamped to [0,1])
  Raw    ///< keep the stored integers; on write, values are rounded and must fit the bit depth
};

/// Reads a PNG (8 or 16-bit) or JPEG. Throws InputError naming the file for a missing, truncated or
/// unsupported file. `bit_depth_out`, when given, receives 8 or 16.
Image read_image(const std::filesystem::path& path, ImageRange range = ImageRange::Unit,
                 int* bit_depth_out = nullptr);

/// Writes a PNG atomically (temp file + rename). bit_depth is 8 or 16. In Raw mode a value that does not
/// fit the bit depth throws InputError. Non-finite values throw InputError.
void write_png(const std::filesystem::path& path, const Image& image, int bit_depth = 8,
               ImageRange range = ImageRange::Unit);

/// Box-filter downscale by an integer factor (averages each factor x factor block; edges cropped).
Image downscale_box(const Image& image, int factor);
/// Nearest (top-left sample of each block) downscale, for label and id maps that must not be averaged.
Image downscale_nearest(const Image& image, int factor);

}  // namespace semfield
