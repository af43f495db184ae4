// FeatureNeRF bound to an object, and its training losses (featurenerf_model.h).
#include "semfield/models/featurenerf/featurenerf_model.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Geometry>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/scene_framing.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/ibr/ray_samples.h"
#include "semfield/teachers/dino_keys.h"

namespace semfield {

namespace {

// Rays per network pass: 512 x 48 samples keeps each pass's [N, 512] descriptors at ~50 MB (2,048 rays: ~200 MB of
// fresh pages per pass, ~5 % of a 128² map; BENCHMARKS.md "FeatureNeRF on unseen chairs").
constexpr int64_t kFnRayChunk = 512;
constexpr int64_t kFnPointChunk = 32768;  // points per pass for point queries
constexpr double kFnUnboundedExtent = 4.0;


}  // namespace

at::Tensor featurenerf_colour_jitter_map(double strength, uint64_t seed) {
  SEMFIELD_ASSERT(strength >= 0 && strength <= 1, "colour jitter strength out of [0, 1]");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor u = at::rand({3}, gen, at::TensorOptions().dtype(at::kDouble)) * 2.0 - 1.0;  // U(-1, 1) each
  const double s = std::exp(strength * u[0].item<double>()), a = std::exp(strength * u[1].item<double>());
  const double theta = M_PI * strength * u[2].item<double>();
  const Eigen::Vector3d grey = Eigen::Vector3d::Ones().normalized();
  const Eigen::Matrix3d P = grey * grey.transpose(), Q = Eigen::Matrix3d::Identity() - P;
  const Eigen::Matrix3d R = Eigen::AngleAxisd(theta, grey).toRotationMatrix();
  const Eigen::Matrix<float, 3, 3, Eigen::RowMajor> M = (s * (P + a * R * Q)).cast<float>();
  return at::tensor(at::ArrayRef<float>(M.data(), 9)).view({3, 3});
}

at::Tensor featurenerf_apply_colour_jitter(const at::Tensor& colours, const at::Tensor& map, int64_t channel_dim) {
  SEMFIELD_ASSERT(colours.size(channel_dim) == 3, "colour jitter needs 3 channels");
  const at::Tensor ink = (1.0f - colours).movedim(channel_dim, -1);  // [..., 3]
  const at::Tensor out = 1.0f - at::matmul(ink, map.to(colours.device()).t());
  return out.clamp(0.0f, 1.0f).movedim(-1, channel_dim).contiguous();
}

at::Tensor canonical_points_from_depth(const Camera& camera, const at::Tensor& depth, const SceneFrame& frame) {
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  SEMFIELD_ASSERT(depth.dim() == 2 && depth.size(0) == h && depth.size(1) == w, "depth map does not fit the camera");
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const at::Tensor z = depth.reshape({-1, 1}).to(at::kFloat);
  const at::Tensor t = kernels::ray_distance_from_z(camera, rays.directions, z);
  const at::Tensor world = frame.to_model(rays.origins + rays.directions * t);
  return (world * z.gt(0).to(at::kFloat)).view({h, w, 3});
}

// ---- bound model ----

FeatureNerfModel::FeatureNerfModel(FeatureNerfNetwork network, std::shared_ptr<const Scene> scene,
                                   const SceneFrame& frame, const Eigen::Vector3f& source_background, int source_views)
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
  for (size_t k = 1; k < m_colours.size(); ++k)
    if (!m_colours[k].sizes().equals(m_colours[0].sizes()))
      fail_input(m_pool[k]->image_path, "", "source views of an image-conditioned model must share one image size");
  SourceCameraBatch::from_cameras(m_cameras);  // refuses distorted cameras, naming the view
  m_spread = spread_views(m_cameras, m_source_views);
  m_injections.resize(m_pool.size());
}

std::vector<std::string> FeatureNerfModel::source_names() const {
  std::vector<std::string> out;
  for (const View* v : m_pool) out.push_back(v->name);
  return out;
}

FeatureNerfSources FeatureNerfModel::sources_of(const std::vector<int>& indices) const {
  at::NoGradGuard no_grad;
  std::vector<Camera> cams;
  std::vector<at::Tensor> inj;
  for (int i : indices) {
    cams.push_back(m_cameras[static_cast<size_t>(i)]);
    std::lock_guard<std::mutex> lock(m_mutex);
    at::Tensor& slot = m_injections[static_cast<size_t>(i)];
    if (!slot.defined())
      slot = m_network.sources(m_colours[static_cast<size_t>(i)].unsqueeze(0), {m_cameras[static_cast<size_t>(i)]},
                               m_frame.world_scale())
                 .injections.squeeze(0);
    inj.push_back(slot);
  }
  FeatureNerfSources s;
  s.cameras = SourceCameraBatch::from_cameras(cams);
  s.injections = at::stack(inj);
  s.world_scale = m_frame.world_scale();
  return s;
}

