// GP-NeRF bound to a scene, and its training losses.
#include "semfield/models/gpnerf/gpnerf_model.h"

#include <algorithm>
#include <atomic>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/strings.h"
#include "semfield/data/labels.h"
#include "semfield/data/source_views.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/ibr/ray_samples.h"

namespace semfield {

namespace {

constexpr int64_t kGpRayChunk = 1024;     // rays per network pass (memory: chunk x samples x views x width)
// Rays per pass of a whole view through the fused CPU kernels, which keep no [views, samples, width] temporaries (a
// 16,384-ray chunk of a 256² view holds ~0.1 GB: proposal points, encodings, pdf samples, outputs). A chunk ends in
// serial steps (the LibTorch ops between the kernels) and its last ray blocks leave a thread idle, so larger chunks
// keep both cores busy (256² view on 2 threads: 6-11 % faster than at kGpRayChunk; BENCHMARKS.md "GP-NeRF",
// twenty-fourth session). The LibTorch path keeps kGpRayChunk.
constexpr int64_t kGpFusedViewChunk = 16384;
constexpr int64_t kGpPointChunk = 32768;  // points per pass for density / radiance queries

// Calls each(rays, begin, n) for the network's inputs of rays [begin, begin + n), `chunk` rays at a time.
template <typename F>
void for_ray_chunks(const at::Tensor& origins, const at::Tensor& dirs, const SceneFrame& frame, double unbounded_extent,
                    F&& each, int64_t chunk = kGpRayChunk) {
  const int64_t r = origins.size(0);
  for (int64_t begin = 0; begin < r; begin += chunk) {
    const int64_t n = std::min(chunk, r - begin);
    each(ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), frame, unbounded_extent), begin, n);
  }
}

// Inference over every pixel of an h x w view (`rays` in row-major order), `view_chunk` rays at a time (0: automatic,
// kGpFusedViewChunk through the fused kernels, else kGpRayChunk): each(output, begin, n). With config.proposal_stride
// s > 1 the proposal runs on a grid of every s-th row and column (and the last ones), and each pixel's fine samples
// come from the proposals at its cell's four corners (spread_proposal: weights, colour and depth bilinear in them,
// opacity — whether the ray takes the transformers — their envelope).
template <typename F>
void render_view_chunks(const GpnerfNetwork& net, const kernels::Rays& rays, int64_t h, int64_t w,
                        const SceneFrame& frame, const GpnerfSources& src, const at::Tensor& bg, F&& each,
                        int64_t view_chunk = 0) {
  const GpnerfConfig& c = net.config();
  const int64_t source_side = std::max(src.colours.size(1), src.colours.size(2));
  const int64_t encoded = c.encode_size > 0 ? c.encode_size : source_side;
  const int64_t s = proposal_stride(c, h, w, encoded);
  const int64_t chunk =
      view_chunk > 0 ? view_chunk : (net.fused_inference(src) ? kGpFusedViewChunk : kGpRayChunk);
  // Said once per process and stride (not per view): which proposal grid the views take.
  static std::atomic<uint32_t> said{0};  // bit s: stride s was said (s <= kMaxProposalStride < 32)
  if ((said.fetch_or(1u << s) & (1u << s)) == 0)
    log::info("gp-nerf: whole views take the proposal at {} (proposal_stride {}; {}x{} view, references encoded at {})",
              s == 1 ? std::string("every pixel") : fmt::format("1 pixel in {} along rows and columns, spread to the rest", s),
              c.proposal_stride > 0 ? fmt::format("{}", c.proposal_stride) : std::string("0: automatic"), w, h,
              encoded);
  if (s <= 1) {
    for_ray_chunks(rays.origins, rays.directions, frame, c.unbounded_extent,
                   [&](const IbrRays& ir, int64_t begin, int64_t n) {
                     each(net.render(ir, src, bg.expand({n, 3}), false, 0), begin, n);
                   }, chunk);
    return;
  }
  SEMFIELD_ASSERT(rays.origins.size(0) == h * w, "render_view_chunks: one ray per pixel");
  const at::Tensor iy = at::tensor(proposal_grid(h, s), at::kLong), ix = at::tensor(proposal_grid(w, s), at::kLong);
  const auto on_grid = [&](const at::Tensor& t) {
    return t.reshape({h, w, -1}).index_select(0, iy).index_select(1, ix).reshape({-1, t.size(1)}).contiguous();
  };
  std::vector<at::Tensor> weights, rgb, opacity, depth;
  for_ray_chunks(on_grid(rays.origins), on_grid(rays.directions), frame, c.unbounded_extent,
                 [&](const IbrRays& ir, int64_t, int64_t n) {
                   const GpnerfProposal p = net.propose(ir, src, bg.expand({n, 3}));
                   weights.push_back(p.weights);
                   rgb.push_back(p.rgb);
                   opacity.push_back(p.opacity);
                   depth.push_back(p.depth);
                 }, chunk);
  const GpnerfProposal spread =
      spread_proposal({at::cat(weights), at::cat(rgb), at::cat(opacity), at::cat(depth), 0}, h, w, s);
  for_ray_chunks(rays.origins, rays.directions, frame, c.unbounded_extent,
                 [&](const IbrRays& ir, int64_t begin, int64_t n) {
                   const GpnerfProposal p{spread.weights.narrow(0, begin, n), spread.rgb.narrow(0, begin, n),
                                          spread.opacity.narrow(0, begin, n), spread.depth.narrow(0, begin, n), 0};
                   each(net.render_proposed(ir, src, bg.expand({n, 3}), p), begin, n);
                 }, chunk);
}

}  // namespace

