// Image files: PNG read/write through libpng, JPEG read through stb_image, downscaling.
#include "semfield/io/image.h"

#include <png.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"

// stb_image is compiled into this translation unit only, for JPEG alone: its other decoders add attack
// surface (fuzzing Debian's stb 2.27 PNM reader finds signed overflow at once) and no dataset needs them.
// stb 2.27's decoder lets corrupt coefficients overflow `int` (fixed upstream in 2.28); the results are
// garbage pixels of a corrupt file, not memory errors, so under clang those checks are switched off for
// stb's functions only, keeping the sanitised fuzz build focused on real faults (ASan stays on).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("signed-integer-overflow"))), apply_to = function)
#endif
#include <stb_image.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif

namespace semfield {

namespace fs = std::filesystem;

namespace {

// Decoding refuses images with more than this many values (1 GiB of floats; 8192 x 8192 RGBA): a few
// bytes of header can claim gigapixels, and that must be an error, not an allocation failure. (A JPEG
// whose data runs out decodes as padding, so its header alone decides the allocation.)
constexpr uint64_t kMaxImageValues = uint64_t{1} << 28;

// ---------------------------------------------------------------------------------------------------
// libpng reports errors by longjmp. Every function below that calls setjmp holds only trivially
// destructible locals, and the callbacks libpng runs hold none, so a longjmp never skips a destructor.
// C++ objects (buffers, the RAII handle) live in the callers, outside the jumped-over frames.

struct PngContext {
  const uint8_t* data = nullptr;        // read: the encoded file
  size_t size = 0, pos = 0;
  std::vector<uint8_t>* out = nullptr;  // write: the growing encoded file
  char message[256] = {0};              // libpng's error, kept for the InputError
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* ctx = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof ctx->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings (an unknown sRGB profile, a bad ancillary-chunk CRC) do not affect the pixels.
void on_png_warning(png_structp, png_const_charp) {}

void on_png_read(png_structp png, png_bytep out, size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "truncated PNG (the file ends early)");
  std::memcpy(out, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

bool append_bytes(std::vector<uint8_t>* out, const uint8_t* data, size_t n) noexcept {
  try {
    out->insert(out->end(), data, data + n);
    return true;
  } catch (...) {
    return false;
  }
}

void on_png_write(png_structp png, png_bytep data, size_t n) {
  auto* ctx = static_cast<PngContext*>(png_get_io_ptr(png));
  if (!append_bytes(ctx->out, data, n)) png_error(png, "out of memory while encoding");
}

void on_png_flush(png_structp) {}

struct PngLayout {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0;  // after transforms: 8 or 16
  int channels = 0;   // after transforms: 1..4
  size_t rowbytes = 0;
  bool fast = false;  // writing: zlib level 1 and the Sub filter only (several times faster, ~20 % larger)
};

// Reads the header and sets up the transforms (palette -> RGB[A], gray < 8 bits -> 8 bits).
bool png_read_layout(png_structp png, png_infop info, PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // tRNS becomes alpha
  if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->channels = png_get_channels(png, info);
  layout->rowbytes = png_get_rowbytes(png, info);
  return true;
}

bool png_read_rows(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

bool png_write_rows(png_structp png, png_infop info, const PngLayout* layout, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  static const int kColorTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                    PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, layout->width, layout->height, layout->bit_depth, kColorTypes[layout->channels - 1],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (layout->fast) {
    png_set_compression_level(png, 1);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

class PngReadHandle {
 public:
  explicit PngReadHandle(PngContext* ctx)
      : m_png(png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning)),
        m_info(m_png ? png_create_info_struct(m_png) : nullptr) {}
  ~PngReadHandle() {
    if (m_png) png_destroy_read_struct(&m_png, m_info ? &m_info : nullptr, nullptr);
  }
  PngReadHandle(const PngReadHandle&) = delete;
  PngReadHandle& operator=(const PngReadHandle&) = delete;
  png_structp png() const { return m_png; }
  png_infop info() const { return m_info; }

 private:
  png_structp m_png;
  png_infop m_info;
};

class PngWriteHandle {
 public:
  explicit PngWriteHandle(PngContext* ctx)
      : m_png(png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning)),
        m_info(m_png ? png_create_info_struct(m_png) : nullptr) {}
  ~PngWriteHandle() {
    if (m_png) png_destroy_write_struct(&m_png, m_info ? &m_info : nullptr);
  }
  PngWriteHandle(const PngWriteHandle&) = delete;
  PngWriteHandle& operator=(const PngWriteHandle&) = delete;
  png_structp png() const { return m_png; }
  png_infop info() const { return m_info; }

 private:
  png_structp m_png;
  png_infop m_info;
};

void check_image_size(uint64_t width, uint64_t height, uint64_t channels, const fs::path& origin) {
  if (width == 0 || height == 0) fail_input(origin, "", "image has no pixels ({}x{})", width, height);
  if (width > kMaxImageValues || height > kMaxImageValues || width * height > kMaxImageValues / channels)
    fail_input(origin, "", "image too large ({}x{}x{}; at most 2^28 values are supported)", width, height,
               channels);
}

Image decode_png(const uint8_t* data, size_t size, const fs::path& origin, ImageRange range,
                 int* bit_depth_out) {
  PngContext ctx;
  ctx.data = data;
  ctx.size = size;
  PngReadHandle handle(&ctx);
  if (!handle.png() || !handle.info()) fail_input(origin, "", "out of memory creating a PNG decoder");
  png_set_read_fn(handle.png(), &ctx, on_png_read);
  // libpng itself rejects sides over 1e6 pixels; check_image_size bounds the total below.
  PngLayout layout;
  if (!png_read_layout(handle.png(), handle.info(), &layout)) {
    if (std::strncmp(ctx.message, "truncated", 9) == 0) fail_input(origin, "", "{}", ctx.message);
    fail_input(origin, "", "invalid PNG: {}", ctx.message);
  }
  SEMFIELD_ASSERT(layout.channels >= 1 && layout.channels <= 4, "libpng gave an unexpected channel count");
  SEMFIELD_ASSERT(layout.bit_depth == 8 || layout.bit_depth == 16, "libpng gave an unexpected bit depth");
  check_image_size(layout.width, layout.height, static_cast<uint64_t>(layout.channels), origin);
  // Deflate cannot compress better than 1032:1, so an image whose rows need more than that from the bytes
  // left is truncated; saying so now avoids allocating for pixels that cannot exist.
  const uint64_t raw_bytes = (static_cast<uint64_t>(layout.rowbytes) + 1) * layout.height;
  if (raw_bytes / 1032 > ctx.size - ctx.pos + 1024)
    fail_input(origin, "", "truncated PNG ({}x{} needs more compressed data than the {} bytes left)",
               layout.width, layout.height, ctx.size - ctx.pos);

  std::vector<uint8_t> buffer(layout.rowbytes * layout.height);
  std::vector<png_bytep> rows(layout.height);
  for (png_uint_32 y = 0; y < layout.height; ++y) rows[y] = buffer.data() + y * layout.rowbytes;
  if (!png_read_rows(handle.png(), handle.info(), rows.data())) {
    if (std::strncmp(ctx.message, "truncated", 9) == 0) fail_input(origin, "", "{}", ctx.message);
    fail_input(origin, "", "invalid PNG: {}", ctx.message);
  }

  Image image(static_cast<int>(layout.width), static_cast<int>(layout.height), layout.channels);
  const size_t n = image.pixels.size();
  // Division (not multiplication by a reciprocal) so that k/255 written and read back is bit-identical.
  if (layout.bit_depth == 8) {
    const float divisor = range == ImageRange::Unit ? 255.0f : 1.0f;
    for (size_t i = 0; i < n; ++i) image.pixels[i] = static_cast<float>(buffer[i]) / divisor;
  } else {
    const float divisor = range == ImageRange::Unit ? 65535.0f : 1.0f;
    for (size_t i = 0; i < n; ++i) {
      const unsigned v = (static_cast<unsigned>(buffer[2 * i]) << 8) | buffer[2 * i + 1];  // PNG is big-endian
      image.pixels[i] = static_cast<float>(v) / divisor;
    }
  }
  if (bit_depth_out) *bit_depth_out = layout.bit_depth;
  return image;
}

// ---------------------------------------------------------------------------------------------------
// stb_image (JPEG): plain return codes, no longjmp.

struct StbFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

// stb_image 2.27 (Debian 12) writes past its Huffman tables when a DHT segment declares more than 256
// codes. This walks the markers the way stb does (segments by length, entropy-coded data byte by byte,
// bytes past the end read as 0) and reports such a table so the file is rejected before stb sees it.
bool jpeg_has_oversized_huffman_table(const uint8_t* data, size_t size) {
  const auto byte_at = [&](size_t i) -> size_t { return i < size ? data[i] : 0; };
  size_t pos = 2;
  while (pos + 1 < size) {
    const unsigned marker = data[pos + 1];
    if (data[pos] != 0xff || marker == 0xff) {  // entropy-coded data, or a fill byte before a marker
      ++pos;
      continue;
    }
    if (marker == 0xd9) return false;  // end of image
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {  // no length field
      pos += 2;
      continue;
    }
    const size_t length = (byte_at(pos + 2) << 8) | byte_at(pos + 3);
    if (marker == 0xc4) {
      size_t p = pos + 4;
      for (long left = static_cast<long>(length) - 2; left > 0;) {
        ++p;  // table class and id
        size_t n_codes = 0;
        for (int i = 0; i < 16; ++i) n_codes += byte_at(p++);
        if (n_codes > 256) return true;
        p += n_codes;
        left -= 17 + static_cast<long>(n_codes);
      }
    }
    pos += 2 + length;
  }
  return false;
}

Image decode_jpeg(const uint8_t* data, size_t size, const fs::path& origin, ImageRange range, int* bit_depth_out) {
  if (size > static_cast<size_t>(INT_MAX)) fail_input(origin, "", "JPEG file too large (over 2 GiB)");
  if (jpeg_has_oversized_huffman_table(data, size))
    fail_input(origin, "", "invalid JPEG: a Huffman table declares more than 256 codes");
  const int len = static_cast<int>(size);
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &width, &height, &channels))
    fail_input(origin, "", "invalid JPEG: {}", stbi_failure_reason());
  if (width <= 0 || height <= 0 || channels < 1 || channels > 4)
    fail_input(origin, "", "invalid JPEG: {}x{} with {} channels", width, height, channels);
  check_image_size(static_cast<uint64_t>(width), static_cast<uint64_t>(height), static_cast<uint64_t>(channels),
                   origin);
  int w = 0, h = 0, c = 0;
  const std::unique_ptr<stbi_uc, StbFree> pixels(stbi_load_from_memory(data, len, &w, &h, &c, 0));
  if (!pixels) fail_input(origin, "", "invalid JPEG: {}", stbi_failure_reason());
  if (w != width || h != height || c != channels)
    fail_input(origin, "", "invalid JPEG: header says {}x{}x{} but decoded {}x{}x{}", width, height, channels, w, h,
               c);
  Image image(w, h, c);
  const float divisor = range == ImageRange::Unit ? 255.0f : 1.0f;
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<float>(pixels.get()[i]) / divisor;
  if (bit_depth_out) *bit_depth_out = 8;
  return image;
}

void check_factor(const Image& image, int factor) {
  if (factor < 1) fail_usage("downscale factor must be at least 1, got {}", factor);
  if (image.width < factor || image.height < factor)
    fail_usage("cannot downscale a {}x{} image by {}: it is smaller than one block", image.width, image.height,
               factor);
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const fs::path& origin, ImageRange range,
                   int* bit_depth_out) {
  static const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPngSignature, 8) == 0)
    return decode_png(data, size, origin, range, bit_depth_out);
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return decode_jpeg(data, size, origin, range, bit_depth_out);
  if (size < 8 && size > 0 && std::memcmp(data, kPngSignature, size) == 0)
    fail_input(origin, "", "truncated PNG (only {} bytes)", size);
  fail_input(origin, "", "not a PNG or JPEG image (unrecognised signature{})", size == 0 ? "; the file is empty" : "");
}

Image read_image(const fs::path& path, ImageRange range, int* bit_depth_out) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path, range, bit_depth_out);
}