FeatureNerfSources FeatureNerfModel::sources_for(const at::Tensor& origins, const at::Tensor& dirs) const {
  if (static_cast<int>(m_pool.size()) <= m_source_views || origins.size(0) == 0) return sources_of(m_spread);
  return sources_of(source_views_for_rays(origins, dirs, m_cameras, m_source_views));
}

RayRenderOutput FeatureNerfModel::render(const at::Tensor& origins, const at::Tensor& dirs,
                                         const at::Tensor& background) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  const FeatureNerfSources src = sources_for(origins, dirs);
  const at::Tensor bg = background.dim() == 1 ? background.reshape({1, 3}).expand({r, 3}) : background;
  std::vector<at::Tensor> rgb, opacity, depth;
  RayRenderOutput out;
  for (int64_t begin = 0; begin < r; begin += kFnRayChunk) {
    const int64_t n = std::min(kFnRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_frame, kFnUnboundedExtent);
    const FeatureNerfRenderOutput o = m_network.render(rays, src, bg.narrow(0, begin, n), nullptr, false, true);
    rgb.push_back(o.rgb);
    opacity.push_back(o.opacity);
    depth.push_back(o.depth);
    out.n_samples += o.n_samples;
  }
  out.rgb = r > 0 ? at::cat(rgb) : at::zeros({0, 3});
  out.opacity = r > 0 ? at::cat(opacity) : at::zeros({0});
  out.depth = r > 0 ? at::cat(depth) : at::zeros({0});
  return out;
}

WeightedSamples FeatureNerfModel::render_weights(const at::Tensor& origins, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  if (r == 0) return pack_weighted_samples(origins, dirs, at::zeros({0, 1}), at::zeros({0, 1}), at::zeros({0, 1}));
  const FeatureNerfSources src = sources_for(origins, dirs);
  std::vector<at::Tensor> ts, dts, weights;
  for (int64_t begin = 0; begin < r; begin += kFnRayChunk) {
    const int64_t n = std::min(kFnRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_frame, kFnUnboundedExtent);
    const FeatureNerfRenderOutput o = m_network.render(rays, src, at::ones({n, 3}), nullptr, false, true);
    ts.push_back(o.ts);
    dts.push_back(o.dts);
    weights.push_back(o.weights);
  }
  return pack_weighted_samples(origins, dirs, at::cat(ts), at::cat(dts), at::cat(weights));
}

at::Tensor FeatureNerfModel::density(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  const FeatureNerfSources src = sources_of(m_spread);
  std::vector<at::Tensor> out;
  for (int64_t begin = 0; begin < points.size(0); begin += kFnPointChunk) {
    const int64_t n = std::min(kFnPointChunk, points.size(0) - begin);
    const at::Tensor p = points.narrow(0, begin, n);
    out.push_back(m_network.points(p, nearest_camera_dirs(p, src.cameras), src, true).sigma);
  }
  return out.empty() ? at::zeros({0}) : at::cat(out);
}

PointRadiance FeatureNerfModel::radiance(const at::Tensor& points, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const FeatureNerfSources src = sources_of(m_spread);
  std::vector<at::Tensor> sigma, rgb;
  for (int64_t begin = 0; begin < points.size(0); begin += kFnPointChunk) {
    const int64_t n = std::min(kFnPointChunk, points.size(0) - begin);
    const FeatureNerfPoints p = m_network.points(points.narrow(0, begin, n), dirs.narrow(0, begin, n), src, true);
    sigma.push_back(p.sigma);
    rgb.push_back(p.rgb);
  }
  PointRadiance out;
  out.density = sigma.empty() ? at::zeros({0}) : at::cat(sigma);
  out.rgb = rgb.empty() ? at::zeros({0, 3}) : at::cat(rgb);
  return out;
}

std::vector<int64_t> FeatureNerfModel::channels() const {
  const FeatureNerfConfig& c = m_network.config();
  if (c.descriptor == "output" && m_network.has_teacher_head()) return {c.teacher_dim};
  return {c.feature_dim};
}

