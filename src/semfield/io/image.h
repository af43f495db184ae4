// Image files: PNG (8/16-bit, gray/GA/RGB/RGBA) and JPEG read via libpng/stb; PNG write via libpng.
#pragma once

#include <cstdint>
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
/// unsupported file. `bit_depth_out`, when given, receives 8 or 16. Channels are the file's own (gray 1,
/// gray+alpha 2, RGB 3, RGBA 4); palette PNGs expand to RGB (RGBA when they carry transparency), gray PNGs
/// below 8 bits are scaled to 8 bits, and no gamma or colour-profile conversion is applied. Images of more
/// than 2^28 values (width * height * channels, e.g. 8192 x 8192 RGBA) are rejected.
Image read_image(const std::filesystem::path& path, ImageRange range = ImageRange::Unit,
                 int* bit_depth_out = nullptr);

/// Same as read_image, from bytes already in memory (used by the fuzzer); `origin` names them in errors.
/// The format is recognised by its signature, not by the file name.
Image decode_image(const uint8_t* data, size_t size, const std::filesystem::path& origin,
                   ImageRange range = ImageRange::Unit, int* bit_depth_out = nullptr);

/// Writes a PNG atomically (temp file + rename). bit_depth is 8 or 16. In Raw mode a value that does not
/// fit the bit depth throws InputError. Non-finite values throw InputError.
void write_png(const std::filesystem::path& path, const Image& image, int bit_depth = 8,
               ImageRange range = ImageRange::Unit);
/// How hard encode_png compresses: Small (libpng's defaults) or Fast (zlib level 1, Sub filter: several
/// times faster for ~20 % more bytes, for frames sent over a local connection).
enum class PngEncoding { Small, Fast };
/// Encodes a PNG in memory with the same checks as write_png; `origin` names the image in errors.
/// An empty image or a bit depth other than 8/16 is a UsageError.
std::vector<uint8_t> encode_png(const Image& image, int bit_depth, ImageRange range,
                                const std::filesystem::path& origin, PngEncoding encoding = PngEncoding::Small);

/// Box-filter downscale by an integer factor (averages each factor x factor block; edges cropped, so the
/// result is floor(W/factor) x floor(H/factor)). factor < 1, or an image smaller than one block, is a
/// UsageError.
Image downscale_box(const Image& image, int factor);
/// Nearest (top-left sample of each block) downscale, for label and id maps that must not be averaged.
Image downscale_nearest(const Image& image, int factor);

}  // namespace semfield
