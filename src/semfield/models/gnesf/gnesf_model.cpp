// GNeSF bound to a scene, and its trainable side.
#include "semfield/models/gnesf/gnesf_model.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/data/labels.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/teachers/label_teacher.h"

namespace semfield {

namespace {

constexpr int64_t kGnesfRayChunk = 2048;
constexpr int64_t kGnesfPointChunk = 16384;
constexpr float kTrainMinWeight = 1e-4f;  // training: samples lighter than this carry no semantics
// Inference: each ray's kSemanticSamples heaviest samples of at least kSemanticMinWeight (scaled to the ray's opacity):
// the vote costs a pass of the per-view network per sample, and a surface spreads its weight over ~16 fine samples
// whose semantics agree (8 of them: 256x256 semantic map 3.0 -> 2.5 s, novel-view mIoU on 4 unseen scenes 0.004
// lower than with every sample >= 1e-3).
constexpr float kSemanticMinWeight = 1e-3f;
constexpr int kSemanticSamples = 8;
constexpr float kMinProbability = 1e-6f;  // log of probabilities: the floor
// The SDF visibility test stops this many voxels short of the point (the TSDF is interpolated between voxel centres:
// a point on a surface may read slightly negative just in front of itself).
constexpr float kSdfMarginVoxels = 2.0f;
// View synthesis on the SDF: samples per ray for the compositing weights (the SDF is one trilinear lookup each; ~3 per
// voxel across a 64^3 box), and how many of the heaviest get a colour (a pass of the per-view network each).
constexpr int64_t kSdfRaySamples = 192;
constexpr int64_t kSdfColourSamples = 8;

/// Class names of the maps: the scene's labels.json for its own maps, DIR/labels.json ("classes") for a folder.
std::vector<std::string> names_for(const TeacherSpec& spec, const Scene& scene, int64_t classes) {
  LabelSet folder;
  const std::map<int, Label>* labels = spec.arg == "semantic"   ? &scene.semantic_labels
                                       : spec.arg == "instance" ? &scene.instance_labels
                                                                : nullptr;
  if (labels == nullptr && std::filesystem::is_regular_file(std::filesystem::path(spec.arg) / "labels.json")) {
    folder = read_labels(std::filesystem::path(spec.arg) / "labels.json");
    labels = &folder.classes;
  }
  if (labels == nullptr || labels->empty()) return {};
  std::vector<std::string> names(static_cast<size_t>(classes));
  for (int64_t k = 0; k < classes; ++k) {
    const auto it = labels->find(static_cast<int>(k));
    names[static_cast<size_t>(k)] = it != labels->end() ? it->second.name : "class_" + std::to_string(k);
  }
  return names;
}

}  // namespace

GnesfModel::GnesfModel(GnesfNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                       const Eigen::Vector3f& source_background, int source_views,
                       const std::optional<TeacherSpec>& maps)
    : m_network(std::move(network)),
      m_ibr(m_network.radiance(), scene, frame, source_background, source_views) {
  if (!maps) return;
  if (maps->kind != TeacherKind::Labels)
    fail_usage("gnesf takes the source views' 2D maps as a labels teacher (labels:semantic, labels:instance or "
               "labels:DIR), not {}", maps->to_string());
  const std::unique_ptr<LabelTeacher> teacher = make_label_teacher(*maps, *scene);
  m_maps_spec = maps->to_string();
  m_classes = teacher->num_classes();
  for (const View* view : m_ibr.pool()) {
    TeacherInput input;
    input.view = view;
    // [K,h,w] probabilities (ids become one-hot rows; unlabelled pixels all zero) -> channels last.
    m_maps.push_back(teacher->compute(input).front().permute({1, 2, 0}).contiguous());
  }
  m_class_names = names_for(*maps, *scene, m_classes);
}

std::vector<int64_t> GnesfModel::channels() const {
  return {m_network.output_classes(m_classes > 0 ? m_classes : 2)};
}

ChannelStats GnesfModel::channel_stats(size_t scale) const {
  SEMFIELD_ASSERT(scale == 0, "gnesf has one scale");
  const int64_t k = channels().front();
  return {at::zeros({k}), at::ones({k})};
}

void GnesfModel::require_maps(const char* what) const {
  if (m_maps.empty())
    fail_usage("{}: this gnesf run has no 2D semantic maps of its source views (apply it with --teacher labels:...)",
               what);
}

const SdfVolume& GnesfModel::sdf() const {
  std::lock_guard<std::mutex> lock(m_sdf_mutex);
  if (!m_sdf.defined() && m_network.has_geometry()) {
    at::NoGradGuard no_grad;
    std::vector<Camera> cameras;
    for (const View* v : m_ibr.pool()) cameras.push_back(v->camera);
    const IbrSources src = m_ibr.sources(spread_views(cameras, m_network.config().geometry.views));
    const VoxelGrid grid = m_network.geometry_grid(m_ibr.frame().aabb_min, m_ibr.frame().aabb_max);
    m_sdf = m_network.geometry(m_network.geometry_input(src, grid), grid);
  }
  return m_sdf;
}

RayRenderOutput GnesfModel::render(const at::Tensor& origins, const at::Tensor& dirs,
                                   const at::Tensor& background) const {
  if (m_network.config().radiance_density == "sdf") return render_sdf_radiance(origins, dirs, background);
  return m_ibr.render(origins, dirs, background);
}

RayRenderOutput GnesfModel::render_sdf_radiance(const at::Tensor& origins, const at::Tensor& dirs,
                                                const at::Tensor& background) const {
  at::NoGradGuard no_grad;
  const SdfVolume& geo = sdf();
  const int64_t r = origins.size(0);
  const at::Tensor bg = background.dim() == 1 ? background.reshape({1, 3}).expand({r, 3}) : background;
  const IbrSources src = m_ibr.sources_for_rays(origins, dirs);
  const float voxel = geo.grid.voxel_size();
  std::vector<at::Tensor> rgb, opacity, depth;
  RayRenderOutput out;
  for (int64_t begin = 0; begin < r; begin += kGnesfRayChunk) {
    const int64_t n = std::min(kGnesfRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_ibr.frame(),
                                  m_network.config().radiance.unbounded_extent);
    const at::Tensor frac = (at::arange(kSdfRaySamples, at::kFloat) + 0.5f) / static_cast<float>(kSdfRaySamples);
    const at::Tensor ts = rays.near.unsqueeze(1) + (rays.far - rays.near).unsqueeze(1) * frac.unsqueeze(0);  // [n,S]
    const at::Tensor pos = rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * ts.unsqueeze(2);
    const at::Tensor w =
        sdf_composite_weights(geo.sdf(pos.reshape({-1, 3})).reshape({n, kSdfRaySamples}), ts, voxel, geo.truncation);
    const auto [wk, index] = w.topk(kSdfColourSamples, 1);
    const at::Tensor tk = ts.gather(1, index);
    const at::Tensor d = rays.dirs.unsqueeze(1).expand({n, kSdfColourSamples, 3}).reshape({-1, 3}).contiguous();
    const at::Tensor p = (rays.origins.unsqueeze(1) + rays.dirs.unsqueeze(1) * tk.unsqueeze(2)).reshape({-1, 3});
    const at::Tensor colours = m_network.radiance().points(p.contiguous(), d, src).rgb.reshape({n, kSdfColourSamples, 3});
    const at::Tensor a = w.sum(1);
    const at::Tensor kept = wk.sum(1);
    const at::Tensor scale = at::where(kept.gt(0), a / kept.clamp_min(1e-12f), at::zeros_like(a));
    rgb.push_back((colours * (wk * scale.unsqueeze(1)).unsqueeze(2)).sum(1) + (1.0f - a).unsqueeze(1) * bg.narrow(0, begin, n));
    opacity.push_back(a);
    depth.push_back((w * ts).sum(1));
    out.n_samples += n * (kSdfRaySamples + kSdfColourSamples);
  }
  out.rgb = r == 0 ? at::zeros({0, 3}) : at::cat(rgb);
  out.opacity = r == 0 ? at::zeros({0}) : at::cat(opacity);
  out.depth = r == 0 ? at::zeros({0}) : at::cat(depth);
  return out;
}

at::Tensor GnesfModel::density(const at::Tensor& points) const {
  if (!m_network.has_geometry()) return m_ibr.density(points);
  const SdfVolume& v = sdf();
  at::NoGradGuard no_grad;
  return sdf_density(v.sdf(points), v.grid.voxel_size());
}

PointRadiance GnesfModel::radiance(const at::Tensor& points, const at::Tensor& dirs) const {
  PointRadiance out = m_ibr.radiance(points, dirs);
  if (m_network.has_geometry()) out.density = density(points);
  return out;
}

SemanticMaps GnesfModel::maps_of(const std::vector<int>& indices) const {
  std::vector<at::Tensor> maps;
  for (int i : indices) maps.push_back(m_maps[static_cast<size_t>(i)]);
  for (size_t k = 1; k < maps.size(); ++k)
    if (!maps[k].sizes().equals(maps[0].sizes()))
      fail_input(m_ibr.pool()[static_cast<size_t>(indices[k])]->image_path, "",
                 "the source views' semantic maps must share one size");
  return {at::stack(maps)};
}

SemanticRenderOutput GnesfModel::render(const at::Tensor& origins, const at::Tensor& dirs) const {
  return render_semantics(origins, dirs, at::ones({3}), false);
}

bool GnesfModel::renders_colour() const {
  // With SDF radiance the colour comes from another pass than the semantics' (render_sdf_radiance).
  return has_maps() && m_network.config().radiance_density != "sdf";
}

SemanticRenderOutput GnesfModel::render_view_with_colour(const Camera& camera, const Eigen::Vector3f& background) const {
  if (!renders_colour())
    fail_usage("this gnesf run renders no colour with its semantics ({}): render the scene model's view",
               has_maps() ? "its radiance density is the SDF's" : "it was applied without 2D maps");
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  return render_semantics(rays.origins, rays.directions, at::tensor({background.x(), background.y(), background.z()}),
                          true);
}

SemanticRenderOutput GnesfModel::render_semantics(const at::Tensor& origins, const at::Tensor& dirs,
                                                  const at::Tensor& background, bool colour) const {
  require_maps("semantic rendering");
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  const std::vector<int> indices = m_ibr.source_indices_for_rays(origins, dirs);
  const IbrSources src = m_ibr.sources(indices);
  const SemanticMaps maps = maps_of(indices);
  const SdfVolume* geometry = m_network.config().semantic_weights == "sdf" ? &sdf() : nullptr;
  std::vector<at::Tensor> sem, opacity, depth, median, rgb;
  for (int64_t begin = 0; begin < r; begin += kGnesfRayChunk) {
    const int64_t n = std::min(kGnesfRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_ibr.frame(),
                                  m_network.config().radiance.unbounded_extent);
    const GnesfRenderOutput o = m_network.render(rays, src, maps, background.reshape({1, 3}).expand({n, 3}), false, 0,
                                                 kSemanticMinWeight, kSemanticSamples, geometry);
    sem.push_back(o.semantics);
    if (colour) rgb.push_back(o.radiance.rgb);
    opacity.push_back(o.radiance.opacity);
    const at::Tensor op = o.radiance.opacity;
    depth.push_back(at::where(op.gt(0), o.radiance.depth / op.clamp_min(1e-12f), at::zeros_like(op)));
    median.push_back(median_depth(o.radiance.ts, o.radiance.weights));
  }
  SemanticRenderOutput out;
  const int64_t k = channels().front();
  out.maps = {r == 0 ? at::zeros({0, k}) : at::log(at::cat(sem).clamp_min(kMinProbability))};
  out.opacity = r == 0 ? at::zeros({0}) : at::cat(opacity);
  out.depth = r == 0 ? at::zeros({0}) : at::cat(depth);
  out.median_depth = r == 0 ? at::zeros({0}) : at::cat(median);
  if (colour) out.rgb = r == 0 ? at::zeros({0, 3}) : at::cat(rgb);
  return out;
}

std::vector<at::Tensor> GnesfModel::point_outputs(const at::Tensor& points) const {
  require_maps("semantic labels at points");
  if (points.dim() != 2 || points.size(1) != 3) fail_usage("point_outputs: points must be [N,3]");
  at::NoGradGuard no_grad;
  // Each point is looked at from its nearest pool camera, voted on by that camera's source views (as when that view
  // is rendered): views around a viewpoint that sees the point, in the configuration the vote was trained on.
  const int64_t n = points.size(0);
  const auto& pool = m_ibr.pool();
  at::Tensor centres = at::empty({static_cast<int64_t>(pool.size()), 3});
  for (size_t i = 0; i < pool.size(); ++i)
    for (int c = 0; c < 3; ++c) centres[static_cast<int64_t>(i)][c] = static_cast<float>(pool[i]->camera.origin()[c]);
  // Candidates: the 4 nearest cameras; the first from which the model's own ray to the point is not blocked before it.
  const int64_t kc = std::min<int64_t>(4, centres.size(0));
  at::Tensor candidates = at::empty({n, kc}, at::kLong);
  for (int64_t begin = 0; begin < n; begin += kGnesfPointChunk) {
    const int64_t m = std::min(kGnesfPointChunk, n - begin);
    candidates.narrow(0, begin, m).copy_(std::get<1>(at::cdist(points.narrow(0, begin, m), centres).topk(kc, 1, false)));
  }
  at::Tensor nearest = candidates.select(1, 0).clone();
  at::Tensor assigned = at::zeros({n}, at::kBool);
  const float tol = 0.02f * (m_ibr.frame().aabb_max - m_ibr.frame().aabb_min).norm();
  const SdfVolume* geometry = m_network.has_geometry() ? &sdf() : nullptr;
  const float margin = geometry != nullptr ? kSdfMarginVoxels * geometry->grid.voxel_size() : 0.0f;
  for (int64_t c = 0; c < kc; ++c) {
    const at::Tensor open = at::nonzero(assigned.logical_not()).squeeze(1);
    if (open.numel() == 0) break;
    const at::Tensor cams = candidates.select(1, c).index_select(0, open);
    const at::Tensor used = std::get<0>(at::_unique(cams));
    for (int64_t j = 0; j < used.numel(); ++j) {
      // One camera's rays at a time: a batch of rays is rendered from the source views nearest its mean pose.
      const int64_t camera = used[j].item<int64_t>();
      const at::Tensor mine = open.masked_select(cams.eq(camera));
      const int64_t m = mine.numel();
      at::Tensor seen;
      if (geometry != nullptr) {
        // The SDF's sign-change test (paper Fig. 2b).
        seen = mine.masked_select(sdf_visible(geometry->tsdf, geometry->grid, geometry->truncation,
                                              centres[camera].unsqueeze(0), points.index_select(0, mine), margin)[0]);
      } else {
        const at::Tensor o = centres[camera].unsqueeze(0).expand({m, 3}).contiguous();
        at::Tensor d = points.index_select(0, mine) - o;
        const at::Tensor dist = d.norm(2, 1);
        d = d / dist.clamp_min(1e-6f).unsqueeze(1);
        const WeightedSamples ws = m_ibr.render_weights(o, d);
        const at::Tensor counts = ws.samples.ray_offsets.narrow(0, 1, m) - ws.samples.ray_offsets.narrow(0, 0, m);
        const at::Tensor ray = at::repeat_interleave(at::arange(m, at::kLong), counts);
        const at::Tensor before = ws.samples.ts.lt(dist.index_select(0, ray) - tol).to(at::kFloat) * ws.weights;
        seen = mine.masked_select(at::zeros({m}).index_add_(0, ray, before).le(0.5f));
      }
      nearest.index_fill_(0, seen, camera);
      assigned.index_fill_(0, seen, true);
    }
  }
  at::Tensor result = at::zeros({n, channels().front()});
  const at::Tensor cameras_used = std::get<0>(at::_unique(nearest));
  for (int64_t k = 0; k < cameras_used.numel(); ++k) {
    const int64_t camera = cameras_used[k].item<int64_t>();
    const at::Tensor rows = at::nonzero(nearest.eq(camera)).squeeze(1);
    const at::Tensor p = points.index_select(0, rows);
    at::Tensor dirs = p - centres[camera].unsqueeze(0);
    dirs = dirs / dirs.norm(2, 1, true).clamp_min(1e-6f);
    const std::vector<int> indices = m_ibr.source_indices_for_rays(centres[camera].unsqueeze(0).expand({p.size(0), 3}), dirs);
    const IbrSources src = m_ibr.sources(indices);
    const SemanticMaps maps = maps_of(indices);
    for (int64_t begin = 0; begin < p.size(0); begin += kGnesfPointChunk) {
      const int64_t m = std::min(kGnesfPointChunk, p.size(0) - begin);
      IbrViewFeatures f = m_network.radiance().view_features(p.narrow(0, begin, m), dirs.narrow(0, begin, m), src);
      if (geometry != nullptr && m_network.config().sdf_mask_sources) {
        // The visibility module's SDF test: a source view whose segment to the point enters a surface first does not
        // vote (its weight goes to the others); a point none of them sees keeps them all (a vote of nothing would
        // label it with class 0).
        const at::Tensor visible = sdf_visible(geometry->tsdf, geometry->grid, geometry->truncation,
                                               src.cameras.origins, p.narrow(0, begin, m), margin);
        const at::Tensor masked = f.valid * visible.to(f.valid.scalar_type()).unsqueeze(2);
        f.valid = at::where(masked.sum(0, true).gt(0), masked, f.valid);
      }
      result.index_copy_(0, rows.narrow(0, begin, m), m_network.point_semantics(f, maps, src.cameras));
    }
  }
  return {at::log(result.clamp_min(kMinProbability))};
}

at::Tensor semantic_cross_entropy(const at::Tensor& probabilities, const at::Tensor& ids) {
  const int64_t k = probabilities.size(1);
  const at::Tensor labelled = ids.ge(0).logical_and(ids.lt(k));
  const at::Tensor rows = at::nonzero(labelled).squeeze(1);
  if (rows.numel() == 0) return probabilities.sum() * 0.0f;
  const at::Tensor p = probabilities.index_select(0, rows);
  const at::Tensor normalised = p / p.sum(1, true).clamp_min(kMinProbability);
  const at::Tensor picked = normalised.gather(1, ids.index_select(0, rows).unsqueeze(1)).squeeze(1);
  return -at::log(picked.clamp_min(kMinProbability)).mean();
}

LabelInputs GnesfCorpusModel::label_inputs() const {
  const GnesfConfig& c = m_network.config();
  LabelInputs in;
  in.needed = true;
  in.gt = c.label_gt;
  in.severity_min = c.label_severity_min;
  in.severity_max = c.label_severity_max;
  return in;
}

void GnesfCorpusModel::initialise_from(const std::string& type, const nlohmann::json& config,
                                       const TensorMap& weights, const std::string& origin) {
  if (type == "gnesf" && m_network.has_geometry()) {
    // A gnesf model without a volume: the same config apart from the geometry keys.
    GnesfConfig theirs = gnesf_config_from_json(config, origin);
    if (!theirs.geometry.enabled) {
      theirs.geometry = m_network.config().geometry;
      theirs.semantic_weights = m_network.config().semantic_weights;
      theirs.radiance_density = m_network.config().radiance_density;
      theirs.sdf_mask_sources = m_network.config().sdf_mask_sources;
      theirs.train_geometry_only = m_network.config().train_geometry_only;
      // Input handling and inference sampling, not shape: ours kept.
      theirs.radiance = with_inference_settings_of(theirs.radiance, m_network.config().radiance);
      if (to_json(theirs) != to_json(m_network.config()))
        fail_input(origin, "", "its gnesf config {} differs from this model's {} in more than the geometry volume",
                   config.dump(), to_json(m_network.config()).dump());
      m_network.load_state(weights, origin, /*without_geometry=*/true);
      return;
    }
  }
  if (type != "ibr") return CorpusModel::initialise_from(type, config, weights, origin);
  // How source images are fed to the encoder and how renders sample rays are not the network's shape: this model
  // keeps its own.
  const IbrConfig theirs =
      with_inference_settings_of(ibr_config_from_json(config, origin), m_network.config().radiance);
  if (to_json(theirs) != to_json(m_network.config().radiance))
    fail_input(origin, "", "its ibr config {} differs from this gnesf model's radiance config {}",
               to_json(theirs).dump(), to_json(m_network.config().radiance).dump());
  m_network.radiance().load_state(weights, origin);
}

CorpusLoss GnesfCorpusModel::loss(const CorpusExample& example, uint64_t seed) const {
  SEMFIELD_ASSERT(example.source_labels.defined() && example.target_labels.defined(),
                  "gnesf: a corpus example without semantic maps");
  const GnesfConfig& c = m_network.config();
  at::Tensor geometry_loss;
  if (m_network.has_geometry()) {
    SEMFIELD_ASSERT(example.geometry_depths.defined(), "gnesf: a corpus example without geometry views");
    const VoxelGrid grid = m_network.geometry_grid(example.frame.aabb_min, example.frame.aabb_max);
    at::Tensor input;
    {
      at::NoGradGuard no_grad;  // the image encoder is the radiance network's, not trained through the volume
      input = m_network.geometry_input(m_network.radiance().prepare(example.geometry_cameras, example.geometry_colours),
                                       grid);
    }
    const SdfVolume volume = m_network.geometry(input, grid);
    const auto [target, observed] = fuse_tsdf(SourceCameraBatch::from_cameras(example.geometry_cameras),
                                              example.geometry_depths, grid, volume.truncation);
    geometry_loss = m_network.geometry_volume().loss(volume.tsdf, target, observed);
    if (c.train_geometry_only) {
      CorpusLoss result;
      result.loss = geometry_loss;
      result.mse = geometry_loss.item<double>();  // reported as the step's "mse": the TSDF's L1 here
      return result;
    }
  }
  const bool radiance_grad = c.train_radiance;
  IbrSources sources;
  {
    std::optional<at::NoGradGuard> frozen;
    if (!radiance_grad) frozen.emplace();
    sources = m_network.radiance().prepare(example.source_cameras, example.source_colours);
  }
  const int64_t k = std::max<int64_t>({2, example.source_labels.max().item<int64_t>() + 1,
                                       example.target_labels.max().item<int64_t>() + 1});
  const SemanticMaps maps = semantic_maps_from_ids(example.source_labels, k);
  const IbrRays rays = ibr_rays(example.origins, example.dirs, example.frame, c.radiance.unbounded_extent);
  const GnesfRenderOutput out = m_network.render(rays, sources, maps, example.background, true, seed, kTrainMinWeight);
  CorpusLoss result;
  result.loss = semantic_cross_entropy(out.semantics, example.target_labels);
  const at::Tensor fine = at::mse_loss(out.radiance.rgb, example.target);
  if (radiance_grad)
    result.loss = result.loss + fine + at::mse_loss(out.radiance.rgb_coarse, example.target) +
                  IbrCorpusModel::kPointLossWeight * at::mse_loss(out.radiance.rgb_point, example.target);
  if (geometry_loss.defined()) result.loss = result.loss + geometry_loss;
  result.mse = fine.item<double>();
  result.samples = out.radiance.n_samples;
  return result;
}

std::unique_ptr<SceneModel> GnesfCorpusModel::bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                                   const Eigen::Vector3f& background, int source_views) const {
  return std::make_unique<GnesfModel>(m_network, std::move(scene), frame, background, source_views, std::nullopt);
}

std::unique_ptr<SceneModel> create_gnesf_model(const ModelBinding& binding) {
  GnesfNetwork network(gnesf_config_from_json(binding.config, binding.origin));
  network.load_state(binding.weights, binding.origin);
  std::optional<TeacherSpec> maps;
  if (!binding.semantic_maps.empty()) maps = TeacherSpec::parse(binding.semantic_maps);
  return std::make_unique<GnesfModel>(std::move(network), binding.scene, binding.frame, binding.background,
                                      binding.source_views, maps);
}

std::unique_ptr<CorpusModel> create_gnesf_trainable(const nlohmann::json& config, const std::string& origin) {
  return std::make_unique<GnesfCorpusModel>(gnesf_config_from_json(config, origin));
}

}  // namespace semfield