ChannelStats FeatureNerfModel::channel_stats(size_t scale) const {
  SEMFIELD_ASSERT(scale == 0, "featurenerf has one scale");
  const int64_t c = channels()[0];
  return {at::zeros({c}), at::ones({c})};
}

bool FeatureNerfModel::reads_output() const {
  return m_network.config().descriptor == "output" && m_network.has_teacher_head();
}

int64_t FeatureNerfModel::readout_channels(Readout readout) const {
  switch (readout) {
    case Readout::Descriptor: return channels()[0];
    case Readout::Coordinate: return 3;
    case Readout::Both: return channels()[0] + 3;
  }
  return 0;
}

at::Tensor FeatureNerfModel::pick(const FeatureNerfPoints& p, Readout readout) const {
  const at::Tensor& descriptor = reads_output() ? p.feature : p.internal;
  switch (readout) {
    case Readout::Descriptor: return descriptor;
    case Readout::Coordinate: return p.coord;
    case Readout::Both: return at::cat({descriptor, p.coord}, 1);
  }
  return {};
}

namespace {

/// A readout's composited rows [R, dim] -> what a view shows: x̂ columns (the last three, when the readout has them)
/// are the expected x̂ given the ray hits, so they are divided by the opacity; descriptors stay as composited.
at::Tensor fn_view_rows(at::Tensor composited, const at::Tensor& opacity, FeatureNerfModel::Readout readout) {
  if (readout == FeatureNerfModel::Readout::Descriptor) return composited;
  const int64_t d = composited.size(1);
  composited.narrow(1, d - 3, 3).div_(opacity.clamp_min(1e-6f).unsqueeze(1));
  return composited;
}

}  // namespace

SemanticRenderOutput FeatureNerfModel::render(const at::Tensor& origins, const at::Tensor& dirs) const {
  return render_rays(origins, dirs, Readout::Descriptor);
}

SemanticRenderOutput FeatureNerfModel::render_rays(const at::Tensor& origins, const at::Tensor& dirs,
                                                   Readout readout) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  const bool coordinate = readout != Readout::Descriptor, output = reads_output();
  const bool internal = !output && readout != Readout::Coordinate;
  const int64_t dim = readout_channels(readout);
  const FeatureNerfSources src = sources_for(origins, dirs);
  std::vector<at::Tensor> maps, opacity, depth, median;
  for (int64_t begin = 0; begin < r; begin += kFnRayChunk) {
    const int64_t n = std::min(kFnRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_frame, kFnUnboundedExtent);
    const FeatureNerfRenderOutput o = m_network.render(rays, src, at::ones({n, 3}), nullptr, internal);
    const at::Tensor& descriptor = output ? o.feature : o.internal;
    const at::Tensor coord = coordinate ? (o.weights.unsqueeze(2) * o.coord).sum(1) : at::Tensor();
    const at::Tensor rows = readout == Readout::Descriptor ? descriptor
                            : readout == Readout::Coordinate ? coord
                                                             : at::cat({descriptor, coord}, 1);
    maps.push_back(fn_view_rows(rows, o.opacity, readout));
    opacity.push_back(o.opacity);
    depth.push_back(at::where(o.opacity.gt(1e-6f), o.depth / o.opacity.clamp_min(1e-6f), at::zeros_like(o.depth)));
    median.push_back(median_depth(o.ts, o.weights));
  }
  SemanticRenderOutput out;
  out.maps = {r > 0 ? at::cat(maps) : at::zeros({0, dim})};
  out.opacity = r > 0 ? at::cat(opacity) : at::zeros({0});
  out.depth = r > 0 ? at::cat(depth) : at::zeros({0});
  out.median_depth = r > 0 ? at::cat(median) : at::zeros({0});
  return out;
}

SemanticRenderOutput FeatureNerfModel::render_view(const Camera& camera) const {
  return render_view(camera, Readout::Descriptor);
}