GpnerfModel::GpnerfModel(GpnerfNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                         const Eigen::Vector3f& source_background, int source_views)
    : m_network(std::move(network)),
      m_scene(std::move(scene)),
      m_frame(frame),
      m_background(source_background),
      m_source_views(source_views > 0 ? source_views : m_network.config().source_views) {
  m_pool = m_scene->split(Split::Train);
  if (m_pool.empty()) fail_input(m_scene->root, "", "the scene has no training views to render from");
  for (const View* view : m_pool) {
    m_cameras.push_back(view->camera);
    m_colours.push_back(view_colours(*view, m_background));
  }
  SourceCameraBatch::from_cameras(m_cameras);  // refuses distorted cameras, naming the view
  m_spread = spread_views(m_cameras, m_source_views);
  m_features.resize(m_pool.size());
}

const GpnerfModel::PoolFeatures& GpnerfModel::features(int index) const {
  std::lock_guard<std::mutex> lock(m_mutex);
  PoolFeatures& slot = m_features[static_cast<size_t>(index)];
  if (!slot.rgb.defined()) {
    at::NoGradGuard no_grad;
    const ResNetFpn::Output f = m_network.extract(m_colours[static_cast<size_t>(index)].unsqueeze(0));
    slot.rgb = f.rgb.squeeze(0).permute({1, 2, 0}).contiguous();
    slot.semantic = f.semantic.squeeze(0).permute({1, 2, 0}).contiguous();
    if (m_network.config().colour_encoder == "own")
      slot.colour = m_network.encode_colour(m_colours[static_cast<size_t>(index)].unsqueeze(0)).squeeze(0);
  }
  return slot;
}

GpnerfSources GpnerfModel::sources(const std::vector<int>& indices) const {
  GpnerfSources s;
  std::vector<Camera> cams;
  std::vector<at::Tensor> colours, rgb, semantic, colour_features;
  for (int i : indices) {
    cams.push_back(m_cameras[static_cast<size_t>(i)]);
    colours.push_back(m_colours[static_cast<size_t>(i)]);
    const PoolFeatures& f = features(i);
    rgb.push_back(f.rgb);
    semantic.push_back(f.semantic);
    if (f.colour.defined()) colour_features.push_back(f.colour);
  }
  for (size_t k = 1; k < colours.size(); ++k)
    if (!colours[k].sizes().equals(colours[0].sizes()))
      fail_input(m_pool[static_cast<size_t>(indices[k])]->image_path, "",
                 "source views of an image-conditioned model must share one image size");
  s.cameras = SourceCameraBatch::from_cameras(cams);
  s.colours = at::stack(colours).permute({0, 2, 3, 1}).contiguous();
  s.rgb = at::stack(rgb);
  s.semantic = at::stack(semantic);
  if (!colour_features.empty()) s.colour_features = at::stack(colour_features);
  return s;
}

