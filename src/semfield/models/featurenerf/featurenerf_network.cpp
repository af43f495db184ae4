// FeatureNeRF's network (featurenerf_network.h).
#include "semfield/models/featurenerf/featurenerf_network.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/env.h"
#include "semfield/core/error.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/kernels/featurenerf_forward.h"
#include "semfield/models/fused_inference.h"
#include "semfield/models/ibr/ray_samples.h"

namespace semfield {

namespace {

/// A linear layer's weight [out,in] drawn from U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default) with `generator`.
at::Tensor fn_linear(int64_t out, int64_t in, at::Generator& generator) {
  return ((at::rand({out, in}, generator, at::kFloat) * 2.0f - 1.0f) *
          static_cast<float>(1.0 / std::sqrt(static_cast<double>(in))))
      .set_requires_grad(true);
}

// SEMFIELD_FUSED_FEATURENERF=0 runs inference through the LibTorch path instead of the fused kernel (for benchmarks).
bool fused_featurenerf_enabled() {
  static const bool enabled = env_switch_on("SEMFIELD_FUSED_FEATURENERF");
  return enabled;
}

at::Tensor fn_zeros(int64_t n) { return at::zeros({n}, at::kFloat).set_requires_grad(true); }

/// [.., 3] -> [.., 3 + 6 F]: the point and sin / cos of it at base * 2^k, k < F.
at::Tensor fn_positional_encoding(const at::Tensor& x, int frequencies, double base) {
  std::vector<at::Tensor> parts{x};
  for (int k = 0; k < frequencies; ++k) {
    const at::Tensor a = x * static_cast<float>(base * std::pow(2.0, k));
    parts.push_back(at::sin(a));
    parts.push_back(at::cos(a));
  }
  return at::cat(parts, -1);
}

}  // namespace

FeatureNerfNetwork::FeatureNerfNetwork(const FeatureNerfConfig& config) : m_config(config) {
  config.validate();
  m_encoder = PixelEncoder(config.encoder, config.seed);
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(config.seed + 0xFEA7ull);
  const int64_t w = config.width, f = config.feature_dim, c = config.encoder.out_channels();
  const int64_t pe = 3 + 6 * config.pe_frequencies;
  m_inject_w = fn_linear(3 * w, c, g).detach().view({3 * w, c, 1, 1}).set_requires_grad(true);
  m_inject_b = fn_zeros(3 * w);
  const int64_t ins[4] = {pe, w, w, w}, outs[4] = {w, w, w, f};
  for (int l = 0; l < 4; ++l) {
    m_lin_w.push_back(fn_linear(outs[l], ins[l], g));
    m_lin_b.push_back(fn_zeros(outs[l]));
  }
  m_head_w = fn_linear(4, f, g);
  m_head_b = fn_zeros(4);
  const int64_t dt = has_teacher_head() ? config.teacher_dim : 0;
  m_view_w = fn_linear(3 + dt, f + 3, g);
  m_view_b = fn_zeros(3 + dt);
}

FeatureNerfSources FeatureNerfNetwork::sources(const at::Tensor& images, const std::vector<Camera>& cameras,
                                               double world_scale) const {
  SEMFIELD_ASSERT(images.dim() == 4 && images.size(0) == static_cast<int64_t>(cameras.size()),
                  "featurenerf: one image per source camera expected");
  FeatureNerfSources s;
  s.cameras = SourceCameraBatch::from_cameras(cameras).to(images.device());  // on the images' device
  const at::Tensor features = m_encoder.forward(encoder_input(images, m_config.encode_size));
  s.injections = at::conv2d(features, m_inject_w, m_inject_b).permute({0, 2, 3, 1}).contiguous();
  s.world_scale = world_scale;
  return s;
}

bool FeatureNerfNetwork::use_fused(std::initializer_list<const at::Tensor*> inputs) const {
  return fused_inference_applies(fused_featurenerf_enabled(), inputs, parameters());
}

FeatureNerfPoints FeatureNerfNetwork::points(const at::Tensor& x, const at::Tensor& dirs,
                                             const FeatureNerfSources& sources, bool heads) const {
  if (use_fused({&x, &dirs, &sources.injections})) return points_fused(x, dirs, sources, heads);
  return points_reference(x, dirs, sources, heads);
}

FeatureNerfPoints FeatureNerfNetwork::points_fused(const at::Tensor& x, const at::Tensor& dirs,
                                                   const FeatureNerfSources& sources, bool heads) const {
  kernels::FeatureNerfPointWeights w;
  w.lin_w = m_lin_w;
  w.lin_b = m_lin_b;
  w.head_w = m_head_w;
  w.head_b = m_head_b;
  w.view_w = m_view_w;
  w.view_b = m_view_b;
  w.pe_frequencies = m_config.pe_frequencies;
  w.pe_base = m_config.pe_base;
  w.world_scale = sources.world_scale;
  kernels::FeatureNerfPointsForward f =
      kernels::featurenerf_points_forward(x, dirs, sources.cameras, sources.injections, w, heads);
  FeatureNerfPoints out;
  out.internal = f.internal;
  out.sigma = f.sigma;
  out.coord = f.coord;
  out.rgb = f.rgb;
  if (has_teacher_head()) out.feature = f.feature;
  return out;
}

FeatureNerfPoints FeatureNerfNetwork::points_reference(const at::Tensor& x, const at::Tensor& dirs,
                                                       const FeatureNerfSources& sources, bool heads) const {
  const int64_t n = x.size(0), w = m_config.width;
  const Projection proj = project_points(x, sources.cameras);
  const at::Tensor z = gather_bilinear(sources.injections, proj.uv, sources.cameras.sizes);  // [V,N,3W]
  // The point in each source camera's frame, in world units.
  const at::Tensor rot = sources.cameras.w2c.narrow(2, 0, 3), trans = sources.cameras.w2c.select(2, 3);
  const at::Tensor x_cam = (at::matmul(x.unsqueeze(0), rot.transpose(1, 2)) + trans.unsqueeze(1)) /
                           static_cast<float>(sources.world_scale);  // [V,N,3]
  const at::Tensor pe = fn_positional_encoding(x_cam, m_config.pe_frequencies, m_config.pe_base);
  at::Tensor h = at::relu(at::linear(pe, m_lin_w[0], m_lin_b[0]) + z.narrow(2, 0, w));
  h = at::relu(at::linear(h, m_lin_w[1], m_lin_b[1]) + z.narrow(2, w, w));
  h = at::relu(at::linear(h, m_lin_w[2], m_lin_b[2]) + z.narrow(2, 2 * w, w));
  if (h.size(0) > 1) h = h.mean(0); else h = h.squeeze(0);
  FeatureNerfPoints out;
  out.internal = at::linear(h, m_lin_w[3], m_lin_b[3]);  // [N,F]
  if (!heads) return out;
  const at::Tensor a = at::relu(out.internal);
  const at::Tensor sc = at::linear(a, m_head_w, m_head_b);  // [N,4]
  out.sigma = at::softplus(sc.select(1, 0));
  out.coord = sc.narrow(1, 1, 3);
  const at::Tensor d_cam = at::matmul(dirs, rot.select(0, 0).t());  // the first source camera's frame
  const at::Tensor vd = at::linear(at::cat({a, d_cam}, 1), m_view_w, m_view_b);
  out.rgb = at::sigmoid(vd.narrow(1, 0, 3));
  if (has_teacher_head()) out.feature = vd.narrow(1, 3, m_config.teacher_dim);
  (void)n;
  return out;
}

FeatureNerfRenderOutput FeatureNerfNetwork::render(const IbrRays& rays, const FeatureNerfSources& sources,
                                                   const at::Tensor& background, at::Generator* generator,
                                                   bool want_internal, bool colour_only) const {
  SEMFIELD_ASSERT(!(want_internal && colour_only), "featurenerf render: internal features of a colour-only render");
  const int64_t r = rays.origins.size(0), sc = m_config.n_coarse, sf = m_config.n_fine;
  FeatureNerfRenderOutput out;
  const auto run = [&](const at::Tensor& ts) {
    const int64_t s = ts.size(1);
    const at::Tensor pts = rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * ts.unsqueeze(2);  // [R,S,3]
    const at::Tensor d = rays.dirs.unsqueeze(1).expand({r, s, 3}).reshape({-1, 3});
    FeatureNerfPoints p = points(pts.reshape({-1, 3}), d, sources, true);
    out.n_samples += r * s;
    return std::make_pair(pts, p);
  };
  const auto composite_feature = [](const at::Tensor& weights, const at::Tensor& f) {
    return (weights.unsqueeze(2) * f).sum(1);
  };
  at::Tensor edges;
  const at::Tensor ts_c = stratified_samples(rays.near, rays.far, sc, generator, &edges);
  auto [pts_c, pc] = run(ts_c);
  const at::Tensor dts_c = sample_intervals(ts_c, rays.near, rays.far);
  const SampleComposite comp_c =
      composite_samples(pc.sigma.view({r, sc}), pc.rgb.view({r, sc, 3}), ts_c, dts_c, background);
  out.rgb_coarse = comp_c.rgb;
  const int64_t dt = has_teacher_head() && !colour_only ? m_config.teacher_dim : 0;
  if (dt > 0) out.feature_coarse = composite_feature(comp_c.weights, pc.feature.view({r, sc, dt}));
  at::Tensor ts = ts_c, pts = pts_c;
  FeatureNerfPoints all = pc;
  if (sf > 0) {
    const at::Tensor ts_f = sample_pdf(edges, comp_c.weights.detach(), sf, generator);
    auto [pts_f, pf] = run(ts_f);
    const at::Tensor merged = at::cat({ts_c, ts_f}, 1);
    const auto sorted = at::sort(merged, 1);
    ts = std::get<0>(sorted);
    const at::Tensor order = std::get<1>(sorted);  // [R,S]
    const int64_t s = sc + sf;
    const auto gather = [&](const at::Tensor& a, const at::Tensor& b, int64_t c) {
      const at::Tensor cat = at::cat({a.view({r, sc, c}), b.view({r, sf, c})}, 1);
      return at::gather(cat, 1, order.unsqueeze(2).expand({r, s, c})).reshape({r * s, c});
    };
    all.sigma = gather(pc.sigma, pf.sigma, 1).view({-1});
    all.rgb = gather(pc.rgb, pf.rgb, 3);
    if (!colour_only) {
      pts = gather(pts_c, pts_f, 3).view({r, s, 3});
      all.internal = gather(pc.internal, pf.internal, m_config.feature_dim);
      all.coord = gather(pc.coord, pf.coord, 3);
      if (dt > 0) all.feature = gather(pc.feature, pf.feature, dt);
    }
  }
  const int64_t s = ts.size(1);
  out.ts = ts;
  out.dts = sample_intervals(ts, rays.near, rays.far);
  const SampleComposite comp = composite_samples(all.sigma.view({r, s}), all.rgb.view({r, s, 3}), ts, out.dts,
                                                 background);
  out.rgb = comp.rgb;
  out.opacity = comp.opacity;
  out.depth = comp.depth;
  out.weights = comp.weights;
  if (dt > 0) out.feature = composite_feature(comp.weights, all.feature.view({r, s, dt}));
  if (want_internal) out.internal = composite_feature(comp.weights, all.internal.view({r, s, m_config.feature_dim}));
  if (colour_only) return out;
  out.points = pts;
  out.coord = all.coord.view({r, s, 3});
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> FeatureNerfNetwork::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, t] : m_encoder.named_parameters()) out.emplace_back("encoder." + name, t);
  out.emplace_back("inject.weight", m_inject_w);
  out.emplace_back("inject.bias", m_inject_b);
  for (size_t l = 0; l < m_lin_w.size(); ++l) {
    out.emplace_back("mlp.weight" + std::to_string(l), m_lin_w[l]);
    out.emplace_back("mlp.bias" + std::to_string(l), m_lin_b[l]);
  }
  out.emplace_back("head.weight", m_head_w);
  out.emplace_back("head.bias", m_head_b);
  out.emplace_back("view_head.weight", m_view_w);
  out.emplace_back("view_head.bias", m_view_b);
  return out;
}

void FeatureNerfNetwork::to(const at::Device& device) { move_tensors_to(named_parameters(), device); }

std::vector<at::Tensor> FeatureNerfNetwork::parameters() const { return tensors_of(named_parameters()); }
TensorMap FeatureNerfNetwork::state() const { return state_of(named_parameters()); }
void FeatureNerfNetwork::load_state(const TensorMap& state, const std::string& origin) {
  restore_tensors(state, named_parameters(), origin);
}

}  // namespace semfield
