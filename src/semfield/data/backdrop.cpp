// Solid backdrops: the border test and the flood-filled key.
#include "semfield/data/backdrop.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace semfield {

std::optional<Eigen::Vector3d> uniform_border_colour(const Image& image, double max_spread) {
  if (image.width < 2 || image.height < 2 || image.channels < 3) return std::nullopt;
  Eigen::Vector3d sum = Eigen::Vector3d::Zero(), squares = Eigen::Vector3d::Zero();
  int64_t n = 0;
  const auto add = [&](int x, int y) {
    const Eigen::Vector3d c(image.at(x, y, 0), image.at(x, y, 1), image.at(x, y, 2));
    sum += c;
    squares += c.cwiseProduct(c);
    ++n;
  };
  for (int x = 0; x < image.width; ++x) add(x, 0), add(x, image.height - 1);
  for (int y = 1; y + 1 < image.height; ++y) add(0, y), add(image.width - 1, y);
  const Eigen::Vector3d mean = sum / static_cast<double>(n);
  const Eigen::Vector3d variance = (squares / static_cast<double>(n) - mean.cwiseProduct(mean)).cwiseMax(0.0);
  if (variance.cwiseSqrt().maxCoeff() > max_spread) return std::nullopt;
  return mean;
}

std::optional<Image> key_uniform_backdrop(const Image& rgb, double tolerance) {
  if (rgb.channels != 3) return std::nullopt;
  const std::optional<Eigen::Vector3d> backdrop = uniform_border_colour(rgb);
  if (!backdrop) return std::nullopt;
  const int w = rgb.width, h = rgb.height;
  const auto near_backdrop = [&](int x, int y) {
    for (int c = 0; c < 3; ++c)
      if (std::abs(static_cast<double>(rgb.at(x, y, c)) - (*backdrop)(c)) > tolerance) return false;
    return true;
  };
  // Flood fill from the border pixels of the backdrop's colour, 4-connected, with an explicit stack.
  std::vector<uint8_t> keyed(static_cast<size_t>(w) * h, 0);
  std::vector<int> stack;
  const auto push = [&](int x, int y) {
    const size_t i = static_cast<size_t>(y) * w + x;
    if (keyed[i] || !near_backdrop(x, y)) return;
    keyed[i] = 1;
    stack.push_back(static_cast<int>(i));
  };
  for (int x = 0; x < w; ++x) push(x, 0), push(x, h - 1);
  for (int y = 1; y + 1 < h; ++y) push(0, y), push(w - 1, y);
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    const int x = i % w, y = i / w;
    if (x > 0) push(x - 1, y);
    if (x + 1 < w) push(x + 1, y);
    if (y > 0) push(x, y - 1);
    if (y + 1 < h) push(x, y + 1);
  }
  Image out(w, h, 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) out.at(x, y, c) = rgb.at(x, y, c);
      out.at(x, y, 3) = keyed[static_cast<size_t>(y) * w + x] ? 0.0f : 1.0f;
    }
  return out;
}

}  // namespace semfield
