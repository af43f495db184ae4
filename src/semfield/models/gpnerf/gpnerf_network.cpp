// GP-NeRF's network (gpnerf_network.h).
#include "semfield/models/gpnerf/gpnerf_network.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/assignment.h"
#include "semfield/core/env.h"
#include "semfield/core/error.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/models/fused_inference.h"
#include "semfield/models/ibr/ray_samples.h"

namespace semfield {

namespace {

constexpr int kGpPositionFreqs = 4;       // sin/cos of t along the ray at 1, 2, 4, 8 pi
constexpr int kGpPositionChannels = 2 * kGpPositionFreqs + 3;  // + the view direction
constexpr int kGpBlendHidden = 16;                              // hidden width of the "learned" blend weights' MLP
constexpr int kGpHeadGroups = 4;

/// [N,1] relative positions and [N,3] directions -> [N, kGpPositionChannels].
at::Tensor gp_position_encoding(const at::Tensor& t_rel, const at::Tensor& dirs) {
  std::vector<at::Tensor> parts;
  for (int k = 0; k < kGpPositionFreqs; ++k) {
    const at::Tensor x = t_rel * static_cast<float>(M_PI * std::pow(2.0, k));
    parts.push_back(at::sin(x));
    parts.push_back(at::cos(x));
  }
  parts.push_back(dirs);
  return at::cat(parts, -1);
}

// SEMFIELD_FUSED_GPNERF=0 runs inference through the LibTorch path instead of the fused kernels (for benchmarks).
bool fused_gpnerf_enabled() {
  static const bool enabled = env_switch_on("SEMFIELD_FUSED_GPNERF");
  return enabled;
}

at::Tensor gp_param(at::Tensor t) { return t.set_requires_grad(true); }

/// A linear map's weight [out,in] with PyTorch's default bound 1/sqrt(in) (the transformers' initialisation).
at::Tensor gp_linear(int64_t in, int64_t out) {
  return gp_param((at::rand({out, in}) * 2.0f - 1.0f) * static_cast<float>(1.0 / std::sqrt(static_cast<double>(in))));
}

/// An Mlp with biases whose weights are scaled to PyTorch's default bound (Mlp draws He's, sqrt(6) larger).
Mlp gp_mlp(int in, int hidden, int hidden_layers, int out) {
  Mlp m(in, hidden, hidden_layers, out, /*bias=*/true);
  at::NoGradGuard no_grad;
  for (const at::Tensor& w : m.weights()) w.mul_(static_cast<float>(1.0 / std::sqrt(6.0)));
  return m;
}

at::Tensor gp_layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::layer_norm(x, {w.size(0)}, w, b, 1e-6);
}

void gp_add_mlp(std::vector<std::pair<std::string, at::Tensor>>& out, const std::string& name, const Mlp& mlp) {
  for (const auto& [n, t] : mlp.named_parameters()) out.emplace_back(name + "." + n, t);
}

}  // namespace

GpnerfNetwork::GpnerfNetwork(const GpnerfConfig& config) : m_config(config) {
  config.validate();
  m_extractor = ResNetFpn(config.extractor, config.seed);
  at::manual_seed(static_cast<uint64_t>(config.seed) + 7);
  const int w = config.width, d = config.extractor.semantic_channels, c = config.extractor.backbone.out_channels;
  m_rgbfeat = Mlp(c + 3, w, 1, w, /*bias=*/true);
  for (int l = 0; l < config.layers; ++l) {
    ViewLayer v;
    v.norm_w = gp_param(at::ones({w}));
    v.norm_b = gp_param(at::zeros({w}));
    v.ff_norm_w = gp_param(at::ones({w}));
    v.ff_norm_b = gp_param(at::zeros({w}));
    v.wq = gp_linear(w, w);
    v.wk = gp_linear(w, w);
    v.wv = gp_linear(w, w);
    v.pos_fc = gp_mlp(4, w / 8, 1, w);
    v.attn_fc = gp_mlp(w, w / 8, 1, w);
    v.out_fc = gp_mlp(w, w, 0, w);
    v.ff = gp_mlp(w, config.ff_hidden, 1, w);
    m_view.push_back(v);
    RayLayer r;
    r.norm_w = gp_param(at::ones({w}));
    r.norm_b = gp_param(at::zeros({w}));
    r.ff_norm_w = gp_param(at::ones({w}));
    r.ff_norm_b = gp_param(at::zeros({w}));
    r.wq = gp_linear(w, w);
    r.wk = gp_linear(w, w);
    r.wv = gp_linear(w, w);
    r.out_fc = gp_mlp(w, w, 0, w);
    r.ff = gp_mlp(w, config.ff_hidden, 1, w);
    m_ray.push_back(r);
    if (l % 2 == 0) m_position.push_back(Mlp(w + kGpPositionChannels, w, 1, w, /*bias=*/true));
  }
  m_point = Mlp(w, w, 1, 4, /*bias=*/true);
  m_final_norm_w = gp_param(at::ones({w}));
  m_final_norm_b = gp_param(at::zeros({w}));
  m_rgb = gp_mlp(w, w, 0, config.colour == "mlp" ? 3 : 1);
  if (config.blend_weights == "learned") {
    m_blend = gp_mlp(w + 4, kGpBlendHidden, 1, 1);
    at::NoGradGuard no_grad;
    m_blend.parameters()[2].zero_();  // the output layer: exp(0) = 1 leaves the attention's weights as they are
  }
  m_adaptor = gp_mlp(d, d, 0, d);
  if (config.colour == "ibr") m_colour = IbrNetwork(colour_head_config(config));
  m_head = make_head(static_cast<uint64_t>(config.seed) + 11, classes());
  if (config.instance_slots > 0) m_instance_head = make_head(static_cast<uint64_t>(config.seed) + 13, config.instance_slots);
}

IbrConfig GpnerfNetwork::colour_head_config(const GpnerfConfig& config) {
  IbrConfig c;
  c.encoder = config.extractor.backbone;
  c.encode_size = config.encode_size;
  c.source_views = config.source_views;
  c.seed = config.seed + 17;
  return c;
}

