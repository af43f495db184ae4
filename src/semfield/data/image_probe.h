// Image dimensions from a PNG or JPEG header without decoding the pixels (fast scene inspection).
#pragma once

#include <filesystem>

namespace semfield {

struct ImageSize {
  int width = 0;
  int height = 0;
};

/// Reads only the header (PNG IHDR, JPEG SOF segment). Throws InputError naming the file when it is
/// missing, unreadable, truncated, or neither PNG nor JPEG.
ImageSize probe_image_size(const std::filesystem::path& path);

}  // namespace semfield
