// Fused inference of the image-conditioned network's per-sample part: see ibr_aggregate.h.
#include "semfield/kernels/ibr_aggregate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/simd_ops.h"
#include "semfield/kernels/small_gemm.h"
#include "semfield/kernels/fused_layers.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "may be used uninitialized" once
// inlined (a false positive in the system header; see simd_ops.h).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels {

namespace {

using detail::apply_layer;
using detail::Layer;
using detail::project_block;
using detail::ProjectionBlock;
using detail::MapView;
using detail::masked_softmax_views;
using detail::padded16;
using detail::run_net;
using detail::softplus_inplace;
using detail::TapBlock;
using detail::widest;

constexpr int64_t kBlockSamples = 32;  // samples per block: V x 32 rows of <= 32 floats per buffer, ~200 KB at 8 views
constexpr int64_t kRayDiff = detail::kRayDiffWidth;  // target minus source direction (3) and their cosine (1)

/// [mean, variance] (out[0:F), out[F:2F)) over views of x[v * row_stride + 0:F) with weights w[v * w_stride].
/// F a compile-time constant (the runtime-F loop stalled on its own stores); where F is a multiple of the vector
/// width the sums sit in F / kN vector registers, else (F = 8 with AVX-512, builds without SIMD) in the scalar loops.
template <int F>
inline void weighted_mean_var_fixed(const float* x, int64_t row_stride, const float* w, int64_t w_stride, int64_t V,
                                    float* out) {
#ifdef SEMFIELD_SIMD_LANES
  using L = detail::Lanes;
  if constexpr (F % L::kN == 0) {
    // The sums in F / kN vector registers. GCC compiled the scalar loops below with a `rep stos` zeroing of the arrays
    // and partly scalar sums: ~8 % of a 256x256 view on an AVX2-only Zen 3 (perf annotate) for ~3 % of its arithmetic.
    constexpr int NR = F / L::kN;
    L::V mean[NR], var[NR];
    for (int c = 0; c < NR; ++c) mean[c] = var[c] = L::zero();
    for (int64_t v = 0; v < V; ++v) {
      const L::V wv = L::set1(w[v * w_stride]);
      const float* xv = x + v * row_stride;
      for (int c = 0; c < NR; ++c) mean[c] = L::fmadd(wv, L::load(xv + c * L::kN), mean[c]);
    }
    for (int64_t v = 0; v < V; ++v) {
      const L::V wv = L::set1(w[v * w_stride]);
      const float* xv = x + v * row_stride;
      for (int c = 0; c < NR; ++c) {
        const L::V d = L::sub(L::load(xv + c * L::kN), mean[c]);
        var[c] = L::fmadd(L::mul(wv, d), d, var[c]);
      }
    }
    for (int c = 0; c < NR; ++c) {
      L::store(out + c * L::kN, mean[c]);
      L::store(out + F + c * L::kN, var[c]);
    }
    return;
  }
#endif
  float mean[F] = {}, var[F] = {};
  for (int64_t v = 0; v < V; ++v) {
    const float wv = w[v * w_stride];
    const float* xv = x + v * row_stride;
    for (int f = 0; f < F; ++f) mean[f] += wv * xv[f];
  }
  for (int64_t v = 0; v < V; ++v) {
    const float wv = w[v * w_stride];
    const float* xv = x + v * row_stride;
    for (int f = 0; f < F; ++f) {
      const float d = xv[f] - mean[f];
      var[f] += wv * d * d;
    }
  }
  std::copy(mean, mean + F, out);
  std::copy(var, var + F, out + F);
}

inline void weighted_mean_var(const float* x, int64_t row_stride, const float* w, int64_t w_stride, int64_t V,
                              int64_t F, float* out) {
  switch (F) {
    case 8: weighted_mean_var_fixed<8>(x, row_stride, w, w_stride, V, out); return;
    case 16: weighted_mean_var_fixed<16>(x, row_stride, w, w_stride, V, out); return;
    case 32: weighted_mean_var_fixed<32>(x, row_stride, w, w_stride, V, out); return;
    default: break;
  }
  float* mean = out;
  float* var = out + F;
  for (int64_t f = 0; f < 2 * F; ++f) out[f] = 0.0f;
  for (int64_t v = 0; v < V; ++v) detail::axpy(F, w[v * w_stride], x + v * row_stride, mean);
  for (int64_t v = 0; v < V; ++v) {
    const float wv = w[v * w_stride];
    const float* xv = x + v * row_stride;
    for (int64_t f = 0; f < F; ++f) {
      const float d = xv[f] - mean[f];
      var[f] += wv * d * d;
    }
  }
}


}  // namespace

