// The image-conditioned radiance network: encoder, per-view aggregation, ray attention, coarse-to-fine rendering.
#include "semfield/models/ibr/ibr_network.h"
#include "semfield/models/ibr/ray_samples.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>

#include "semfield/core/env.h"
#include "semfield/core/error.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/kernels/ibr_aggregate.h"
#include "semfield/models/fused_inference.h"

namespace semfield {

namespace {

constexpr int kRayDiffChannels = 4;   // target minus source direction (3) and their cosine (1)
constexpr int kPositionalFreqs = 4;   // sin/cos of t_rel at 1, 2, 4, 8 pi

/// Weighted mean and variance over views of x [V,N,F] with weights w [V,N,1] summing to 1 (or 0): [N,2F].
at::Tensor weighted_mean_var(const at::Tensor& x, const at::Tensor& w) {
  const at::Tensor mean = (x * w).sum(0);
  const at::Tensor var = (w * (x - mean.unsqueeze(0)).pow(2)).sum(0);
  return at::cat({mean, var}, -1);
}

at::Tensor positional_encoding(const at::Tensor& t_rel) {
  std::vector<at::Tensor> parts;
  for (int k = 0; k < kPositionalFreqs; ++k) {
    const at::Tensor x = t_rel * static_cast<float>(M_PI * std::pow(2.0, k));
    parts.push_back(at::sin(x));
    parts.push_back(at::cos(x));
  }
  return at::stack(parts, -1);
}

using Composite = SampleComposite;

/// `out`'s fields of one pass: its composite c over samples ts / dts, and rgb_point (the per-point density's).
void set_pass(IbrRenderOutput& out, const Composite& c, const at::Tensor& ts, const at::Tensor& dts,
              const at::Tensor& rgb_point) {
  out.rgb = c.rgb;
  out.opacity = c.opacity;
  out.depth = c.depth;
  out.ts = ts;
  out.dts = dts;
  out.weights = c.weights;
  out.rgb_point = rgb_point;
}

at::Tensor row(const at::Tensor& v) { return v.unsqueeze(1); }

// SEMFIELD_FUSED_IBR=0 runs inference through the LibTorch path instead of the fused kernel (for benchmarks).
bool fused_ibr_enabled() {
  static const bool enabled = env_switch_on("SEMFIELD_FUSED_IBR");
  return enabled;
}

}  // namespace

IbrNetwork::IbrNetwork(const IbrConfig& config) : m_config(config) {
  config.validate();
  m_encoder = ResUNet(config.encoder, config.seed * 7919 + 1);
  // Mlp draws its initial weights from the global generator: seed it so that a config gives its weights.
  at::manual_seed(static_cast<uint64_t>(config.seed));
  const int c = config.encoder.out_channels, h = config.view_hidden, g = config.view_features,
            d = config.point_features, pe = 2 * kPositionalFreqs;
  // The per-view networks run V times per sample and dominate the cost: bias-free, they take the fused MLP kernel
  // (kernels/fused_mlp.h); a constant input channel stands in for the first layer's bias.
  m_view_mlp = Mlp(c + 3 + kRayDiffChannels + 1, h, 1, h, false);
  {
    // As one Linear(3H -> H) with Mlp's initialisation (uniform, bound sqrt(6 / fan_in), zero bias), split.
    const double bound = std::sqrt(6.0 / (3 * h));
    m_mix_view_weight = at::empty({h, h}).uniform_(-bound, bound).set_requires_grad(true);
    m_mix_stats_weight = at::empty({h, 2 * h}).uniform_(-bound, bound).set_requires_grad(true);
    m_mix_bias = at::zeros({h}).set_requires_grad(true);
  }
  m_view_mlp2 = Mlp(h, h, 0, g + 1, false);
  m_point_mlp = Mlp(2 * g, d, 1, d, true);
  m_sigma_point = Mlp(d, d, 0, 1, true);
  m_colour_mlp = Mlp(g + kRayDiffChannels + 1, h / 2, 1, 1, false);
  m_query = Mlp(d + pe, d, 0, d, false);
  m_key = Mlp(d + pe, d, 0, d, false);
  m_value = Mlp(d, d, 0, d, false);
  m_attn_out = Mlp(d, d, 0, d, true);
  m_sigma_ray = Mlp(d, d, 1, 1, true);
}

at::Tensor IbrNetwork::encode(const at::Tensor& images) const {
  return m_encoder.forward(encoder_input(images, m_config.encode_size));
}

IbrSources IbrNetwork::prepare(const std::vector<Camera>& cameras, const at::Tensor& images) const {
  IbrSources s;
  s.cameras = SourceCameraBatch::from_cameras(cameras).to(images.device());
  s.colours = images.permute({0, 2, 3, 1}).contiguous();
  s.features = encode(images).permute({0, 2, 3, 1}).contiguous();
  return s;
}

IbrNetwork::PointOutput IbrNetwork::points(const at::Tensor& positions, const at::Tensor& dirs,
                                           const IbrSources& sources) const {
  // Inference on the CPU: the fused kernel (kernels/ibr_aggregate.h), this function's forward in one pass.
  if (use_fused({&positions, &dirs, &sources.features, &sources.colours}))
    return points_fused(positions, dirs, sources);
  return points_reference(positions, dirs, sources);
}

kernels::IbrPointWeights IbrNetwork::point_weights() const {
  kernels::IbrPointWeights w;
  w.view = kernels::small_mlp_weights(m_view_mlp);
  w.mix_view = m_mix_view_weight;
  w.mix_stats = m_mix_stats_weight;
  w.mix_bias = m_mix_bias;
  w.view2 = kernels::small_mlp_weights(m_view_mlp2);
  w.point = kernels::small_mlp_weights(m_point_mlp);
  w.sigma = kernels::small_mlp_weights(m_sigma_point);
  w.colour = kernels::small_mlp_weights(m_colour_mlp);
  return w;
}

IbrNetwork::PointOutput IbrNetwork::points_fused(const at::Tensor& positions, const at::Tensor& dirs,
                                                 const IbrSources& sources) const {
  kernels::IbrPointsForward f = kernels::ibr_points_forward(positions, dirs, sources.cameras, sources.colours,
                                                            sources.features, point_weights());
  return {f.z, f.sigma_point, f.rgb, f.valid};
}

IbrViewFeatures IbrNetwork::view_features(const at::Tensor& positions, const at::Tensor& dirs,
                                          const IbrSources& sources) const {
  return use_fused({&positions, &dirs}) ? view_features_fused(positions, dirs, sources)
                                        : view_features_reference(positions, dirs, sources);
}

IbrViewFeatures IbrNetwork::view_features_fused(const at::Tensor& positions, const at::Tensor& dirs,
                                                const IbrSources& sources) const {
  kernels::IbrPointsForward k = kernels::ibr_points_forward(positions, dirs, sources.cameras, sources.colours,
                                                            sources.features, point_weights(), true);
  IbrViewFeatures f;
  f.uv = k.uv;
  f.valid = k.view_valid;
  f.ray_diff = k.ray_diff;
  f.source_dirs = k.source_dirs;
  f.distance = k.distance;
  f.g = k.g;
  f.visibility = k.visibility;
  f.z = k.z;
  f.seen = k.valid;
  return f;
}

IbrViewFeatures IbrNetwork::view_features_reference(const at::Tensor& positions, const at::Tensor& dirs,
                                                    const IbrSources& sources) const {
  const int64_t n = positions.size(0), v = sources.size();
  const Projection proj = project_points(positions, sources.cameras);
  IbrViewFeatures out;
  out.valid = proj.valid.to(at::kFloat).unsqueeze(2);                                     // [V,N,1]
  // No gradient to uv: the samples' positions are not learned.
  out.uv = proj.uv.detach();
  const at::Tensor feats = gather_bilinear(sources.features, out.uv, sources.cameras.sizes);  // [V,N,C]
  out.colours = gather_bilinear(sources.colours, out.uv, sources.cameras.sizes);           // [V,N,3]
  // Viewing directions: target (along the ray) against each source camera's ray to the point.
  const at::Tensor to_point = positions.unsqueeze(0) - sources.cameras.origins.unsqueeze(1);  // [V,N,3]
  out.distance = to_point.norm(2, -1, true);
  const at::Tensor src_dir = to_point / out.distance.clamp_min(1e-6f);
  const at::Tensor tgt_dir = dirs.unsqueeze(0).expand({v, n, 3});
  out.ray_diff = at::cat({tgt_dir - src_dir, (tgt_dir * src_dir).sum(-1, true)}, -1);
  out.source_dirs = src_dir;

  const int64_t h = m_config.view_hidden, g = m_config.view_features;
  const at::Tensor one = at::ones({v, n, 1}, positions.options());
  const at::Tensor x = at::cat({feats, out.colours, out.ray_diff, one}, -1).reshape({v * n, -1});
  const at::Tensor hv = at::relu(m_view_mlp.forward(x)).reshape({v, n, h});
  const at::Tensor n_valid = out.valid.sum(0, true);                                      // [1,N,1]
  const at::Tensor w_uniform = out.valid / n_valid.clamp_min(1.0f);
  const at::Tensor stats = weighted_mean_var(hv, w_uniform);                              // [N,2H]
  const at::Tensor per_sample = at::addmm(m_mix_bias, stats, m_mix_stats_weight.t());     // [N,H]
  const at::Tensor mixed = at::relu(at::matmul(hv, m_mix_view_weight.t()) + per_sample.unsqueeze(0));
  const at::Tensor out2 = m_view_mlp2.forward(mixed.reshape({v * n, h})).reshape({v, n, g + 1});
  out.g = at::relu(out2.narrow(2, 0, g));
  out.visibility = masked_view_softmax(out2.narrow(2, g, 1), out.valid);                 // [V,N,1]
  out.z = at::relu(m_point_mlp.forward(weighted_mean_var(out.g, out.visibility)));         // [N,D]
  out.seen = n_valid.reshape({n}).gt(0);
  return out;
}

IbrNetwork::PointOutput IbrNetwork::points_reference(const at::Tensor& positions, const at::Tensor& dirs,
                                                     const IbrSources& sources) const {
  const int64_t n = positions.size(0), v = sources.size();
  const IbrViewFeatures f = view_features_reference(positions, dirs, sources);
  PointOutput out;
  out.z = f.z;
  out.valid = f.seen;
  out.sigma_point = at::softplus(m_sigma_point.forward(out.z).reshape({n})) * f.seen.to(at::kFloat);
  const at::Tensor one = at::ones({v, n, 1}, positions.options());
  const at::Tensor blend_logits =
      m_colour_mlp.forward(at::cat({f.g, f.ray_diff, one}, -1).reshape({v * n, -1})).reshape({v, n, 1});
  out.rgb = (masked_view_softmax(blend_logits, f.valid) * f.colours).sum(0);               // [N,3]
  return out;
}

bool IbrNetwork::use_fused(std::initializer_list<const at::Tensor*> inputs) const {
  return fused_inference_applies(fused_ibr_enabled(), inputs, parameters());
}

at::Tensor IbrNetwork::ray_density(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid) const {
  return use_fused({&z}) ? ray_density_fused(z, t_rel, valid) : ray_density_reference(z, t_rel, valid);
}

at::Tensor IbrNetwork::ray_density_fused(const at::Tensor& z, const at::Tensor& t_rel, const at::Tensor& valid) const {
  kernels::IbrRayWeights w;
  w.query = kernels::small_mlp_weights(m_query);
  w.key = kernels::small_mlp_weights(m_key);
  w.value = kernels::small_mlp_weights(m_value);
  w.out = kernels::small_mlp_weights(m_attn_out);
  w.sigma = kernels::small_mlp_weights(m_sigma_ray);
  w.positional_freqs = kPositionalFreqs;
  return kernels::ibr_ray_density_forward(z, t_rel, valid.to(at::kBool), w);
}

at::Tensor IbrNetwork::ray_density_reference(const at::Tensor& z, const at::Tensor& t_rel,
                                             const at::Tensor& valid) const {
  const int64_t r = z.size(0), s = z.size(1), d = z.size(2);
  const at::Tensor zq = at::cat({z, positional_encoding(t_rel)}, -1).reshape({r * s, -1});
  const at::Tensor q = m_query.forward(zq).reshape({r, s, d});
  const at::Tensor k = m_key.forward(zq).reshape({r, s, d});
  const at::Tensor vals = m_value.forward(z.reshape({r * s, d})).reshape({r, s, d});
  at::Tensor scores = at::bmm(q, k.transpose(1, 2)) / std::sqrt(static_cast<float>(d));  // [R,S,S]
  scores = scores.masked_fill(valid.logical_not().unsqueeze(1), -1e9);
  const at::Tensor attended = at::bmm(at::softmax(scores, 2), vals);
  const at::Tensor z2 = z + m_attn_out.forward(attended.reshape({r * s, d})).reshape({r, s, d});
  const at::Tensor sigma = at::softplus(m_sigma_ray.forward(at::relu(z2).reshape({r * s, d})).reshape({r, s}));
  return sigma * valid.to(at::kFloat);
}

IbrRenderOutput IbrNetwork::render(const IbrRays& rays, const IbrSources& sources, const at::Tensor& background,
                                   bool train, uint64_t seed) const {
  // Inference may take fewer samples per ray than training (config n_coarse_render / n_fine_render).
  const int64_t r = rays.origins.size(0),
                sc = pass_samples(!train, m_config.n_coarse_render, m_config.n_coarse),
                sf = pass_samples(!train, m_config.n_fine_render, m_config.n_fine);
  const auto opts = rays.origins.options();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor span = (rays.far - rays.near).clamp_min(0);
  const at::Tensor hit = span.gt(1e-6f);
  const int64_t n_hit = hit.sum().item<int64_t>();
  if (n_hit < r) {
    // Rays that miss the sampled region are background: only the others go through the network.
    const int64_t s = sc + sf;
    IbrRenderOutput out;
    const at::Tensor t_miss = rays.near.unsqueeze(1).expand({r, s});
    out.rgb = out.rgb_coarse = out.rgb_point = background;
    out.opacity = out.depth = at::zeros({r}, opts);
    out.ts = t_miss;
    out.dts = out.weights = at::zeros({r, s}, opts);
    if (n_hit == 0) return out;
    const at::Tensor idx = at::nonzero(hit).squeeze(1);
    const IbrRays sub{rays.origins.index_select(0, idx), rays.dirs.index_select(0, idx), rays.near.index_select(0, idx),
                      rays.far.index_select(0, idx)};
    const IbrRenderOutput o = render(sub, sources, background.index_select(0, idx), train, seed);
    out.rgb = background.index_copy(0, idx, o.rgb);
    out.rgb_coarse = background.index_copy(0, idx, o.rgb_coarse);
    out.rgb_point = background.index_copy(0, idx, o.rgb_point);
    out.opacity = out.opacity.index_copy(0, idx, o.opacity);
    out.depth = out.depth.index_copy(0, idx, o.depth);
    out.ts = t_miss.index_copy(0, idx, o.ts);
    out.dts = out.dts.index_copy(0, idx, o.dts);
    out.weights = out.weights.index_copy(0, idx, o.weights);
    out.n_samples = o.n_samples;
    return out;
  }

  // Coarse: one sample per bin of sc equal bins between near and far.
  const at::Tensor bins = at::arange(sc + 1, opts) / static_cast<float>(sc);                   // [sc+1]
  const at::Tensor edges = row(rays.near) + row(span) * bins.unsqueeze(0);                      // [R,sc+1]
  const at::Tensor offset = train ? seeded_uniform({r, sc}, gen, opts) : at::full({r, sc}, 0.5f, opts);
  const at::Tensor t_coarse = edges.narrow(1, 0, sc) + offset * row(span) / static_cast<float>(sc);
  // Samples ts [n,S] along the rays `origins`, `dirs` [n,3] (all rays, or those the fine pass takes).
  auto evaluate = [&](const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& hits, const at::Tensor& ts) {
    const int64_t n = ts.size(0), s = ts.size(1);
    const at::Tensor pos = (origins.unsqueeze(1) + dirs.unsqueeze(1) * ts.unsqueeze(2)).reshape({n * s, 3});
    PointOutput p = points(pos, dirs.unsqueeze(1).expand({n, s, 3}).reshape({n * s, 3}), sources);
    p.z = p.z.reshape({n, s, -1});
    p.sigma_point = p.sigma_point.reshape({n, s});
    p.rgb = p.rgb.reshape({n, s, 3});
    p.valid = p.valid.reshape({n, s}).logical_and(row(hits));
    return p;
  };
  IbrRenderOutput out;
  const PointOutput coarse = evaluate(rays.origins, rays.dirs, hit, t_coarse);
  const at::Tensor dts_coarse = sample_intervals(t_coarse, rays.near, rays.far);
  const at::Tensor sigma_coarse = ray_density(coarse.z, relative_t(t_coarse, rays.near, span), coarse.valid);
  const Composite cc = composite_samples(sigma_coarse, coarse.rgb, t_coarse, dts_coarse, background);
  out.rgb_coarse = cc.rgb;
  out.n_samples = hit.sum().item<int64_t>() * (sc + sf);
  if (sf == 0) {
    set_pass(out, cc, t_coarse, dts_coarse,
             composite_samples(coarse.sigma_point, coarse.rgb, t_coarse, dts_coarse, background).rgb);
    return out;
  }
  // Fine: importance samples from the coarse weights; the union is evaluated, coarse features reused. At inference,
  // rays whose coarse pass is (nearly) empty keep its result: their fine samples would spread evenly over empty
  // space (the pdf of nothing is uniform) and change nothing visible, at a third of the cost.
  at::Tensor sel;  // the rays that take the fine pass; undefined: all of them
  if (!train && m_config.fine_min_opacity > 0) {
    const at::Tensor need = cc.opacity.gt(static_cast<float>(m_config.fine_min_opacity));
    if (need.sum().item<int64_t>() < r) sel = at::nonzero(need).squeeze(1);
  }
  auto pick = [&](const at::Tensor& t) { return sel.defined() ? t.index_select(0, sel) : t; };
  const int64_t rf = sel.defined() ? sel.size(0) : r, s = sc + sf, d = m_config.point_features;
  const at::Tensor near_f = pick(rays.near), far_f = pick(rays.far), span_f = pick(span);
  IbrRenderOutput fine_out;
  if (rf > 0) {
    const at::Tensor t_coarse_f = pick(t_coarse);
    const at::Tensor t_new = sample_pdf(pick(edges), pick(cc.weights), sf, train ? &gen : nullptr);
    const PointOutput fine = evaluate(pick(rays.origins), pick(rays.dirs), pick(hit), t_new);
    const auto [t_all, order] = at::sort(at::cat({t_coarse_f, t_new}, 1), 1);
    const at::Tensor z = at::cat({pick(coarse.z), fine.z}, 1).gather(1, order.unsqueeze(2).expand({rf, s, d}));
    const at::Tensor rgb = at::cat({pick(coarse.rgb), fine.rgb}, 1).gather(1, order.unsqueeze(2).expand({rf, s, 3}));
    const at::Tensor sigma_point = at::cat({pick(coarse.sigma_point), fine.sigma_point}, 1).gather(1, order);
    const at::Tensor valid = at::cat({pick(coarse.valid), fine.valid}, 1).gather(1, order);
    const at::Tensor dts = sample_intervals(t_all, near_f, far_f);
    const at::Tensor sigma = ray_density(z, relative_t(t_all, near_f, span_f), valid);
    const at::Tensor bg = pick(background);
    set_pass(fine_out, composite_samples(sigma, rgb, t_all, dts, bg), t_all, dts,
             composite_samples(sigma_point, rgb, t_all, dts, bg).rgb);
  }
  if (!sel.defined()) {
    fine_out.rgb_coarse = out.rgb_coarse;
    fine_out.n_samples = out.n_samples;
    return fine_out;
  }
  // The coarse result for the others, with the fine slots at `far`, of zero length and weight.
  set_pass(out, cc, at::cat({t_coarse, row(rays.far).expand({r, sf})}, 1),
           at::cat({dts_coarse, at::zeros({r, sf}, opts)}, 1),
           composite_samples(coarse.sigma_point, coarse.rgb, t_coarse, dts_coarse, background).rgb);
  out.weights = at::cat({cc.weights, at::zeros({r, sf}, opts)}, 1);
  if (rf > 0) {
    out.rgb = out.rgb.index_copy(0, sel, fine_out.rgb);
    out.opacity = out.opacity.index_copy(0, sel, fine_out.opacity);
    out.depth = out.depth.index_copy(0, sel, fine_out.depth);
    out.ts = out.ts.index_copy(0, sel, fine_out.ts);
    out.dts = out.dts.index_copy(0, sel, fine_out.dts);
    out.weights = out.weights.index_copy(0, sel, fine_out.weights);
    out.rgb_point = out.rgb_point.index_copy(0, sel, fine_out.rgb_point);
  }
  out.n_samples = hit.sum().item<int64_t>() * sc + pick(hit).sum().item<int64_t>() * sf;
  return out;
}

void IbrNetwork::to(const at::Device& device) { move_tensors_to(named_parameters(), device); }

std::vector<std::pair<std::string, at::Tensor>> IbrNetwork::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : m_encoder.named_parameters()) out.emplace_back("encoder." + name, t);
  out.emplace_back("view_mix.view_weight", m_mix_view_weight);
  out.emplace_back("view_mix.stats_weight", m_mix_stats_weight);
  out.emplace_back("view_mix.bias", m_mix_bias);
  const std::pair<const char*, const Mlp*> mlps[] = {
      {"view_mlp", &m_view_mlp},   {"view_mlp2", &m_view_mlp2}, {"point_mlp", &m_point_mlp},
      {"sigma_point", &m_sigma_point}, {"colour_mlp", &m_colour_mlp}, {"attn.query", &m_query},
      {"attn.key", &m_key},        {"attn.value", &m_value},    {"attn.out", &m_attn_out},
      {"sigma_ray", &m_sigma_ray}};
  for (const auto& [prefix, mlp] : mlps)
    for (auto& [name, t] : mlp->named_parameters()) out.emplace_back(std::string(prefix) + "." + name, t);
  return out;
}