at::Tensor GpnerfNetwork::ibr_colour(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& t_fine,
                                     const at::Tensor& dts_fine, const at::Tensor& edges,
                                     const at::Tensor& background) const {
  at::Tensor ts = t_fine, dts = dts_fine;
  if (m_config.colour_samples == "all") {
    const int64_t sc = edges.size(1) - 1;
    const at::Tensor centres = (edges.narrow(1, 0, sc) + edges.narrow(1, 1, sc)) * 0.5f;
    ts = std::get<0>(at::sort(at::cat({centres, t_fine}, 1), 1));
    dts = sample_intervals(ts, rays.near, rays.far);
  }
  const int64_t r = ts.size(0), s = ts.size(1), n = r * s;
  const IbrSources src{sources.cameras, sources.colours,
                       sources.colour_features.defined() ? sources.colour_features : sources.rgb};
  const at::Tensor positions =
      (rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * ts.unsqueeze(2)).reshape({n, 3});
  const at::Tensor dirs = rays.dirs.unsqueeze(1).expand({r, s, 3}).reshape({n, 3});
  const IbrNetwork::PointOutput p = m_colour.points(positions, dirs, src);
  const at::Tensor valid = p.valid.reshape({r, s});
  const at::Tensor span = (rays.far - rays.near).clamp_min(0);
  const at::Tensor sigma = m_colour.ray_density(p.z.reshape({r, s, -1}), relative_t(ts, rays.near, span), valid);
  return composite_samples(sigma, p.rgb.reshape({r, s, 3}), ts, dts, background).rgb;
}

GpnerfNetwork::Head GpnerfNetwork::make_head(uint64_t seed, int64_t outputs) const {
  // Group i (D/4 channels at 1/2^i) through max(1, i) conv stages.
  conv::Init init(seed);
  const int64_t g = m_config.extractor.semantic_channels / kGpHeadGroups, hc = m_config.head_channels;
  Head head;
  for (int i = 0; i < kGpHeadGroups; ++i) {
    std::vector<conv::Conv> convs;
    std::vector<std::pair<at::Tensor, at::Tensor>> norms;
    for (int k = 0; k < std::max(1, i); ++k) {
      convs.push_back(init.conv(hc, k == 0 ? g : hc, 3, 1));
      norms.emplace_back(gp_param(at::ones({hc})), gp_param(at::zeros({hc})));
    }
    head.convs.push_back(convs);
    head.norms.push_back(norms);
  }
  head.predictor = init.conv(outputs, hc, 1, 1, /*bias=*/true);
  // Small logits at the start: the cross-entropy starts near log K.
  at::NoGradGuard no_grad;
  head.predictor.weight.mul_(0.05f);
  return head;
}

ResNetFpn::Output GpnerfNetwork::extract(const at::Tensor& images) const {
  return m_extractor.forward(encoder_input(images, m_config.encode_size));
}

GpnerfSources GpnerfNetwork::prepare(const std::vector<Camera>& cameras, const at::Tensor& images) const {
  GpnerfSources s;
  s.cameras = SourceCameraBatch::from_cameras(cameras).to(images.device());
  const ResNetFpn::Output f = extract(images);
  s.colours = images.permute({0, 2, 3, 1}).contiguous();
  s.rgb = f.rgb.permute({0, 2, 3, 1}).contiguous();
  s.semantic = f.semantic.permute({0, 2, 3, 1}).contiguous();
  if (m_config.colour_encoder == "own") s.colour_features = encode_colour(images);
  return s;
}

at::Tensor GpnerfNetwork::encode_colour(const at::Tensor& images) const {
  return m_colour.encode(images).permute({0, 2, 3, 1}).contiguous();
}

at::Tensor GpnerfNetwork::novel_semantics(const at::Tensor& images) const {
  const at::Tensor s = extract(images).semantic;
  return at::upsample_bilinear2d(s, {images.size(2), images.size(3)}, /*align_corners=*/false);
}

GpnerfNetwork::Gathered GpnerfNetwork::gather(const at::Tensor& positions, const at::Tensor& dirs,
                                              const GpnerfSources& sources, bool with_semantics) const {
  const int64_t n = positions.size(0), v = sources.size(), w = m_config.width;
  const Projection proj = project_points(positions, sources.cameras);
  Gathered g;
  g.valid = proj.valid.to(at::kFloat).unsqueeze(2);  // [V,N,1]
  const at::Tensor uv = proj.uv.detach();
  const at::Tensor feats = gather_bilinear(sources.rgb, uv, sources.cameras.sizes);
  g.colours = gather_bilinear(sources.colours, uv, sources.cameras.sizes);
  g.k = m_rgbfeat.forward(at::cat({feats, g.colours}, -1).reshape({v * n, -1})).reshape({v, n, w});
  if (with_semantics) {
    const at::Tensor maps = m_config.gradient_block ? sources.semantic.detach() : sources.semantic;
    g.semantic = gather_bilinear(maps, uv, sources.cameras.sizes);  // [V,N,D]
  }
  const at::Tensor to_point = positions.unsqueeze(0) - sources.cameras.origins.unsqueeze(1);
  const at::Tensor src_dir = to_point / to_point.norm(2, -1, true).clamp_min(1e-6f);
  const at::Tensor tgt_dir = dirs.unsqueeze(0).expand({v, n, 3});
  g.pos = at::cat({tgt_dir - src_dir, (tgt_dir * src_dir).sum(-1, true)}, -1);
  g.seen = g.valid.sum(0).reshape({n}).gt(0);
  return g;
}

at::Tensor GpnerfNetwork::initial_query(const Gathered& g) {
  const at::Tensor masked = g.k.masked_fill(g.valid.eq(0), -1e9);
  return std::get<0>(masked.max(0)) * g.seen.to(at::kFloat).unsqueeze(1);
}

std::pair<at::Tensor, at::Tensor> GpnerfNetwork::view_layer(const ViewLayer& layer, const at::Tensor& q,
                                                            const Gathered& g, at::Tensor* logits_out) const {
  const int64_t v = g.k.size(0), n = g.k.size(1), w = m_config.width;
  const at::Tensor x = gp_layer_norm(q, layer.norm_w, layer.norm_b);
  const at::Tensor qq = at::matmul(x, layer.wq.t());     // [N,W]
  const at::Tensor kk = at::matmul(g.k, layer.wk.t());   // [V,N,W]
  const at::Tensor vv = at::matmul(g.k, layer.wv.t());   // [V,N,W]
  const at::Tensor pos = layer.pos_fc.forward(g.pos.reshape({v * n, 4})).reshape({v, n, w});
  const at::Tensor logits = layer.attn_fc.forward((kk - qq.unsqueeze(0) + pos).reshape({v * n, w})).reshape({v, n, w});
  const at::Tensor attention = masked_view_softmax(logits, g.valid);  // per channel, over the views
  if (logits_out) *logits_out = logits;
  at::Tensor out = q + layer.out_fc.forward(((vv + pos) * attention).sum(0));
  out = out + layer.ff.forward(gp_layer_norm(out, layer.ff_norm_w, layer.ff_norm_b));
  return {out, attention};
}