std::vector<uint8_t> encode_png(const Image& image, int bit_depth, ImageRange range, const fs::path& origin,
                                PngEncoding encoding) {
  if (bit_depth != 8 && bit_depth != 16) fail_usage("{}: PNG bit depth must be 8 or 16, got {}", origin.string(), bit_depth);
  if (image.channels < 1 || image.channels > 4)
    fail_usage("{}: a PNG has 1 to 4 channels, got {}", origin.string(), image.channels);
  if (image.width <= 0 || image.height <= 0)
    fail_usage("{}: cannot write an empty image ({}x{})", origin.string(), image.width, image.height);
  SEMFIELD_ASSERT(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
                  "Image pixel count does not match its size");

  // Quantise first (all checks happen here, in plain C++), then hand finished rows to libpng.
  const float max_value = bit_depth == 8 ? 255.0f : 65535.0f;
  const size_t bytes_per_value = bit_depth / 8;
  const size_t n = image.pixels.size();
  std::vector<uint8_t> buffer(n * bytes_per_value);
  for (size_t i = 0; i < n; ++i) {
    const float v = image.pixels[i];
    const auto locate = [&] {
      const size_t pixel = i / image.channels;
      return fmt::format("pixel (x {}, y {}, channel {})", pixel % image.width, pixel / image.width,
                         i % image.channels);
    };
    if (!std::isfinite(v)) throw InputError(origin, locate(), fmt::format("non-finite value {}", v));
    float q;
    if (range == ImageRange::Unit) {
      q = std::nearbyint(std::min(std::max(v, 0.0f), 1.0f) * max_value);
    } else {
      q = std::nearbyint(v);
      if (q < 0.0f || q > max_value)
        throw InputError(origin, locate(),
                         fmt::format("value {} does not fit a {}-bit PNG (0..{})", v, bit_depth, max_value));
    }
    const auto u = static_cast<unsigned>(q);
    if (bit_depth == 8) {
      buffer[i] = static_cast<uint8_t>(u);
    } else {
      buffer[2 * i] = static_cast<uint8_t>(u >> 8);  // PNG is big-endian
      buffer[2 * i + 1] = static_cast<uint8_t>(u & 0xff);
    }
  }

  PngLayout layout;
  layout.fast = encoding == PngEncoding::Fast;
  layout.width = static_cast<png_uint_32>(image.width);
  layout.height = static_cast<png_uint_32>(image.height);
  layout.bit_depth = bit_depth;
  layout.channels = image.channels;
  layout.rowbytes = static_cast<size_t>(image.width) * image.channels * bytes_per_value;
  std::vector<png_bytep> rows(layout.height);
  for (png_uint_32 y = 0; y < layout.height; ++y) rows[y] = buffer.data() + y * layout.rowbytes;

  std::vector<uint8_t> encoded;
  PngContext ctx;
  ctx.out = &encoded;
  PngWriteHandle handle(&ctx);
  if (!handle.png() || !handle.info()) fail_input(origin, "", "out of memory creating a PNG encoder");
  png_set_write_fn(handle.png(), &ctx, on_png_write, on_png_flush);
  if (!png_write_rows(handle.png(), handle.info(), &layout, rows.data()))
    fail_input(origin, "", "cannot encode PNG: {}", ctx.message);
  return encoded;
}

void write_png(const fs::path& path, const Image& image, int bit_depth, ImageRange range) {
  const std::vector<uint8_t> encoded = encode_png(image, bit_depth, range, path);
  write_file_atomic(path, encoded.data(), encoded.size());
}

Image downscale_box(const Image& image, int factor) {
  check_factor(image, factor);
  Image out(image.width / factor, image.height / factor, image.channels);
  const float inv_area = 1.0f / static_cast<float>(factor * factor);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < image.channels; ++c) {
        float sum = 0.0f;
        for (int dy = 0; dy < factor; ++dy)
          for (int dx = 0; dx < factor; ++dx) sum += image.at(x * factor + dx, y * factor + dy, c);
        out.at(x, y, c) = sum * inv_area;
      }
  return out;
}

Image downscale_nearest(const Image& image, int factor) {
  check_factor(image, factor);
  Image out(image.width / factor, image.height / factor, image.channels);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int c = 0; c < image.channels; ++c) out.at(x, y, c) = image.at(x * factor, y * factor, c);
  return out;
}

}  // namespace semfield
