// The label volume's fused sample-and-composite kernel and its LibTorch reference.
#include "semfield/kernels/label_volume.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

constexpr int64_t kRaysPerTask = 256;

struct AxisTap {
  int64_t i0, i1;  // neighbouring cells (i1 == i0 at the last cell, where its weight is 0)
  float w0, w1;
};

// grid_sampler_2d's unnormalisation with align_corners and border padding, for a unit coordinate u: g = 2u - 1,
// x = (g + 1) / 2 * (G - 1), clipped to [0, G - 1].
inline AxisTap axis_tap(float u, int64_t cells) {
  const float g = u * 2.0f - 1.0f;
  float x = (g + 1.0f) / 2.0f * static_cast<float>(cells - 1);
  x = std::min(static_cast<float>(cells - 1), std::max(x, 0.0f));
  const float f = std::floor(x);
  const auto i0 = static_cast<int64_t>(f);
  const float w1 = x - f;
  return {i0, std::min(i0 + 1, cells - 1), 1.0f - w1, w1};
}

}  // namespace

at::Tensor composite_label_values(const at::Tensor& planes, const at::Tensor& lines, const at::Tensor& unit_points,
                                  const at::Tensor& weights, const at::Tensor& ray_offsets, float min_weight) {
  constexpr const char* op = "composite_label_values";
  detail::require_cpu(op, {{"planes", &planes}, {"lines", &lines}, {"unit_points", &unit_points},
                           {"weights", &weights}});
  detail::check_float(op, "planes", planes, 4);
  detail::check_float(op, "lines", lines, 3);
  detail::check_float(op, "unit_points", unit_points, 2);
  detail::check_float(op, "weights", weights, 1);
  detail::check_size(op, "planes", planes, 0, 3, "three planes");
  const int64_t R = planes.size(1), G = planes.size(2);
  detail::check_size(op, "planes", planes, 3, G, "square planes");
  detail::check_size(op, "lines", lines, 0, 3, "three lines");
  detail::check_size(op, "lines", lines, 1, R, "the planes' rank");
  detail::check_size(op, "lines", lines, 2, G, "the planes' resolution");
  detail::check_size(op, "unit_points", unit_points, 1, 3, "xyz");
  const int64_t S = unit_points.size(0);
  detail::check_size(op, "weights", weights, 0, S, "S (rows of unit_points)");
  const int64_t N = detail::check_ray_offsets(op, ray_offsets, S);
  TORCH_CHECK(G >= 2, op, ": planes need a resolution of at least 2, got ", G);

  // Channels last: one tap is R contiguous floats.
  const at::Tensor pt = planes.detach().permute({0, 2, 3, 1}).contiguous();  // [3,G,G,R]
  const at::Tensor lt = lines.detach().permute({0, 2, 1}).contiguous();      // [3,G,R]
  const at::Tensor pts = unit_points.contiguous(), w = weights.contiguous();
  at::Tensor out = at::zeros({N, 3 * R}, at::kFloat);
  const float* P = pt.data_ptr<float>();
  const float* L = lt.data_ptr<float>();
  const float* X = pts.data_ptr<float>();
  const float* W = w.data_ptr<float>();
  const int64_t* off = ray_offsets.data_ptr<int64_t>();
  float* O = out.data_ptr<float>();
  const int64_t plane_stride = G * G * R, line_stride = G * R;
  // Plane i's (width, height) axes and line i's axis: xy|z, xz|y, yz|x.
  constexpr int kWidthAxis[3] = {0, 0, 1}, kHeightAxis[3] = {1, 2, 2}, kLineAxis[3] = {2, 1, 0};

  parallel_for(0, N, kRaysPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* __restrict acc = O + n * 3 * R;
      for (int64_t s = off[n]; s < off[n + 1]; ++s) {
        const float ws = W[s];
        if (!(ws > min_weight)) continue;
        const float* x = X + s * 3;
        const AxisTap a[3] = {axis_tap(x[0], G), axis_tap(x[1], G), axis_tap(x[2], G)};
        for (int i = 0; i < 3; ++i) {
          const AxisTap& u = a[kWidthAxis[i]];
          const AxisTap& v = a[kHeightAxis[i]];
          const AxisTap& l = a[kLineAxis[i]];
          const float* base = P + i * plane_stride;
          const float* __restrict t00 = base + (v.i0 * G + u.i0) * R;
          const float* __restrict t01 = base + (v.i0 * G + u.i1) * R;
          const float* __restrict t10 = base + (v.i1 * G + u.i0) * R;
          const float* __restrict t11 = base + (v.i1 * G + u.i1) * R;
          const float* __restrict l0 = L + i * line_stride + l.i0 * R;
          const float* __restrict l1 = L + i * line_stride + l.i1 * R;
          const float w00 = v.w0 * u.w0, w01 = v.w0 * u.w1, w10 = v.w1 * u.w0, w11 = v.w1 * u.w1;
          const float lw0 = l.w0 * ws, lw1 = l.w1 * ws;
          float* __restrict o = acc + i * R;
          for (int64_t r = 0; r < R; ++r) {
            const float p = t00[r] * w00 + t01[r] * w01 + t10[r] * w10 + t11[r] * w11;
            o[r] += p * (l0[r] * lw0 + l1[r] * lw1);
          }
        }
      }
    }
  });
  return out;
}

at::Tensor sample_label_volume(const at::Tensor& planes, const at::Tensor& lines, const at::Tensor& unit_points) {
  const int64_t k = unit_points.size(0), R = planes.size(1);
  const at::Tensor c = unit_points.to(at::kFloat) * 2 - 1;  // [-1,1]
  const at::Tensor x = c.select(1, 0), y = c.select(1, 1), z = c.select(1, 2);
  const at::Tensor plane_grid = at::stack({at::stack({x, y}, 1), at::stack({x, z}, 1), at::stack({y, z}, 1)})
                                    .view({3, k, 1, 2});
  const at::Tensor line_grid =
      at::stack({at::stack({at::zeros_like(z), z}, 1), at::stack({at::zeros_like(y), y}, 1),
                 at::stack({at::zeros_like(x), x}, 1)})
          .view({3, k, 1, 2});
  // grid_sample: mode 0 bilinear, padding 1 border, align_corners.
  const at::Tensor pv = at::grid_sampler_2d(planes, plane_grid, 0, 1, true);            // [3,R,K,1]
  const at::Tensor lv = at::grid_sampler_2d(lines.unsqueeze(3), line_grid, 0, 1, true);  // [3,R,K,1]
  return (pv * lv).squeeze(3).permute({2, 0, 1}).reshape({k, 3 * R});
}

at::Tensor composite_label_values_reference(const at::Tensor& planes, const at::Tensor& lines,
                                            const at::Tensor& unit_points, const at::Tensor& weights,
                                            const at::Tensor& ray_offsets, float min_weight) {
  const int64_t N = ray_offsets.size(0) - 1, S = weights.size(0);
  const at::Tensor counts = ray_offsets.narrow(0, 1, N) - ray_offsets.narrow(0, 0, N);
  const at::Tensor ray_index = at::repeat_interleave(at::arange(N, at::kLong), counts, 0, S);
  const at::Tensor keep = at::nonzero(weights.gt(min_weight)).squeeze(1);
  const at::Tensor values = sample_label_volume(planes, lines, unit_points.index_select(0, keep));
  return at::zeros({N, values.size(1)}, values.options())
      .index_add(0, ray_index.index_select(0, keep), values * weights.index_select(0, keep).unsqueeze(1));
}

}  // namespace semfield::kernels
