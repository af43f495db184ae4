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

#ifdef SEMFIELD_SIMD_LANES
/// detail::Lanes (the build's float vector) against scalar arithmetic: each operation on kN lanes, the reductions, and
/// fma_pairs' repetition of each lane over two consecutive channels.
inline void check_lanes() {
  using L = detail::Lanes;
  constexpr int N = L::kN;
  float a[N], b[N], c[N], s[2 * N], f[2 * N], out[2 * N];
  for (int i = 0; i < N; ++i) {
    a[i] = std::sin(0.7f * static_cast<float>(i)) * 2.0f;
    b[i] = std::cos(0.3f * static_cast<float>(i)) + 1.5f;
    c[i] = 0.1f * static_cast<float>(i) - 0.4f;
  }
  for (int i = 0; i < 2 * N; ++i) {
    s[i] = std::cos(0.9f * static_cast<float>(i));
    f[i] = 0.05f * static_cast<float>(i);
  }
  const L::V va = L::load(a), vb = L::load(b), vc = L::load(c);
  const auto lanes = [&](L::V v) {
    L::store(out, v);
    return std::vector<float>(out, out + N);
  };
  const std::vector<float> sum = lanes(L::add(va, vb)), diff = lanes(L::sub(va, vb)), prod = lanes(L::mul(va, vb)),
                           quot = lanes(L::div(va, vb)), most = lanes(L::max(va, vc)),
                           fused = lanes(L::fmadd(va, vb, vc)), ex = lanes(L::exp(va)), one = lanes(L::set1(1.5f)),
                           none = lanes(L::zero());
  double total = 0.0;
  float top = -INFINITY;
  for (int i = 0; i < N; ++i) {
    EXPECT_EQ(sum[i], a[i] + b[i]) << i;
    EXPECT_EQ(diff[i], a[i] - b[i]) << i;
    EXPECT_EQ(prod[i], a[i] * b[i]) << i;
    EXPECT_EQ(quot[i], a[i] / b[i]) << i;
    EXPECT_EQ(most[i], std::max(a[i], c[i])) << i;
    EXPECT_EQ(fused[i], std::fma(a[i], b[i], c[i])) << i;
    EXPECT_NEAR(ex[i], std::exp(static_cast<double>(a[i])), 3e-7 * std::exp(static_cast<double>(a[i]))) << i;
    EXPECT_EQ(one[i], 1.5f);
    EXPECT_EQ(none[i], 0.0f);
    total += a[i];
    top = std::max(top, a[i]);
  }
  EXPECT_NEAR(L::hsum(va), total, 1e-5 * (1.0 + std::abs(total)));
  EXPECT_EQ(L::hmax(va), top);
  L::V f0 = L::load(f), f1 = L::load(f + N);
  L::fma_pairs(va, s, f0, f1);
  L::store(out, f0);
  L::store(out + N, f1);
  for (int d = 0; d < 2 * N; ++d) EXPECT_EQ(out[d], std::fma(a[d / 2], s[d], f[d])) << "fma_pairs channel " << d;
}
#endif

}  // namespace semfield::kernels::test