std::vector<int> GpnerfModel::source_indices_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const {
  return source_views_for_rays(origins, dirs, m_cameras, m_source_views);
}

RayRenderOutput GpnerfModel::render(const at::Tensor& origins, const at::Tensor& dirs,
                                    const at::Tensor& background) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  const at::Tensor bg = background.dim() == 1 ? background.reshape({1, 3}).expand({r, 3}) : background;
  RayRenderOutput out;
  if (r == 0) {
    out.rgb = at::zeros({0, 3});
    out.opacity = out.depth = at::zeros({0});
    return out;
  }
  const GpnerfSources src = sources(source_indices_for_rays(origins, dirs));
  std::vector<at::Tensor> rgb, opacity, depth;
  for_ray_chunks(origins, dirs, m_frame, m_network.config().unbounded_extent,
                 [&](const IbrRays& rays, int64_t begin, int64_t n) {
                   const GpnerfRenderOutput o = m_network.render(rays, src, bg.narrow(0, begin, n), false, 0);
                   rgb.push_back(o.rgb);
                   opacity.push_back(o.opacity);
                   depth.push_back(o.depth);
                   out.n_samples += o.n_samples;
                 });
  out.rgb = at::cat(rgb);
  out.opacity = at::cat(opacity);
  out.depth = at::cat(depth);
  return out;
}

WeightedSamples GpnerfModel::render_weights(const at::Tensor& origins, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  if (r == 0) return pack_weighted_samples(origins, dirs, at::zeros({0, 1}), at::zeros({0, 1}), at::zeros({0, 1}));
  std::vector<at::Tensor> ts, dts, weights;
  const GpnerfSources src = sources(source_indices_for_rays(origins, dirs));
  for_ray_chunks(origins, dirs, m_frame, m_network.config().unbounded_extent,
                 [&](const IbrRays& rays, int64_t, int64_t n) {
                   const GpnerfRenderOutput o = m_network.render(rays, src, at::ones({n, 3}), false, 0);
                   ts.push_back(o.ts);
                   dts.push_back(o.dts);
                   weights.push_back(o.weights);
                 });
  return pack_weighted_samples(origins, dirs, at::cat(ts), at::cat(dts), at::cat(weights));
}

at::Tensor GpnerfModel::density(const at::Tensor& points) const {
  return radiance(points, at::Tensor()).density;
}

PointRadiance GpnerfModel::radiance(const at::Tensor& points, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const GpnerfSources src = sources(m_spread);
  std::vector<at::Tensor> sigma, rgb;
  for (int64_t begin = 0; begin < points.size(0); begin += kGpPointChunk) {
    const int64_t n = std::min(kGpPointChunk, points.size(0) - begin);
    const at::Tensor p = points.narrow(0, begin, n);
    const at::Tensor d = dirs.defined() ? dirs.narrow(0, begin, n) : nearest_camera_dirs(p, src.cameras);
    auto [s, c] = m_network.point_density(p, d, src);
    sigma.push_back(s);
    rgb.push_back(c);
  }
  PointRadiance out;
  out.density = sigma.empty() ? at::zeros({0}) : at::cat(sigma);
  out.rgb = rgb.empty() ? at::zeros({0, 3}) : at::cat(rgb);
  return out;
}

ChannelStats GpnerfModel::channel_stats(size_t scale) const {
  SEMFIELD_ASSERT(scale == 0, "gp-nerf has one scale");
  return {at::zeros({m_network.classes()}), at::ones({m_network.classes()})};
}