SemanticRenderOutput FeatureNerfModel::render_view(const Camera& camera, Readout readout) const {
  at::NoGradGuard no_grad;
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  constexpr int kFactor = 4;
  if (std::min(h, w) < 4 * kFactor) {
    const kernels::Rays rays = kernels::generate_image_rays(camera);
    return render_rays(rays.origins, rays.directions, readout);
  }
  const FeatureNerfConfig& c = m_network.config();
  // 1. The full render at 1/4 resolution: where the surface is.
  Camera low = camera;
  low.intrinsics = camera.intrinsics.downscaled(kFactor);
  const int64_t lh = low.intrinsics.height, lw = low.intrinsics.width;
  const kernels::Rays low_rays = kernels::generate_image_rays(low);
  const FeatureNerfSources src = sources_for(low_rays.origins, low_rays.directions);
  const IbrRays lr = ibr_rays(low_rays.origins, low_rays.directions, m_frame, kFnUnboundedExtent);
  const FeatureNerfRenderOutput lo = m_network.render(lr, src, at::ones({lh * lw, 3}), nullptr, false, true);
  const at::Tensor surface = lo.opacity.gt(0.05f);
  const at::Tensor med = median_depth(lo.ts, lo.weights);
  const float big = 1e30f;
  const at::Tensor dmin = at::where(surface, med, at::full_like(med, big)).view({1, 1, lh, lw});
  const at::Tensor dmax = at::where(surface, med, at::full_like(med, -big)).view({1, 1, lh, lw});
  // 3 x 3 neighbourhoods, then nearest upsampling to full resolution.
  const at::Tensor nmin = -at::max_pool2d(-dmin, {3, 3}, {1, 1}, {1, 1});
  const at::Tensor nmax = at::max_pool2d(dmax, {3, 3}, {1, 1}, {1, 1});
  const auto up = [&](const at::Tensor& m) {
    return at::upsample_nearest2d(m, {h, w}).reshape({-1});
  };
  const at::Tensor fmin = up(nmin), fmax = up(nmax);
  const at::Tensor candidate = fmax.ge(fmin);
  const at::Tensor idx = at::nonzero(candidate).view({-1});
  // 2. The candidates' short ray segments, composited.
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const IbrRays full = ibr_rays(rays.origins, rays.directions, m_frame, kFnUnboundedExtent);
  const int64_t r = h * w, dim = readout_channels(readout);
  SemanticRenderOutput out;
  at::Tensor maps = at::zeros({r, dim}), opacity = at::zeros({r}), depth = at::zeros({r}), median = at::zeros({r});
  const at::Tensor interval = ((full.far - full.near) / static_cast<float>(c.n_coarse)).index_select(0, idx);
  const at::Tensor near = at::maximum(fmin.index_select(0, idx) - 2 * interval, full.near.index_select(0, idx));
  const at::Tensor far = at::minimum(fmax.index_select(0, idx) + 2 * interval, full.far.index_select(0, idx));
  const at::Tensor o_all = rays.origins.index_select(0, idx), d_all = rays.directions.index_select(0, idx);
  for (int64_t begin = 0; begin < idx.size(0); begin += kFnRayChunk) {
    const int64_t n = std::min(kFnRayChunk, idx.size(0) - begin);
    const at::Tensor nr = near.narrow(0, begin, n), fr = at::maximum(far.narrow(0, begin, n), near.narrow(0, begin, n));
    const at::Tensor ts = stratified_samples(nr, fr, kViewRefineSamples, nullptr);
    const at::Tensor o = o_all.narrow(0, begin, n), d = d_all.narrow(0, begin, n);
    const at::Tensor pts = o.unsqueeze(1) + d.unsqueeze(1) * ts.unsqueeze(2);
    const FeatureNerfPoints p = m_network.points(
        pts.reshape({-1, 3}), d.unsqueeze(1).expand({n, kViewRefineSamples, 3}).reshape({-1, 3}), src, true);
    const at::Tensor dts = sample_intervals(ts, nr, fr);
    const SampleComposite comp = composite_samples(p.sigma.view({n, -1}), p.rgb.view({n, -1, 3}), ts, dts,
                                                   at::ones({n, 3}));
    const at::Tensor f = pick(p, readout);
    const at::Tensor rows = idx.narrow(0, begin, n);
    const at::Tensor composited = (comp.weights.unsqueeze(2) * f.view({n, kViewRefineSamples, -1})).sum(1);
    maps.index_copy_(0, rows, fn_view_rows(composited, comp.opacity, readout));
    opacity.index_copy_(0, rows, comp.opacity);
    depth.index_copy_(0, rows, at::where(comp.opacity.gt(1e-6f), comp.depth / comp.opacity.clamp_min(1e-6f),
                                         at::zeros_like(comp.depth)));
    median.index_copy_(0, rows, median_depth(ts, comp.weights));
  }
  out.maps = {maps};
  out.opacity = opacity;
  out.depth = depth;
  out.median_depth = median;
  return out;
}

