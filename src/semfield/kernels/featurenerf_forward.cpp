// Fused inference of FeatureNeRF's per-point network: see featurenerf_forward.h.
#include "semfield/kernels/featurenerf_forward.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/fused_layers.h"
#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

using detail::apply_layer;
using detail::Layer;
using detail::MapView;
using detail::padded16;

constexpr const char* kFnOp = "featurenerf_points_forward";
// Samples per block: a multiple of the GEMM tiles' 6 and 8 rows; ~420 KB of buffers at the shipped widths (W 256,
// F 512).
constexpr int64_t kFnBlock = 48;

/// h[r, 0:W) = max(h[r, 0:W) + z[r, 0:W), 0) for r < rows.
void add_relu(float* h, int64_t ldh, const float* z, int64_t ldz, int64_t rows, int64_t W) {
  for (int64_t r = 0; r < rows; ++r) {
    float* hr = h + r * ldh;
    const float* zr = z + r * ldz;
    for (int64_t c = 0; c < W; ++c) hr[c] = std::max(hr[c] + zr[c], 0.0f);
  }
}

}  // namespace

FeatureNerfPointsForward featurenerf_points_forward(const at::Tensor& x, const at::Tensor& dirs,
                                                    const SourceCameraBatch& cameras, const at::Tensor& injections_hwc,
                                                    const FeatureNerfPointWeights& weights, bool heads) {
  detail::check_dtype(kFnOp, "x", x, at::kFloat);
  detail::check_dtype(kFnOp, "injections_hwc", injections_hwc, at::kFloat);
  detail::check_dim(kFnOp, "x", x, 2);
  detail::check_dim(kFnOp, "injections_hwc", injections_hwc, 4);
  detail::require_cpu(kFnOp, {{"x", &x}, {"injections_hwc", &injections_hwc}});
  if (heads) {
    detail::check_dtype(kFnOp, "dirs", dirs, at::kFloat);
    detail::require_cpu(kFnOp, {{"dirs", &dirs}});
    TORCH_CHECK(dirs.sizes() == x.sizes(), kFnOp, ": dirs must be [N,3] like x, got ", dirs.sizes());
  }
  const int64_t N = x.size(0), V = cameras.size();
  TORCH_CHECK(x.size(1) == 3, kFnOp, ": x must be [N,3], got ", x.sizes());
  TORCH_CHECK(V > 0 && injections_hwc.size(0) == V, kFnOp, ": ", V, " cameras need injections [V,h,w,3W], got ",
              injections_hwc.sizes());
  TORCH_CHECK(weights.lin_w.size() == 4 && weights.lin_b.size() == 4, kFnOp, ": 4 layers expected, got ",
              weights.lin_w.size());
  std::vector<Layer> lin;
  for (size_t i = 0; i < 4; ++i) {
    const std::string name = "lin.weight" + std::to_string(i);
    lin.push_back(detail::pack_layer(kFnOp, name.c_str(), weights.lin_w[i], &weights.lin_b[i]));
  }
  const int64_t W = lin[0].out, F = lin[3].out, E = 3 + 6 * static_cast<int64_t>(weights.pe_frequencies);
  TORCH_CHECK(lin[0].in == E && lin[1].in == W && lin[1].out == W && lin[2].in == W && lin[2].out == W &&
                  lin[3].in == W && injections_hwc.size(3) == 3 * W,
              kFnOp, ": the weights do not fit together (", E, " encoding channels, width ", W, ", injections ",
              injections_hwc.size(3), ")");
  Layer head, view;
  int64_t Dt = 0;
  if (heads) {
    head = detail::pack_layer(kFnOp, "head", weights.head_w, &weights.head_b);
    view = detail::pack_layer(kFnOp, "view", weights.view_w, &weights.view_b);
    TORCH_CHECK(head.in == F && head.out == 4 && view.in == F + 3 && view.out >= 3, kFnOp,
                ": the heads do not fit v_NeRF's ", F, " channels");
    Dt = view.out - 3;
  }

  const at::Tensor xs = x.contiguous(), ds = heads ? dirs.contiguous() : xs;
  const at::Tensor w2c = cameras.w2c.detach().to(at::kFloat).contiguous();
  const at::Tensor intr = cameras.intrinsics.detach().to(at::kFloat).contiguous();
  const at::Tensor sizes = cameras.sizes.detach().to(at::kFloat).contiguous();
  const at::Tensor origins = cameras.origins.detach().to(at::kFloat).contiguous();
  const at::Tensor maps = injections_hwc.detach().contiguous();
  std::vector<MapView> views;
  for (int64_t v = 0; v < V; ++v)
    views.push_back({maps.data_ptr<float>() + v * maps.stride(0), maps.size(2), maps.size(1), 3 * W,
                     sizes.data_ptr<float>()[2 * v], sizes.data_ptr<float>()[2 * v + 1]});

  FeatureNerfPointsForward out;
  const auto f = xs.options();
  out.internal = at::empty({N, F}, f);
  if (heads) {
    out.sigma = at::empty({N}, f);
    out.coord = at::empty({N, 3}, f);
    out.rgb = at::empty({N, 3}, f);
    if (Dt > 0) out.feature = at::empty({N, Dt}, f);
  }
  const float* xp = xs.data_ptr<float>();
  const float* dp = ds.data_ptr<float>();
  const float* cam = w2c.data_ptr<float>();
  const float* K = intr.data_ptr<float>();
  const float* org = origins.data_ptr<float>();
  float* ip = out.internal.data_ptr<float>();
  float* sp = heads ? out.sigma.data_ptr<float>() : nullptr;
  float* cp = heads ? out.coord.data_ptr<float>() : nullptr;
  float* rp = heads ? out.rgb.data_ptr<float>() : nullptr;
  float* fp = heads && Dt > 0 ? out.feature.data_ptr<float>() : nullptr;
  const float inv_scale = static_cast<float>(1.0 / weights.world_scale);
  const float base = static_cast<float>(weights.pe_base);
  const int64_t Wp = padded16(W), Fa = padded16(F + 3), Vo = padded16(std::max<int64_t>(view.out, 16));
  const float inv_views = 1.0f / static_cast<float>(V);

  parallel_for(0, (N + kFnBlock - 1) / kFnBlock, 8, [&](int64_t b0, int64_t b1) {
    std::vector<float> z(static_cast<size_t>(kFnBlock * 3 * W)), pe(static_cast<size_t>(kFnBlock * E));
    std::vector<float> h0(static_cast<size_t>(kFnBlock * Wp)), h1(h0.size()), mean(h0.size());
    std::vector<float> a(static_cast<size_t>(kFnBlock * Fa)), sc(static_cast<size_t>(kFnBlock * 16));
    std::vector<float> vd(static_cast<size_t>(kFnBlock * Vo));
    detail::ProjectionBlock<kFnBlock> proj;
    detail::TapBlock<kFnBlock> taps;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * kFnBlock, nb = std::min(kFnBlock, N - first);
      const float* pts = xp + 3 * first;
      std::fill(mean.begin(), mean.end(), 0.0f);
      for (int64_t v = 0; v < V; ++v) {
        const float* P = cam + 12 * v;
        const MapView& m = views[static_cast<size_t>(v)];
        // The view's injections at the points' projections (grid_sampler's bilinear taps, zero outside the map; the
        // points stand in for project_block's target directions, whose ray differences are not read here).
        detail::project_block(P, K + 4 * v, org + 3 * v, m.W, m.H, pts, pts, 3, nb, proj);
        taps.compute(m, proj.u, proj.v, nb);
        taps.gather(m, nb, z.data(), 3 * W);
        // The point in the camera's frame and its encoding [x, sin(x b 2^k), cos(x b 2^k) ...].
        for (int64_t i = 0; i < nb; ++i) {
          const float* p = pts + 3 * i;
          float* e = pe.data() + i * E;
          for (int r = 0; r < 3; ++r)
            e[r] = (P[4 * r] * p[0] + P[4 * r + 1] * p[1] + P[4 * r + 2] * p[2] + P[4 * r + 3]) * inv_scale;
          // One sin / cos per coordinate, then the double-angle formulas (the frequencies double; error ~1e-7 2^k, as
          // ibr_ray_density_forward's encoding) instead of a libm call per frequency.
          for (int r = 0; r < 3 && weights.pe_frequencies > 0; ++r) {
            const float arg = e[r] * base;
            float sn = std::sin(arg), cs = std::cos(arg);
            for (int k = 0; k < weights.pe_frequencies; ++k) {
              e[3 + 6 * k + r] = sn;
              e[6 + 6 * k + r] = cs;
              const float s2 = 2.0f * sn * cs, c2 = (cs - sn) * (cs + sn);
              sn = s2;
              cs = c2;
            }
          }
        }
        apply_layer(lin[0], pe.data(), E, nb, h0.data(), Wp, false);
        add_relu(h0.data(), Wp, z.data(), 3 * W, nb, W);
        apply_layer(lin[1], h0.data(), Wp, nb, h1.data(), Wp, false);
        add_relu(h1.data(), Wp, z.data() + W, 3 * W, nb, W);
        apply_layer(lin[2], h1.data(), Wp, nb, h0.data(), Wp, false);
        add_relu(h0.data(), Wp, z.data() + 2 * W, 3 * W, nb, W);
        for (int64_t i = 0; i < nb; ++i) detail::axpy(W, 1.0f, h0.data() + i * Wp, mean.data() + i * Wp);
      }
      if (V > 1)
        for (int64_t i = 0; i < nb; ++i) detail::scale_to(W, inv_views, mean.data() + i * Wp, mean.data() + i * Wp);
      float* internal = ip + first * F;
      apply_layer(lin[3], mean.data(), Wp, nb, internal, F, false);
      if (!heads) continue;
      // [relu(v_NeRF), the direction in the first source camera's frame]
      for (int64_t i = 0; i < nb; ++i) {
        float* ar = a.data() + i * Fa;
        const float* vi = internal + i * F;
        for (int64_t c = 0; c < F; ++c) ar[c] = std::max(vi[c], 0.0f);
        const float* d = dp + 3 * (first + i);
        for (int r = 0; r < 3; ++r) ar[F + r] = cam[4 * r] * d[0] + cam[4 * r + 1] * d[1] + cam[4 * r + 2] * d[2];
      }
      apply_layer(head, a.data(), Fa, nb, sc.data(), 16, false);
      apply_layer(view, a.data(), Fa, nb, vd.data(), Vo, false);
      for (int64_t i = 0; i < nb; ++i) {
        const int64_t n = first + i;
        const float* s = sc.data() + i * 16;
        const float* o = vd.data() + i * Vo;
        sp[n] = detail::softplus(s[0]);
        for (int r = 0; r < 3; ++r) {
          cp[3 * n + r] = s[1 + r];
          rp[3 * n + r] = 1.0f / (1.0f + std::exp(-o[r]));
        }
        if (fp != nullptr) std::copy(o + 3, o + 3 + Dt, fp + n * Dt);
      }
    }
  });
  return out;
}

}  // namespace semfield::kernels
