// Image dimensions from a PNG or JPEG header without decoding the pixels.
#include "semfield/data/image_probe.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <string>

#include "semfield/core/error.h"

namespace semfield {

namespace {

uint32_t big_endian(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

ImageSize checked(const std::filesystem::path& path, uint32_t width, uint32_t height) {
  if (width == 0 || height == 0 || width > (1u << 20) || height > (1u << 20))
    fail_input(path, "", "implausible image size {}x{} in the header", width, height);
  return {static_cast<int>(width), static_cast<int>(height)};
}

// Walks the JPEG segments (each "FF xx" marker followed by a big-endian length that includes itself)
// up to the first start-of-frame, which holds precision, height and width.
ImageSize probe_jpeg(std::ifstream& in, const std::filesystem::path& path) {
  in.seekg(2);
  for (int segments = 0; segments < 100000; ++segments) {
    int byte = in.get();
    if (byte != 0xFF) break;
    while (byte == 0xFF) byte = in.get();  // fill bytes
    if (byte == EOF) break;
    const int marker = byte;
    // Markers without a payload.
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;
    if (marker == 0xD9 || marker == 0xDA) break;  // end of image / start of scan before any frame header
    std::array<uint8_t, 7> head{};
    if (!in.read(reinterpret_cast<char*>(head.data()), 2)) break;
    const uint32_t length = big_endian(head.data(), 2);
    if (length < 2) break;
    const bool start_of_frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                                marker != 0xCC;
    if (start_of_frame) {
      if (length < 7 || !in.read(reinterpret_cast<char*>(head.data() + 2), 5)) break;
      return checked(path, big_endian(head.data() + 5, 2), big_endian(head.data() + 3, 2));
    }
    in.seekg(static_cast<std::streamoff>(length) - 2, std::ios::cur);
    if (!in) break;
  }
  fail_input(path, "", "truncated or malformed JPEG: no frame header found");
}

// Walks the chunks after IHDR (length, type, data, CRC) up to the image data, looking for tRNS (read_image
// expands a palette with tRNS to RGBA). A malformed chain counts as no transparency: decoding reports it.
bool png_palette_has_transparency(std::ifstream& in) {
  in.seekg(8 + 8 + 13 + 4);  // signature, IHDR length + type, IHDR data, CRC
  for (int chunks = 0; chunks < 10000; ++chunks) {
    std::array<uint8_t, 8> chunk{};
    if (!in.read(reinterpret_cast<char*>(chunk.data()), chunk.size())) return false;
    const std::string type(chunk.begin() + 4, chunk.end());
    if (type == "tRNS") return true;
    if (type == "IDAT" || type == "IEND") return false;
    in.seekg(static_cast<std::streamoff>(big_endian(chunk.data(), 4)) + 4, std::ios::cur);
    if (!in) return false;
  }
  return false;
}

}  // namespace

ImageSize probe_image_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, "", "cannot open image file");
  std::array<uint8_t, 24> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<size_t>(in.gcount());
  static constexpr std::array<uint8_t, 8> kPngSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (got >= 8 && std::equal(kPngSignature.begin(), kPngSignature.end(), head.begin())) {
    // The first chunk must be IHDR: length(4) "IHDR" width(4) height(4), big-endian.
    if (got < 24 || std::string(head.begin() + 12, head.begin() + 16) != "IHDR")
      fail_input(path, "", "truncated or malformed PNG: no IHDR header");
    ImageSize size = checked(path, big_endian(head.data() + 16, 4), big_endian(head.data() + 20, 4));
    std::array<uint8_t, 5> rest{};  // bit depth, colour type, compression, filter, interlace
    if (!in.read(reinterpret_cast<char*>(rest.data()), rest.size()))
      fail_input(path, "", "truncated or malformed PNG: short IHDR header");
    const int colour_type = rest[1];
    size.alpha = colour_type == 4 || colour_type == 6;
    if (colour_type == 3) size.alpha = png_palette_has_transparency(in);
    return size;
  }
  if (got >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) {
    in.clear();
    return probe_jpeg(in, path);
  }
  fail_input(path, "", "not a PNG or JPEG image");
}

}  // namespace semfield