at::Tensor FeatureNerfModel::readout_at(const at::Tensor& points, const FeatureNerfSources& src,
                                        Readout readout) const {
  // The direction of the first source camera's ray through each point (the authors' code: the source view's ray).
  const at::Tensor centre = src.cameras.origins.select(0, 0).unsqueeze(0);
  const at::Tensor offset = points - centre;
  const at::Tensor dirs = offset / offset.norm(2, 1, true).clamp_min(1e-9f);
  const FeatureNerfPoints p = m_network.points(points, dirs, src, readout != Readout::Descriptor || reads_output());
  return pick(p, readout);
}

namespace {

void require_coordinate_head(const FeatureNerfModel& model) {
  if (!model.has_canonical_positions())
    fail_usage("this FeatureNeRF model was trained without the coordinate loss (loss.coord 0): its coordinate head "
               "regresses no canonical positions");
}

}  // namespace

SemanticRenderOutput FeatureNerfModel::render_view_with_canonical_positions(const Camera& camera) const {
  require_coordinate_head(*this);
  SemanticRenderOutput out = render_view(camera, Readout::Both);
  const at::Tensor both = out.maps[0];
  const int64_t c = both.size(1) - 3;
  out.maps = {both.narrow(1, 0, c).contiguous()};
  out.canonical_positions = both.narrow(1, c, 3).contiguous();
  return out;
}

PointOutputs FeatureNerfModel::point_outputs_with_canonical_positions(const at::Tensor& points) const {
  require_coordinate_head(*this);
  const at::Tensor both = point_readout(points, Readout::Both);
  const int64_t c = both.size(1) - 3;
  return {{both.narrow(1, 0, c).contiguous()}, both.narrow(1, c, 3).contiguous()};
}

std::vector<at::Tensor> FeatureNerfModel::point_outputs(const at::Tensor& points) const {
  return {point_readout(points, Readout::Descriptor)};
}

at::Tensor FeatureNerfModel::point_readout(const at::Tensor& points, Readout readout) const {
  if (points.dim() != 2 || points.size(1) != 3)
    fail_usage("featurenerf: points must be [N, 3], got {} dimensions", points.dim());
  at::NoGradGuard no_grad;
  const FeatureNerfSources src = sources_of(m_spread);
  std::vector<at::Tensor> out;
  for (int64_t begin = 0; begin < points.size(0); begin += kFnPointChunk)
    out.push_back(readout_at(points.narrow(0, begin, std::min(kFnPointChunk, points.size(0) - begin)), src, readout));
  return out.empty() ? at::zeros({0, readout_channels(readout)}) : at::cat(out);
}

// ---- registry hooks ----

std::unique_ptr<SceneModel> create_featurenerf_model(const ModelBinding& binding) {
  FeatureNerfNetwork network(featurenerf_config_from_json(binding.config, binding.origin));
  network.load_state(binding.weights, binding.origin);
  return std::make_unique<FeatureNerfModel>(std::move(network), binding.scene, binding.frame, binding.background,
                                            binding.source_views);
}

std::unique_ptr<CorpusModel> create_featurenerf_trainable(const nlohmann::json& config, const std::string& origin) {
  return std::make_unique<FeatureNerfCorpusModel>(featurenerf_config_from_json(config, origin));
}

SceneFrame featurenerf_scene_frame(const Scene& scene, const nlohmann::json& config, const SceneFrame& own) {
  const double distance = featurenerf_config_from_json(config, "the model's config").camera_distance;
  if (!(distance > 0)) return own;
  // Every camera of the scene (poses only: no image beyond the source view is read), those of frames without an
  // image too (an instance given as its source image and the cameras to transfer to), in the files' world frame.
  std::vector<Camera> cameras;
  const auto add = [&](const Camera& normalised) {
    Camera camera = normalised;
    camera.c2w.block<3, 1>(0, 3) = scene.normalization.invert(normalised.origin());
    cameras.push_back(camera);
  };
  for (const View& view : scene.views) add(view.camera);
  for (const ImagelessCamera& c : scene.imageless) add(c.camera);
  const std::optional<CamerasLookAt> look = cameras_look_at(cameras);
  if (!look) {
    log::warn("featurenerf: the cameras of {} do not look at one point (fewer than two, or parallel axes): the scene "
              "keeps its own framing, which is right only in the training corpora's units (cameras {} from the "
              "object)",
              scene.root.string(), distance);
    return own;
  }
  // Model units: the files' scaled so that the cameras sit `distance` from the look-at point; normalised: those at
  // the Blender convention's 0.66, as the corpora were framed (the object inside [-1, 1]^3, the cameras outside).
  constexpr double kCorpusFrameScale = 0.66;
  SceneFrame frame = own;
  frame.model_unit_scale = kCorpusFrameScale;
  frame.normalization.scale = kCorpusFrameScale * distance / look->distance;
  frame.normalization.offset = -frame.normalization.scale * look->centre;
  frame.aabb_min = Eigen::Vector3f::Constant(-1.0f);
  frame.aabb_max = Eigen::Vector3f::Constant(1.0f);
  frame.unbounded = false;
  return frame;
}

