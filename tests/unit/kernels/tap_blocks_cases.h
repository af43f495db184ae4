// The checks of kernels/tap_blocks.h's block projections and bilinear taps, shared by the kernels' tests (the path this
// build compiled: AVX-512 taps and AVX2 projections on AVX-512 machines) and tests/simd/ (the AVX2 taps, compiled
// without AVX-512 on any x86-64 machine): the vector lanes against the scalar loop, point by point.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "semfield/kernels/tap_blocks.h"

namespace semfield::kernels::test {

using detail::bilinear_taps;
using detail::kRayDiffWidth;
using detail::MapView;
using detail::project_block;
using detail::ProjectionBlock;
using detail::TapBlock;
using detail::Taps;

/// bilinear_taps_block at every count up to 40 (every tail of both vector widths) against bilinear_taps per point:
/// points inside, outside, on the image's edges, and NaN / infinite coordinates (no taps), in maps of 3 and 16
/// channels whose size differs from the image's.
inline void check_tap_blocks() {
  constexpr int kMax = 48;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> data(64 * 48 * 16, 0.0f);
  for (const auto& [w, h, C] : {std::tuple<int64_t, int64_t, int64_t>{7, 5, 3}, {64, 48, 16}}) {
    const MapView m{data.data(), w, h, C, 256.0f, 192.0f};
    for (int64_t n = 0; n <= 40; ++n) {
      float u[kMax], v[kMax];
      for (int64_t i = 0; i < n; ++i) {
        u[i] = -20.0f + unit(rng) * (m.W + 40.0f);
        v[i] = -20.0f + unit(rng) * (m.H + 40.0f);
      }
      // Pixels whose map coordinate is exactly w or -1 (the last points with taps): u = (w + 0.5) W / w, -0.5 W / w.
      const float at_w = (static_cast<float>(w) + 0.5f) * m.W / static_cast<float>(w);
      const float at_minus_one = -0.5f * m.W / static_cast<float>(w);
      const float special[][2] = {{0.0f, 0.0f}, {m.W, m.H}, {m.W, 0.0f}, {0.0f, m.H}, {nan, 3.0f},
                                  {3.0f, nan},  {inf, 1.0f}, {-inf, 1.0f}, {1.0f, 1e30f}, {m.W * 0.5f, m.H * 0.5f},
                                  {at_w, 10.0f}, {at_minus_one, 10.0f}};
      for (int64_t i = 0; i < n && i < 12; ++i) {
        u[(i * 7) % n] = special[i][0];
        v[(i * 7) % n] = special[i][1];
      }
      TapBlock<kMax> block;
      block.compute(m, u, v, n);
      for (int64_t i = 0; i < n; ++i) {
        const Taps t = bilinear_taps(m, u[i], v[i]);
        const Taps b = block.at(i);
        // Offsets where the tap carries weight (a weight within rounding of 0 may fall either side of an edge when
        // the compiler contracts the scalar arithmetic into FMAs differently).
        for (int k = 0; k < 4; ++k) {
          if (t.weight[k] > 1e-5f) {
            EXPECT_EQ(b.offset[k], t.offset[k]) << "map " << w << "x" << h << ", point " << i << " of " << n << " ("
                                                << u[i] << ", " << v[i] << "), tap " << k;
          }
          EXPECT_NEAR(b.weight[k], t.weight[k], 1e-5f) << "point " << i << " of " << n << ", tap " << k;
        }
      }
    }
  }
}

/// project_block at every count up to 40 against itself one point at a time (the scalar loop): pixel coordinates,
/// visibility, distances, source directions and ray differences; a target direction per point or one for all.
inline void check_projection_blocks() {
  constexpr int kMax = 48;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> coord(-1.5f, 1.5f);
  // A camera at (0, 0, -3) looking along +z (world to camera: identity rotation, translation 3), 64 x 48 pixels.
  const float P[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3};
  const float K[4] = {40.0f, 40.0f, 32.0f, 24.0f};
  const float o[3] = {0.0f, 0.0f, -3.0f};
  for (const int64_t dir_stride : {int64_t{3}, int64_t{0}})
    for (int64_t n = 0; n <= 40; ++n) {
      std::vector<float> pts(3 * kMax), dirs(3 * kMax);
      for (int64_t i = 0; i < 3 * n; ++i) pts[i] = coord(rng);
      if (n > 3) pts[3 * 3 + 2] = -3.0f;  // a point in the camera's plane: behind it for the projection, not visible
      if (n > 5) pts[3 * 5 + 2] = -4.0f;  // a point behind the camera
      if (n > 9) pts[3 * 9] = std::numeric_limits<float>::quiet_NaN();  // NaN in, NaN out, never visible
      for (int64_t i = 0; i < n; ++i) {
        const float d[3] = {coord(rng), coord(rng), coord(rng) + 2.0f};
        const float len = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        for (int k = 0; k < 3; ++k) dirs[3 * i + k] = d[k] / len;
      }
      ProjectionBlock<kMax> block, one;
      project_block(P, K, o, 64.0f, 48.0f, pts.data(), dirs.data(), dir_stride, n, block);
      for (int64_t i = 0; i < n; ++i) {
        project_block(P, K, o, 64.0f, 48.0f, pts.data() + 3 * i, dirs.data() + dir_stride * i, dir_stride, 1, one);
        const float tol_uv = 1e-4f * (1.0f + std::abs(one.u[0]) + std::abs(one.v[0]));
        if (std::isnan(one.u[0])) {  // both paths: NaN pixel and directions, not visible
          EXPECT_TRUE(std::isnan(block.u[i]) && std::isnan(block.src[0][i]) && std::isnan(one.src[0][0]));
          EXPECT_EQ(block.ok[i], 0);
          continue;
        }
        EXPECT_NEAR(block.u[i], one.u[0], tol_uv) << "point " << i << " of " << n;
        EXPECT_NEAR(block.v[i], one.v[0], tol_uv) << "point " << i << " of " << n;
        const bool near_edge = std::abs(one.u[0]) < 1e-3f || std::abs(one.u[0] - 64.0f) < 1e-3f ||
                               std::abs(one.v[0]) < 1e-3f || std::abs(one.v[0] - 48.0f) < 1e-3f;
        if (!near_edge) {
          EXPECT_EQ(block.ok[i], one.ok[0]) << "point " << i << " of " << n;
        }
        EXPECT_NEAR(block.dist[i], one.dist[0], 1e-5f);
        for (int k = 0; k < 3; ++k) EXPECT_NEAR(block.src[k][i], one.src[k][0], 1e-6f);
        for (int k = 0; k < kRayDiffWidth; ++k) EXPECT_NEAR(block.rd[k][i], one.rd[k][0], 1e-6f);
      }
      if (n > 5) {
        EXPECT_EQ(block.ok[3], 0);
        EXPECT_EQ(block.ok[5], 0);
      }
    }
}

}  // namespace semfield::kernels::test
