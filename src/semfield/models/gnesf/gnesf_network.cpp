// GNeSF's semantic head on the image-conditioned radiance network.
#include "semfield/models/gnesf/gnesf_network.h"

#include <algorithm>
#include <optional>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/kernels/gather_project.h"

namespace semfield {

namespace {

constexpr float kLogitEps = 1e-2f;       // "logit" voting: log(p + eps) of the views' probabilities
constexpr int64_t kSampleChunk = 16384;  // samples per semantic pass (memory: chunk x views x (features + classes))

}  // namespace

SemanticMaps semantic_maps_from_ids(const at::Tensor& ids, int64_t k) {
  if (ids.dim() != 3) fail_usage("semantic maps: ids must be [V,h,w], got {} dimensions", ids.dim());
  const at::Tensor l = ids.to(at::kLong);
  const at::Tensor labelled = l.ge(0).logical_and(l.lt(k));
  const at::Tensor one_hot = at::one_hot(at::where(labelled, l, at::zeros_like(l)), k).to(at::kFloat);
  return {(one_hot * labelled.unsqueeze(3).to(at::kFloat)).contiguous()};
}

at::Tensor soft_vote_weights(const at::Tensor& scores, const at::Tensor& gate_logits, const at::Tensor& valid) {
  // The gate g in (0,1) multiplies exp(v): log g is added to the score.
  const at::Tensor logits = gate_logits.defined() ? scores + at::log_sigmoid(gate_logits) : scores;
  return at::softmax(logits.masked_fill(valid.eq(0), -1e9), 0) * valid;
}

GnesfNetwork::GnesfNetwork(const GnesfConfig& config) : m_config(config), m_radiance(config.radiance) {
  config.validate();
  at::manual_seed(config.seed * 7919 + 17);
  const IbrConfig& r = config.radiance;
  const int in = r.view_features + r.point_features + 3 + 1 + 4 + 1;
  m_vote = Mlp(in, config.vote_hidden, 2, 2, true);
  m_direct = Mlp(r.point_features, config.vote_hidden, 2, config.direct_classes, true);
  m_direct_background = at::zeros({config.direct_classes}).set_requires_grad(true);
  if (config.geometry.enabled) m_geometry = GeometryVolume(config.geometry, 2 * (r.encoder.out_channels + 3) + 1);
}

VoxelGrid GnesfNetwork::geometry_grid(const Eigen::Vector3f& lo, const Eigen::Vector3f& hi) const {
  VoxelGrid grid;
  grid.lo = lo;
  grid.hi = hi;
  grid.resolution = m_config.geometry.resolution;
  return grid;
}

at::Tensor GnesfNetwork::geometry_input(const IbrSources& sources, const VoxelGrid& grid) const {
  return geometry_volume_input(sources.cameras, sources.features, sources.colours, grid);
}

SdfVolume GnesfNetwork::geometry(const at::Tensor& input, const VoxelGrid& grid) const {
  SEMFIELD_ASSERT(has_geometry(), "gnesf: this model has no geometry volume");
  SdfVolume out;
  out.tsdf = m_geometry.forward(input);
  out.grid = grid;
  out.truncation = static_cast<float>(m_config.geometry.truncation_voxels) * grid.voxel_size();
  return out;
}

int64_t GnesfNetwork::output_classes(int64_t map_classes) const {
  return m_config.vote == GnesfVote::Direct ? m_config.direct_classes : map_classes;
}

at::Tensor GnesfNetwork::vote_weights(const IbrViewFeatures& f) const {
  const int64_t v = f.g.size(0), n = f.g.size(1);
  const at::Tensor z = f.z.unsqueeze(0).expand({v, n, f.z.size(1)});
  const at::Tensor x = at::cat({f.g, z, f.source_dirs, f.distance, f.ray_diff, f.visibility * static_cast<float>(v)}, -1);
  const at::Tensor o = m_vote.forward(x.reshape({v * n, -1})).reshape({v, n, 2});
  return soft_vote_weights(o.narrow(2, 0, 1), m_config.visibility ? o.narrow(2, 1, 1) : at::Tensor(), f.valid);
}

at::Tensor GnesfNetwork::point_semantics(const IbrViewFeatures& f, const SemanticMaps& maps,
                                         const SourceCameraBatch& cameras) const {
  if (m_config.vote == GnesfVote::Direct) return at::softmax(m_direct.forward(f.z), -1);
  if (maps.probs.size(0) != f.g.size(0))
    fail_usage("gnesf: {} semantic maps for {} source views", maps.probs.size(0), f.g.size(0));
  const at::Tensor w = vote_weights(f);                                                   // [V,N,1]
  const at::Tensor s = gather_bilinear(maps.probs, f.uv, cameras.sizes);                  // [V,N,K]
  if (m_config.vote == GnesfVote::Probability) return (w * s).sum(0);
  const at::Tensor blended = (w * at::log(s + kLogitEps)).sum(0);
  return at::softmax(blended, -1) * f.seen.to(at::kFloat).unsqueeze(1);
}

at::Tensor GnesfNetwork::background_semantics(int64_t rays, const SemanticMaps& maps) const {
  if (m_config.vote == GnesfVote::Direct)
    return at::softmax(m_direct_background, 0).unsqueeze(0).expand({rays, m_config.direct_classes});
  // What the source views show along their images' borders: where rays that leave the scene end up in views of an
  // object-centred scene (the void / sky / backdrop class, whatever id the maps give it). Parallel rays from the
  // source cameras would hit the scene's objects, so the views' pixels in the ray's direction would not do.
  const int64_t h = maps.probs.size(1), w = maps.probs.size(2);
  const int64_t band = std::max<int64_t>(1, std::min(h, w) / 32);
  const at::Tensor p = maps.probs;
  const at::Tensor border = at::cat({p.narrow(1, 0, band).reshape({-1, p.size(3)}),
                                     p.narrow(1, h - band, band).reshape({-1, p.size(3)}),
                                     p.narrow(2, 0, band).reshape({-1, p.size(3)}),
                                     p.narrow(2, w - band, band).reshape({-1, p.size(3)})});
  const at::Tensor mean = border.mean(0);
  return (mean / mean.sum().clamp_min(1e-6f)).unsqueeze(0).expand({rays, p.size(3)});
}

GnesfRenderOutput GnesfNetwork::render(const IbrRays& rays, const IbrSources& sources, const SemanticMaps& maps,
                                       const at::Tensor& background, bool train, uint64_t seed,
                                       float min_weight, int max_samples, const SdfVolume* sdf) const {
  const bool radiance_grad = train && m_config.train_radiance && at::GradMode::is_enabled();
  GnesfRenderOutput out;
  {
    std::optional<at::NoGradGuard> frozen;
    if (!radiance_grad) frozen.emplace();
    out.radiance = m_radiance.render(rays, sources, background, train, seed);
  }
  const int64_t r = rays.origins.size(0), s = out.radiance.ts.size(1);
  const int64_t k = output_classes(maps.classes());
  at::Tensor weights2d = out.radiance.weights;
  if (sdf != nullptr && sdf->defined() && m_config.semantic_weights == "sdf" && s > 0) {
    // Eq. 8, 9: the semantics' weights from the SDF at the same samples.
    at::NoGradGuard no_grad;
    const at::Tensor pos = rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * out.radiance.ts.unsqueeze(2);
    const float voxel = sdf->grid.voxel_size();
    weights2d = sdf_render_weights(sdf->sdf(pos.reshape({-1, 3})).reshape({r, s}), out.radiance.ts, voxel,
                                   2.0f * voxel);
  }
  const at::Tensor weights = weights2d.reshape({-1});
  at::Tensor kept;
  if (max_samples > 0 && max_samples < s) {
    // The heaviest samples of each ray (in the ray's order), those of them at least min_weight.
    const auto [top, index] = weights2d.detach().topk(max_samples, 1);
    const at::Tensor flat = (index + at::arange(r, index.options()).unsqueeze(1) * s).masked_select(top.ge(min_weight));
    kept = std::get<0>(at::sort(flat));
  } else {
    kept = at::nonzero(weights.detach().ge(min_weight)).squeeze(1);
  }
  const at::Tensor ray_index = at::div(kept, s, "floor");
  const at::Tensor w = weights.index_select(0, kept);
  const at::Tensor t = out.radiance.ts.reshape({-1}).index_select(0, kept);
  const at::Tensor dirs = rays.dirs.index_select(0, ray_index);
  const at::Tensor positions = rays.origins.index_select(0, ray_index) + dirs * t.unsqueeze(1);
  at::Tensor semantics = at::zeros({r, k}, rays.origins.options());
  for (int64_t begin = 0; begin < kept.size(0); begin += kSampleChunk) {
    const int64_t n = std::min(kSampleChunk, kept.size(0) - begin);
    IbrViewFeatures f;
    {
      std::optional<at::NoGradGuard> frozen;
      if (!radiance_grad) frozen.emplace();
      f = m_radiance.view_features(positions.narrow(0, begin, n), dirs.narrow(0, begin, n), sources);
    }
    const at::Tensor sem = point_semantics(f, maps, sources.cameras);                      // [n,K]
    semantics = semantics.index_add(0, ray_index.narrow(0, begin, n), sem * w.narrow(0, begin, n).unsqueeze(1));
  }
  // The samples left out carry little weight each but may add up (a soft surface spreads its weight over many):
  // the kept ones stand in for them, scaled to the ray's whole opacity, so only the empty rest shows the background.
  const at::Tensor kept_opacity = at::zeros({r}, rays.origins.options()).index_add(0, ray_index, w.detach());
  const at::Tensor opacity = weights2d.sum(1);  // differentiable when the radiance network trains
  const at::Tensor scale =
      at::where(kept_opacity.gt(0), opacity.detach() / kept_opacity.clamp_min(1e-12f), at::zeros_like(kept_opacity));
  semantics = semantics * scale.unsqueeze(1);
  const at::Tensor rest = (1.0f - at::where(kept_opacity.gt(0), opacity, kept_opacity)).clamp_min(0).unsqueeze(1);
  out.semantics = semantics + rest * background_semantics(r, maps);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> GnesfNetwork::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, t] : m_radiance.named_parameters()) out.emplace_back("radiance." + name, t);
  if (m_config.vote == GnesfVote::Direct) {
    for (auto& [name, t] : m_direct.named_parameters()) out.emplace_back("head.direct." + name, t);
    out.emplace_back("head.direct.background", m_direct_background);
  } else {
    for (auto& [name, t] : m_vote.named_parameters()) out.emplace_back("head.vote." + name, t);
  }
  if (has_geometry())
    for (auto& [name, t] : m_geometry.named_parameters()) out.emplace_back("geometry." + name, t);
  return out;
}

void GnesfNetwork::to(const at::Device& device) { move_tensors_to(named_parameters(), device); }

std::vector<at::Tensor> GnesfNetwork::parameters() const {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : named_parameters())
    if (m_config.train_geometry_only ? name.rfind("geometry.", 0) == 0
                                     : m_config.train_radiance || name.rfind("radiance.", 0) != 0)
      out.push_back(t);
  return out;
}

TensorMap GnesfNetwork::state() const { return state_of(named_parameters()); }

void GnesfNetwork::load_state(const TensorMap& state, const std::string& origin, bool without_geometry) {
  NamedTensors named = named_parameters();
  if (without_geometry)
    named.erase(std::remove_if(named.begin(), named.end(),
                               [](const auto& entry) { return entry.first.rfind("geometry.", 0) == 0; }),
                named.end());
  restore_tensors(state, named, origin);
}

}  // namespace semfield