// ---- training ----

LabelInputs FeatureNerfCorpusModel::label_inputs() const {
  LabelInputs in;
  // The simulated teacher is built from the part maps (and they pick foreground rays), the contrast loss reads the
  // targets' depth; no source maps.
  in.needed = m_network.config().teacher == "simulated-dino" || m_network.config().loss.contrast > 0;
  in.sources = false;
  in.gt = "semantic";
  return in;
}

at::Tensor FeatureNerfCorpusModel::teacher_map(const CorpusExample& ex) const {
  const FeatureNerfConfig& c = m_network.config();
  if (c.teacher == "simulated-dino") {
    if (!ex.target_label_map.defined() || !ex.target_depth_map.defined())
      fail_input(ex.scene_name, "", "the simulated DINO teacher needs the views' part maps (semantic_path) and depth "
                 "maps (depth_file_path): generate category datasets with `semfield synth --category`");
    const at::Tensor canonical = canonical_points_from_depth(ex.target_camera, ex.target_depth_map, ex.frame);
    const at::Tensor parts = at::where(ex.target_depth_map.gt(0), ex.target_label_map, at::zeros_like(ex.target_label_map));
    return simulated_dino_map(parts, canonical, simulated_teacher_key(ex.scene_name),
                              simulated_teacher_key(ex.target_name), c.simulated, ex.target_image);
  }
  const std::string path = c.teacher.substr(5);  // "dino:PATH"
  const std::string key = ex.scene_name + "/" + ex.target_name;
  // With colour jitter every example's image differs: its map is computed from it, never cached.
  const bool cacheable = c.colour_jitter == 0;
  std::shared_ptr<const foundation::DinoModel> dino;
  {
    std::lock_guard<std::mutex> lock(m_teacher_mutex);
    const auto it = cacheable ? m_dino_cache.find(key) : m_dino_cache.end();
    if (it != m_dino_cache.end()) return it->second.to(at::kFloat);
    if (!m_dino) m_dino = std::make_shared<const foundation::DinoModel>(foundation::DinoModel::load(path));
    dino = m_dino;
  }
  at::Tensor foreground;
  if (ex.target_depth_map.defined()) foreground = ex.target_depth_map.gt(0);
  else if (ex.target_label_map.defined()) foreground = ex.target_label_map.gt(0);
  const at::Tensor map = featurenerf_dino_map(*dino, c, ex.target_image, foreground, path);
  std::lock_guard<std::mutex> lock(m_teacher_mutex);
  const int64_t bytes = map.numel() * 2;
  if (cacheable && !ex.scene_name.empty() && m_dino_cache_bytes + bytes <= kDinoCacheBytes) {
    m_dino_cache.emplace(key, map.to(at::kHalf));
    m_dino_cache_bytes += bytes;
  }
  return map;
}

at::Tensor featurenerf_dino_map(const foundation::DinoModel& model, const FeatureNerfConfig& config,
                                const at::Tensor& rgb, const at::Tensor& foreground, const std::string& origin) {
  if (model.config().embed_dim != config.teacher_dim)
    fail_input(origin, "", "the DINO model has {} channels but the featurenerf config's teacher_dim is {}",
               model.config().embed_dim, config.teacher_dim);
  if (config.dino_block >= model.depth())
    fail_input(origin, "", "the DINO model has {} blocks; the featurenerf config's dino_block is {}", model.depth(),
               config.dino_block);
  return dino_keys_map(model, rgb, foreground, config.dino_block);
}

nlohmann::json FeatureNerfCorpusModel::config_json() const {
  FeatureNerfConfig c = m_network.config();
  if (c.encode_size == 0) c.encode_size = static_cast<int>(m_seen_side.common());
  return to_json(c);
}