std::pair<at::Tensor, at::Tensor> GpnerfNetwork::ray_layer(const RayLayer& layer, const at::Tensor& q,
                                                           const at::Tensor& valid) const {
  const int64_t r = q.size(0), s = q.size(1), w = m_config.width, h = m_config.heads, d = w / h;
  const at::Tensor x = gp_layer_norm(q, layer.norm_w, layer.norm_b);
  auto heads = [&](const at::Tensor& weight) {
    return at::matmul(x, weight.t()).view({r, s, h, d}).permute({0, 2, 1, 3});  // [R,H,S,d]
  };
  const at::Tensor qq = heads(layer.wq), kk = heads(layer.wk), vv = heads(layer.wv);
  at::Tensor logits = at::matmul(qq, kk.transpose(-2, -1)) / static_cast<float>(std::sqrt(static_cast<double>(d)));
  logits = logits.masked_fill(valid.logical_not().view({r, 1, 1, s}), -1e9);
  const at::Tensor attention = at::softmax(logits, -1);  // [R,H,S,S]
  const at::Tensor mixed = at::matmul(attention, vv).permute({0, 2, 1, 3}).reshape({r, s, w});
  at::Tensor out = q + layer.out_fc.forward(mixed.reshape({r * s, w})).reshape({r, s, w});
  out = out + layer.ff.forward(gp_layer_norm(out, layer.ff_norm_w, layer.ff_norm_b).reshape({r * s, w})).reshape({r, s, w});
  return {out, attention};
}

std::pair<at::Tensor, at::Tensor> GpnerfNetwork::point_head(const at::Tensor& q1, const at::Tensor& seen) const {
  const at::Tensor h = m_point.forward(q1);
  const at::Tensor sigma = at::softplus(h.select(1, 0)) * seen.to(at::kFloat);
  return {sigma, at::sigmoid(h.narrow(1, 1, 3))};
}

kernels::GpnerfTransformerWeights GpnerfNetwork::transformer_weights() const {
  using kernels::small_mlp_weights;
  kernels::GpnerfTransformerWeights w;
  w.rgbfeat = small_mlp_weights(m_rgbfeat);
  for (const ViewLayer& v : m_view)
    w.view.push_back({v.norm_w, v.norm_b, v.ff_norm_w, v.ff_norm_b, v.wq, v.wk, v.wv, small_mlp_weights(v.pos_fc),
                      small_mlp_weights(v.attn_fc), small_mlp_weights(v.out_fc), small_mlp_weights(v.ff)});
  for (const RayLayer& r : m_ray)
    w.ray.push_back({r.norm_w, r.norm_b, r.ff_norm_w, r.ff_norm_b, r.wq, r.wk, r.wv, small_mlp_weights(r.out_fc),
                     small_mlp_weights(r.ff)});
  for (const Mlp& p : m_position) w.position.push_back(small_mlp_weights(p));
  w.point = small_mlp_weights(m_point);
  w.final_norm_w = m_final_norm_w;
  w.final_norm_b = m_final_norm_b;
  w.rgb = small_mlp_weights(m_rgb);
  if (m_config.blend_weights == "learned") w.blend_weights = small_mlp_weights(m_blend);
  w.blend = m_config.colour != "mlp";
  w.per_sample = m_config.colour == "alpha" || m_config.colour == "density";  // composited in render_fine
  w.colour = m_config.colour != "ibr";  // the head's colour replaces the transformers' (render_fine)
  w.heads = m_config.heads;
  return w;
}

bool GpnerfNetwork::use_fused(std::initializer_list<const at::Tensor*> inputs) const {
  return fused_inference_applies(fused_gpnerf_enabled(), inputs, parameters());
}

std::pair<at::Tensor, at::Tensor> GpnerfNetwork::point_density(const at::Tensor& positions, const at::Tensor& dirs,
                                                               const GpnerfSources& sources) const {
  if (use_fused({&positions, &dirs, &sources.colours, &sources.rgb})) {
    const kernels::GpnerfSourceMaps maps{&sources.cameras, sources.colours, sources.rgb, at::Tensor()};
    kernels::GpnerfPointsForward f = kernels::gpnerf_points_forward(positions, dirs, maps, transformer_weights());
    return {f.sigma, f.rgb};
  }
  const Gathered g = gather(positions, dirs, sources, false);
  const at::Tensor q1 = view_layer(m_view[0], initial_query(g), g).first;
  return point_head(q1, g.seen);
}

namespace {

// The output of rays that take no transformer pass: they show `rgb` (the background, or the proposal's compositing
// of a nearly empty ray) and the semantics of nothing, with empty fine slots at `t_slot`. point_semantic ([R,Sf,D]: the
// largest) only `with_point_semantic`: the fused kernels leave it undefined.
GpnerfRenderOutput gp_empty_rays(const at::Tensor& rgb, const at::Tensor& t_slot, int64_t sf, const at::Tensor& none,
                                 bool with_point_semantic = true) {
  const int64_t r = rgb.size(0), d = none.size(1);
  const auto opts = rgb.options();
  GpnerfRenderOutput out;
  out.rgb = out.rgb_point = out.rgb_point_fine = rgb;
  out.opacity = out.depth = at::zeros({r}, opts);
  out.ts = t_slot.unsqueeze(1).expand({r, sf}).contiguous();
  out.dts = out.weights = out.ray_attention = at::zeros({r, sf}, opts);
  out.valid = at::zeros({r, sf}, opts.dtype(at::kBool));
  out.semantic = none.expand({r, d}).contiguous();
  if (with_point_semantic) out.point_semantic = at::zeros({r, sf, d}, opts);
  out.sample_rgb = at::zeros({r, sf, 3}, opts);
  out.sample_score = at::zeros({r, sf}, opts);
  return out;
}

// Rows `idx` of `full` replaced by the output `sub` of those rays rendered on their own.
void gp_scatter_rays(GpnerfRenderOutput& full, GpnerfRenderOutput&& sub, const at::Tensor& idx, bool record) {
  auto put = [&](at::Tensor& dst, const at::Tensor& src) { dst = src.defined() ? dst.index_copy(0, idx, src) : src; };
  put(full.rgb, sub.rgb);
  put(full.rgb_point, sub.rgb_point);
  put(full.rgb_point_fine, sub.rgb_point_fine);
  put(full.opacity, sub.opacity);
  put(full.depth, sub.depth);
  put(full.ts, sub.ts);
  put(full.dts, sub.dts);
  put(full.weights, sub.weights);
  put(full.ray_attention, sub.ray_attention);
  put(full.valid, sub.valid);
  put(full.semantic, sub.semantic);
  put(full.point_semantic, sub.point_semantic);
  put(full.sample_rgb, sub.sample_rgb);
  put(full.sample_score, sub.sample_score);
  if (record) {
    full.view_attention = std::move(sub.view_attention);
    full.ray_attention_maps = std::move(sub.ray_attention_maps);
    full.layer_field = std::move(sub.layer_field);
    full.layer_ray = std::move(sub.layer_ray);
  }
}

}  // namespace

