// Tests for image I/O: hand-built PNGs of every colour type, PNG round trips, JPEG read, errors, downscaling.
#include "semfield/io/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "semfield/core/crc32.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "support/test_support.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace semfield;
using semfield::test::TempDir;
using ::testing::HasSubstr;

namespace {

// ---- a minimal PNG writer independent of libpng: stored (uncompressed) deflate blocks ----

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 8) & 0xff),
          static_cast<char>(v & 0xff)};
}

std::string chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  return be32(static_cast<uint32_t>(data.size())) + body + be32(crc32(body.data(), body.size()));
}

std::string zlib_stored(const std::string& raw) {
  std::string out = "\x78\x01";
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(raw.size() - pos, 65535);
    const bool last = pos + n == raw.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xff);
    out += static_cast<char>((~n >> 8) & 0xff);
    out += raw.substr(pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (const char c : raw) {
    a = (a + static_cast<uint8_t>(c)) % 65521;
    b = (b + a) % 65521;
  }
  return out + be32((b << 16) | a);
}

// `scanlines` is the filtered image data (a filter byte, 0, before each row of each pass).
std::string hand_png(uint32_t w, uint32_t h, int depth, int color_type, const std::string& scanlines,
                     const std::string& extra_chunks = "", int interlace = 0) {
  const std::string ihdr = be32(w) + be32(h) + static_cast<char>(depth) + static_cast<char>(color_type) +
                           std::string(2, '\0') + static_cast<char>(interlace);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + extra_chunks +
         chunk("IDAT", zlib_stored(scanlines)) + chunk("IEND", "");
}

Image decode(const std::string& bytes, ImageRange range = ImageRange::Unit, int* depth = nullptr) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "hand.png", range, depth);
}