at::Tensor featurenerf_contrast_loss(const at::Tensor& descriptors, const at::Tensor& positions, double sigma,
                                     double temperature) {
  SEMFIELD_ASSERT(descriptors.dim() == 2 && positions.dim() == 2 && positions.size(1) == 3 &&
                      descriptors.size(0) == positions.size(0),
                  "contrast loss: descriptors [N,F] and positions [N,3] expected");
  const int64_t n = descriptors.size(0);
  if (n < 2) return descriptors.sum() * 0.0f;
  const at::Tensor u = descriptors / descriptors.norm(2, {1}, true).clamp_min(1e-8);
  const at::Tensor self = at::eye(n, descriptors.options().dtype(at::kBool));
  // A large finite logit rather than -inf on the diagonal: its softmax is exactly 0, and 0 x (finite) keeps the
  // gradient clean.
  constexpr float kMasked = -1e9f;
  const at::Tensor log_q = at::log_softmax(
      (u.matmul(u.t()) / static_cast<float>(temperature)).masked_fill(self, kMasked), 1);
  const at::Tensor c = positions.detach().to(descriptors.scalar_type());
  const at::Tensor d2 = (c.unsqueeze(1) - c.unsqueeze(0)).pow(2).sum(2);
  const at::Tensor log_p =
      at::log_softmax((d2 * static_cast<float>(-0.5 / (sigma * sigma))).masked_fill(self, kMasked), 1);
  return (log_p.exp() * (log_p - log_q)).sum(1).mean();
}

void FeatureNerfCorpusModel::initialise_from(const std::string& type, const nlohmann::json& config,
                                             const TensorMap& weights, const std::string& origin) {
  if (type != this->type())
    fail_input(origin, "", "a model of type {} cannot initialise one of type {}", type, this->type());
  const auto architecture = [](nlohmann::json j) {
    for (const char* key : {"loss", "contrast", "colour_jitter", "seed", "encode_size"}) j.erase(key);
    return j;
  };
  const nlohmann::json mine = config_json();
  if (architecture(config) != architecture(mine))
    fail_input(origin, "",
               "its config differs from the one being trained in more than the losses, colour jitter, seed and "
               "encode_size: {} vs {}",
               config.dump(), mine.dump());
  load_state(weights, origin);
}