at::Tensor alpha_composite(const at::Tensor& score, const at::Tensor& colours, const at::Tensor& valid,
                           const at::Tensor& background) {
  const at::Tensor alpha = at::sigmoid(score) * valid.to(score.scalar_type());
  // Transmittance before each sample and past the last one: [R,S+1] (+1e-10 as in composite_samples: every factor
  // stays non-zero, also where the sigmoid saturates to 1).
  const at::Tensor transmittance =
      at::cumprod(at::cat({at::ones_like(alpha.narrow(1, 0, 1)), 1.0f - alpha + 1e-10f}, 1), 1);
  const int64_t s = alpha.size(1);
  return ((alpha * transmittance.narrow(1, 0, s)).unsqueeze(2) * colours).sum(1) +
         transmittance.narrow(1, s, 1) * background;
}

namespace {

IbrRays gp_select_rays(const IbrRays& rays, const at::Tensor& idx) {
  return {rays.origins.index_select(0, idx), rays.dirs.index_select(0, idx), rays.near.index_select(0, idx),
          rays.far.index_select(0, idx)};
}

}  // namespace

SampleComposite GpnerfNetwork::proposal_pass(const IbrRays& rays, const GpnerfSources& sources,
                                             const at::Tensor& background, int64_t samples, at::Generator* gen,
                                             at::Tensor* edges) const {
  const int64_t r = rays.origins.size(0);
  const at::Tensor t = stratified_samples(rays.near, rays.far, samples, gen, edges);
  const at::Tensor positions = (rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * t.unsqueeze(2)).reshape({-1, 3});
  const auto [sigma, rgb] =
      point_density(positions, rays.dirs.unsqueeze(1).expand({r, samples, 3}).reshape({r * samples, 3}), sources);
  return composite_samples(sigma.view({r, samples}), rgb.view({r, samples, 3}), t,
                           sample_intervals(t, rays.near, rays.far), background);
}

GpnerfProposal GpnerfNetwork::propose(const IbrRays& rays, const GpnerfSources& sources,
                                      const at::Tensor& background) const {
  const int64_t r = rays.origins.size(0), sc = pass_samples(true, m_config.n_coarse_render, m_config.n_coarse);
  const auto opts = rays.origins.options();
  const at::Tensor hit = (rays.far - rays.near).clamp_min(0).gt(1e-6f);
  const int64_t n_hit = hit.sum().item<int64_t>();
  GpnerfProposal p{at::zeros({r, sc}, opts), background.contiguous(), at::zeros({r}, opts), at::zeros({r}, opts), 0};
  if (n_hit == 0) return p;
  const at::Tensor idx = n_hit < r ? at::nonzero(hit).squeeze(1) : at::Tensor();
  const IbrRays sub = idx.defined() ? gp_select_rays(rays, idx) : rays;
  const SampleComposite cc = proposal_pass(sub, sources, idx.defined() ? background.index_select(0, idx) : background,
                                           sc, nullptr, nullptr);
  p.n_samples = sub.origins.size(0) * sc;
  if (!idx.defined()) {
    p.weights = cc.weights;
    p.rgb = cc.rgb;
    p.opacity = cc.opacity;
    p.depth = cc.depth;
  } else {
    p.weights = p.weights.index_copy(0, idx, cc.weights);
    p.rgb = p.rgb.index_copy(0, idx, cc.rgb);
    p.opacity = p.opacity.index_copy(0, idx, cc.opacity);
    p.depth = p.depth.index_copy(0, idx, cc.depth);
  }
  return p;
}

GpnerfRenderOutput GpnerfNetwork::render_proposed(const IbrRays& rays, const GpnerfSources& sources,
                                                  const at::Tensor& background, const GpnerfProposal& p) const {
  const int64_t r = rays.origins.size(0), sc = p.weights.size(1),
                sf = pass_samples(true, m_config.n_fine_render, m_config.n_fine),
                d = m_config.extractor.semantic_channels;
  const auto opts = rays.origins.options();
  const at::Tensor hit = (rays.far - rays.near).clamp_min(0).gt(1e-6f);
  // Rays whose proposal is (nearly) empty skip the transformers (fine_min_opacity): their samples would spread evenly
  // over empty space (the pdf of nothing is uniform).
  const float min_opacity = static_cast<float>(m_config.fine_min_opacity);
  const at::Tensor need = min_opacity > 0 ? hit.logical_and(p.opacity.gt(min_opacity)) : hit;
  const int64_t n_need = need.sum().item<int64_t>();
  // Rays missing the box show the background and the semantics of nothing (the adaptor of a zero field), empty rays
  // the proposal's colour.
  // A proposal spread from other rays (spread_proposal) may give a ray missing the box its neighbours' colour and
  // opacity: masked here.
  // The fused kernels (render_fine's choice for these inputs) give no per-sample semantics: none for the empty rays
  // either ([R,Sf,D] would be the largest tensor of a 16,384-ray chunk).
  const bool fused = use_fused(rays, sources);
  GpnerfRenderOutput out = gp_empty_rays(at::where(hit.unsqueeze(1), p.rgb, background),
                                         at::where(hit, rays.far, rays.near), sf,
                                         m_adaptor.forward(at::zeros({1, d}, opts)), !fused);
  out.opacity = at::where(hit, p.opacity, at::zeros_like(p.opacity));
  out.depth = at::where(hit, p.depth, at::zeros_like(p.depth));
  out.n_samples = n_need * sf;
  if (n_need == 0) return out;
  const at::Tensor idx = n_need < r ? at::nonzero(need).squeeze(1) : at::Tensor();
  const IbrRays sub = idx.defined() ? gp_select_rays(rays, idx) : rays;
  at::Tensor edges;
  stratified_samples(sub.near, sub.far, sc, nullptr, &edges);
  GpnerfRenderOutput o;
  o.rgb_point = idx.defined() ? p.rgb.index_select(0, idx) : p.rgb;
  render_fine(sub, sources, idx.defined() ? background.index_select(0, idx) : background, edges,
              idx.defined() ? p.weights.index_select(0, idx) : p.weights, sf, nullptr, false, o);
  if (!idx.defined()) {
    o.n_samples = out.n_samples;
    return o;
  }
  gp_scatter_rays(out, std::move(o), idx, false);
  return out;
}