IbrPointsForward ibr_points_forward(const at::Tensor& positions, const at::Tensor& dirs,
                                    const SourceCameraBatch& cameras, const at::Tensor& colours_hwc,
                                    const at::Tensor& features_hwc, const IbrPointWeights& weights,
                                    bool view_outputs) {
  constexpr const char* op = "ibr_points_forward";
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"positions", &positions},
                                {"dirs", &dirs}, {"colours_hwc", &colours_hwc}, {"features_hwc", &features_hwc}})
    detail::check_dtype(op, name, *t, at::kFloat);
  detail::check_dim(op, "positions", positions, 2);
  detail::check_dim(op, "colours_hwc", colours_hwc, 4);
  detail::check_dim(op, "features_hwc", features_hwc, 4);
  detail::require_cpu(op, {{"positions", &positions}, {"dirs", &dirs}, {"colours_hwc", &colours_hwc},
                           {"features_hwc", &features_hwc}});
  const int64_t N = positions.size(0), V = cameras.size();
  TORCH_CHECK(positions.size(1) == 3 && dirs.sizes() == positions.sizes(), op,
              ": positions and dirs must both be [N,3], got ", positions.sizes(), " and ", dirs.sizes());
  TORCH_CHECK(V > 0 && colours_hwc.size(0) == V && features_hwc.size(0) == V && colours_hwc.size(3) == 3, op,
              ": ", V, " cameras need colours [V,H,W,3] and features [V,h,w,C], got ", colours_hwc.sizes(), " and ",
              features_hwc.sizes());
  const int64_t C = features_hwc.size(3);

  const std::vector<Layer> view = detail::pack_net(op, "view", weights.view);
  const Layer mix_view = detail::pack_layer(op, "mix_view", weights.mix_view, nullptr);
  const Layer mix_stats = detail::pack_layer(op, "mix_stats", weights.mix_stats, &weights.mix_bias);
  const std::vector<Layer> view2 = detail::pack_net(op, "view2", weights.view2);
  const std::vector<Layer> point = detail::pack_net(op, "point", weights.point);
  const std::vector<Layer> sigma = detail::pack_net(op, "sigma", weights.sigma);
  std::vector<Layer> colour = detail::pack_net(op, "colour", weights.colour);
  const int64_t H = mix_view.out, G = view2.back().out - 1, D = point.back().out;
  const int64_t x_width = C + 3 + kRayDiff + 1, c_width = G + kRayDiff + 1;
  TORCH_CHECK(view.front().in == x_width && view.back().out == H && mix_view.in == H && mix_stats.in == 2 * H &&
                  mix_stats.out == H && view2.front().in == H && G > 0 && point.front().in == 2 * G &&
                  sigma.front().in == D && sigma.back().out == 1 && colour.front().in == c_width &&
                  colour.back().out == 1,
              op, ": the weights do not fit together (", C, " feature channels)");

  // The colour blend's first layer reads its input [g, ray difference, 1] in place, from the rows view2 wrote: g,
  // the visibility logit, then (written after view2) the ray difference and 1 in the row's padding columns. Its packed
  // weights get a zero input row for the logit (copying each row's 21 inputs out was ~1 % of a 256x256 view in perf).
  {
    const at::Tensor w0 = weights.colour.weights.front().detach().to(at::kFloat);
    const at::Tensor skip_logit =
        at::cat({w0.narrow(1, 0, G), at::zeros({w0.size(0), 1}, w0.options()), w0.narrow(1, G, kRayDiff + 1)}, 1);
    colour.front() = detail::pack_layer(op, "colour.weight0", skip_logit,
                                        weights.colour.biases.empty() ? nullptr : &weights.colour.biases.front());
  }
  const at::Tensor pos = positions.contiguous(), dir = dirs.contiguous();
  const at::Tensor w2c = cameras.w2c.detach().to(at::kFloat).contiguous();
  const at::Tensor intr = cameras.intrinsics.detach().to(at::kFloat).contiguous();
  const at::Tensor sizes = cameras.sizes.detach().to(at::kFloat).contiguous();
  const at::Tensor origins = cameras.origins.detach().to(at::kFloat).contiguous();
  const at::Tensor colours = colours_hwc.detach().contiguous(), features = features_hwc.detach().contiguous();
  std::vector<MapView> colour_maps, feature_maps;
  for (int64_t v = 0; v < V; ++v) {
    const float W = sizes.data_ptr<float>()[2 * v], Hh = sizes.data_ptr<float>()[2 * v + 1];
    colour_maps.push_back({colours.data_ptr<float>() + v * colours.stride(0), colours.size(2), colours.size(1), 3, W, Hh});
    feature_maps.push_back(
        {features.data_ptr<float>() + v * features.stride(0), features.size(2), features.size(1), C, W, Hh});
  }

  IbrPointsForward out;
  out.z = at::empty({N, D}, pos.options());
  out.sigma_point = at::empty({N}, pos.options());
  out.rgb = at::empty({N, 3}, pos.options());
  out.valid = at::empty({N}, pos.options().dtype(at::kBool));
  const float* pp = pos.data_ptr<float>();
  const float* dp = dir.data_ptr<float>();
  const float* cam = w2c.data_ptr<float>();
  const float* K = intr.data_ptr<float>();
  const float* org = origins.data_ptr<float>();
  float* zp = out.z.data_ptr<float>();
  float* sp = out.sigma_point.data_ptr<float>();
  float* rp = out.rgb.data_ptr<float>();
  bool* vp = out.valid.data_ptr<bool>();
  // Per-view outputs (view_outputs): null pointers otherwise.
  float *uvp = nullptr, *vvp = nullptr, *rdp = nullptr, *sdp = nullptr, *dsp = nullptr, *gp = nullptr, *visp = nullptr;
  if (view_outputs) {
    const auto f = pos.options();
    out.uv = at::empty({V, N, 2}, f);
    out.view_valid = at::empty({V, N, 1}, f);
    out.ray_diff = at::empty({V, N, kRayDiff}, f);
    out.source_dirs = at::empty({V, N, 3}, f);
    out.distance = at::empty({V, N, 1}, f);
    out.g = at::empty({V, N, G}, f);
    out.visibility = at::empty({V, N, 1}, f);
    uvp = out.uv.data_ptr<float>();
    vvp = out.view_valid.data_ptr<float>();
    rdp = out.ray_diff.data_ptr<float>();
    sdp = out.source_dirs.data_ptr<float>();
    dsp = out.distance.data_ptr<float>();
    gp = out.g.data_ptr<float>();
    visp = out.visibility.data_ptr<float>();
  }

  const int64_t max_rows = V * kBlockSamples;
  const int64_t ldh = padded16(H), ldo2 = padded16(G + 1 + kRayDiff + 1), ldd = padded16(D);
  const int64_t scratch_width =
      std::max({widest(view), widest(view2), widest(point), widest(sigma), widest(colour), ldh});
  const int64_t n_blocks = (N + kBlockSamples - 1) / kBlockSamples;
  // A chunk of 32 blocks (1,024 samples) per task: the buffers below are allocated once per chunk.
  parallel_for(0, n_blocks, 32, [&](int64_t b0, int64_t b1) {
    // Rows are view-major within a block: row = v * nb + i for sample i of nb.
    // x rows hold [feature, colour, ray difference, 1]; the colour blend reads its colours and ray differences there.
    std::vector<float> x(static_cast<size_t>(max_rows * x_width));
    std::vector<uint8_t> valid(static_cast<size_t>(max_rows));
    std::vector<float> s0(static_cast<size_t>(max_rows * scratch_width)), s1(s0.size());
    std::vector<float> hv(static_cast<size_t>(max_rows * ldh)), mixed(hv.size());
    std::vector<float> out2(static_cast<size_t>(max_rows * ldo2)), vis(static_cast<size_t>(max_rows));
    std::vector<float> logit(static_cast<size_t>(max_rows * 16));
    std::vector<float> blend(static_cast<size_t>(max_rows)), w_uniform(static_cast<size_t>(max_rows));
    std::vector<float> stats(static_cast<size_t>(kBlockSamples * 2 * H)), per_sample(static_cast<size_t>(kBlockSamples * ldh));
    std::vector<float> pooled(static_cast<size_t>(kBlockSamples * 2 * G)), zb(static_cast<size_t>(kBlockSamples * ldd));
    std::vector<float> sig(static_cast<size_t>(kBlockSamples * 16)), per_block(static_cast<size_t>(kBlockSamples));
    ProjectionBlock<kBlockSamples> proj;  // one view's projections of the block (its taps: ft, ct below)
    TapBlock<kBlockSamples> ft, ct;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * kBlockSamples, nb = std::min(kBlockSamples, N - first), rows = V * nb;
      // Projection, gathers and the per-view inputs [feature, colour, ray difference, 1].
      for (int64_t v = 0; v < V; ++v) {
        const float W = colour_maps[static_cast<size_t>(v)].W, Hh = colour_maps[static_cast<size_t>(v)].H;
        // The block's projections and source directions, then their taps (8 or 16 at a time), then the gathers.
        project_block(cam + 12 * v, K + 4 * v, org + 3 * v, W, Hh, pp + 3 * first, dp + 3 * first, 3, nb, proj);
        const MapView& fm = feature_maps[static_cast<size_t>(v)];
        const MapView& cm = colour_maps[static_cast<size_t>(v)];
        ft.compute(fm, proj.u, proj.v, nb);
        ct.compute(cm, proj.u, proj.v, nb);
        ft.gather(fm, nb, x.data() + v * nb * x_width, x_width);
        ct.gather(cm, nb, x.data() + v * nb * x_width + C, x_width);
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t row = v * nb + i;
          valid[static_cast<size_t>(row)] = proj.ok[i];
          float* xr = x.data() + row * x_width;
          float* r = xr + C + 3;
          for (int k = 0; k < kRayDiff; ++k) r[k] = proj.rd[k][i];
          r[kRayDiff] = 1.0f;
          if (view_outputs) {
            const int64_t at = v * N + first + i;
            uvp[2 * at] = proj.u[i];
            uvp[2 * at + 1] = proj.v[i];
            vvp[at] = proj.ok[i] ? 1.0f : 0.0f;
            std::copy(r, r + kRayDiff, rdp + kRayDiff * at);
            sdp[3 * at] = proj.src[0][i];
            sdp[3 * at + 1] = proj.src[1][i];
            sdp[3 * at + 2] = proj.src[2][i];
            dsp[at] = proj.dist[i];
          }
        }
      }
      // Per-view features, their uniform mean / variance over the valid views, the mixing layer.
      run_net(view, x.data(), x_width, rows, hv.data(), ldh, true, s0.data(), s1.data());
      for (int64_t i = 0; i < nb; ++i) {
        int64_t count = 0;
        for (int64_t v = 0; v < V; ++v) count += valid[static_cast<size_t>(v * nb + i)];
        for (int64_t v = 0; v < V; ++v)
          w_uniform[static_cast<size_t>(v * nb + i)] =
              valid[static_cast<size_t>(v * nb + i)] ? 1.0f / static_cast<float>(count) : 0.0f;
        weighted_mean_var(hv.data() + i * ldh, nb * ldh, w_uniform.data() + i, nb, V, H, stats.data() + i * 2 * H);
      }
      apply_layer(mix_stats, stats.data(), 2 * H, nb, per_sample.data(), ldh, false);
      apply_layer(mix_view, hv.data(), ldh, rows, mixed.data(), ldh, false);
      for (int64_t row = 0; row < rows; ++row) {
        float* m = mixed.data() + row * ldh;
        const float* ps = per_sample.data() + (row % nb) * ldh;
        for (int64_t j = 0; j < H; ++j) m[j] = std::max(m[j] + ps[j], 0.0f);
      }
      // Per-view features g (ReLU) and visibility logits; visibility-weighted pooling into z.
      run_net(view2, mixed.data(), ldh, rows, out2.data(), ldo2, false, s0.data(), s1.data());
      for (int64_t row = 0; row < rows; ++row) {
        float* g = out2.data() + row * ldo2;
        for (int64_t j = 0; j < G; ++j) g[j] = std::max(g[j], 0.0f);
      }
      masked_softmax_views(out2.data() + G, ldo2, valid.data(), V, nb, vis.data(), per_block.data());
      for (int64_t i = 0; i < nb; ++i)
        weighted_mean_var(out2.data() + i * ldo2, nb * ldo2, vis.data() + i, nb, V, G, pooled.data() + i * 2 * G);
      if (view_outputs)
        for (int64_t v = 0; v < V; ++v)
          for (int64_t i = 0; i < nb; ++i) {
            const int64_t row = v * nb + i, at = v * N + first + i;
            std::copy(out2.data() + row * ldo2, out2.data() + row * ldo2 + G, gp + G * at);
            visp[at] = vis[static_cast<size_t>(row)];
          }
      run_net(point, pooled.data(), 2 * G, nb, zb.data(), ldd, true, s0.data(), s1.data());
      run_net(sigma, zb.data(), ldd, nb, sig.data(), 16, false, s0.data(), s1.data());
      // Colour: a blend logit per view from [g, ray difference, 1] (the view2 rows, the logit's column skipped),
      // softmax over the valid views.
      for (int64_t row = 0; row < rows; ++row) {
        const float* xr = x.data() + row * x_width + C + 3;  // ray difference and the constant 1
        float* o2 = out2.data() + row * ldo2;
        o2[G] = 0.0f;  // the logit, read above; 0 so that its zero weight meets a finite value
        std::copy(xr, xr + kRayDiff + 1, o2 + G + 1);
      }
      run_net(colour, out2.data(), ldo2, rows, logit.data(), 16, false, s0.data(), s1.data());
      masked_softmax_views(logit.data(), 16, valid.data(), V, nb, blend.data(), per_block.data());
      for (int64_t i = 0; i < nb; ++i) sig[static_cast<size_t>(i)] = sig[static_cast<size_t>(i * 16)];
      softplus_inplace(nb, sig.data(), per_block.data());
      for (int64_t i = 0; i < nb; ++i) {
        const int64_t n = first + i;
        bool seen = false;
        for (int64_t v = 0; v < V; ++v) seen = seen || valid[static_cast<size_t>(v * nb + i)];
        float rgb[3] = {0.0f, 0.0f, 0.0f};
        for (int64_t v = 0; v < V; ++v) {
          const int64_t row = v * nb + i;
          const float w = blend[static_cast<size_t>(row)];
          const float* colour_v = x.data() + row * x_width + C;
          for (int k = 0; k < 3; ++k) rgb[k] += w * colour_v[k];
        }
        std::copy(rgb, rgb + 3, rp + 3 * n);
        std::copy(zb.data() + i * ldd, zb.data() + i * ldd + D, zp + n * D);
        sp[n] = seen ? sig[static_cast<size_t>(i)] : 0.0f;
        vp[n] = seen;
      }
    }
  });
  return out;
}

