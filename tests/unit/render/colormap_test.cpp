// Tests for the turbo colour map: published endpoint colours, hue order, empty pixels, normalisation.
#include "semfield/render/colormap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "semfield/core/error.h"

namespace {

using semfield::apply_turbo;
using semfield::Image;

/// A 1-pixel-high ramp of values.
Image row_of(const std::vector<float>& values) {
  Image img(static_cast<int>(values.size()), 1, 1);
  img.pixels = values;
  return img;
}

std::array<float, 3> rgb(const Image& img, int x, int y = 0) {
  return {img.at(x, y, 0), img.at(x, y, 1), img.at(x, y, 2)};
}

void expect_rgb_near(const std::array<float, 3>& actual, const std::array<double, 3>& expected, double tol) {
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(actual[c], expected[c], tol) << "channel " << c;
}

void expect_same_rgb(const std::array<float, 3>& a, const std::array<float, 3>& b) {
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(a[c], b[c]) << "channel " << c;
}

TEST(Turbo, MatchesThePolynomialAtKnownPoints) {
  // Values of the published polynomial fit, evaluated independently (and clamped to [0,1]).
  const Image out = apply_turbo(row_of({0.0f, 0.25f, 0.5f, 0.75f, 1.0f}), 0.0f, 1.0f, false);
  ASSERT_EQ(out.channels, 3);
  ASSERT_EQ(out.width, 5);
  expect_rgb_near(rgb(out, 0), {0.135721, 0.091403, 0.106673}, 1e-5);  // dark blue-violet
  expect_rgb_near(rgb(out, 1), {0.148313, 0.740465, 0.880723}, 1e-5);  // cyan
  expect_rgb_near(rgb(out, 2), {0.588522, 0.981864, 0.313169}, 1e-5);  // yellow-green
  expect_rgb_near(rgb(out, 3), {1.000000, 0.501735, 0.113986}, 1e-5);  // orange
  expect_rgb_near(rgb(out, 4), {0.565859, 0.050389, 0.000000}, 1e-5);  // dark red
}

TEST(Turbo, HueRunsBlueGreenRedAndBrightnessPeaksInTheMiddle) {
  std::vector<float> ramp(256);
  for (int i = 0; i < 256; ++i) ramp[static_cast<size_t>(i)] = static_cast<float>(i) / 255.0f;
  const Image out = apply_turbo(row_of(ramp), 0.0f, 1.0f, false);
  int peak[3] = {0, 0, 0};
  const auto luma = [&](int x) {
    return 0.2126 * out.at(x, 0, 0) + 0.7152 * out.at(x, 0, 1) + 0.0722 * out.at(x, 0, 2);
  };
  for (int x = 0; x < 256; ++x) {
    for (int c = 0; c < 3; ++c) {
      const float v = out.at(x, 0, c);
      EXPECT_GE(v, 0.0f);
      EXPECT_LE(v, 1.0f);
      if (v > out.at(peak[c], 0, c)) peak[c] = x;
      // A colour map for reading values must be continuous: no jumps between neighbouring entries.
      if (x > 0) {
        EXPECT_LT(std::fabs(v - out.at(x - 1, 0, c)), 0.05f) << "x " << x << " channel " << c;
      }
    }
  }
  EXPECT_LT(peak[2], peak[1]);  // blue peaks first,
  EXPECT_LT(peak[1], peak[0]);  // then green, then red
  // Luminance rises from the dark low end to the bright middle and falls again to the dark red end.
  EXPECT_LT(luma(0), luma(64));
  EXPECT_LT(luma(64), luma(128));
  EXPECT_GT(luma(128), luma(255));
  EXPECT_GT(luma(0), 0.05);  // the low end is dark but not black, so it differs from "no data"
}

TEST(Turbo, ZeroIsEmptyAndNonFiniteValuesAreBlack) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const Image in = row_of({0.0f, 0.5f, nan, inf, -inf});
  const Image empty_zero = apply_turbo(in, 0.0f, 1.0f, true);
  expect_same_rgb(rgb(empty_zero, 0), {0, 0, 0});
  expect_same_rgb(rgb(empty_zero, 2), {0, 0, 0});
  expect_same_rgb(rgb(empty_zero, 3), {0, 0, 0});
  expect_same_rgb(rgb(empty_zero, 4), {0, 0, 0});
  const Image keep_zero = apply_turbo(in, 0.0f, 1.0f, false);
  expect_rgb_near(rgb(keep_zero, 0), {0.135721, 0.091403, 0.106673}, 1e-5);
  expect_same_rgb(rgb(keep_zero, 1), rgb(empty_zero, 1));
  expect_same_rgb(rgb(keep_zero, 2), {0, 0, 0});
}

