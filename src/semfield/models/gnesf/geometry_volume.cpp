// GNeSF's geometry encoding volume: input lifting, TSDF fusion targets, the 3D CNN, SDF queries and the tests on it.
#include "semfield/models/gnesf/geometry_volume.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/models/ibr/ibr_network.h"

namespace semfield {

namespace {

constexpr int64_t kVoxelChunk = 32768;

at::Tensor instance_norm3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return at::instance_norm(x, weight, bias, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
}

}  // namespace

void GeometryVolumeConfig::validate() const {
  if (resolution < 8 || resolution > 256 || resolution % 4 != 0)
    fail_usage("gnesf config: geometry.resolution = {} must be a multiple of 4 in [8, 256]", resolution);
  if (views < 1 || views > 256) fail_usage("gnesf config: geometry.views = {} is out of range [1, 256]", views);
  if (channels < 2 || channels > 256)
    fail_usage("gnesf config: geometry.channels = {} is out of range [2, 256]", channels);
  if (!(truncation_voxels >= 1 && truncation_voxels <= 32))
    fail_usage("gnesf config: geometry.truncation_voxels = {} is out of range [1, 32]", truncation_voxels);
  if (!(near_weight >= 1 && near_weight <= 100))
    fail_usage("gnesf config: geometry.near_weight = {} is out of range [1, 100]", near_weight);
}

nlohmann::json to_json(const GeometryVolumeConfig& c) {
  if (!c.enabled) return nullptr;
  return {{"resolution", c.resolution},       {"views", c.views},
          {"channels", c.channels},           {"truncation_voxels", c.truncation_voxels},
          {"near_weight", c.near_weight},     {"seed", c.seed}};
}

GeometryVolumeConfig geometry_volume_config_from_json(const nlohmann::json& json, const std::string& origin) {
  GeometryVolumeConfig c;
  if (json.is_null()) return c;
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  if (!root.is_object()) fail_input(origin, "geometry", "expected an object (or null for no geometry volume)");
  root.reject_unknown_keys({"resolution", "views", "channels", "truncation_voxels", "near_weight", "seed"});
  c.enabled = true;
  c.resolution = static_cast<int>(root.int_or("resolution", c.resolution));
  c.views = static_cast<int>(root.int_or("views", c.views));
  c.channels = static_cast<int>(root.int_or("channels", c.channels));
  c.truncation_voxels = root.double_or("truncation_voxels", c.truncation_voxels);
  c.near_weight = root.double_or("near_weight", c.near_weight);
  c.seed = static_cast<uint64_t>(root.int_or("seed", static_cast<int64_t>(c.seed)));
  validate_config(origin, "geometry", [&] { c.validate(); });
  return c;
}

at::Tensor VoxelGrid::centres() const {
  const int64_t r = resolution;
  const at::Tensor i = at::arange(r, at::kFloat) + 0.5f;
  auto axis = [&](int a) { return i * ((hi[a] - lo[a]) / static_cast<float>(r)) + lo[a]; };
  const std::vector<at::Tensor> zyx = at::meshgrid({axis(2), axis(1), axis(0)}, "ij");
  return at::stack({zyx[2].reshape({-1}), zyx[1].reshape({-1}), zyx[0].reshape({-1})}, 1);
}

at::Tensor VoxelGrid::normalise(const at::Tensor& points) const {
  const at::Tensor l = at::tensor({lo.x(), lo.y(), lo.z()}, points.options());
  const at::Tensor h = at::tensor({hi.x(), hi.y(), hi.z()}, points.options());
  return (points - l) / (h - l) * 2.0f - 1.0f;
}

at::Tensor geometry_volume_input(const SourceCameraBatch& cameras, const at::Tensor& features,
                                 const at::Tensor& colours, const VoxelGrid& grid) {
  at::NoGradGuard no_grad;
  SEMFIELD_ASSERT(features.dim() == 4 && colours.dim() == 4 && colours.size(3) == 3,
                  "geometry volume: features [V,h,w,C] and colours [V,H,W,3] expected");
  const at::Tensor centres = grid.centres().to(features.device());
  const int64_t n = centres.size(0), c = features.size(3) + 3, views = cameras.size();
  const at::Tensor sizes = cameras.sizes.to(at::kFloat);
  const at::Tensor f = features.to(at::kFloat).contiguous(), col = colours.to(at::kFloat).contiguous();
  at::Tensor out = at::empty({n, 2 * c + 1}, f.options());
  for (int64_t begin = 0; begin < n; begin += kVoxelChunk) {
    const int64_t m = std::min(kVoxelChunk, n - begin);
    const Projection p = project_points(centres.narrow(0, begin, m), cameras);
    const at::Tensor uv = p.uv.to(at::kFloat).contiguous();
    // The fused gather on a CPU, its LibTorch reference (channels first) elsewhere.
    auto gather = [&](const at::Tensor& maps) {
      return maps.is_cpu() ? gather_bilinear_forward(maps, uv, sizes)
                           : sample_maps(maps.permute({0, 3, 1, 2}), uv, sizes);
    };
    const at::Tensor x = at::cat({gather(f), gather(col)}, 2);
    const at::Tensor valid = p.valid.to(at::kFloat).unsqueeze(2);  // [V,m,1]
    const at::Tensor count = valid.sum(0);                           // [m,1]
    const at::Tensor mean = (x * valid).sum(0) / count.clamp_min(1.0f);
    const at::Tensor var = ((x - mean.unsqueeze(0)).square() * valid).sum(0) / count.clamp_min(1.0f);
    out.narrow(0, begin, m).copy_(at::cat({mean, var, count / static_cast<float>(views)}, 1));
  }
  const int64_t r = grid.resolution;
  return out.reshape({r, r, r, 2 * c + 1}).permute({3, 0, 1, 2}).unsqueeze(0).contiguous();
}

std::pair<at::Tensor, at::Tensor> fuse_tsdf(const SourceCameraBatch& cameras, const at::Tensor& depths,
                                            const VoxelGrid& grid, float truncation) {
  at::NoGradGuard no_grad;
  SEMFIELD_ASSERT(depths.dim() == 3 && depths.size(0) == cameras.size(), "fuse_tsdf: depths [V,H,W] expected");
  const at::Tensor centres = grid.centres().to(depths.device());
  const int64_t n = centres.size(0), views = depths.size(0), h = depths.size(1), w = depths.size(2);
  const at::Tensor flat = depths.to(at::kFloat).reshape({views, h * w});
  at::Tensor sum = at::zeros({n}, flat.options()), count = at::zeros({n}, flat.options());
  for (int64_t begin = 0; begin < n; begin += kVoxelChunk) {
    const int64_t m = std::min(kVoxelChunk, n - begin);
    const Projection p = project_points(centres.narrow(0, begin, m), cameras);
    // The depth of the pixel each voxel centre falls in (the depth maps are at the images' resolution).
    const at::Tensor scale_x = static_cast<float>(w) / cameras.sizes.select(1, 0).to(at::kFloat).unsqueeze(1);
    const at::Tensor scale_y = static_cast<float>(h) / cameras.sizes.select(1, 1).to(at::kFloat).unsqueeze(1);
    const at::Tensor px = at::floor(p.uv.select(2, 0).to(at::kFloat) * scale_x).clamp(0, w - 1).to(at::kLong);
    const at::Tensor py = at::floor(p.uv.select(2, 1).to(at::kFloat) * scale_y).clamp(0, h - 1).to(at::kLong);
    const at::Tensor d = flat.gather(1, py * w + px);  // [V,m]
    const at::Tensor z = p.depth.to(at::kFloat);
    // A pixel that hit nothing: its whole ray is free space. Otherwise the projective distance to the surface,
    // truncated; voxels farther than the truncation behind the surface are not observed by that view.
    const at::Tensor sdf = at::where(d.gt(0), (d - z) / truncation, at::ones_like(d));
    const at::Tensor use = p.valid.logical_and(sdf.ge(-1.0f));
    const at::Tensor usef = use.to(at::kFloat);
    sum.narrow(0, begin, m).copy_((sdf.clamp(-1.0f, 1.0f) * usef).sum(0));
    count.narrow(0, begin, m).copy_(usef.sum(0));
  }
  const int64_t r = grid.resolution;
  const at::Tensor target = (sum / count.clamp_min(1.0f)).reshape({r, r, r});
  return {target, count.gt(0).reshape({r, r, r})};
}

GeometryVolume::GeometryVolume(const GeometryVolumeConfig& config, int64_t in_channels) : m_config(config) {
  config.validate();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(config.seed * 0x9E3779B97F4A7C15ull + 17);
  auto conv = [&](int64_t out, int64_t in, int64_t k, int64_t stride, bool bias = false) {
    Conv c;
    const double std = std::sqrt(2.0 / static_cast<double>(out * k * k * k));
    c.weight = at::normal(0.0, std, {out, in, k, k, k}, gen).set_requires_grad(true);
    if (bias) c.bias = at::zeros({out}).set_requires_grad(true);
    c.stride = stride;
    return c;
  };
  auto norm = [](int64_t channels) {
    return Norm{at::ones({channels}).set_requires_grad(true), at::zeros({channels}).set_requires_grad(true)};
  };
  const int64_t c = config.channels;
  m_stem = conv(c, in_channels, 1, 1);
  m_norm_stem = norm(c);
  m_enc0 = conv(c, c, 3, 1);
  m_norm0 = norm(c);
  m_down1 = conv(2 * c, c, 3, 2);
  m_norm_down1 = norm(2 * c);
  m_enc1 = conv(2 * c, 2 * c, 3, 1);
  m_norm1 = norm(2 * c);
  m_down2 = conv(4 * c, 2 * c, 3, 2);
  m_norm_down2 = norm(4 * c);
  m_enc2 = conv(4 * c, 4 * c, 3, 1);
  m_norm2 = norm(4 * c);
  m_up1 = conv(2 * c, 6 * c, 3, 1);
  m_norm_up1 = norm(2 * c);
  m_up0 = conv(c, 3 * c, 3, 1);
  m_norm_up0 = norm(c);
  m_head = conv(1, c, 1, 1, /*bias=*/true);
  // Start from "free space everywhere but uncertain": a small head and a positive bias.
  {
    at::NoGradGuard no_grad;
    m_head.weight.mul_(0.1);
    m_head.bias.fill_(0.5);
  }
}

at::Tensor GeometryVolume::forward(const at::Tensor& input) const {
  SEMFIELD_ASSERT(defined(), "geometry volume: not initialised");
  if (input.dim() != 5 || input.size(1) != m_stem.weight.size(1))
    fail_usage("geometry volume: input [1, {}, R, R, R] expected", m_stem.weight.size(1));
  auto layer = [](const Conv& c, const Norm& n, const at::Tensor& x) {
    const int64_t pad = c.weight.size(2) / 2;
    return at::relu(instance_norm3d(at::conv3d(x, c.weight, c.bias, c.stride, pad), n.weight, n.bias));
  };
  auto up = [](const at::Tensor& x, const at::Tensor& like) {
    return at::upsample_trilinear3d(x, {like.size(2), like.size(3), like.size(4)}, /*align_corners=*/false);
  };
  const at::Tensor e0 = layer(m_enc0, m_norm0, layer(m_stem, m_norm_stem, input));
  const at::Tensor e1 = layer(m_enc1, m_norm1, layer(m_down1, m_norm_down1, e0));
  const at::Tensor e2 = layer(m_enc2, m_norm2, layer(m_down2, m_norm_down2, e1));
  const at::Tensor u1 = layer(m_up1, m_norm_up1, at::cat({up(e2, e1), e1}, 1));
  const at::Tensor u0 = layer(m_up0, m_norm_up0, at::cat({up(u1, e0), e0}, 1));
  return at::tanh(at::conv3d(u0, m_head.weight, m_head.bias));
}

at::Tensor GeometryVolume::loss(const at::Tensor& tsdf, const at::Tensor& target, const at::Tensor& observed) const {
  const at::Tensor t = target.reshape({-1}).to(tsdf.scalar_type());
  const at::Tensor near = t.abs().lt(1.0f).to(tsdf.scalar_type());
  const at::Tensor w = observed.reshape({-1}).to(tsdf.scalar_type()) * (1.0f + (m_config.near_weight - 1.0) * near);
  const at::Tensor total = w.sum();
  if (total.item<double>() <= 0) return tsdf.sum() * 0.0f;
  return ((tsdf.reshape({-1}) - t).abs() * w).sum() / total;
}

NamedTensors GeometryVolume::named_parameters() const {
  NamedTensors out;
  auto add = [&](const std::string& name, const Conv& c, const Norm* n) {
    out.emplace_back(name + ".weight", c.weight);
    if (c.bias.defined()) out.emplace_back(name + ".bias", c.bias);
    if (n != nullptr) {
      out.emplace_back(name + ".norm.weight", n->weight);
      out.emplace_back(name + ".norm.bias", n->bias);
    }
  };
  add("stem", m_stem, &m_norm_stem);
  add("enc0", m_enc0, &m_norm0);
  add("down1", m_down1, &m_norm_down1);
  add("enc1", m_enc1, &m_norm1);
  add("down2", m_down2, &m_norm_down2);
  add("enc2", m_enc2, &m_norm2);
  add("up1", m_up1, &m_norm_up1);
  add("up0", m_up0, &m_norm_up0);
  add("head", m_head, nullptr);
  return out;
}

std::vector<at::Tensor> GeometryVolume::parameters() const { return tensors_of(named_parameters()); }

at::Tensor sample_sdf(const at::Tensor& tsdf, const VoxelGrid& grid, float truncation, const at::Tensor& points) {
  const int64_t n = points.size(0);
  if (n == 0) return at::zeros({0}, tsdf.options());
  // Zero padding of (tsdf - 1), then + 1: outside the grid is free space (+1), and the interpolation towards the
  // border blends with it.
  const at::Tensor g = grid.normalise(points.to(tsdf.scalar_type())).reshape({1, 1, 1, n, 3});
  const at::Tensor s = at::grid_sampler_3d(tsdf - 1.0f, g, /*bilinear*/ 0, /*zeros*/ 0, /*align_corners=*/false);
  return (s.reshape({n}) + 1.0f) * truncation;
}

at::Tensor sdf_visible(const at::Tensor& tsdf, const VoxelGrid& grid, float truncation, const at::Tensor& origins,
                       const at::Tensor& points, float margin, int samples) {
  at::NoGradGuard no_grad;
  const int64_t v = origins.size(0), n = points.size(0);
  at::Tensor out = at::ones({v, n}, points.options().dtype(at::kBool));
  if (n == 0) return out;
  for (int64_t i = 0; i < v; ++i) {
    const at::Tensor o = origins[i].to(at::kFloat).unsqueeze(0).expand({n, 3});
    const at::Tensor seg = points.to(at::kFloat) - o;
    const at::Tensor dist = seg.norm(2, 1);
    const at::Tensor dir = seg / dist.clamp_min(1e-6f).unsqueeze(1);
    const auto [near, far] = ray_box_bounds(o.contiguous(), dir.contiguous(), grid.lo, grid.hi, 1.0f);
    const at::Tensor start = near;
    const at::Tensor end = at::minimum(dist - margin, far);
    const at::Tensor frac = (at::arange(samples, o.options()) + 0.5f) / static_cast<float>(samples);
    const at::Tensor ts = start.unsqueeze(1) + (end - start).clamp_min(0).unsqueeze(1) * frac.unsqueeze(0);  // [n,S]
    const at::Tensor pos = o.unsqueeze(1) + dir.unsqueeze(1) * ts.unsqueeze(2);
    const at::Tensor sdf = sample_sdf(tsdf, grid, truncation, pos.reshape({-1, 3})).reshape({n, samples});
    // A segment that ends before it enters the grid has nothing in the way.
    out[i] = std::get<0>(sdf.min(1)).ge(0).logical_or(end.le(start));
  }
  return out;
}

namespace {

/// VolSDF's Psi_beta(-s): the Laplace CDF of -s with scale beta (1/2 on the surface, -> 1 inside, -> 0 outside).
at::Tensor laplace_cdf_of_negative(const at::Tensor& sdf, float beta) {
  const at::Tensor x = -sdf / beta;
  // exp(x) / 2 for x <= 0, 1 - exp(-x) / 2 above: each branch's exp of a non-positive number.
  const at::Tensor e = at::exp(-x.abs()) * 0.5f;
  return at::where(x.le(0), e, 1.0f - e);
}

}  // namespace

at::Tensor sdf_density(const at::Tensor& sdf, float voxel_size) {
  return 20.0f * laplace_cdf_of_negative(sdf, 0.5f * voxel_size);
}

at::Tensor sdf_composite_weights(const at::Tensor& sdf, const at::Tensor& ts, float voxel_size, float truncation) {
  const int64_t r = ts.size(0), s = ts.size(1);
  if (r == 0 || s < 2) return at::zeros_like(ts);
  const float beta = 0.5f * voxel_size;
  // Psi rescaled to be 0 at the truncation distance, where a TSDF says "free space" (a plain Psi / beta keeps a haze
  // of density there: 0.05 per unit length at 3 voxels, ~0.1 of opacity across a box), unchanged inside surfaces.
  const float floor = 0.5f * std::exp(-truncation / beta);
  const at::Tensor sigma =
      ((laplace_cdf_of_negative(sdf, beta) - floor) / (1.0f - floor)).clamp_min(0) / beta;
  const at::Tensor gaps = ts.narrow(1, 1, s - 1) - ts.narrow(1, 0, s - 1);
  const at::Tensor delta = at::cat({gaps, gaps.narrow(1, s - 2, 1)}, 1);
  const at::Tensor alpha = 1.0f - at::exp(-sigma * delta);
  const at::Tensor transmittance =
      at::cumprod(at::cat({at::ones({r, 1}, ts.options()), 1.0f - alpha.narrow(1, 0, s - 1)}, 1), 1);
  return transmittance * alpha;
}

at::Tensor sdf_render_weights(const at::Tensor& sdf, const at::Tensor& ts, float tr, float window) {
  const int64_t r = sdf.size(0), s = sdf.size(1);
  if (r == 0 || s == 0) return at::zeros_like(sdf);
  // The first sample at or behind a surface after samples in front of it (or the first sample, when the ray starts
  // inside a surface).
  const at::Tensor inside = sdf.le(0);
  const at::Tensor entering = at::cat({inside.narrow(1, 0, 1), inside.narrow(1, 1, s - 1).logical_and(
                                                                  sdf.narrow(1, 0, s - 1).gt(0))},
                                      1);
  const at::Tensor any = entering.any(1);
  const at::Tensor first = entering.to(at::kFloat).argmax(1);  // the first true (0 when none)
  const at::Tensor t_cross = ts.gather(1, first.unsqueeze(1));
  const at::Tensor keep = ts.le(t_cross + window).logical_and(any.unsqueeze(1)).to(sdf.scalar_type());
  const at::Tensor w = at::sigmoid(sdf / tr) * at::sigmoid(-sdf / tr) * keep;
  const at::Tensor total = w.sum(1, true);
  return at::where(total.gt(0), w / total.clamp_min(1e-12f), at::zeros_like(w));
}

}  // namespace semfield
