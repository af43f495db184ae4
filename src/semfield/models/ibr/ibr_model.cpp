// The image-conditioned model bound to a scene.
#include "semfield/models/ibr/ibr_model.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/data/source_views.h"
#include "semfield/models/ibr/ray_samples.h"

namespace semfield {

namespace {

constexpr int64_t kRayChunk = 2048;     // rays per network pass (memory: chunk x samples x views x features)
constexpr int64_t kPointChunk = 65536;  // points per pass for density / radiance queries

at::Tensor vec3(const Eigen::Vector3f& v) { return at::tensor({v.x(), v.y(), v.z()}); }

}  // namespace

at::Tensor view_colours(const View& view, const Eigen::Vector3f& background) {
  const Image& im = view.rgb;
  if (im.empty()) fail_input(view.image_path, "", "the image is not loaded");
  const at::Tensor pixels =
      at::from_blob(const_cast<float*>(im.pixels.data()), {im.height, im.width, im.channels}, at::kFloat);
  at::Tensor rgb = pixels.narrow(2, 0, 3);
  if (im.channels == 4) {
    const at::Tensor alpha = pixels.narrow(2, 3, 1);
    rgb = rgb * alpha + (1.0f - alpha) * vec3(background);
  }
  return rgb.permute({2, 0, 1}).contiguous();
}

IbrRays ibr_rays(const at::Tensor& origins, const at::Tensor& dirs, const SceneFrame& frame,
                 double unbounded_extent) {
  IbrRays rays;
  rays.origins = origins;
  rays.dirs = dirs;
  std::tie(rays.near, rays.far) = ray_box_bounds(origins, dirs, frame.aabb_min, frame.aabb_max,
                                                 frame.unbounded ? static_cast<float>(unbounded_extent) : 1.0f);
  return rays;
}

std::vector<int> spread_views(const std::vector<Camera>& cameras, int count, int first) {
  const int n = static_cast<int>(cameras.size());
  std::vector<int> out;
  if (n == 0 || count <= 0) return out;
  if (first < 0 || first >= n) {
    Eigen::Vector3d mean = Eigen::Vector3d::Zero();
    for (const auto& c : cameras) mean += c.origin();
    mean /= n;
    first = 0;
    for (int i = 1; i < n; ++i)
      if ((cameras[i].origin() - mean).norm() < (cameras[first].origin() - mean).norm()) first = i;
  }
  out.push_back(first);
  std::vector<double> dist(n, std::numeric_limits<double>::infinity());
  while (static_cast<int>(out.size()) < std::min(count, n)) {
    const Eigen::Vector3d last = cameras[out.back()].origin();
    int best = -1;
    for (int i = 0; i < n; ++i) {
      dist[i] = std::min(dist[i], (cameras[i].origin() - last).norm());
      if (std::find(out.begin(), out.end(), i) == out.end() && (best < 0 || dist[i] > dist[best])) best = i;
    }
    out.push_back(best);
  }
  return out;
}

IbrModel::IbrModel(IbrNetwork network, std::shared_ptr<const Scene> scene, const SceneFrame& frame,
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
  // Source cameras are packed without distortion: undistorted images are required.
  SourceCameraBatch::from_cameras(m_cameras);
  m_spread = spread_views(m_cameras, m_source_views);
  m_features.resize(m_pool.size());
}

void IbrModel::clear_cache() {
  std::lock_guard<std::mutex> lock(m_mutex);
  for (auto& f : m_features) f = at::Tensor();
}

const at::Tensor& IbrModel::features(int index) const {
  std::lock_guard<std::mutex> lock(m_mutex);
  at::Tensor& slot = m_features[static_cast<size_t>(index)];
  if (!slot.defined()) {
    at::NoGradGuard no_grad;
    slot = m_network.encode(m_colours[static_cast<size_t>(index)].unsqueeze(0)).squeeze(0).permute({1, 2, 0}).contiguous();
  }
  return slot;
}

IbrSources IbrModel::sources(const std::vector<int>& indices) const {
  IbrSources s;
  std::vector<Camera> cams;
  std::vector<at::Tensor> colours, feats;
  for (int i : indices) {
    cams.push_back(m_cameras[static_cast<size_t>(i)]);
    colours.push_back(m_colours[static_cast<size_t>(i)]);
    feats.push_back(features(i));
  }
  s.cameras = SourceCameraBatch::from_cameras(cams);
  // Views of one scene may differ in size (other tools' data): stacking needs equal sizes.
  for (size_t k = 1; k < colours.size(); ++k)
    if (!colours[k].sizes().equals(colours[0].sizes()))
      fail_input(m_pool[static_cast<size_t>(indices[k])]->image_path, "",
                 "source views of an image-conditioned model must share one image size");
  s.colours = at::stack(colours).permute({0, 2, 3, 1}).contiguous();
  s.features = at::stack(feats);
  return s;
}

IbrSources IbrModel::sources_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const {
  return sources(source_indices_for_rays(origins, dirs));
}

std::vector<int> source_views_for_rays(const at::Tensor& origins, const at::Tensor& dirs,
                                       const std::vector<Camera>& cameras, int count) {
  const at::Tensor o = origins.mean(0), d = dirs.mean(0);
  const Eigen::Vector3d position(o[0].item<double>(), o[1].item<double>(), o[2].item<double>());
  Eigen::Vector3d forward(d[0].item<double>(), d[1].item<double>(), d[2].item<double>());
  if (forward.norm() < 1e-6) forward = -position;  // rays in all directions: look at the centre
  SourceViewOptions options;
  options.count = count;
  return nearest_source_views(position, forward, cameras, options);
}

std::vector<int> IbrModel::source_indices_for_rays(const at::Tensor& origins, const at::Tensor& dirs) const {
  return source_views_for_rays(origins, dirs, m_cameras, m_source_views);
}

RayRenderOutput IbrModel::render(const at::Tensor& origins, const at::Tensor& dirs,
                                 const at::Tensor& background) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  const at::Tensor bg = background.dim() == 1 ? background.reshape({1, 3}).expand({r, 3}) : background;
  // One source set for the whole batch (a view's rays share their source views).
  const IbrSources src = sources_for_rays(origins, dirs);
  std::vector<at::Tensor> rgb, opacity, depth;
  RayRenderOutput out;
  for (int64_t begin = 0; begin < r; begin += kRayChunk) {
    const int64_t n = std::min(kRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_frame,
                                  m_network.config().unbounded_extent);
    const IbrRenderOutput o = m_network.render(rays, src, bg.narrow(0, begin, n), false, 0);
    rgb.push_back(o.rgb);
    opacity.push_back(o.opacity);
    depth.push_back(o.depth);
    out.n_samples += o.n_samples;
  }
  out.rgb = at::cat(rgb);
  out.opacity = at::cat(opacity);
  out.depth = at::cat(depth);
  return out;
}