TEST(Turbo, ExplicitRangeClampsOutsideValues) {
  const Image out = apply_turbo(row_of({2.0f, 4.0f, 6.0f, 1.0f, 9.0f}), 2.0f, 6.0f);
  const Image unit = apply_turbo(row_of({0.0f, 0.5f, 1.0f}), 0.0f, 1.0f, false);
  expect_same_rgb(rgb(out, 0), rgb(unit, 0));
  expect_same_rgb(rgb(out, 1), rgb(unit, 1));
  expect_same_rgb(rgb(out, 2), rgb(unit, 2));
  expect_same_rgb(rgb(out, 3), rgb(unit, 0));  // below lo
  expect_same_rgb(rgb(out, 4), rgb(unit, 2));  // above hi
}

TEST(Turbo, PercentileNormalisationIgnoresZeros) {
  // Values 1..100 plus many empty pixels. Percentiles of the positive values with linear interpolation:
  // p1 = 1 + 0.01 * 99 = 1.99, p99 = 1 + 0.99 * 99 = 99.01.
  std::vector<float> values;
  for (int i = 1; i <= 100; ++i) values.push_back(static_cast<float>(i));
  values.resize(values.size() + 500, 0.0f);
  values.push_back(-5.0f);  // negative values take no part in the percentiles
  Image in(static_cast<int>(values.size()), 1, 1);
  in.pixels = values;
  const Image automatic = apply_turbo(in);
  const Image manual = apply_turbo(in, 1.99f, 99.01f);
  for (int x = 0; x < in.width; ++x) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(automatic.at(x, 0, c), manual.at(x, 0, c), 1e-5) << "x " << x;
  }
  const Image unit = apply_turbo(row_of({0.0f, 1.0f}), 0.0f, 1.0f, false);
  expect_same_rgb(rgb(automatic, 0), rgb(unit, 0));   // 1 is below p1: clamped to the low end
  expect_same_rgb(rgb(automatic, 99), rgb(unit, 1));  // 100 is above p99
  expect_same_rgb(rgb(automatic, 150), {0, 0, 0});    // an empty pixel
  // A wrong normalisation (e.g. the plain min/max 1..100) would move value 2 visibly off the low end.
  const Image minmax = apply_turbo(in, 1.0f, 100.0f);
  EXPECT_GT(std::fabs(minmax.at(1, 0, 2) - automatic.at(1, 0, 2)), 0.05);
}

TEST(Turbo, DegenerateImagesDoNotProduceNaN) {
  for (const Image& in : {Image(4, 3, 1, 0.0f), Image(4, 3, 1, 2.5f), Image(0, 0, 1)}) {
    const Image out = apply_turbo(in);
    EXPECT_EQ(out.width, in.width);
    EXPECT_EQ(out.height, in.height);
    for (float v : out.pixels) EXPECT_TRUE(std::isfinite(v));
  }
  const Image zeros = apply_turbo(Image(4, 3, 1, 0.0f));
  for (float v : zeros.pixels) EXPECT_EQ(v, 0.0f);
  // Explicit lo >= hi falls back to percentiles; a constant image gets one colour everywhere.
  const Image constant = apply_turbo(Image(4, 3, 1, 2.5f), 3.0f, 3.0f);
  expect_same_rgb(rgb(constant, 0), rgb(constant, 3, 2));
}

TEST(Turbo, RejectsMultiChannelInput) {
  EXPECT_THROW(apply_turbo(Image(4, 4, 3)), semfield::InputError);
}

}  // namespace
