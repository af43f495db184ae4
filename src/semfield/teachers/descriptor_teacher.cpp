// The `descriptor` teacher.
#include "semfield/teachers/descriptor_teacher.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"

namespace semfield {

namespace {

// Separable Gaussian blur of x [1,C,H,W] with standard deviation sigma pixels (reflect padding, clamped
// to what the image can reflect).
at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  const int64_t h = x.size(2), w = x.size(3);
  int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3.0 * sigma)));
  radius = std::min({radius, h - 1, w - 1});
  if (radius < 1) return x;
  at::Tensor taps = at::arange(-radius, radius + 1, at::kFloat);
  taps = at::exp(-taps * taps / static_cast<float>(2.0 * sigma * sigma));
  taps = taps / taps.sum();
  const int64_t c = x.size(1);
  const at::Tensor kx = taps.view({1, 1, 1, -1}).expand({c, 1, 1, 2 * radius + 1}).contiguous();
  const at::Tensor ky = taps.view({1, 1, -1, 1}).expand({c, 1, 2 * radius + 1, 1}).contiguous();
  at::Tensor y = at::reflection_pad2d(x, {radius, radius, 0, 0});
  y = at::conv2d(y, kx, c10::nullopt, at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, c);
  y = at::reflection_pad2d(y, {0, 0, radius, radius});
  return at::conv2d(y, ky, c10::nullopt, at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, c);
}

// Central-difference gradient magnitude of x [1,1,H,W] (replicate padding).
at::Tensor gradient_magnitude(const at::Tensor& x) {
  const at::Tensor p = at::replication_pad2d(x, {1, 1, 1, 1});
  const int64_t h = x.size(2), w = x.size(3);
  const at::Tensor gx = (p.narrow(3, 2, w) - p.narrow(3, 0, w)).narrow(2, 1, h) * 0.5f;
  const at::Tensor gy = (p.narrow(2, 2, h) - p.narrow(2, 0, h)).narrow(3, 1, w) * 0.5f;
  return at::sqrt(gx * gx + gy * gy + 1e-12f);
}

}  // namespace

at::Tensor srgb_to_lab(const at::Tensor& rgb) {
  const at::Tensor c = rgb.clamp(0.0f, 1.0f);
  const at::Tensor linear = at::where(c.le(0.04045f), c / 12.92f, at::pow((c + 0.055f) / 1.055f, 2.4f));
  // sRGB -> XYZ (D65), normalised by the white point.
  const at::Tensor m = at::tensor({0.4124564f / 0.95047f, 0.3575761f / 0.95047f, 0.1804375f / 0.95047f,  //
                                   0.2126729f, 0.7151522f, 0.0721750f,                                   //
                                   0.0193339f / 1.08883f, 0.1191920f / 1.08883f, 0.9503041f / 1.08883f})
                           .view({3, 3});
  const at::Tensor xyz = at::matmul(linear, m.t());
  constexpr float delta = 6.0f / 29.0f;
  const at::Tensor f =
      at::where(xyz.gt(delta * delta * delta), at::pow(xyz.clamp_min(1e-12f), 1.0f / 3.0f),
                xyz / (3.0f * delta * delta) + 4.0f / 29.0f);
  const at::Tensor fx = f.select(-1, 0), fy = f.select(-1, 1), fz = f.select(-1, 2);
  return at::stack({116.0f * fy - 16.0f, 500.0f * (fx - fy), 200.0f * (fy - fz)}, -1);
}

std::vector<std::pair<int64_t, int64_t>> DescriptorTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  return {{(image_height + 1) / 2, (image_width + 1) / 2}};
}

std::vector<at::Tensor> DescriptorTeacher::compute(const TeacherInput& input) const {
  const at::Tensor& rgb = input.rgb;
  if (!rgb.defined() || rgb.dim() != 3 || rgb.size(2) != 3 || rgb.size(0) < 2 || rgb.size(1) < 2)
    fail_usage("descriptor teacher: expected an RGB image [H,W,3] of at least 2x2 pixels, got {}",
               rgb.defined() ? describe_tensor(rgb) : std::string("nothing"));
  at::InferenceMode guard;
  const int64_t h = rgb.size(0), w = rgb.size(1);
  const double unit = static_cast<double>(std::max(h, w)) / 256.0;
  const at::Tensor lab = (srgb_to_lab(rgb.to(at::kFloat)) / 100.0f).permute({2, 0, 1}).unsqueeze(0).contiguous();

  std::vector<at::Tensor> channels;
  channels.push_back(gaussian_blur(lab, 0.5 * unit));
  for (const double s : {2.0, 4.0, 8.0, 16.0}) channels.push_back(gaussian_blur(lab, s * unit));
  const at::Tensor lab_sq = lab * lab;
  for (const double s : {4.0, 12.0}) {
    const at::Tensor mean = gaussian_blur(lab, s * unit);
    channels.push_back(at::sqrt((gaussian_blur(lab_sq, s * unit) - mean * mean).clamp_min(0.0f) + 1e-12f));
  }
  const at::Tensor lightness = lab.narrow(1, 0, 1);
  for (const double s : {1.0, 2.0, 4.0})
    channels.push_back(gradient_magnitude(gaussian_blur(lightness, s * unit)) * static_cast<float>(s * unit));
  const at::Tensor full = at::cat(channels, 1);
  SEMFIELD_ASSERT(full.size(1) == kChannels, "descriptor channel count");
  const auto size = map_sizes(h, w).front();
  // 2x2 block means; ceil_mode keeps partial edge blocks, averaging only the pixels they cover.
  at::Tensor map = at::avg_pool2d(full, {2, 2}, {2, 2}, {0, 0}, /*ceil_mode=*/true, /*count_include_pad=*/false);
  SEMFIELD_ASSERT(map.size(2) == size.first && map.size(3) == size.second, "descriptor map size");
  return {map.squeeze(0).contiguous()};
}

}  // namespace semfield
