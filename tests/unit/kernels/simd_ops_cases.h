// The checks of kernels/simd_ops.h's channel-vector loops, shared by the kernels' tests (the path this build compiled:
// AVX-512, AVX2 or scalar) and tests/simd/ (the AVX2 path, compiled without AVX-512 on any x86-64 machine).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "semfield/kernels/simd_ops.h"

namespace semfield::kernels::test {

/// dot, sum_of, max_of, axpy, scale_to and fill_zero against double loops at every length up to 40 (each tail of both
/// vector widths) and at offsets that leave the vectors unaligned; nothing outside [off, off + n) is written.
inline void check_channel_loops() {
  std::vector<float> x(64), y(64);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
    y[i] = std::cos(0.11f * static_cast<float>(i)) - 0.25f;
  }
  for (int64_t off = 0; off < 3; ++off)
    for (int64_t n = 0; n <= 40; ++n) {
      const float* xs = x.data() + off;
      const float* ys = y.data() + off;
      double dot = 0.0, sum = 0.0, top = -INFINITY;
      for (int64_t i = 0; i < n; ++i) {
        dot += double(xs[i]) * ys[i];
        sum += xs[i];
        top = std::max(top, double(xs[i]));
      }
      EXPECT_NEAR(detail::dot(n, xs, ys), dot, 1e-5 * (1.0 + std::abs(dot))) << "dot n " << n << " off " << off;
      EXPECT_NEAR(detail::sum_of(n, xs), sum, 1e-5 * (1.0 + std::abs(sum))) << "sum n " << n << " off " << off;
      EXPECT_EQ(detail::max_of(n, xs), static_cast<float>(top)) << "max n " << n << " off " << off;
      std::vector<float> a(y.begin(), y.end()), b(y.begin(), y.end()), z(y.begin(), y.end());
      detail::axpy(n, 0.5f, xs, a.data() + off);
      detail::scale_to(n, -2.0f, xs, b.data() + off);
      detail::fill_zero(n, z.data() + off);
      for (int64_t i = 0; i < static_cast<int64_t>(y.size()); ++i) {
        const bool in = i >= off && i < off + n;
        const float xi = in ? x[static_cast<size_t>(i)] : 0.0f, yi = y[static_cast<size_t>(i)];
        EXPECT_FLOAT_EQ(a[static_cast<size_t>(i)], in ? std::fma(0.5f, xi, yi) : yi) << "axpy n " << n << " i " << i;
        EXPECT_EQ(b[static_cast<size_t>(i)], in ? -2.0f * xi : yi) << "scale_to n " << n << " i " << i;
        EXPECT_EQ(z[static_cast<size_t>(i)], in ? 0.0f : yi) << "fill_zero n " << n << " i " << i;
      }
    }
}

/// exp_inplace against std::exp over [-100, 88] (0 below -87.3, relative error < 3e-7 above).
inline void check_exp_inplace() {
  std::vector<float> x;
  for (float v = -100.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
  std::vector<float> y = x;
  detail::exp_inplace(static_cast<int64_t>(y.size()), y.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(static_cast<double>(x[i]));
    if (x[i] < -87.3f) {
      EXPECT_EQ(y[i], 0.0f) << x[i];
    } else {
      EXPECT_NEAR(y[i], ref, 3e-7 * ref) << "exp(" << x[i] << ")";
    }
  }
}

}  // namespace semfield::kernels::test
