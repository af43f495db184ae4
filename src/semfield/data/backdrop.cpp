// Solid backdrops: the border test and the flood-filled key.
#include "semfield/data/backdrop.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace semfield {

namespace {

struct BorderStats {
  Eigen::Vector3d mean, spread;  // per channel: mean and standard deviation over the one-pixel border
};

std::optional<BorderStats> border_stats(const Image& image) {
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
  BorderStats stats;
  stats.mean = sum / static_cast<double>(n);
  stats.spread = (squares / static_cast<double>(n) - stats.mean.cwiseProduct(stats.mean)).cwiseMax(0.0).cwiseSqrt();
  return stats;
}

}  // namespace

std::optional<Eigen::Vector3d> uniform_border_colour(const Image& image, double max_spread) {
  const std::optional<BorderStats> stats = border_stats(image);
  if (!stats || stats->spread.maxCoeff() > max_spread) return std::nullopt;
  return stats->mean;
}

bool has_transparency(const Image& image) {
  if (image.channels != 2 && image.channels != 4) return false;
  const size_t c = static_cast<size_t>(image.channels);
  for (size_t i = c - 1; i < image.pixels.size(); i += c)
    if (image.pixels[i] < 254.0f / 255.0f) return true;
  return false;
}

std::optional<Image> key_uniform_backdrop(const Image& rgb) {
  if ((rgb.channels != 3 && rgb.channels != 4) || has_transparency(rgb)) return std::nullopt;
  const std::optional<BorderStats> stats = border_stats(rgb);
  if (!stats || stats->spread.maxCoeff() > 0.02) return std::nullopt;
  const Eigen::Vector3d& backdrop = stats->mean;
  const double tolerance = std::clamp(4.0 * stats->spread.maxCoeff(), 0.02, 0.08);
  const int w = rgb.width, h = rgb.height;
  const auto near_backdrop = [&](int x, int y) {
    for (int c = 0; c < 3; ++c)
      if (std::abs(static_cast<double>(rgb.at(x, y, c)) - backdrop(c)) > tolerance) return false;
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