SemanticRenderOutput GpnerfModel::render(const at::Tensor&, const at::Tensor&) const {
  fail_usage("gp-nerf segments whole views (its perception head reads a view's context): render views "
             "(`semfield render --semantic`, `eval`), not single rays");
}

std::vector<at::Tensor> GpnerfModel::point_outputs(const at::Tensor&) const {
  fail_usage("gp-nerf labels 2D views (its perception head decodes rendered feature maps); it gives no labels of "
             "3D points: use a gnesf run or a label field for label-points and 3D segmentation");
}

GpnerfView GpnerfModel::render_full(const Camera& camera, const Eigen::Vector3f& background) const {
  at::NoGradGuard no_grad;
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width,
                d = m_network.config().extractor.semantic_channels;
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const GpnerfSources src = sources(source_indices_for_rays(rays.origins, rays.directions));
  const at::Tensor bg = at::tensor({background.x(), background.y(), background.z()}).reshape({1, 3});
  std::vector<at::Tensor> rgb, semantic, opacity, depth, median;
  render_view_chunks(m_network, rays, h, w, m_frame, src, bg, [&](const GpnerfRenderOutput& o, int64_t, int64_t) {
                   rgb.push_back(o.rgb);
                   semantic.push_back(o.semantic);
                   opacity.push_back(o.opacity);
                   depth.push_back(o.depth);
                   median.push_back(median_depth(o.ts, o.weights));
                 }, m_view_chunk);
  GpnerfView out;
  out.rgb = at::cat(rgb).view({h, w, 3});
  out.semantic = at::cat(semantic).view({h, w, d}).permute({2, 0, 1}).contiguous();
  out.logits = m_network.decode_view(out.semantic.unsqueeze(0)).squeeze(0);
  if (m_network.has_instances()) out.instance_logits = m_network.decode_instances(out.semantic.unsqueeze(0)).squeeze(0);
  out.opacity = at::cat(opacity).view({h, w});
  out.depth = at::cat(depth).view({h, w});
  out.median_depth = at::cat(median).view({h, w});
  return out;
}

namespace {

// render_view's outputs of a whole view, per pixel in row-major order.
SemanticRenderOutput gp_semantic_output(const GpnerfView& v) {
  SemanticRenderOutput out;
  out.maps = {v.logits.reshape({v.logits.size(0), -1}).t().contiguous()};
  out.opacity = v.opacity.reshape({-1});
  out.depth = at::where(out.opacity > 1e-6f, v.depth.reshape({-1}) / out.opacity.clamp_min(1e-6f),
                        at::zeros_like(out.opacity));
  out.median_depth = v.median_depth.reshape({-1});
  out.latent = v.semantic.reshape({v.semantic.size(0), -1}).t().contiguous();
  if (v.instance_logits.defined())
    out.instances = v.instance_logits.reshape({v.instance_logits.size(0), -1}).t().contiguous();
  return out;
}

}  // namespace

SemanticRenderOutput GpnerfModel::render_view(const Camera& camera) const {
  return gp_semantic_output(render_full(camera, m_background));
}

SemanticRenderOutput GpnerfModel::render_view_with_colour(const Camera& camera,
                                                          const Eigen::Vector3f& background) const {
  const GpnerfView v = render_full(camera, background);
  SemanticRenderOutput out = gp_semantic_output(v);
  out.rgb = v.rgb.reshape({-1, 3});
  return out;
}

at::Tensor GpnerfModel::render_instances(const Camera& camera) const {
  if (!m_network.has_instances())
    fail_usage("this gp-nerf model has no instance head (fine-tune one on the scene: apply --finetune-steps K "
               "--finetune-config '{{\"instance_slots\": 16}}')");
  return SemanticSource::render_instances(camera);  // from render_view: one pass with the classes
}