CorpusLoss FeatureNerfCorpusModel::loss(const CorpusExample& example, uint64_t seed) const {
  const FeatureNerfConfig& c = m_network.config();
  // Colour jitter (training and fine-tuning; never at inference): one map for every image of the example, drawn from
  // its own stream of the seed.
  CorpusExample jittered;
  if (c.colour_jitter > 0) {
    jittered = example;
    const at::Tensor map = featurenerf_colour_jitter_map(c.colour_jitter, seed ^ 0x6a09e667f3bcc909ULL);
    jittered.source_colours = featurenerf_apply_colour_jitter(example.source_colours, map, 1);  // [V,3,H,W]
    jittered.target = featurenerf_apply_colour_jitter(example.target, map, 1);                  // [R,3]
    jittered.background = featurenerf_apply_colour_jitter(example.background, map, 1);
    if (example.target_image.defined())
      jittered.target_image = featurenerf_apply_colour_jitter(example.target_image, map, 0);  // [3,H,W]
  }
  const CorpusExample& ex = c.colour_jitter > 0 ? jittered : example;
  m_seen_side.observe(ex.source_colours);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // The rays: foreground first (the trainer's pixels are in random order), at most background_rays of them elsewhere.
  const int64_t r_all = ex.origins.size(0);
  at::Tensor fg;
  if (ex.target_label_map.defined() && ex.ray_pixels.defined())
    fg = ex.target_label_map.reshape({-1}).index_select(0, ex.ray_pixels).gt(0);
  else if (ex.target_depth_map.defined() && ex.ray_pixels.defined())
    fg = ex.target_depth_map.reshape({-1}).index_select(0, ex.ray_pixels).gt(0);
  else
    fg = at::ones({r_all}, at::kBool);
  const at::Tensor fg_idx = at::nonzero(fg).view({-1}), bg_idx = at::nonzero(fg.logical_not()).view({-1});
  const int64_t bg_cap = std::min<int64_t>(bg_idx.size(0), static_cast<int64_t>(c.background_rays * c.rays));
  const int64_t n_fg = std::min<int64_t>(fg_idx.size(0), c.rays - bg_cap);
  const int64_t n_bg = std::min<int64_t>(bg_idx.size(0), c.rays - n_fg);
  const at::Tensor sel = at::cat({fg_idx.narrow(0, 0, n_fg), bg_idx.narrow(0, 0, n_bg)});

  IbrRays rays = ibr_rays(ex.origins.index_select(0, sel), ex.dirs.index_select(0, sel), ex.frame, kFnUnboundedExtent);
  const at::Tensor target = ex.target.index_select(0, sel), background = ex.background.index_select(0, sel);
  const FeatureNerfSources src = m_network.sources(ex.source_colours, ex.source_cameras, ex.frame.world_scale());
  if (c.loss.contrast > 0 && (!ex.target_depth_map.defined() || !ex.ray_pixels.defined()))
    fail_input(ex.scene_name + "/" + ex.target_name, "",
               "the contrast loss needs the target view's depth map (a corpus from `semfield synth`)");
  const bool contrast = c.loss.contrast > 0 && n_fg >= 2;
  const FeatureNerfRenderOutput o = m_network.render(rays, src, background, &gen, /*want_internal=*/contrast);

  CorpusLoss out;
  const at::Tensor mse = at::mse_loss(o.rgb, target);
  at::Tensor loss = at::zeros({}, at::kFloat);
  if (c.loss.rgb > 0)
    loss = loss + static_cast<float>(c.loss.rgb) * (mse + at::mse_loss(o.rgb_coarse, target));
  if (c.loss.distill > 0 && m_network.has_teacher_head()) {
    const at::Tensor map = teacher_map(ex);  // [Dt,h,w]
    const int64_t w = ex.target_camera.intrinsics.width, h = ex.target_camera.intrinsics.height;
    const at::Tensor pix = ex.ray_pixels.index_select(0, sel);
    const at::Tensor uv = at::stack({at::remainder(pix, w), at::div(pix, w, "floor")}, 1).to(at::kFloat) + 0.5f;
    const at::Tensor sizes = at::tensor({static_cast<float>(w), static_cast<float>(h)}).view({1, 2});
    const at::Tensor t = sample_maps(map.unsqueeze(0), uv.unsqueeze(0), sizes).squeeze(0);  // [R,Dt]
    loss = loss + static_cast<float>(c.loss.distill) * (at::mse_loss(o.feature, t) + at::mse_loss(o.feature_coarse, t));
  }
  if (c.loss.coord > 0) {
    const at::Tensor world = ex.frame.to_model(o.points.detach());
    // Samples of rays that miss the box sit at one point: they carry no interval, and no loss.
    const at::Tensor live = o.dts.gt(0).to(at::kFloat).unsqueeze(2);
    at::Tensor coord;
    if (c.coord_loss == "per_sample") {
      coord = ((o.coord - world).pow(2) * live).sum() / (live.sum() * 3).clamp_min(1.0f);
    } else {
      const at::Tensor mean = ((o.coord - world) * live).sum(1) / live.sum(1).clamp_min(1.0f);
      coord = mean.pow(2).mean();
    }
    loss = loss + static_cast<float>(c.loss.coord) * coord;
  }
  if (contrast) {
    // The foreground rays come first in `sel`; their pixels' canonical positions from the target view's depth (a
    // pixel of the part map without depth, if any, is left out).
    const at::Tensor pix = ex.ray_pixels.index_select(0, sel.narrow(0, 0, n_fg));
    const at::Tensor keep = at::nonzero(ex.target_depth_map.reshape({-1}).index_select(0, pix).gt(0)).view({-1});
    const at::Tensor canonical =
        canonical_points_from_depth(ex.target_camera, ex.target_depth_map, ex.frame).reshape({-1, 3});
    const at::Tensor positions = canonical.index_select(0, pix.index_select(0, keep));
    const at::Tensor descriptors = o.internal.narrow(0, 0, n_fg).index_select(0, keep);
    loss = loss + static_cast<float>(c.loss.contrast) *
                      featurenerf_contrast_loss(descriptors, positions, c.contrast.sigma, c.contrast.temperature);
  }
  out.loss = loss;
  out.mse = mse.item<double>();
  out.samples = o.n_samples;
  return out;
}

std::unique_ptr<SceneModel> FeatureNerfCorpusModel::bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                                         const Eigen::Vector3f& background, int source_views) const {
  return std::make_unique<FeatureNerfModel>(m_network, std::move(scene), frame, background, source_views);
}

}  // namespace semfield
