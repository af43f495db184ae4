// libFuzzer target: decode_image (PNG via libpng, JPEG/BMP/GIF/PNM via stb_image) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "semfield/core/error.h"
#include "semfield/io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    int depth = 0;
    const semfield::Image image =
        semfield::decode_image(data, size, "fuzz.img", semfield::ImageRange::Raw, &depth);
    if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) std::abort();
    if (depth != 8 && depth != 16) std::abort();
  } catch (const semfield::Error&) {
  }
  return 0;
}
