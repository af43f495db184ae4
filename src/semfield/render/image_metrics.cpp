// PSNR and SSIM of two images, with SSIM's Gaussian window applied separably over a rolling row buffer.
#include "semfield/render/image_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "semfield/core/error.h"

namespace semfield {

namespace {

constexpr int kWindow = 11;
constexpr double kSigma = 1.5;
constexpr double kC1 = 0.01 * 0.01;  // (K1 * data range)^2
constexpr double kC2 = 0.03 * 0.03;  // (K2 * data range)^2

void check_same_shape(const char* metric, const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels)
    throw InputError(fmt::format("{}: images differ in size: {}x{}x{} vs {}x{}x{}", metric, a.width, a.height,
                                 a.channels, b.width, b.height, b.channels));
  if (a.empty()) throw InputError(fmt::format("{}: images are empty", metric));
  SEMFIELD_ASSERT(a.pixels.size() == static_cast<size_t>(a.width) * a.height * a.channels,
                  "image pixel count does not match width * height * channels");
  SEMFIELD_ASSERT(b.pixels.size() == a.pixels.size(), "image pixel count does not match its size");
}

/// Normalised Gaussian taps (sigma 1.5) centred on a window of `size` samples.
std::vector<double> gaussian_taps(int size) {
  std::vector<double> taps(static_cast<size_t>(size));
  const double centre = 0.5 * (size - 1);
  double sum = 0.0;
  for (int i = 0; i < size; ++i) {
    const double d = (i - centre) / kSigma;
    taps[static_cast<size_t>(i)] = std::exp(-0.5 * d * d);
    sum += taps[static_cast<size_t>(i)];
  }
  for (double& t : taps) t /= sum;
  return taps;
}

/// The five local moments SSIM needs, for one row of window positions.
enum Moment { kMeanA, kMeanB, kMeanAA, kMeanBB, kMeanAB, kMoments };

/// Sum of the SSIM map over all valid window positions of one channel.
double ssim_channel_sum(const Image& a, const Image& b, int channel, const std::vector<double>& wx,
                        const std::vector<double>& wy) {
  const int kx = static_cast<int>(wx.size());
  const int ky = static_cast<int>(wy.size());
  const int out_w = a.width - kx + 1;
  const size_t w = static_cast<size_t>(a.width);
  const size_t ow = static_cast<size_t>(out_w);

  // Products of the input row, then the horizontally filtered moments of the last ky rows (a ring buffer,
  // so memory stays at ky rows and the vertical pass reads from cache).
  std::vector<double> products(kMoments * w);
  std::vector<double> ring(static_cast<size_t>(ky) * kMoments * ow);
  std::vector<double> moments(kMoments * ow);
  double sum = 0.0;

  for (int y = 0; y < a.height; ++y) {
    double* pa = &products[kMeanA * w];
    double* pb = &products[kMeanB * w];
    double* paa = &products[kMeanAA * w];
    double* pbb = &products[kMeanBB * w];
    double* pab = &products[kMeanAB * w];
    for (size_t x = 0; x < w; ++x) {
      const double va = a.at(static_cast<int>(x), y, channel);
      const double vb = b.at(static_cast<int>(x), y, channel);
      pa[x] = va;
      pb[x] = vb;
      paa[x] = va * va;
      pbb[x] = vb * vb;
      pab[x] = va * vb;
    }
    double* slot = &ring[static_cast<size_t>(y % ky) * kMoments * ow];
    for (int m = 0; m < kMoments; ++m) {
      const double* in = &products[static_cast<size_t>(m) * w];
      double* out = slot + static_cast<size_t>(m) * ow;
      std::fill(out, out + ow, 0.0);
      for (int k = 0; k < kx; ++k) {
        const double t = wx[static_cast<size_t>(k)];
        const double* src = in + k;
        for (size_t x = 0; x < ow; ++x) out[x] += t * src[x];
      }
    }
    if (y < ky - 1) continue;

    // Vertical pass for output row y - ky + 1: window rows y-ky+1 .. y.
    const int top = y - ky + 1;
    std::fill(moments.begin(), moments.end(), 0.0);
    for (int k = 0; k < ky; ++k) {
      const double t = wy[static_cast<size_t>(k)];
      const double* src = &ring[static_cast<size_t>((top + k) % ky) * kMoments * ow];
      for (size_t i = 0; i < kMoments * ow; ++i) moments[i] += t * src[i];
    }
    const double* mu_a = &moments[kMeanA * ow];
    const double* mu_b = &moments[kMeanB * ow];
    const double* e_aa = &moments[kMeanAA * ow];
    const double* e_bb = &moments[kMeanBB * ow];
    const double* e_ab = &moments[kMeanAB * ow];
    double row_sum = 0.0;
    for (size_t x = 0; x < ow; ++x) {
      const double var_a = e_aa[x] - mu_a[x] * mu_a[x];
      const double var_b = e_bb[x] - mu_b[x] * mu_b[x];
      const double cov = e_ab[x] - mu_a[x] * mu_b[x];
      const double num = (2.0 * mu_a[x] * mu_b[x] + kC1) * (2.0 * cov + kC2);
      const double den = (mu_a[x] * mu_a[x] + mu_b[x] * mu_b[x] + kC1) * (var_a + var_b + kC2);
      row_sum += num / den;
    }
    sum += row_sum;
  }
  return sum;
}

}  // namespace

double psnr(const Image& a, const Image& b) {
  check_same_shape("psnr", a, b);
  double squared_error = 0.0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = static_cast<double>(a.pixels[i]) - b.pixels[i];
    squared_error += d * d;
  }
  const double mse = squared_error / static_cast<double>(a.pixels.size());
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return -10.0 * std::log10(mse);  // data range 1: 10 log10(1 / mse)
}

double ssim(const Image& a, const Image& b) {
  check_same_shape("ssim", a, b);
  const std::vector<double> wx = gaussian_taps(std::min(kWindow, a.width));
  const std::vector<double> wy = gaussian_taps(std::min(kWindow, a.height));
  const double positions = static_cast<double>(a.width - static_cast<int>(wx.size()) + 1) *
                           static_cast<double>(a.height - static_cast<int>(wy.size()) + 1);
  double total = 0.0;
  for (int c = 0; c < a.channels; ++c) total += ssim_channel_sum(a, b, c, wx, wy) / positions;
  return total / a.channels;
}

}  // namespace semfield
