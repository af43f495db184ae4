// Tests for PSNR and SSIM: closed forms on simple images, properties, and a naive reference implementation.
#include "semfield/render/image_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "semfield/core/error.h"

namespace {

using semfield::Image;
using semfield::psnr;
using semfield::ssim;

Image random_image(int w, int h, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Image img(w, h, c);
  for (float& v : img.pixels) v = u(rng);
  return img;
}

/// A smooth image with structure at several scales (more like a photo than white noise).
Image smooth_image(int w, int h, int c) {
  Image img(w, h, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        img.at(x, y, ch) = static_cast<float>(0.5 + 0.3 * std::sin(0.21 * x + ch) * std::cos(0.13 * y) +
                                              0.1 * std::sin(0.9 * x * (ch + 1) - 0.7 * y));
  return img;
}

Image add_noise(const Image& img, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, sigma);
  Image out = img;
  for (float& v : out.pixels) v = std::clamp(v + n(rng), 0.0f, 1.0f);
  return out;
}

/// SSIM of two constant images (no variance, no covariance): the luminance term alone.
double constant_ssim(double a, double b) {
  const double c1 = 1e-4;
  return (2 * a * b + c1) / (a * a + b * b + c1);
}

/// Straightforward SSIM: for every valid window position and channel, the full 2D Gaussian-weighted
/// moments in double precision (no separability, no buffers), averaged.
double reference_ssim(const Image& a, const Image& b) {
  const int kx = std::min(11, a.width), ky = std::min(11, a.height);
  const auto taps = [](int n) {
    std::vector<double> g(static_cast<size_t>(n));
    double s = 0;
    for (int i = 0; i < n; ++i) s += g[static_cast<size_t>(i)] = std::exp(-std::pow(i - (n - 1) / 2.0, 2) / 4.5);
    for (double& v : g) v /= s;
    return g;
  };
  const auto gx = taps(kx), gy = taps(ky);
  double total = 0;
  int count = 0;
  for (int c = 0; c < a.channels; ++c) {
    for (int y0 = 0; y0 + ky <= a.height; ++y0) {
      for (int x0 = 0; x0 + kx <= a.width; ++x0) {
        double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
        for (int j = 0; j < ky; ++j) {
          for (int i = 0; i < kx; ++i) {
            const double w = gx[static_cast<size_t>(i)] * gy[static_cast<size_t>(j)];
            const double va = a.at(x0 + i, y0 + j, c), vb = b.at(x0 + i, y0 + j, c);
            ma += w * va;
            mb += w * vb;
            saa += w * va * va;
            sbb += w * vb * vb;
            sab += w * va * vb;
          }
        }
        const double var_a = saa - ma * ma, var_b = sbb - mb * mb, cov = sab - ma * mb;
        const double c1 = 1e-4, c2 = 9e-4;
        total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2));
        ++count;
      }
    }
  }
  return total / count;
}

TEST(Psnr, ConstantOffsetOfOneTenthIsTwentyDecibels) {
  const Image a(17, 9, 3, 0.3f);
  const Image b(17, 9, 3, 0.4f);
  const double d = static_cast<double>(0.4f) - static_cast<double>(0.3f);
  EXPECT_NEAR(psnr(a, b), -10.0 * std::log10(d * d), 1e-9);
  EXPECT_NEAR(psnr(a, b), 20.0, 1e-5);
  EXPECT_DOUBLE_EQ(psnr(a, b), psnr(b, a));
}

TEST(Psnr, KnownMseAndIdenticalImages) {
  const Image a = random_image(10, 10, 1, 1);
  Image b = a;
  EXPECT_TRUE(std::isinf(psnr(a, b)));
  EXPECT_GT(psnr(a, b), 0.0);
  // Half of the pixels off by 0.25: MSE = 0.03125 -> 10 log10(32).
  Image c(8, 8, 2, 0.5f), d(8, 8, 2, 0.5f);
  for (size_t i = 0; i < d.pixels.size(); i += 2) d.pixels[i] = 0.75f;
  EXPECT_NEAR(psnr(c, d), 10.0 * std::log10(32.0), 1e-12);
}