at::Tensor ibr_ray_density_forward(const at::Tensor& z_in, const at::Tensor& t_rel_in, const at::Tensor& valid_in,
                                   const IbrRayWeights& weights) {
  constexpr const char* op = "ibr_ray_density_forward";
  detail::check_dtype(op, "z", z_in, at::kFloat);
  detail::check_dtype(op, "t_rel", t_rel_in, at::kFloat);
  detail::check_dtype(op, "valid", valid_in, at::kBool);
  detail::check_dim(op, "z", z_in, 3);
  detail::require_cpu(op, {{"z", &z_in}, {"t_rel", &t_rel_in}, {"valid", &valid_in}});
  const int64_t R = z_in.size(0), S = z_in.size(1), D = z_in.size(2), P = 2 * weights.positional_freqs;
  TORCH_CHECK(t_rel_in.sizes() == at::IntArrayRef({R, S}) && valid_in.sizes() == at::IntArrayRef({R, S}), op,
              ": t_rel and valid must be [", R, ", ", S, "], got ", t_rel_in.sizes(), " and ", valid_in.sizes());
  const std::vector<Layer> query = detail::pack_net(op, "query", weights.query);
  const std::vector<Layer> key = detail::pack_net(op, "key", weights.key);
  const std::vector<Layer> value = detail::pack_net(op, "value", weights.value);
  const std::vector<Layer> out_net = detail::pack_net(op, "out", weights.out);
  const std::vector<Layer> sigma = detail::pack_net(op, "sigma", weights.sigma);
  TORCH_CHECK(query.front().in == D + P && key.front().in == D + P && query.back().out == D && key.back().out == D &&
                  value.front().in == D && value.back().out == D && out_net.front().in == D &&
                  out_net.back().out == D && sigma.front().in == D && sigma.back().out == 1,
              op, ": the weights do not fit together (", D, " features, ", P, " positional channels)");
  const at::Tensor z = z_in.contiguous(), t_rel = t_rel_in.contiguous(), valid = valid_in.contiguous();
  at::Tensor density = at::empty({R, S}, z.options());
  const float* zp = z.data_ptr<float>();
  const float* tp = t_rel.data_ptr<float>();
  const bool* vp = valid.data_ptr<bool>();
  float* dp = density.data_ptr<float>();
  const int64_t F = weights.positional_freqs;  // sin / cos of t_rel at pi 2^f, f < F
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  constexpr int64_t kRays = 8;  // rays per block: 8 x S rows
  const int64_t max_rows = kRays * S, zq_width = D + P, Dp = padded16(D), Sp = padded16(S);
  const int64_t scratch_width = std::max({widest(query), widest(key), widest(value), widest(out_net), widest(sigma)});
  // A chunk of 16 blocks (128 rays) per task: the buffers below are allocated once per chunk.
  parallel_for(0, (R + kRays - 1) / kRays, 16, [&](int64_t b0, int64_t b1) {
    // Zero-initialised once: the padding columns of q, k, v stay 0 (no layer writes them).
    std::vector<float> zq(static_cast<size_t>(max_rows * zq_width)), q(static_cast<size_t>(max_rows * Dp), 0.0f);
    std::vector<float> k(q.size(), 0.0f), v(q.size(), 0.0f), att(q.size(), 0.0f), o(q.size(), 0.0f);
    std::vector<float> kt(static_cast<size_t>(Dp * Sp), 0.0f), scores(static_cast<size_t>(S * Sp), 0.0f);
    std::vector<float> s0(static_cast<size_t>(max_rows * scratch_width)), s1(s0.size());
    std::vector<float> sig(static_cast<size_t>(max_rows * 16)), mask(static_cast<size_t>(S));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kRays, nr = std::min(kRays, R - r0), rows = nr * S;
      for (int64_t row = 0; row < rows; ++row) {
        float* x = zq.data() + row * zq_width;
        std::copy(zp + (r0 * S + row) * D, zp + (r0 * S + row + 1) * D, x);
        // sin / cos of t pi 2^f: one sincos, then the double-angle formulas (the frequencies double; error ~1e-7
        // 2^f, well inside the reference's tolerance) instead of a libm call per frequency.
        const float a = tp[r0 * S + row] * static_cast<float>(M_PI);
        float sn = std::sin(a), cs = std::cos(a);
        for (int64_t f = 0; f < F; ++f) {
          x[D + 2 * f] = sn;
          x[D + 2 * f + 1] = cs;
          const float s2 = 2.0f * sn * cs, c2 = (cs - sn) * (cs + sn);
          sn = s2;
          cs = c2;
        }
      }
      run_net(query, zq.data(), zq_width, rows, q.data(), Dp, false, s0.data(), s1.data());
      run_net(key, zq.data(), zq_width, rows, k.data(), Dp, false, s0.data(), s1.data());
      run_net(value, zq.data(), zq_width, rows, v.data(), Dp, false, s0.data(), s1.data());
      for (int64_t r = 0; r < nr; ++r) {
        const bool* valid_r = vp + (r0 + r) * S;
        float* att_r = att.data() + r * S * Dp;
        bool any = false;
        for (int64_t j = 0; j < S; ++j) any = any || valid_r[j];
        if (!any) {
          std::fill(att_r, att_r + S * Dp, 0.0f);  // no density on this ray whatever it attends to
          continue;
        }
        // scores[i, j] = q_i . k_j / sqrt(D) over the valid samples j; softmax over j.
        const float* k_r = k.data() + r * S * Dp;
        for (int64_t j = 0; j < S; ++j)
          for (int64_t d = 0; d < D; ++d) kt[static_cast<size_t>(d * Sp + j)] = k_r[j * Dp + d];
        detail::gemm(q.data() + r * S * Dp, Dp, 1, S, D, kt.data(), Sp, Sp, scores.data(), Sp, false, false);
        // The invalid samples' scores as -inf, a select the compiler vectorises (a branch per score was ~3 % of a
        // 256x256 view on an AVX2-only Zen 3); at least one sample is valid, so every row has a finite maximum.
        for (int64_t j = 0; j < S; ++j) mask[static_cast<size_t>(j)] = valid_r[j] ? 1.0f : 0.0f;
        for (int64_t i = 0; i < S; ++i) {
          float* row = scores.data() + i * Sp;
          for (int64_t j = 0; j < S; ++j)
            row[j] = mask[static_cast<size_t>(j)] != 0.0f ? row[j] * scale : -std::numeric_limits<float>::infinity();
          const float sum = detail::exp_shift_sum(S, row, detail::max_of(S, row));
          detail::scale_to(S, 1.0f / sum, row, row);
        }
        // att = softmax(scores) v (v's padding columns are 0).
        detail::gemm(scores.data(), Sp, 1, S, S, v.data() + r * S * Dp, Dp, Dp, att_r, Dp, false, false);
      }
      // z2 = z + out(att); density = softplus(sigma(relu(z2))) on valid samples.
      run_net(out_net, att.data(), Dp, rows, o.data(), Dp, false, s0.data(), s1.data());
      for (int64_t row = 0; row < rows; ++row) {
        float* orow = o.data() + row * Dp;
        const float* zrow = zp + (r0 * S + row) * D;
        for (int64_t d = 0; d < D; ++d) orow[d] = std::max(orow[d] + zrow[d], 0.0f);
      }
      run_net(sigma, o.data(), Dp, rows, sig.data(), 16, false, s0.data(), s1.data());
      for (int64_t row = 0; row < rows; ++row) sig[static_cast<size_t>(row)] = sig[static_cast<size_t>(row * 16)];
      softplus_inplace(rows, sig.data(), o.data());
      for (int64_t row = 0; row < rows; ++row)
        dp[r0 * S + row] = vp[r0 * S + row] ? sig[static_cast<size_t>(row)] : 0.0f;
    }
  });
  return density;
}

}  // namespace semfield::kernels