WeightedSamples IbrModel::render_weights(const at::Tensor& origins, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const int64_t r = origins.size(0);
  if (r == 0) return pack_weighted_samples(origins, dirs, at::zeros({0, 1}), at::zeros({0, 1}), at::zeros({0, 1}));
  const IbrSources src = sources_for_rays(origins, dirs);
  std::vector<at::Tensor> ts, dts, weights;
  for (int64_t begin = 0; begin < r; begin += kRayChunk) {
    const int64_t n = std::min(kRayChunk, r - begin);
    const IbrRays rays = ibr_rays(origins.narrow(0, begin, n), dirs.narrow(0, begin, n), m_frame,
                                  m_network.config().unbounded_extent);
    const IbrRenderOutput o = m_network.render(rays, src, at::ones({n, 3}), false, 0);
    ts.push_back(o.ts);
    dts.push_back(o.dts);
    weights.push_back(o.weights);
  }
  // Per-ray sums over the kept samples (consistent with `weights`, as WeightedSamples promises).
  return pack_weighted_samples(origins, dirs, at::cat(ts), at::cat(dts), at::cat(weights));
}

at::Tensor nearest_camera_dirs(const at::Tensor& points, const SourceCameraBatch& cameras) {
  const at::Tensor d = points.unsqueeze(0) - cameras.origins.unsqueeze(1);  // [V,N,3]
  const at::Tensor nearest = d.norm(2, -1).argmin(0);                      // [N]
  const at::Tensor chosen = d.gather(0, nearest.reshape({1, -1, 1}).expand({1, points.size(0), 3})).squeeze(0);
  return chosen / chosen.norm(2, -1, true).clamp_min(1e-6f);
}