std::unique_ptr<SceneModel> create_gpnerf_model(const ModelBinding& binding) {
  GpnerfNetwork network(gpnerf_config_from_json(binding.config, binding.origin));
  network.load_state(binding.weights, binding.origin);
  return std::make_unique<GpnerfModel>(std::move(network), binding.scene, binding.frame, binding.background,
                                       binding.source_views);
}

std::unique_ptr<CorpusModel> create_gpnerf_trainable(const nlohmann::json& config, const std::string& origin) {
  return std::make_unique<GpnerfCorpusModel>(gpnerf_config_from_json(config, origin));
}

std::vector<double> GpnerfCorpusModel::lr_scales() const {
  const GpnerfLrScale& s = m_network.config().lr_scale;
  std::vector<double> out;
  for (const auto& [name, t] : m_network.named_parameters())
    out.push_back(starts_with(name, "extractor.backbone.") && s.backbone >= 0 ? s.backbone
                  : starts_with(name, "extractor.")     ? s.extractor
                  : starts_with(name, "head.")          ? s.head
                  : starts_with(name, "instance_head.") ? s.instance_head
                  : starts_with(name, "colour.")        ? s.colour
                                                        : s.transformer);
  return out;
}

LabelInputs GpnerfCorpusModel::label_inputs() const {
  LabelInputs in;
  in.needed = true;
  in.sources = false;
  in.gt = "semantic";
  return in;
}

void GpnerfCorpusModel::initialise_from(const std::string& type, const nlohmann::json& config,
                                        const TensorMap& weights, const std::string& origin) {
  if (type == "ibr") {
    const IbrConfig ibr = ibr_config_from_json(config, origin);
    const ResUNetConfig& mine = m_network.config().extractor.backbone;
    if (ibr.encoder.base_channels != mine.base_channels || ibr.encoder.out_channels != mine.out_channels)
      fail_input(origin, "encoder",
                 "its encoder (base {}, out {}) differs from the extractor's backbone (base {}, rgb {})",
                 ibr.encoder.base_channels, ibr.encoder.out_channels, mine.base_channels, mine.out_channels);
    TensorMap encoder;
    for (const auto& [key, t] : weights)
      if (key.rfind("encoder.", 0) == 0) encoder[key.substr(8)] = t;
    m_network.extractor().backbone().load_state(encoder, origin);
    // The "ibr" colour's head is that network without its encoder: it starts from the file's.
    if (m_network.config().colour == "ibr") {
      const IbrConfig head = GpnerfNetwork::colour_head_config(m_network.config());
      if (ibr.view_hidden != head.view_hidden || ibr.view_features != head.view_features ||
          ibr.point_features != head.point_features)
        fail_input(origin, "", "its view / point widths ({}, {}, {}) differ from the colour head's ({}, {}, {})",
                   ibr.view_hidden, ibr.view_features, ibr.point_features, head.view_hidden, head.view_features,
                   head.point_features);
      std::vector<std::pair<std::string, at::Tensor>> named;
      TensorMap renamed;
      for (auto& [name, t] : m_network.named_parameters())
        if (name.rfind("colour.", 0) == 0) {
          named.emplace_back(name, t);
          auto it = weights.find(name.substr(7));
          if (it != weights.end()) renamed[name] = it->second;
        }
      restore_tensors(renamed, named, origin);
    }
    return;
  }
  if (type != "gp-nerf")
    fail_input(origin, "", "a model of type {} cannot initialise one of type gp-nerf (ibr or gp-nerf can)", type);
  // Another gp-nerf model with the same architecture (its switches and loss weights may differ: ablations); an
  // instance head, learned blend weights or an "ibr" colour head it lacks keep their initialisation.
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& [name, t] : m_network.named_parameters())
    if ((name.rfind("instance_head.", 0) != 0 && name.rfind("transformer.blend.", 0) != 0 &&
         name.rfind("colour.", 0) != 0) ||
        weights.count(name))
      named.emplace_back(name, t);
  restore_tensors(weights, named, origin);
}

