// Pillow's 8-bit resampling (libImaging/Resample.c semantics, re-implemented from its documented behaviour).
#include "semfield/foundation/pil_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield::foundation {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Coefficients {
  int64_t ksize = 0;
  std::vector<int64_t> bounds;  // per output: first source index, count
  std::vector<int32_t> weights; // per output: ksize fixed-point weights
};

Coefficients precompute(int64_t in_size, int64_t out_size, PilFilter filter) {
  const double support_base = filter == PilFilter::Bilinear ? 1.0 : 2.0;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = support_base * filter_scale;
  Coefficients c;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(2 * out_size);
  c.weights.assign(static_cast<size_t>(out_size * c.ksize), 0);
  std::vector<double> k(static_cast<size_t>(c.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double arg = (static_cast<double>(x + xmin) - center + 0.5) * ss;
      const double w = filter == PilFilter::Bilinear ? bilinear(arg) : bicubic(arg);
      k[static_cast<size_t>(x)] = w;
      ww += w;
    }
    for (int64_t x = 0; x < c.ksize; ++x) {
      double w = x < xmax ? k[static_cast<size_t>(x)] : 0.0;
      if (x < xmax && ww != 0.0) w /= ww;
      const double fixed = w * static_cast<double>(1 << kPrecisionBits);
      c.weights[static_cast<size_t>(xx * c.ksize + x)] = static_cast<int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.bounds[2 * xx] = xmin;
    c.bounds[2 * xx + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int64_t v) {
  if (v >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

}  // namespace

at::Tensor pil_resize(const at::Tensor& image, int64_t out_height, int64_t out_width, PilFilter filter) {
  if (image.dim() != 3 || image.scalar_type() != at::kByte) fail_usage("pil_resize expects a uint8 [H, W, C] image");
  if (out_height < 1 || out_width < 1) fail_usage("pil_resize: output size {}x{} must be positive", out_width, out_height);
  const at::Tensor src = image.contiguous();
  const int64_t h = src.size(0), w = src.size(1), channels = src.size(2);
  at::Tensor current = src;
  int64_t cur_h = h;
  // Pillow runs the horizontal pass only over the source rows the vertical pass will read.
  const Coefficients vert = precompute(h, out_height, filter);
  const bool need_h = out_width != w, need_v = out_height != h;
  int64_t row_first = 0;
  Coefficients vbounds = vert;
  if (need_h) {
    const Coefficients horiz = precompute(w, out_width, filter);
    int64_t row_last = h;
    if (need_v) {
      row_first = vert.bounds[0];
      row_last = vert.bounds[2 * (out_height - 1)] + vert.bounds[2 * (out_height - 1) + 1];
      for (int64_t i = 0; i < out_height; ++i) vbounds.bounds[2 * i] -= row_first;
    }
    const int64_t rows = need_v ? row_last - row_first : h;
    at::Tensor tmp = at::empty({rows, out_width, channels}, at::kByte);
    const uint8_t* in = src.data_ptr<uint8_t>();
    uint8_t* out = tmp.data_ptr<uint8_t>();
    for (int64_t y = 0; y < rows; ++y) {
      const uint8_t* row = in + (y + row_first) * w * channels;
      for (int64_t xx = 0; xx < out_width; ++xx) {
        const int64_t xmin = horiz.bounds[2 * xx], xmax = horiz.bounds[2 * xx + 1];
        const int32_t* k = &horiz.weights[static_cast<size_t>(xx * horiz.ksize)];
        for (int64_t c = 0; c < channels; ++c) {
          int64_t ss = int64_t{1} << (kPrecisionBits - 1);
          for (int64_t x = 0; x < xmax; ++x) ss += static_cast<int64_t>(row[(x + xmin) * channels + c]) * k[x];
          out[(y * out_width + xx) * channels + c] = clip8(ss);
        }
      }
    }
    current = tmp;
    cur_h = rows;
  }
  if (!need_v) return current.clone();
  const int64_t cur_w = current.size(1);
  at::Tensor result = at::empty({out_height, cur_w, channels}, at::kByte);
  const uint8_t* in = current.data_ptr<uint8_t>();
  uint8_t* out = result.data_ptr<uint8_t>();
  const Coefficients& v = need_h ? vbounds : vert;
  for (int64_t yy = 0; yy < out_height; ++yy) {
    const int64_t ymin = v.bounds[2 * yy], ymax = v.bounds[2 * yy + 1];
    SEMFIELD_ASSERT(ymin + ymax <= cur_h, "vertical bounds inside the intermediate image");
    const int32_t* k = &v.weights[static_cast<size_t>(yy * v.ksize)];
    for (int64_t xx = 0; xx < cur_w; ++xx)
      for (int64_t c = 0; c < channels; ++c) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (int64_t y = 0; y < ymax; ++y) ss += static_cast<int64_t>(in[((y + ymin) * cur_w + xx) * channels + c]) * k[y];
        out[(yy * cur_w + xx) * channels + c] = clip8(ss);
      }
  }
  return result;
}

at::Tensor to_uint8_image(const at::Tensor& rgb) {
  if (rgb.dim() != 3 || rgb.size(2) != 3) fail_usage("expected an RGB image [H, W, 3]");
  return (rgb.to(at::kFloat).clamp(0.0, 1.0) * 255.0).round().to(at::kByte).contiguous();
}

}  // namespace semfield::foundation
