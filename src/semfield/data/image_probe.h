// Image dimensions from a PNG or JPEG header without decoding the pixels (fast scene inspection).
#pragma once

#include <filesystem>

namespace semfield {

struct ImageSize {
  int width = 0;
  int height = 0;
  /// Whether read_image gives the file an alpha channel: PNG gray+alpha or RGBA, or a palette PNG with a
  /// tRNS chunk (JPEG never).
  bool alpha = false;
};

/// Reads only the header (PNG IHDR, and for palette PNGs the chunks before the image data; JPEG SOF segment). Throws InputError naming the file when it is
/// missing, unreadable, truncated, or neither PNG nor JPEG.
ImageSize probe_image_size(const std::filesystem::path& path);

}  // namespace semfield