at::Tensor model_class_ids(const at::Tensor& ids, const std::vector<std::string>& label_names,
                           const std::vector<std::string>& classes) {
  const int64_t k = static_cast<int64_t>(classes.size());
  if (ids.numel() == 0) return ids.to(at::kLong);
  const int64_t top = std::max<int64_t>(ids.max().item<int64_t>(), 0);
  std::vector<int64_t> lut(static_cast<size_t>(top) + 1, -1);
  bool named = false;
  for (const std::string& n : label_names) named = named || !n.empty();
  for (int64_t id = 0; id <= top; ++id) {
    if (!named) {
      lut[static_cast<size_t>(id)] = id < k ? id : -1;
      continue;
    }
    if (id >= static_cast<int64_t>(label_names.size()) || label_names[static_cast<size_t>(id)].empty()) continue;
    const std::string key = class_name_key(label_names[static_cast<size_t>(id)]);
    const auto it = std::find_if(classes.begin(), classes.end(),
                                 [&](const std::string& c) { return class_name_key(c) == key; });
    if (it != classes.end()) lut[static_cast<size_t>(id)] = it - classes.begin();
  }
  const at::Tensor table = at::tensor(lut, at::kLong);
  const at::Tensor l = ids.to(at::kLong);
  return at::where(l.ge(0), table.index_select(0, l.clamp_min(0).reshape({-1})).view(l.sizes()), at::full_like(l, -1));
}

nlohmann::json GpnerfCorpusModel::config_json() const {
  GpnerfConfig c = m_network.config();
  if (c.encode_size == 0) c.encode_size = static_cast<int>(m_seen_side.common());
  return to_json(c);
}

nlohmann::json GpnerfCorpusModel::scene_finetune_config() const {
  const int encode = m_network.config().encode_size;
  if (encode <= 0) return nullptr;
  return {{"encode_size", std::min(2 * encode, 4096)}};
}

nlohmann::json GpnerfCorpusModel::head_stage_config() const {
  nlohmann::json config = config_json();
  config["head_input"] = "rendered";
  return config;
}

at::Tensor GpnerfCorpusModel::rendered_target_map(const CorpusExample& ex) const {
  at::NoGradGuard no_grad;
  const GpnerfSources sources = m_network.prepare(ex.source_cameras, ex.source_colours);
  const kernels::Rays rays = kernels::generate_image_rays(ex.target_camera);
  const at::Tensor bg = ex.background.narrow(0, 0, 1);
  const int64_t h = ex.target_camera.intrinsics.height, w = ex.target_camera.intrinsics.width;
  std::vector<at::Tensor> semantic;
  render_view_chunks(m_network, rays, h, w, ex.frame, sources, bg,
                     [&](const GpnerfRenderOutput& o, int64_t, int64_t) { semantic.push_back(o.semantic); });
  return at::cat(semantic)
      .view({h, w, -1})
      .permute({2, 0, 1})
      .contiguous();
}

void GpnerfCorpusModel::head_losses(const CorpusExample& ex, const at::Tensor& map, GpnerfLosses& l) const {
  const GpnerfConfig& c = m_network.config();
  const at::Tensor logits = m_network.decode(map.unsqueeze(0));  // [1,K,H,W]
  const at::Tensor labels = ex.target_label_map.defined()
                                ? model_class_ids(ex.target_label_map, ex.label_names, c.classes)
                                : at::full({map.size(1), map.size(2)}, -1, at::kLong);
  l.semantic = labels.ge(0).any().item<bool>()
                   ? at::cross_entropy_loss(logits, labels.unsqueeze(0), {}, at::Reduction::Mean, -1)
                   : logits.sum() * 0.0f;
  l.instance = m_network.has_instances() && ex.target_instance_map.defined()
                   ? instance_loss(m_network.decode_instances(map.unsqueeze(0)).squeeze(0).flatten(1),
                                   ex.target_instance_map.reshape({-1}))
                   : logits.sum() * 0.0f;
}