int64_t proposal_stride(const GpnerfConfig& config, int64_t h, int64_t w, int64_t encoded_side) {
  if (config.proposal_stride > 0) return config.proposal_stride;
  return std::clamp<int64_t>(std::max(h, w) / std::max<int64_t>(encoded_side, 1), 1, kMaxProposalStride);
}

std::vector<int64_t> proposal_grid(int64_t n, int64_t stride) {
  SEMFIELD_ASSERT(n >= 1 && stride >= 1, "proposal_grid: a side of at least one pixel, a positive stride");
  std::vector<int64_t> g;
  for (int64_t i = 0; i < n; i += stride) g.push_back(i);
  if (g.back() != n - 1) g.push_back(n - 1);
  return g;
}

GpnerfProposal spread_proposal(const GpnerfProposal& grid, int64_t h, int64_t w, int64_t stride) {
  if (stride <= 1) return grid;
  const std::vector<int64_t> gy = proposal_grid(h, stride), gx = proposal_grid(w, stride);
  const int64_t hl = static_cast<int64_t>(gy.size()), wl = static_cast<int64_t>(gx.size());
  SEMFIELD_ASSERT(grid.weights.dim() == 2 && grid.weights.size(0) == hl * wl,
                  "spread_proposal: one proposal per grid pixel");
  // Per pixel along a side: the grid pixels before and after it (its cell's corners) and its fraction of the way.
  struct Side {
    at::Tensor lo, hi, frac, only_lo, only_hi;
  };
  const auto side = [&](const std::vector<int64_t>& g, int64_t n) {
    const int64_t cells = std::max<int64_t>(static_cast<int64_t>(g.size()) - 1, 1);
    std::vector<int64_t> lo(static_cast<size_t>(n)), hi(static_cast<size_t>(n));
    std::vector<float> frac(static_cast<size_t>(n));
    for (int64_t p = 0; p < n; ++p) {
      const int64_t last = static_cast<int64_t>(g.size()) - 1;
      const int64_t i = std::min(p / stride, cells - 1), j = std::min(i + 1, last);
      lo[static_cast<size_t>(p)] = i;
      hi[static_cast<size_t>(p)] = j;
      const int64_t a = g[static_cast<size_t>(i)], b = g[static_cast<size_t>(j)];
      frac[static_cast<size_t>(p)] = b > a ? static_cast<float>(p - a) / static_cast<float>(b - a) : 0.0f;
    }
    const auto dev = grid.weights.device();
    Side s{at::tensor(lo, at::kLong).to(dev), at::tensor(hi, at::kLong).to(dev), at::tensor(frac).to(dev), {}, {}};
    s.only_lo = s.frac.eq(0.0f);
    s.only_hi = s.frac.eq(1.0f);
    return s;
  };
  const Side ys = side(gy, h), xs = side(gx, w);
  // Bilinear in the corners (a grid pixel takes its own proposal), or their envelope: the largest value of the
  // corners it draws on (a nonzero bilinear coefficient).
  const auto spread = [&](const at::Tensor& t, bool envelope) {
    const at::Tensor g = t.reshape({hl, wl, -1});
    const auto mix = [&](const at::Tensor& a, const at::Tensor& b, const Side& sd, int64_t dim) {
      std::vector<int64_t> shape(3, 1);
      shape[static_cast<size_t>(dim)] = -1;
      if (!envelope) {
        const at::Tensor f = sd.frac.view(shape);
        return a * (1.0f - f) + b * f;
      }
      return at::where(sd.only_lo.view(shape), a, at::where(sd.only_hi.view(shape), b, at::maximum(a, b)));
    };
    const at::Tensor rows = mix(g.index_select(0, ys.lo), g.index_select(0, ys.hi), ys, 0);       // [h,wl,K]
    return mix(rows.index_select(1, xs.lo), rows.index_select(1, xs.hi), xs, 1).reshape({h * w, -1});  // [h*w,K]
  };
  GpnerfProposal out;
  out.weights = spread(grid.weights, false).contiguous();
  out.opacity = spread(grid.opacity, true).squeeze(1).contiguous();
  out.rgb = spread(grid.rgb, false).contiguous();
  out.depth = spread(grid.depth, false).squeeze(1).contiguous();
  return out;
}

