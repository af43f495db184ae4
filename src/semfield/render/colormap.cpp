// The turbo colour map (Mikhailov 2019) with percentile normalisation, for depth/opacity/error images.
#include "semfield/render/colormap.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "semfield/core/error.h"

namespace semfield {

namespace {

/// Degree-5 polynomial fit of turbo published with the map (Google AI blog, 2019), per channel, lowest
/// power first.
constexpr std::array<std::array<double, 6>, 3> kTurboCoefficients = {{
    {0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943},
    {0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604},
    {0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973},
}};

/// Turbo colour of t in [0,1] (clamped), each channel clamped to [0,1].
std::array<float, 3> turbo(double t) {
  t = std::clamp(t, 0.0, 1.0);
  std::array<float, 3> rgb{};
  for (size_t c = 0; c < 3; ++c) {
    const auto& k = kTurboCoefficients[c];
    const double v = k[0] + t * (k[1] + t * (k[2] + t * (k[3] + t * (k[4] + t * k[5]))));
    rgb[c] = static_cast<float>(std::clamp(v, 0.0, 1.0));
  }
  return rgb;
}

/// The p-th percentile (0..100) of `values` with linear interpolation between order statistics (numpy's
/// default). Reorders `values`; it must not be empty.
double percentile(std::vector<float>& values, double p) {
  const double position = p / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(below), values.end());
  const double low = values[below];
  if (below + 1 >= values.size()) return low;
  // After nth_element everything past `below` is >= it, so the next order statistic is their minimum.
  const double high = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(below) + 1, values.end());
  return low + (position - static_cast<double>(below)) * (high - low);
}

/// A pixel carries data when it is finite and, if zeros mean "empty", non-zero.
bool has_data(float v, bool zero_is_empty) { return std::isfinite(v) && !(zero_is_empty && v == 0.0f); }

}  // namespace

Image apply_turbo(const Image& scalar, float lo, float hi, bool zero_is_empty) {
  if (scalar.channels != 1)
    throw InputError(fmt::format("apply_turbo: expected a 1-channel image, got {} channels", scalar.channels));
  Image out(scalar.width, scalar.height, 3, 0.0f);

  double range_lo = lo, range_hi = hi;
  if (!(lo < hi)) {
    std::vector<float> positive;
    positive.reserve(scalar.pixels.size());
    for (float v : scalar.pixels)
      if (std::isfinite(v) && v > 0.0f) positive.push_back(v);
    if (positive.empty()) {
      range_lo = 0.0;
      range_hi = 1.0;
    } else {
      range_lo = percentile(positive, 1.0);
      range_hi = percentile(positive, 99.0);
    }
  }
  // A constant image has no spread to show; it maps to the low end rather than dividing by zero.
  const double scale = range_hi > range_lo ? 1.0 / (range_hi - range_lo) : 0.0;

  for (size_t i = 0; i < scalar.pixels.size(); ++i) {
    const float v = scalar.pixels[i];
    // Non-finite values (e.g. the depth of a ray that hit nothing) are shown as empty, like zeros.
    if (!has_data(v, zero_is_empty)) continue;
    const auto rgb = turbo((v - range_lo) * scale);
    std::copy(rgb.begin(), rgb.end(), out.pixels.begin() + static_cast<std::ptrdiff_t>(3 * i));
  }
  return out;
}

}  // namespace semfield