GpnerfLosses GpnerfCorpusModel::head_only_losses(const CorpusExample& ex, const at::Tensor& map) const {
  const GpnerfLossWeights& w = m_network.config().loss;
  GpnerfLosses l;
  head_losses(ex, map, l);
  l.rgb = l.point = l.distill = l.depth_guided = l.surface_rgb = l.surface_pool = l.semantic * 0.0f;  // with a graph
  l.total = l.semantic * w.semantic + l.instance * w.instance;
  l.samples = map.size(1) * map.size(2);
  return l;
}

bool colour_loss_only(const GpnerfConfig& c) {
  const GpnerfLossWeights& w = c.loss;
  return c.colour == "ibr" && w.rgb > 0 && w.point == 0 && w.semantic == 0 && w.distill == 0 && w.depth_guided == 0 &&
         w.instance == 0 && w.surface_rgb == 0 && w.surface_pool == 0;
}

GpnerfLosses GpnerfCorpusModel::losses(const CorpusExample& ex, uint64_t seed) const {
  const GpnerfConfig& c = m_network.config();
  m_seen_side.observe(ex.source_colours);
  if (!ex.target_image.defined() || !ex.ray_pixels.defined())
    fail_usage("gp-nerf trains on whole target views (the corpus trainer gives them: CorpusModel::target_views)");
  if (c.head_input == "rendered") {
    // The heads alone, on the map a novel view gives them.
    return head_only_losses(ex, rendered_target_map(ex));
  }
  if (c.head_input == "segmenter") {
    // The extractor and the heads as a 2D segmenter of the target image, mirrored on every other example.
    const bool flip = (seed >> 7) & 1;
    const auto mirror = [&](const at::Tensor& t) { return flip && t.defined() ? t.flip({-1}).contiguous() : t; };
    CorpusExample target;
    target.target_label_map = mirror(ex.target_label_map);
    target.target_instance_map = mirror(ex.target_instance_map);
    target.label_names = ex.label_names;
    return head_only_losses(target, m_network.novel_semantics(mirror(ex.target_image).unsqueeze(0)).squeeze(0));
  }
  const GpnerfSources sources = m_network.prepare(ex.source_cameras, ex.source_colours);
  const IbrRays rays = ibr_rays(ex.origins, ex.dirs, ex.frame, c.unbounded_extent);
  if (colour_loss_only(c)) {
    // A stage that trains the "ibr" colour alone: nothing else is weighed, so the fine pass's transformers, S_novel
    // and the heads stay idle.
    GpnerfLosses l;
    l.rgb = at::mse_loss(m_network.render_colour(rays, sources, ex.background, seed), ex.target);
    l.mse = l.rgb.item<double>();
    l.samples = (rays.far - rays.near).gt(1e-6f).sum().item<int64_t>() * (c.n_coarse + c.n_fine);  // as render counts
    if (at::GradMode::is_enabled() && !l.rgb.requires_grad()) {
      // Every ray missed the box (the background alone): a loss of 0 gradient that backward() still accepts.
      l.rgb = l.rgb + m_network.parameters().front().sum() * 0.0f;
    }
    l.point = l.semantic = l.distill = l.depth_guided = l.instance = l.surface_rgb = l.surface_pool = l.rgb * 0.0f;
    l.total = l.rgb * c.loss.rgb;
    return l;
  }
  const GpnerfRenderOutput out = m_network.render(rays, sources, ex.background, true, seed);
  GpnerfLosses l;
  l.rgb = at::mse_loss(out.rgb, ex.target);
  l.point = at::mse_loss(out.rgb_point, ex.target) + at::mse_loss(out.rgb_point_fine, ex.target);
  l.mse = l.rgb.item<double>();
  l.samples = out.n_samples;

  // S_novel: the extractor's map of the target image; the distillation teacher is detached (gradient block).
  const at::Tensor novel = m_network.novel_semantics(ex.target_image.unsqueeze(0)).squeeze(0);  // [D,H,W]
  const int64_t d = novel.size(0), r = ex.ray_pixels.size(0), s = out.ts.size(1);
  const at::Tensor teacher = novel.detach().reshape({d, -1}).index_select(1, ex.ray_pixels).t();  // [R,D]
  l.distill = (1.0f - at::cosine_similarity(out.semantic, teacher, 1, 1e-8)).mean();

  // Eq. 12-13: samples within N_p of the surface sample are pulled to the teacher, the others pushed off it. The
  // surface sample is the one nearest the target's depth where the scene has depth maps, else the ray attention's
  // arg-max; rays whose depth map shows nothing are left out.
  at::Tensor index, include;
  if (ex.target_depth_map.defined()) {
    const at::Tensor z = ex.target_depth_map.reshape({-1}).index_select(0, ex.ray_pixels);
    const at::Tensor t = kernels::ray_distance_from_z(ex.target_camera, ex.dirs, z);
    index = (out.ts - t.unsqueeze(1)).abs().argmin(1);
    include = z.gt(0).to(at::kFloat);
  } else {
    index = out.ray_attention.detach().argmax(1);
    include = at::ones({r});
  }
  const at::Tensor positive = near_surface_mask(index, s, c.depth_guided_np);
  const at::Tensor per_sample = cosine_embedding(out.point_semantic, teacher.unsqueeze(1), positive);  // [R,S]
  l.depth_guided = (per_sample * include.unsqueeze(1)).sum() / (include.sum() * static_cast<float>(s)).clamp_min(1.0f);

  // The colour at the surface (not in the paper; with depth maps only): the blend of the sample nearest the surface
  // against the pixel, and the pooling's mass near that sample.
  l.surface_rgb = l.surface_pool = l.rgb * 0.0f;
  if (ex.target_depth_map.defined() && out.sample_rgb.defined() && (c.loss.surface_rgb > 0 || c.loss.surface_pool > 0)) {
    const at::Tensor rays_in = include * out.valid.gather(1, index.unsqueeze(1)).squeeze(1).to(at::kFloat);  // [R]
    const at::Tensor n_in = rays_in.sum().clamp_min(1.0f);
    if (c.loss.surface_rgb > 0) {
      const at::Tensor at_surface = out.sample_rgb.gather(1, index.view({r, 1, 1}).expand({r, 1, 3})).squeeze(1);
      l.surface_rgb = ((at_surface - ex.target).pow(2).mean(1) * rays_in).sum() / n_in;
    }
    if (c.loss.surface_pool > 0 && out.sample_score.defined()) {
      const at::Tensor pool = at::softmax(out.sample_score.masked_fill(out.valid.logical_not(), -1e9), 1);
      const at::Tensor near = (pool * positive.to(pool.scalar_type())).sum(1);
      l.surface_pool = (-at::log(near.clamp_min(1e-6f)) * rays_in).sum() / n_in;
    }
  }

  // The perception head on the target view's map: rendered pixels fused into S_novel (Fig. 3a) or S_novel alone.
  head_losses(ex, c.head_input == "fused" ? fuse_rendered(novel, ex.ray_pixels, out.semantic) : novel, l);
  const GpnerfLossWeights& w = c.loss;
  l.total = l.rgb * w.rgb + l.point * w.point + l.semantic * w.semantic + l.distill * w.distill +
            l.depth_guided * w.depth_guided + l.instance * w.instance + l.surface_rgb * w.surface_rgb +
            l.surface_pool * w.surface_pool;
  return l;
}

CorpusLoss GpnerfCorpusModel::loss(const CorpusExample& example, uint64_t seed) const {
  const GpnerfLosses l = losses(example, seed);
  CorpusLoss out;
  out.loss = l.total;
  out.mse = l.mse;
  out.samples = l.samples;
  return out;
}

std::unique_ptr<SceneModel> GpnerfCorpusModel::bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                                    const Eigen::Vector3f& background, int source_views) const {
  return std::make_unique<GpnerfModel>(m_network, std::move(scene), frame, background, source_views);
}

}  // namespace semfield