std::vector<at::Tensor> IbrNetwork::parameters() const { return tensors_of(named_parameters()); }

TensorMap IbrNetwork::state() const { return state_of(named_parameters()); }

void IbrNetwork::load_state(const TensorMap& state, const std::string& origin) {
  restore_tensors(state, named_parameters(), origin);
}

std::pair<at::Tensor, at::Tensor> ray_box_bounds(const at::Tensor& origins, const at::Tensor& dirs,
                                                 const Eigen::Vector3f& lo, const Eigen::Vector3f& hi, float scale) {
  const Eigen::Vector3f centre = (lo + hi) * 0.5f, half = (hi - lo) * 0.5f * scale;
  const at::Tensor c = at::tensor({centre.x(), centre.y(), centre.z()}, origins.options());
  const at::Tensor e = at::tensor({half.x(), half.y(), half.z()}, origins.options());
  const at::Tensor safe = at::where(dirs.abs().lt(1e-9f), at::full_like(dirs, 1e-9f), dirs);
  const at::Tensor t0 = (c - e - origins) / safe, t1 = (c + e - origins) / safe;
  const at::Tensor near = at::minimum(t0, t1).amax(1).clamp_min(0);
  const at::Tensor far = at::maximum(t0, t1).amin(1);
  return {near, at::maximum(far, near)};
}

}  // namespace semfield
