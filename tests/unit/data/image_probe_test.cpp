// Tests for reading image sizes from PNG and JPEG headers.
#include "semfield/data/image_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/file_util.h"
#include "semfield/io/image.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace {

using namespace semfield;
using semfield::test::input_error_of;
using semfield::test::TempDir;
using ::testing::HasSubstr;

TEST(ImageProbe, PngSize) {
  TempDir dir;
  semfield::test::write_test_png(dir / "a.png", 13, 7, 4);
  const ImageSize size = probe_image_size(dir / "a.png");
  EXPECT_EQ(size.width, 13);
  EXPECT_EQ(size.height, 7);
}

TEST(ImageProbe, AlphaAgreesWithDecoding) {
  TempDir dir;
  for (const int channels : {1, 2, 3, 4}) {
    const std::filesystem::path path = dir / ("c" + std::to_string(channels) + ".png");
    write_png(path, Image(5, 4, channels, 0.5f), 8);
    const bool decoded_alpha = read_image(path).channels % 2 == 0;  // gray+alpha or RGBA
    EXPECT_EQ(probe_image_size(path).alpha, decoded_alpha) << channels;
  }
  // Palette PNGs (CRCs are not read): alpha exactly when a tRNS chunk comes before the image data.
  const auto palette_png = [&](bool transparency) {
    std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
                              0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 2, 0, 0, 0, 3, 8, 3, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 0, 6, 'P', 'L', 'T', 'E', 255, 0, 0, 0, 255, 0, 0, 0, 0, 0};
    if (transparency) b.insert(b.end(), {0, 0, 0, 1, 't', 'R', 'N', 'S', 0, 0, 0, 0, 0});
    b.insert(b.end(), {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0});
    return b;
  };
  for (const bool transparency : {false, true}) {
    const std::vector<uint8_t> bytes = palette_png(transparency);
    write_file_atomic(dir / "p.png", bytes.data(), bytes.size());
    const ImageSize size = probe_image_size(dir / "p.png");
    EXPECT_EQ(size.width, 2);
    EXPECT_EQ(size.height, 3);
    EXPECT_EQ(size.alpha, transparency);
  }
}

TEST(ImageProbe, JpegSizeSkipsSegmentsBeforeTheFrameHeader) {
  TempDir dir;
  // SOI, an APP0 segment (length 16), fill bytes, then SOF2 (progressive): precision 8, height 300 (0x012C),
  // width 513 (0x0201), 3 components. Nothing after it is read.
  const std::vector<uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
                                     0xFF, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x01, 0x2C, 0x02, 0x01, 0x03};
  write_file_atomic(dir / "a.jpg", jpeg.data(), jpeg.size());
  const ImageSize size = probe_image_size(dir / "a.jpg");
  EXPECT_EQ(size.width, 513);
  EXPECT_EQ(size.height, 300);
  // Cut inside the APP0 segment: no frame header.
  write_file_atomic(dir / "cut.jpg", jpeg.data(), 12);
  EXPECT_THAT(input_error_of([&] { probe_image_size(dir / "cut.jpg"); }),
              HasSubstr("cut.jpg: truncated or malformed JPEG"));
}

TEST(ImageProbe, ErrorsNameTheFile) {
  TempDir dir;
  EXPECT_THAT(input_error_of([&] { probe_image_size(dir / "none.png"); }), HasSubstr("none.png: cannot open"));
  semfield::test::write_text(dir / "text.png", "hello, not an image");
  EXPECT_THAT(input_error_of([&] { probe_image_size(dir / "text.png"); }), HasSubstr("text.png: not a PNG or JPEG"));
  const std::vector<uint8_t> png_start = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13};
  write_file_atomic(dir / "short.png", png_start.data(), png_start.size());
  EXPECT_THAT(input_error_of([&] { probe_image_size(dir / "short.png"); }), HasSubstr("short.png: truncated or malformed PNG"));
}

}  // namespace
