// Pixel-grid walks over a view's rendered z-depth that the segmenters share: the 4-connected flood that never
// crosses an occlusion edge, and the test that the depth is smooth (no silhouette) at a pixel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <vector>

namespace semfield {

/// Whether neighbouring pixels of z-depths za and zb lie on one surface: |za - zb| <= depth_edge * min(za, zb).
/// A pixel without depth (<= 0) never blocks (the callers' own tests reject empty pixels).
inline bool depth_connected(float za, float zb, double depth_edge) {
  if (!(za > 0) || !(zb > 0)) return true;
  return std::fabs(za - zb) <= depth_edge * std::min(za, zb);
}

/// Grows `mask` (row-major h x w, modified in place) by a 4-connected flood from its set pixels: a neighbour j joins
/// when it is depth-connected to the pixel it is reached from (z: row-major z-depths) and accept(j) holds.
/// accept is asked at most once per pixel, so it may be costly.
template <typename Accept>
void flood_depth_connected(bool* mask, const float* z, int64_t h, int64_t w, double depth_edge, const Accept& accept) {
  std::deque<int64_t> queue;
  for (int64_t i = 0; i < h * w; ++i)
    if (mask[i]) queue.push_back(i);
  std::vector<uint8_t> tested(static_cast<size_t>(h * w), 0);
  while (!queue.empty()) {
    const int64_t i = queue.front();
    queue.pop_front();
    const int64_t y = i / w, x = i % w;
    const int64_t neighbours[4] = {x > 0 ? i - 1 : -1, x + 1 < w ? i + 1 : -1, y > 0 ? i - w : -1,
                                   y + 1 < h ? i + w : -1};
    for (const int64_t j : neighbours) {
      if (j < 0 || mask[j] || tested[static_cast<size_t>(j)] || !depth_connected(z[i], z[j], depth_edge)) continue;
      tested[static_cast<size_t>(j)] = 1;
      if (!accept(j)) continue;
      mask[j] = true;
      queue.push_back(j);
    }
  }
}

/// Whether the z-depth (row-major h x w) is smooth at pixel i: not on the image border, its four neighbours have
/// depth, and the second difference along its row and its column is at most max_bend * z[i]. False at a silhouette,
/// where the rendered depth blends an object with what lies behind it.
inline bool depth_is_smooth(int64_t i, int64_t w, int64_t h, const float* z, double max_bend) {
  const int64_t x = i % w, y = i / w;
  if (x == 0 || y == 0 || x + 1 == w || y + 1 == h) return false;
  for (const int64_t j : {i - 1, i + 1, i - w, i + w})
    if (!(z[j] > 0)) return false;
  const double limit = max_bend * z[i];
  return std::fabs(z[i - 1] + z[i + 1] - 2.0 * z[i]) <= limit && std::fabs(z[i - w] + z[i + w] - 2.0 * z[i]) <= limit;
}

}  // namespace semfield