GpnerfRenderOutput GpnerfNetwork::render(const IbrRays& rays, const GpnerfSources& sources,
                                         const at::Tensor& background, bool train, uint64_t seed, bool record) const {
  if (!train && !record) {
    // Inference: the two passes (render_full may also take the proposal from other rays: proposal_stride).
    const GpnerfProposal p = propose(rays, sources, background);
    GpnerfRenderOutput out = render_proposed(rays, sources, background, p);
    out.n_samples += p.n_samples;
    return out;
  }
  const int64_t r = rays.origins.size(0), sc = m_config.n_coarse, sf = m_config.n_fine,
                d = m_config.extractor.semantic_channels;
  const auto opts = rays.origins.options();
  const at::Tensor span = (rays.far - rays.near).clamp_min(0);
  const at::Tensor hit = span.gt(1e-6f);
  const int64_t n_hit = hit.sum().item<int64_t>();
  if (n_hit < r) {
    // Rays that miss the scene box show the background and the semantics of nothing (the adaptor of a zero field).
    GpnerfRenderOutput out = gp_empty_rays(background, rays.near, sf, m_adaptor.forward(at::zeros({1, d}, opts)));
    if (n_hit == 0) return out;
    const at::Tensor idx = at::nonzero(hit).squeeze(1);
    GpnerfRenderOutput o =
        render(gp_select_rays(rays, idx), sources, background.index_select(0, idx), train, seed, record);
    out.n_samples = o.n_samples;
    gp_scatter_rays(out, std::move(o), idx, record);
    return out;
  }

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor edges;
  const SampleComposite cc = proposal_pass(rays, sources, background, sc, train ? &gen : nullptr, &edges);
  GpnerfRenderOutput out;
  out.rgb_point = cc.rgb;
  render_fine(rays, sources, background, edges, cc.weights, sf, train ? &gen : nullptr, record, out);
  out.n_samples = r * (sc + sf);
  return out;
}

at::Tensor GpnerfNetwork::render_colour(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                                        uint64_t seed) const {
  SEMFIELD_ASSERT(m_config.colour == "ibr", "render_colour: only the \"ibr\" colour renders without the transformers");
  const at::Tensor hit = (rays.far - rays.near).clamp_min(0).gt(1e-6f);
  const int64_t r = rays.origins.size(0), n_hit = hit.sum().item<int64_t>();
  if (n_hit < r) {
    if (n_hit == 0) return background;
    const at::Tensor idx = at::nonzero(hit).squeeze(1);
    return background.index_copy(
        0, idx, render_colour(gp_select_rays(rays, idx), sources, background.index_select(0, idx), seed));
  }
  // The random draws in render's order: the proposal's jitter, then the importance samples.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor edges, t_fine;
  {
    at::NoGradGuard no_grad;
    const SampleComposite cc = proposal_pass(rays, sources, background, m_config.n_coarse, &gen, &edges);
    t_fine = sample_pdf(edges, cc.weights, m_config.n_fine, &gen);
  }
  return ibr_colour(rays, sources, t_fine, sample_intervals(t_fine, rays.near, rays.far), edges, background);
}

void GpnerfNetwork::render_fine(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& background,
                                const at::Tensor& edges, const at::Tensor& coarse_weights, int64_t sf,
                                at::Generator* gen, bool record, GpnerfRenderOutput& out) const {
  const int64_t r = rays.origins.size(0), n = r * sf;
  const at::Tensor span = (rays.far - rays.near).clamp_min(0);
  // Every layer over importance samples from the proposal (random with `gen`: training).
  const at::Tensor t_fine = sample_pdf(edges, coarse_weights, sf, gen);
  const at::Tensor dirs_f = rays.dirs.unsqueeze(1).expand({r, sf, 3}).reshape({n, 3});
  const at::Tensor pe = gp_position_encoding(relative_t(t_fine, rays.near, span).reshape({n, 1}), dirs_f);
  at::Tensor sigma_f, rgb_pf, valid, sample_score, sample_rgb;
  if (!record && gen == nullptr && use_fused(rays, sources)) {
    const kernels::GpnerfSourceMaps maps{&sources.cameras, sources.colours, sources.rgb, sources.semantic};
    const at::Tensor positions = rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * t_fine.unsqueeze(2);
    const kernels::GpnerfRaysForward f =
        kernels::gpnerf_rays_forward(positions, rays.dirs.contiguous(), pe.view({r, sf, -1}), maps, transformer_weights());
    out.rgb = f.rgb;
    sample_score = f.sample_score;
    sample_rgb = f.sample_rgb;
    out.semantic = m_adaptor.forward(f.semantic);
    sigma_f = f.sigma.reshape({n});
    rgb_pf = f.rgb_point.reshape({n, 3});
    valid = f.valid;
  } else {
    render_transformers(rays, sources, t_fine, pe, record, out, sigma_f, rgb_pf, valid, sample_score, sample_rgb);
  }
  if (m_config.colour == "alpha") out.rgb = alpha_composite(sample_score, sample_rgb, valid, background);
  const at::Tensor dts_f = sample_intervals(t_fine, rays.near, rays.far);
  if (m_config.colour == "ibr") out.rgb = ibr_colour(rays, sources, t_fine, dts_f, edges, background);
  const SampleComposite cf =
      composite_samples(sigma_f.view({r, sf}), rgb_pf.view({r, sf, 3}), t_fine, dts_f, background);
  // The "density" colour: the samples' blended colours composited with the point head's density over them.
  if (m_config.colour == "density")
    out.rgb = (cf.weights.unsqueeze(2) * sample_rgb).sum(1) + (1.0f - cf.opacity).unsqueeze(1) * background;
  out.rgb_point_fine = cf.rgb;
  out.opacity = cf.opacity;
  out.depth = cf.depth;
  out.weights = cf.weights;
  out.ts = t_fine;
  out.dts = dts_f;
  out.valid = valid;
  out.sample_rgb = sample_rgb;
  out.sample_score = sample_score;
}