TEST(Psnr, SizeMismatchIsAnInputError) {
  EXPECT_THROW(psnr(Image(4, 4, 3), Image(4, 5, 3)), semfield::InputError);
  EXPECT_THROW(psnr(Image(4, 4, 3), Image(4, 4, 1)), semfield::InputError);
  EXPECT_THROW(ssim(Image(12, 12, 3), Image(12, 13, 3)), semfield::InputError);
  EXPECT_THROW(ssim(Image(), Image()), semfield::InputError);
  try {
    psnr(Image(4, 4, 3), Image(5, 4, 3));
  } catch (const semfield::InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("4x4x3 vs 5x4x3"));
  }
}

TEST(Ssim, IdenticalImagesGiveOne) {
  const Image a = random_image(40, 30, 3, 2);
  EXPECT_NEAR(ssim(a, a), 1.0, 1e-12);
  const Image s = smooth_image(64, 48, 3);
  EXPECT_NEAR(ssim(s, s), 1.0, 1e-12);
}

TEST(Ssim, ConstantImagesMatchTheClosedForm) {
  const Image a(20, 16, 3, 0.2f), b(20, 16, 3, 0.5f);
  EXPECT_NEAR(ssim(a, b), constant_ssim(0.2f, 0.5f), 1e-9);
  EXPECT_NEAR(ssim(Image(12, 12, 1, 0.0f), Image(12, 12, 1, 1.0f)), constant_ssim(0.0, 1.0), 1e-9);
}

TEST(Ssim, ChannelsAreAveraged) {
  // Channel 0 identical (SSIM 1); channel 1 two different constants (closed form).
  Image a(15, 13, 2), b(15, 13, 2);
  const Image texture = random_image(15, 13, 1, 5);
  for (int y = 0; y < 13; ++y) {
    for (int x = 0; x < 15; ++x) {
      a.at(x, y, 0) = b.at(x, y, 0) = texture.at(x, y);
      a.at(x, y, 1) = 0.3f;
      b.at(x, y, 1) = 0.7f;
    }
  }
  EXPECT_NEAR(ssim(a, b), 0.5 * (1.0 + constant_ssim(0.3f, 0.7f)), 1e-9);
}

TEST(Ssim, IsSymmetricAndDecreasesWithNoise) {
  const Image clean = smooth_image(48, 40, 3);
  const Image noisy = add_noise(clean, 0.1f, 7);
  EXPECT_NEAR(ssim(clean, noisy), ssim(noisy, clean), 1e-12);
  double previous = 1.0;
  for (const float sigma : {0.01f, 0.03f, 0.1f, 0.3f}) {
    const double s = ssim(clean, add_noise(clean, sigma, 9));
    EXPECT_LT(s, previous) << "sigma " << sigma;
    previous = s;
  }
  EXPECT_LT(previous, 0.5);
  EXPECT_GT(previous, -1.0);
}

TEST(Ssim, MatchesANaiveTwoDimensionalReference) {
  const Image a = smooth_image(37, 29, 3);
  const Image b = add_noise(a, 0.08f, 13);
  const double expected = reference_ssim(a, b);
  EXPECT_NEAR(ssim(a, b), expected, 1e-6);
  EXPECT_GT(expected, 0.1);
  EXPECT_LT(expected, 0.95);

  const Image r1 = random_image(23, 31, 1, 21), r2 = random_image(23, 31, 1, 22);
  EXPECT_NEAR(ssim(r1, r2), reference_ssim(r1, r2), 1e-6);
}

TEST(Ssim, ExactWindowSizeAndSmallImagesUseTheirOwnSize) {
  // 11x11: exactly one window position.
  const Image a = random_image(11, 11, 3, 31), b = add_noise(a, 0.1f, 32);
  EXPECT_NEAR(ssim(a, b), reference_ssim(a, b), 1e-6);
  // Smaller than the window: one position, a 7x5 Gaussian window.
  const Image c = random_image(7, 5, 2, 33), d = add_noise(c, 0.1f, 34);
  const double small = ssim(c, d);
  EXPECT_NEAR(small, reference_ssim(c, d), 1e-6);
  EXPECT_LT(small, 1.0);
  // One axis short, the other long.
  const Image e = random_image(30, 4, 1, 35), f = add_noise(e, 0.05f, 36);
  EXPECT_NEAR(ssim(e, f), reference_ssim(e, f), 1e-6);
  EXPECT_NEAR(ssim(Image(1, 1, 1, 0.25f), Image(1, 1, 1, 0.75f)), constant_ssim(0.25, 0.75), 1e-9);
}

}  // namespace