at::Tensor IbrModel::density(const at::Tensor& points) const {
  at::NoGradGuard no_grad;
  const IbrSources src = sources(m_spread);
  std::vector<at::Tensor> out;
  for (int64_t begin = 0; begin < points.size(0); begin += kPointChunk) {
    const at::Tensor p = points.narrow(0, begin, std::min(kPointChunk, points.size(0) - begin));
    out.push_back(m_network.points(p, nearest_camera_dirs(p, src.cameras), src).sigma_point);
  }
  return out.empty() ? at::zeros({0}) : at::cat(out);
}

PointRadiance IbrModel::radiance(const at::Tensor& points, const at::Tensor& dirs) const {
  at::NoGradGuard no_grad;
  const IbrSources src = sources(m_spread);
  std::vector<at::Tensor> sigma, rgb;
  for (int64_t begin = 0; begin < points.size(0); begin += kPointChunk) {
    const int64_t n = std::min(kPointChunk, points.size(0) - begin);
    const IbrNetwork::PointOutput p = m_network.points(points.narrow(0, begin, n), dirs.narrow(0, begin, n), src);
    sigma.push_back(p.sigma_point);
    rgb.push_back(p.rgb);
  }
  PointRadiance out;
  out.density = sigma.empty() ? at::zeros({0}) : at::cat(sigma);
  out.rgb = rgb.empty() ? at::zeros({0, 3}) : at::cat(rgb);
  return out;
}

std::unique_ptr<SceneModel> create_ibr_model(const ModelBinding& binding) {
  IbrNetwork network(ibr_config_from_json(binding.config, binding.origin));
  network.load_state(binding.weights, binding.origin);
  return std::make_unique<IbrModel>(std::move(network), binding.scene, binding.frame,
                                    binding.background, binding.source_views);
}

std::unique_ptr<CorpusModel> create_ibr_trainable(const nlohmann::json& config, const std::string& origin) {
  return std::make_unique<IbrCorpusModel>(ibr_config_from_json(config, origin));
}

nlohmann::json IbrCorpusModel::config_json() const {
  IbrConfig c = m_network.config();
  if (c.encode_size == 0) c.encode_size = static_cast<int>(m_seen_side.common());
  return to_json(c);
}

void IbrCorpusModel::initialise_from(const std::string& type, const nlohmann::json& config, const TensorMap& weights,
                                     const std::string& origin) {
  if (type != this->type()) return CorpusModel::initialise_from(type, config, weights, origin);
  const IbrConfig theirs = with_inference_settings_of(ibr_config_from_json(config, origin), m_network.config());
  if (to_json(theirs) != to_json(m_network.config()))
    fail_input(origin, "", "its ibr config {} differs from the one being trained {} in more than its inference settings",
               config.dump(), to_json(m_network.config()).dump());
  load_state(weights, origin);
}

CorpusLoss IbrCorpusModel::loss(const CorpusExample& example, uint64_t seed) const {
  m_seen_side.observe(example.source_colours);
  const IbrSources sources = m_network.prepare(example.source_cameras, example.source_colours);
  const IbrRays rays = ibr_rays(example.origins, example.dirs, example.frame, m_network.config().unbounded_extent);
  const IbrRenderOutput out = m_network.render(rays, sources, example.background, true, seed);
  CorpusLoss result;
  const at::Tensor fine = at::mse_loss(out.rgb, example.target);
  result.loss = fine + at::mse_loss(out.rgb_coarse, example.target) +
                kPointLossWeight * at::mse_loss(out.rgb_point, example.target);
  result.mse = fine.item<double>();
  result.samples = out.n_samples;
  return result;
}

std::unique_ptr<SceneModel> IbrCorpusModel::bind(std::shared_ptr<const Scene> scene, const SceneFrame& frame,
                                                 const Eigen::Vector3f& background, int source_views) const {
  return std::make_unique<IbrModel>(m_network, std::move(scene), frame, background, source_views);
}

}  // namespace semfield