void GpnerfNetwork::render_transformers(const IbrRays& rays, const GpnerfSources& sources, const at::Tensor& t_fine,
                                        const at::Tensor& pe, bool record, GpnerfRenderOutput& out, at::Tensor& sigma_f,
                                        at::Tensor& rgb_pf, at::Tensor& valid, at::Tensor& sample_score,
                                        at::Tensor& sample_rgb) const {
  const int64_t r = rays.origins.size(0), sf = t_fine.size(1), w = m_config.width,
                d = m_config.extractor.semantic_channels, nh = m_config.heads, n = r * sf, per_head = d / nh;
  const auto opts = rays.origins.options();
  const at::Tensor positions =
      (rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * t_fine.unsqueeze(2)).reshape({-1, 3});
  const at::Tensor dirs_f = rays.dirs.unsqueeze(1).expand({r, sf, 3}).reshape({n, 3});
  const Gathered g = gather(positions, dirs_f, sources, true);
  valid = g.seen.view({r, sf});
  at::Tensor q = initial_query(g);
  at::Tensor field_sum = at::zeros({n, d}, opts), ray_sum = at::zeros({r, sf, d}, opts), last_ray, last_view,
             last_logits;
  for (int l = 0; l < m_config.layers; ++l) {
    auto [q_view, a_fat] = view_layer(m_view[static_cast<size_t>(l)], q, g,
                                      l + 1 == m_config.layers ? &last_logits : nullptr);
    q = q_view;
    if (l == 0) std::tie(sigma_f, rgb_pf) = point_head(q, g.seen);
    const at::Tensor a_sem = m_config.joint_attention ? a_fat : a_fat.detach();
    // Eq. 5 at this layer: the views' semantic features pooled with this layer's view attention, its W channels
    // repeated to cover D (channel c takes a[c / (D/W)]) by broadcasting over a [V,N,W,D/W] view of the features
    // (repeat_interleave, an index_select along the innermost dimension, had taken 17-23 % of a training step).
    const at::Tensor field =
        (g.semantic.reshape({g.semantic.size(0), n, w, d / w}) * a_sem.unsqueeze(3)).sum(0).reshape({n, d});  // [N,D]
    if (l % 2 == 0) q = m_position[static_cast<size_t>(l / 2)].forward(at::cat({q, pe}, -1));
    auto [q_ray, a_rat] = ray_layer(m_ray[static_cast<size_t>(l)], q.view({r, sf, w}), valid);
    q = q_ray.reshape({n, w});
    const at::Tensor b_sem = m_config.joint_attention ? a_rat : a_rat.detach();
    // Eq. 7 at this layer: the field's features along the ray mixed with this layer's ray attention, per head.
    const at::Tensor rendered = at::matmul(b_sem, field.view({r, sf, nh, per_head}).permute({0, 2, 1, 3}))
                                    .permute({0, 2, 1, 3})
                                    .reshape({r, sf, d});
    field_sum = field_sum + field;
    ray_sum = ray_sum + rendered;
    last_ray = a_rat;
    last_view = a_fat;
    if (record) {
      out.view_attention.push_back(a_fat);
      out.ray_attention_maps.push_back(a_rat);
      out.layer_field.push_back(field);
      out.layer_ray.push_back(rendered);
    }
  }
  const at::Tensor h = gp_layer_norm(q.view({r, sf, w}), m_final_norm_w, m_final_norm_b);
  if (m_config.colour == "mlp") {
    out.rgb = at::sigmoid(m_rgb.forward(h.mean(1)));
  } else {
    // The views' colours pooled by the last view attention (mean over its channels; sums to 1 over valid views),
    // then over the samples by a score on the ray transformer's output (samples no view sees take no part).
    const at::Tensor blend = (g.colours * colour_weights(last_view, last_logits, g)).sum(0).view({r, sf, 3});
    const at::Tensor score = m_rgb.forward(h.reshape({n, w})).view({r, sf});
    if (m_config.colour == "blend") {
      out.rgb = (at::softmax(score.masked_fill(valid.logical_not(), -1e9), 1).unsqueeze(2) * blend).sum(1);
    }
    sample_score = score;
    sample_rgb = blend;
  }
  out.semantic = m_adaptor.forward(ray_sum.mean(1));
  out.point_semantic = field_sum.view({r, sf, d});
  out.ray_attention = last_ray.mean(1).mean(1);
}

at::Tensor GpnerfNetwork::colour_weights(const at::Tensor& attention, const at::Tensor& logits,
                                         const Gathered& g) const {
  const at::Tensor mean = attention.mean(2, true);  // [V,N,1], sums to 1 over the valid views
  if (m_config.blend_weights != "learned") return mean;
  const int64_t v = logits.size(0), n = logits.size(1), w = m_config.width;
  const at::Tensor m = m_blend.forward(at::cat({logits, g.pos}, 2).reshape({v * n, w + 4})).view({v, n, 1});
  // mean_v exp(m_v) / sum_u mean_u exp(m_u), as a softmax over the views of m_v + log(mean_v) (invalid views: 0)
  const at::Tensor z = (m + at::log(mean.clamp_min(1e-30f))).masked_fill(g.valid.le(0), -1e9);
  return at::softmax(z, 0) * g.valid;
}

at::Tensor GpnerfNetwork::decode(const at::Tensor& maps) const { return head_forward(m_head, maps); }

at::Tensor GpnerfNetwork::decode_view(const at::Tensor& maps) const {
  if (!m_config.head_flip) return decode(maps);
  const at::Tensor p = at::softmax(decode(maps), 1);
  const at::Tensor q = at::softmax(decode(maps.flip({3})), 1).flip({3});
  return at::log((0.5f * (p + q)).clamp_min(1e-12f));
}

at::Tensor GpnerfNetwork::decode_instances(const at::Tensor& maps) const {
  SEMFIELD_ASSERT(has_instances(), "gp-nerf: the model has no instance head");
  return head_forward(m_instance_head, maps);
}

at::Tensor GpnerfNetwork::head_forward(const Head& head, const at::Tensor& maps) const {
  const int64_t d = m_config.extractor.semantic_channels, g = d / kGpHeadGroups, h = maps.size(2), w = maps.size(3);
  SEMFIELD_ASSERT(maps.dim() == 4 && maps.size(1) == d, "gp-nerf head: expected maps [B,D,H,W]");
  auto level_size = [&](int i) {
    return std::vector<int64_t>{(h + (int64_t{1} << i) - 1) >> i, (w + (int64_t{1} << i) - 1) >> i};
  };
  at::Tensor sum;
  for (int i = 0; i < kGpHeadGroups; ++i) {
    at::Tensor x = maps.narrow(1, i * g, g);
    if (i > 0) x = at::adaptive_avg_pool2d(x, level_size(i));
    const auto& convs = head.convs[static_cast<size_t>(i)];
    const auto& norms = head.norms[static_cast<size_t>(i)];
    for (size_t k = 0; k < convs.size(); ++k) {
      x = at::relu(at::group_norm(convs[k].forward(x), 8, norms[k].first, norms[k].second, 1e-5));
      if (i > 0) x = at::upsample_bilinear2d(x, level_size(i - 1 - static_cast<int>(k)), /*align_corners=*/false);
    }
    sum = sum.defined() ? sum + x : x;
  }
  return head.predictor.forward(sum);
}

void GpnerfNetwork::to(const at::Device& device) { move_tensors_to(named_parameters(), device); }