std::string read_error(const std::filesystem::path& path) {
  try {
    read_image(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string decode_error(const std::string& bytes) {
  try {
    decode(bytes);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ImageRead, HandBuiltGray16KeepsRawValues) {
  const std::string rows = std::string("\0\x12\x34\xff\xff\x00\x01", 7);
  int depth = 0;
  const Image raw = decode(hand_png(3, 1, 16, 0, rows), ImageRange::Raw, &depth);
  EXPECT_EQ(depth, 16);
  ASSERT_EQ(raw.channels, 1);
  ASSERT_EQ(raw.width, 3);
  EXPECT_EQ(raw.at(0, 0), 4660.0f);
  EXPECT_EQ(raw.at(1, 0), 65535.0f);
  EXPECT_EQ(raw.at(2, 0), 1.0f);
  const Image unit = decode(hand_png(3, 1, 16, 0, rows));
  EXPECT_EQ(unit.at(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(unit.at(0, 0), 4660.0f / 65535.0f);
}

TEST(ImageRead, HandBuiltPaletteExpandsToRgbOrRgba) {
  const std::string plte = chunk("PLTE", std::string("\xff\x00\x00\x00\xff\x00", 6));  // red, green
  const std::string rows = std::string("\0\x00\x01", 3);
  const Image rgb = decode(hand_png(2, 1, 8, 3, rows, plte));
  ASSERT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.at(0, 0, 0), 1.0f);
  EXPECT_EQ(rgb.at(0, 0, 1), 0.0f);
  EXPECT_EQ(rgb.at(1, 0, 1), 1.0f);
  // A tRNS chunk gives palette entry 0 an alpha of 128 (entry 1 stays opaque).
  const Image rgba = decode(hand_png(2, 1, 8, 3, rows, plte + chunk("tRNS", "\x80")), ImageRange::Raw);
  ASSERT_EQ(rgba.channels, 4);
  EXPECT_EQ(rgba.at(0, 0, 0), 255.0f);
  EXPECT_EQ(rgba.at(0, 0, 3), 128.0f);
  EXPECT_EQ(rgba.at(1, 0, 3), 255.0f);
}

TEST(ImageRead, HandBuiltLowBitGrayAndGrayAlpha) {
  int depth = 0;
  const Image bits = decode(hand_png(8, 1, 1, 0, std::string("\0\xa0", 2)), ImageRange::Raw, &depth);
  EXPECT_EQ(depth, 8);
  ASSERT_EQ(bits.channels, 1);
  const float expected[8] = {255, 0, 255, 0, 0, 0, 0, 0};
  for (int x = 0; x < 8; ++x) EXPECT_EQ(bits.at(x, 0), expected[x]) << x;
  const Image ga = decode(hand_png(1, 1, 8, 4, std::string("\0\x33\xcc", 3)), ImageRange::Raw);
  ASSERT_EQ(ga.channels, 2);
  EXPECT_EQ(ga.at(0, 0, 0), 51.0f);
  EXPECT_EQ(ga.at(0, 0, 1), 204.0f);
}

TEST(ImageRead, HandBuiltInterlacedImage) {
  // Adam7 on 2x2: pass 1 holds (0,0), pass 6 holds (1,0), pass 7 holds row 1.
  const std::string rows = std::string("\0\x0a", 2) + std::string("\0\x14", 2) + std::string("\0\x1e\x28", 3);
  const Image img = decode(hand_png(2, 2, 8, 0, rows, "", 1), ImageRange::Raw);
  EXPECT_EQ(img.at(0, 0), 10.0f);
  EXPECT_EQ(img.at(1, 0), 20.0f);
  EXPECT_EQ(img.at(0, 1), 30.0f);
  EXPECT_EQ(img.at(1, 1), 40.0f);
}

TEST(ImagePng, RoundTripsEveryDepthAndChannelCount) {
  TempDir dir;
  for (const int depth : {8, 16}) {
    const float max_value = depth == 8 ? 255.0f : 65535.0f;
    for (int channels = 1; channels <= 4; ++channels) {
      Image img(5, 3, channels);
      for (size_t i = 0; i < img.pixels.size(); ++i)
        img.pixels[i] = static_cast<float>((i * 7919) % static_cast<size_t>(max_value + 1)) / max_value;
      const auto path = dir / ("u" + std::to_string(depth) + "_" + std::to_string(channels) + ".png");
      write_png(path, img, depth);
      int got_depth = 0;
      const Image back = read_image(path, ImageRange::Unit, &got_depth);
      EXPECT_EQ(got_depth, depth);
      EXPECT_EQ(back.width, 5);
      EXPECT_EQ(back.height, 3);
      EXPECT_EQ(back.channels, channels);
      EXPECT_EQ(back.pixels, img.pixels) << depth << "-bit, " << channels << " channels";
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().extension(), ".png") << "temp file left behind: " << entry.path();
}

TEST(ImagePng, RawIdsUpTo65535RoundTrip) {
  TempDir dir;
  Image ids(4, 2, 1);
  ids.pixels = {0, 1, 255, 256, 4660, 32768, 65534, 65535};
  write_png(dir / "ids.png", ids, 16, ImageRange::Raw);
  int depth = 0;
  const Image back = read_image(dir / "ids.png", ImageRange::Raw, &depth);
  EXPECT_EQ(depth, 16);
  EXPECT_EQ(back.pixels, ids.pixels);
  // 8-bit raw, and rounding of near-integers.
  Image small(3, 1, 3);
  for (size_t i = 0; i < small.pixels.size(); ++i) small.pixels[i] = static_cast<float>(i * 31) + 0.2f;
  write_png(dir / "small.png", small, 8, ImageRange::Raw);
  const Image sback = read_image(dir / "small.png", ImageRange::Raw);
  for (size_t i = 0; i < small.pixels.size(); ++i) EXPECT_EQ(sback.pixels[i], static_cast<float>(i * 31));
}

TEST(ImagePng, UnitModeClampsAndRounds) {
  Image img(4, 1, 1);
  img.pixels = {-0.5f, 1.5f, 0.5f, 0.2f};
  const auto bytes = encode_png(img, 8, ImageRange::Unit, "c.png");
  const Image back = decode_image(bytes.data(), bytes.size(), "c.png", ImageRange::Raw);
  EXPECT_EQ(back.pixels, (std::vector<float>{0.0f, 255.0f, 128.0f, 51.0f}));
}

TEST(ImagePng, FastEncodingDecodesToTheSamePixels) {
  // A smooth gradient with noise, like a rendered frame, in 8 and 16 bits and 1 to 4 channels.
  std::mt19937 rng(3);
  for (const int channels : {1, 3, 4})
    for (const int depth : {8, 16}) {
      Image img(37, 23, channels);
      for (size_t i = 0; i < img.pixels.size(); ++i)
        img.pixels[i] = std::min(1.0f, static_cast<float>(i % 97) / 97.0f + static_cast<float>(rng() % 8) / 255.0f);
      const auto small = encode_png(img, depth, ImageRange::Unit, "s.png");
      const auto fast = encode_png(img, depth, ImageRange::Unit, "f.png", PngEncoding::Fast);
      EXPECT_NE(small, fast);
      EXPECT_EQ(decode_image(fast.data(), fast.size(), "f.png", ImageRange::Raw).pixels,
                decode_image(small.data(), small.size(), "s.png", ImageRange::Raw).pixels)
          << channels << " channels, " << depth << " bits";
    }
}

TEST(ImagePng, WriteRejectsValuesThatDoNotFit) {
  TempDir dir;
  const auto path = dir / "bad.png";
  const auto write_error = [&](const Image& img, int depth, ImageRange range) -> std::string {
    try {
      write_png(path, img, depth, range);
    } catch (const InputError& e) {
      return e.what();
    }
    return "<no error>";
  };
  Image img(2, 2, 2, 0.0f);
  img.at(1, 0, 1) = 65536.0f;
  EXPECT_THAT(write_error(img, 16, ImageRange::Raw),
              HasSubstr(path.string() + ": pixel (x 1, y 0, channel 1): value 65536 does not fit a 16-bit PNG"));
  img.at(1, 0, 1) = 256.0f;
  EXPECT_THAT(write_error(img, 8, ImageRange::Raw), HasSubstr("value 256 does not fit a 8-bit PNG"));
  img.at(1, 0, 1) = -1.0f;
  EXPECT_THAT(write_error(img, 16, ImageRange::Raw), HasSubstr("does not fit"));
  img.at(1, 0, 1) = 0.0f;
  img.at(0, 1, 0) = std::nanf("");
  EXPECT_THAT(write_error(img, 8, ImageRange::Unit),
              HasSubstr(path.string() + ": pixel (x 0, y 1, channel 0): non-finite value"));
  img.at(0, 1, 0) = INFINITY;
  EXPECT_THAT(write_error(img, 16, ImageRange::Raw), HasSubstr("non-finite value"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(write_png(path, Image(2, 2, 1), 12), UsageError);
  EXPECT_THROW(write_png(path, Image(2, 2, 5), 8), UsageError);
  EXPECT_THROW(write_png(path, Image(), 8), UsageError);
}

void append_to(void* context, void* data, int size) {
  auto* out = static_cast<std::string*>(context);
  out->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

TEST(ImageJpeg, ReadsColourAndGrayJpeg) {
  TempDir dir;
  std::vector<uint8_t> rgb(16 * 16 * 3);
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = 200;
    rgb[i + 1] = 100;
    rgb[i + 2] = 50;
  }
  std::string jpeg;
  ASSERT_TRUE(stbi_write_jpg_to_func(append_to, &jpeg, 16, 16, 3, rgb.data(), 95));
  write_file_atomic(dir / "c.jpg", jpeg);
  int depth = 0;
  const Image img = read_image(dir / "c.jpg", ImageRange::Raw, &depth);
  EXPECT_EQ(depth, 8);
  ASSERT_EQ(img.width, 16);
  ASSERT_EQ(img.height, 16);
  ASSERT_EQ(img.channels, 3);
  EXPECT_NEAR(img.at(7, 9, 0), 200.0f, 3.0f);
  EXPECT_NEAR(img.at(7, 9, 1), 100.0f, 3.0f);
  EXPECT_NEAR(img.at(7, 9, 2), 50.0f, 3.0f);
  EXPECT_NEAR(read_image(dir / "c.jpg").at(0, 0, 0), 200.0f / 255.0f, 3.0f / 255.0f);

  // stb_image_write stores gray input as a three-component JPEG; its channels come back equal.
  std::vector<uint8_t> gray(8 * 4, 90);
  std::string gjpeg;
  ASSERT_TRUE(stbi_write_jpg_to_func(append_to, &gjpeg, 8, 4, 1, gray.data(), 95));
  const Image g = decode(gjpeg, ImageRange::Raw);
  ASSERT_EQ(g.channels, 3);
  EXPECT_EQ(g.width, 8);
  EXPECT_EQ(g.height, 4);
  EXPECT_NEAR(g.at(3, 2, 0), 90.0f, 2.0f);
  EXPECT_NEAR(g.at(3, 2, 2), 90.0f, 2.0f);
}

TEST(ImageJpeg, RejectsOversizedHuffmanTable) {
  // Debian's stb_image 2.27 overflows its tables on a DHT segment declaring more than 256 codes.
  std::vector<uint8_t> rgb(8 * 8 * 3, 128);
  std::string jpeg;
  ASSERT_TRUE(stbi_write_jpg_to_func(append_to, &jpeg, 8, 8, 3, rgb.data(), 90));
  const size_t dht = jpeg.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  for (size_t i = 0; i < 16; ++i) jpeg[dht + 5 + i] = 0x20;  // 16 code counts of 32 = 512 codes
  EXPECT_THAT(decode_error(jpeg), HasSubstr("hand.png: invalid JPEG: a Huffman table declares more than 256 codes"));
}

TEST(ImageRead, ErrorsNameTheFile) {
  TempDir dir;
  Image noise(64, 64, 3);
  std::mt19937 rng(7);
  for (float& v : noise.pixels) v = static_cast<float>(rng() % 256) / 255.0f;
  const auto full = encode_png(noise, 8, ImageRange::Unit, "n.png");

  const auto path = dir / "cut.png";
  write_file_atomic(path, full.data(), full.size() / 2);
  EXPECT_THAT(read_error(path), HasSubstr(path.string() + ": truncated PNG"));
  write_file_atomic(path, full.data(), full.size() - 13);  // IEND missing
  EXPECT_THAT(read_error(path), HasSubstr(path.string() + ": truncated PNG"));
  write_file_atomic(path, full.data(), 20);  // inside IHDR
  EXPECT_THAT(read_error(path), HasSubstr(path.string() + ": truncated PNG"));
  write_file_atomic(path, full.data(), 5);  // inside the signature
  EXPECT_THAT(read_error(path), HasSubstr(path.string() + ": truncated PNG (only 5 bytes)"));

  std::vector<uint8_t> corrupt = full;
  corrupt[20] ^= 0x40;  // a byte of the IHDR chunk: its CRC no longer matches
  write_file_atomic(path, corrupt.data(), corrupt.size());
  EXPECT_THAT(read_error(path), HasSubstr(path.string() + ": invalid PNG"));

  // A header claiming a huge image backed by a few bytes of data is caught before any allocation.
  EXPECT_THAT(decode_error(hand_png(60000, 60000, 8, 0, std::string(3, '\0'))),
              HasSubstr("hand.png: image too large"));
  EXPECT_THAT(decode_error(hand_png(16000, 16000, 8, 0, std::string(3, '\0'))), HasSubstr("hand.png: truncated PNG"));

  write_file_atomic(dir / "text.png", std::string("hello, not an image"));
  EXPECT_THAT(read_error(dir / "text.png"), HasSubstr("text.png: not a PNG or JPEG image"));
  write_file_atomic(dir / "empty.png", std::string());
  EXPECT_THAT(read_error(dir / "empty.png"), HasSubstr("empty.png: not a PNG or JPEG image"));
  write_file_atomic(dir / "bad.jpg", std::string("\xff\xd8\xff\xe0 garbage", 12));
  EXPECT_THAT(read_error(dir / "bad.jpg"), HasSubstr("bad.jpg: invalid JPEG"));
  EXPECT_THAT(read_error(dir / "missing.png"), HasSubstr("missing.png: file not found"));
}

TEST(ImageDownscale, BoxAveragesAndCropsEdges) {
  Image img(5, 3, 2);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) {
      img.at(x, y, 0) = static_cast<float>(x + 10 * y);
      img.at(x, y, 1) = 1.0f;
    }
  const Image half = downscale_box(img, 2);
  ASSERT_EQ(half.width, 2);
  ASSERT_EQ(half.height, 1);
  ASSERT_EQ(half.channels, 2);
  EXPECT_FLOAT_EQ(half.at(0, 0, 0), (0 + 1 + 10 + 11) / 4.0f);
  EXPECT_FLOAT_EQ(half.at(1, 0, 0), (2 + 3 + 12 + 13) / 4.0f);
  EXPECT_FLOAT_EQ(half.at(1, 0, 1), 1.0f);
  const Image same = downscale_box(img, 1);
  EXPECT_EQ(same.pixels, img.pixels);
}

TEST(ImageDownscale, NearestTakesTopLeftSample) {
  Image ids(4, 4, 1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) ids.at(x, y) = static_cast<float>(100 + x + 4 * y);
  const Image small = downscale_nearest(ids, 2);
  ASSERT_EQ(small.width, 2);
  EXPECT_EQ(small.pixels, (std::vector<float>{100, 102, 108, 110}));
  EXPECT_THROW(downscale_nearest(ids, 0), UsageError);
  EXPECT_THROW(downscale_box(ids, 5), UsageError);
  EXPECT_THROW(downscale_box(ids, -2), UsageError);
}

}  // namespace
