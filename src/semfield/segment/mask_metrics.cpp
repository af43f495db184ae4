// IoU and visible centres of masks.
#include "semfield/segment/mask_metrics.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

double mask_iou(const at::Tensor& a, const at::Tensor& b) {
  SEMFIELD_ASSERT(a.sizes() == b.sizes(), "masks must have one shape");
  const at::Tensor x = a.to(at::kBool), y = b.to(at::kBool);
  const double inter = (x & y).sum().item<double>(), uni = (x | y).sum().item<double>();
  return uni == 0 ? 1.0 : inter / uni;
}

std::optional<Eigen::Vector2d> interior_point(const at::Tensor& mask) {
  SEMFIELD_ASSERT(mask.dim() == 2, "mask must be [H,W]");
  const at::Tensor m = mask.to(at::kBool).contiguous();
  const int64_t h = m.size(0), w = m.size(1);
  const bool* p = m.data_ptr<bool>();
  // Two-pass 3-4 chamfer distance to the nearest outside pixel (outside the image counts as outside).
  constexpr int kStraight = 3, kDiagonal = 4;
  const int inf = std::numeric_limits<int>::max() / 2;
  std::vector<int> d(static_cast<size_t>(h * w));
  auto at = [&](int64_t y, int64_t x) -> int {
    return (y < 0 || y >= h || x < 0 || x >= w) ? 0 : d[static_cast<size_t>(y * w + x)];
  };
  for (int64_t i = 0; i < h * w; ++i) d[static_cast<size_t>(i)] = p[i] ? inf : 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      int& v = d[static_cast<size_t>(y * w + x)];
      if (v == 0) continue;
      v = std::min({v, at(y, x - 1) + kStraight, at(y - 1, x) + kStraight, at(y - 1, x - 1) + kDiagonal,
                    at(y - 1, x + 1) + kDiagonal});
    }
  for (int64_t y = h - 1; y >= 0; --y)
    for (int64_t x = w - 1; x >= 0; --x) {
      int& v = d[static_cast<size_t>(y * w + x)];
      if (v == 0) continue;
      v = std::min({v, at(y, x + 1) + kStraight, at(y + 1, x) + kStraight, at(y + 1, x + 1) + kDiagonal,
                    at(y + 1, x - 1) + kDiagonal});
    }
  int best = 0;
  int64_t best_index = -1;
  for (int64_t i = 0; i < h * w; ++i)
    if (d[static_cast<size_t>(i)] > best) best = d[static_cast<size_t>(i)], best_index = i;
  if (best_index < 0) return std::nullopt;
  return Eigen::Vector2d(static_cast<double>(best_index % w), static_cast<double>(best_index / w));
}

}  // namespace semfield