std::vector<std::pair<std::string, at::Tensor>> GpnerfNetwork::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, t] : m_extractor.named_parameters()) out.emplace_back("extractor." + name, t);
  gp_add_mlp(out, "transformer.rgbfeat", m_rgbfeat);
  for (size_t l = 0; l < m_view.size(); ++l) {
    const std::string v = "transformer.view" + std::to_string(l), r = "transformer.ray" + std::to_string(l);
    const ViewLayer& a = m_view[l];
    out.emplace_back(v + ".norm.weight", a.norm_w);
    out.emplace_back(v + ".norm.bias", a.norm_b);
    out.emplace_back(v + ".ff_norm.weight", a.ff_norm_w);
    out.emplace_back(v + ".ff_norm.bias", a.ff_norm_b);
    out.emplace_back(v + ".q", a.wq);
    out.emplace_back(v + ".k", a.wk);
    out.emplace_back(v + ".v", a.wv);
    gp_add_mlp(out, v + ".pos_fc", a.pos_fc);
    gp_add_mlp(out, v + ".attn_fc", a.attn_fc);
    gp_add_mlp(out, v + ".out_fc", a.out_fc);
    gp_add_mlp(out, v + ".ff", a.ff);
    const RayLayer& b = m_ray[l];
    out.emplace_back(r + ".norm.weight", b.norm_w);
    out.emplace_back(r + ".norm.bias", b.norm_b);
    out.emplace_back(r + ".ff_norm.weight", b.ff_norm_w);
    out.emplace_back(r + ".ff_norm.bias", b.ff_norm_b);
    out.emplace_back(r + ".q", b.wq);
    out.emplace_back(r + ".k", b.wk);
    out.emplace_back(r + ".v", b.wv);
    gp_add_mlp(out, r + ".out_fc", b.out_fc);
    gp_add_mlp(out, r + ".ff", b.ff);
  }
  for (size_t i = 0; i < m_position.size(); ++i) gp_add_mlp(out, "transformer.position" + std::to_string(i), m_position[i]);
  gp_add_mlp(out, "transformer.point", m_point);
  out.emplace_back("transformer.final_norm.weight", m_final_norm_w);
  out.emplace_back("transformer.final_norm.bias", m_final_norm_b);
  gp_add_mlp(out, "transformer.rgb", m_rgb);
  if (m_config.blend_weights == "learned") gp_add_mlp(out, "transformer.blend", m_blend);
  gp_add_mlp(out, "transformer.adaptor", m_adaptor);
  if (m_config.colour == "ibr")
    for (const auto& [name, t] : m_colour.named_parameters())
      if (m_config.colour_encoder == "own" || name.rfind("encoder.", 0) != 0) out.emplace_back("colour." + name, t);
  auto add_head = [&](const std::string& prefix, const Head& head) {
    for (size_t i = 0; i < head.convs.size(); ++i)
      for (size_t k = 0; k < head.convs[i].size(); ++k) {
        const std::string name = prefix + ".scale" + std::to_string(i) + "." + std::to_string(k);
        head.convs[i][k].add_to(out, name + ".conv");
        out.emplace_back(name + ".norm.weight", head.norms[i][k].first);
        out.emplace_back(name + ".norm.bias", head.norms[i][k].second);
      }
    head.predictor.add_to(out, prefix + ".predictor");
  };
  add_head("head", m_head);
  if (has_instances()) add_head("instance_head", m_instance_head);
  return out;
}

std::vector<at::Tensor> GpnerfNetwork::parameters() const { return tensors_of(named_parameters()); }
TensorMap GpnerfNetwork::state() const { return state_of(named_parameters()); }
void GpnerfNetwork::load_state(const TensorMap& state, const std::string& origin) {
  restore_tensors(state, named_parameters(), origin);
}

at::Tensor cosine_embedding(const at::Tensor& a, const at::Tensor& b, const at::Tensor& positive) {
  const at::Tensor cos = at::cosine_similarity(a, b.expand_as(a), -1, 1e-8);
  return at::where(positive, 1.0f - cos, at::relu(cos));
}

at::Tensor near_surface_mask(const at::Tensor& index, int64_t samples, int64_t np) {
  const at::Tensor i = at::arange(samples, index.options()).unsqueeze(0);
  return (i - index.unsqueeze(1)).abs().le(np);
}

at::Tensor instance_loss(const at::Tensor& logits, const at::Tensor& ids) {
  const at::Tensor keep = at::nonzero(ids.ge(0)).squeeze(1);
  if (keep.numel() == 0) return logits.sum() * 0.0f;
  const at::Tensor probs = at::softmax(logits.index_select(1, keep), 0);  // [K,P]
  const at::Tensor labels = ids.index_select(0, keep);
  const at::Tensor instances = std::get<0>(at::_unique(labels));
  const at::Tensor truth = labels.unsqueeze(0).eq(instances.unsqueeze(1)).to(at::kFloat);  // [M,P]
  const at::Tensor inter = at::matmul(probs, truth.t());                                   // [K,M]
  const at::Tensor iou = inter / (probs.sum(1, true) + truth.sum(1).unsqueeze(0) - inter).clamp_min(1e-6f);
  const int64_t k = probs.size(0), m = truth.size(0);
  const at::Tensor cost = iou.detach().to(at::kDouble).contiguous();
  std::vector<std::vector<double>> c(static_cast<size_t>(k), std::vector<double>(static_cast<size_t>(m)));
  const double* data = cost.data_ptr<double>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < m; ++j) c[static_cast<size_t>(i)][static_cast<size_t>(j)] = -data[i * m + j];
  const std::vector<int> match = min_cost_assignment(c);
  const at::Tensor p = probs.clamp(1e-6f, 1.0f - 1e-6f);
  std::vector<at::Tensor> per_slot;
  for (int64_t i = 0; i < k; ++i) {
    const int j = match[static_cast<size_t>(i)];
    const at::Tensor target = j >= 0 ? truth[j] : at::zeros_like(p[i]);
    at::Tensor l = -(target * at::log(p[i]) + (1.0f - target) * at::log(1.0f - p[i])).mean();
    if (j >= 0) l = l + (1.0f - iou[i][j]);
    per_slot.push_back(l);
  }
  return at::stack(per_slot).mean();
}

at::Tensor fuse_rendered(const at::Tensor& map, const at::Tensor& pixels, const at::Tensor& rendered) {
  const int64_t d = map.size(0);
  return map.reshape({d, -1}).index_copy(1, pixels, rendered.t()).view(map.sizes());
}

}  // namespace semfield
