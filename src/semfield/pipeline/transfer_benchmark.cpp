// FeatureNeRF's tasks on a labelled category dataset (transfer_benchmark.h).
#include "semfield/pipeline/transfer_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/progress.h"
#include "semfield/core/splitmix64.h"
#include "semfield/data/labels.h"
#include "semfield/teachers/simulated_segmenter.h"
#include "semfield/data/scene.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/image_torch.h"
#include "semfield/io/npy.h"
#include "semfield/kernels/gather_project.h"
#include "semfield/models/featurenerf/featurenerf_model.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/model_file.h"
#include "semfield/pipeline/correspondence_eval.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/scene_mapping.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

struct TbKeypoint {
  double x = 0, y = 0;
  bool visible = false;
};

struct TbInstance {
  std::string name;
  std::shared_ptr<const Scene> scene;
  SceneFrame frame;
  std::map<std::string, const View*> views;
  std::vector<std::string> train, test;  ///< view names
  std::map<std::string, Eigen::Vector3d> keypoints3d;
  std::map<std::string, std::map<std::string, TbKeypoint>> keypoints2d;  ///< view -> name -> pixel
  at::Tensor points, point_labels;  ///< [N,3] world, [N] int64
};

at::Tensor tb_parts(const View& v) {
  if (!v.semantic) fail_input(v.image_path, "semantic_path", "view {} has no part map", v.name);
  const LabelMap m = label_map_from_image(*v.semantic);
  return at::tensor(m.ids, at::kInt).view({m.height, m.width}).to(at::kLong).clamp_min(0);
}

// `model`: the model file's header (its type frames the instance as `apply` does); no type: the instance's own frame.
TbInstance tb_load_instance(const fs::path& dir, const ModelFile& model, bool key_backdrop) {
  TbInstance in;
  in.name = dir.filename().string();
  LoadOptions load;
  load.background = Eigen::Vector3d::Ones();
  load.key_backdrop = key_backdrop;
  load.load_extras = true;
  auto scene = std::make_shared<Scene>(load_scene(dir, load));
  in.frame = SceneFrame::from_scene(*scene);
  if (!model.type.empty()) in.frame = frame_scene_for_model(*scene, model.type, model.config, in.frame);
  in.scene = scene;
  for (const View& v : scene->views) {
    in.views[v.name] = &v;
    (v.split == Split::Test ? in.test : in.train).push_back(v.name);
  }
  const fs::path kp = dir / "keypoints.json";
  const JsonNode root = JsonNode::parse_file(kp);
  const JsonNode list = root.at("keypoints");
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonNode k = list.at(i);
    const std::vector<double> xyz = k.at("xyz").as_doubles();
    if (xyz.size() != 3) k.at("xyz").fail("expected [x, y, z]");
    in.keypoints3d[k.at("name").as_string()] = Eigen::Vector3d(xyz[0], xyz[1], xyz[2]);
  }
  const JsonNode views = root.at("views");
  for (const std::string& view : views.keys()) {
    const JsonNode vl = views.at(view);
    for (size_t i = 0; i < vl.size(); ++i) {
      const JsonNode k = vl.at(i);
      in.keypoints2d[view][k.at("name").as_string()] = {k.at("x").as_double(), k.at("y").as_double(),
                                                        k.at("visible").as_bool()};
    }
  }
  in.points = array_to_tensor(read_npy(dir / "points.npy")).to(at::kFloat);
  in.point_labels = array_to_tensor(read_npy(dir / "points_labels.npy")).to(at::kLong).reshape({-1});
  if (in.points.dim() != 2 || in.points.size(1) != 3 || in.points.size(0) != in.point_labels.size(0))
    fail_input(dir / "points.npy", "", "expected points [N,3] with N labels in points_labels.npy");
  return in;
}

/// Where features come from: a FeatureNeRF model conditioned on one view of an instance, or the teacher's map of that
/// view.
class TbFeatures {
 public:
  TbFeatures(const TransferBenchOptions& options) : m_options(options) {
    const ModelFile file = read_model_file(options.model);
    if (file.type != "featurenerf")
      fail_usage("eval-transfer: model {} is of type {}, not featurenerf", options.model.string(), file.type);
    m_config = featurenerf_config_from_json(file.config, options.model.string());
    if (options.features == "model" || options.features == "coordinate" || options.features == "hybrid") {
      m_network = FeatureNerfNetwork(m_config);
      m_network.load_state(file.weights, options.model.string());
    } else if (options.features == "canonical") {
      // the ground truth's canonical coordinates: nothing to load
    } else if (options.features != "teacher") {
      fail_usage("eval-transfer: --features must be model, coordinate, hybrid, teacher or canonical, not '{}'",
                 options.features);
    } else if (m_config.teacher.rfind("dino:", 0) == 0) {
      m_dino = std::make_unique<foundation::DinoModel>(foundation::DinoModel::load(m_config.teacher.substr(5)));
    } else if (m_config.teacher != "simulated-dino") {
      fail_usage("eval-transfer --features teacher: the model {} has no teacher ({})", options.model.string(),
                 m_config.teacher);
    }
  }
  bool is_teacher() const { return m_options.features == "teacher"; }
  /// The oracle: every pixel's / point's true canonical coordinate, matched by Euclidean distance.
  bool is_canonical() const { return m_options.features == "canonical"; }
  /// The model's coordinate head: regressed canonical coordinates, matched by distance as the oracle's true ones.
  bool is_coordinate() const { return m_options.features == "coordinate"; }
  /// Both heads: [v / |v|, w x̂] matched by distance, so |v̂_a - v̂_b|^2 + w^2 |x̂_a - x̂_b|^2 is minimised — the
  /// descriptor's nearest neighbour, kept near the regressed canonical position (w: --coordinate-weight).
  bool is_hybrid() const { return m_options.features == "hybrid"; }
  /// Nearest key row for each query row: cosine similarity for descriptors, distance for canonical coordinates
  /// (true or regressed) and the hybrid.
  std::pair<at::Tensor, at::Tensor> nearest(const at::Tensor& queries, const at::Tensor& keys) const {
    return is_canonical() || is_coordinate() || is_hybrid() ? euclidean_nearest(queries, keys)
                                                            : cosine_nearest(queries, keys);
  }
  const FeatureNerfConfig& config() const { return m_config; }
  double render_seconds() const { return m_renders > 0 ? m_render_seconds / m_renders : 0.0; }
  int64_t renders() const { return m_renders; }

  /// Descriptor map [H*W, C] of instance `in` conditioned on view `source`, seen from camera `view`.
  at::Tensor view_map(const TbInstance& in, const std::string& source, const std::string& view) {
    const View& target = *in.views.at(view);
    if (is_canonical()) return canonical_points_from_depth(target.camera, depth_of(target), in.frame).reshape({-1, 3});
    if (is_teacher()) {
      SEMFIELD_ASSERT(source == view, "the teacher has no novel views");
      const at::Tensor map = teacher_map(in, source);  // [C,h,w]
      const int64_t h = target.camera.intrinsics.height, w = target.camera.intrinsics.width;
      return at::upsample_bilinear2d(map.unsqueeze(0), {h, w}, false).squeeze(0).reshape({map.size(0), -1}).t();
    }
    const auto start = std::chrono::steady_clock::now();
    const SemanticRenderOutput o = model(in, source).render_view(target.camera, readout());
    m_render_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++m_renders;
    return hybrid_rows(o.maps[0]);
  }

  /// Descriptors [N,C] at world points [N,3] of instance `in` conditioned on view `source`.
  at::Tensor point_features(const TbInstance& in, const std::string& source, const at::Tensor& world) {
    if (is_canonical()) return world;  // the category's instances are canonically aligned: world = canonical frame
    const at::Tensor p = in.frame.to_normalised(world);
    if (!is_teacher()) return hybrid_rows(model(in, source).point_readout(p, readout()));
    const View& v = *in.views.at(source);
    const at::Tensor map = teacher_map(in, source);
    const SourceCameraBatch cams = SourceCameraBatch::from_cameras({v.camera});
    const Projection proj = project_points(p, cams);
    return sample_maps(map.unsqueeze(0), proj.uv, cams.sizes).squeeze(0);
  }

 private:
  FeatureNerfModel::Readout readout() const {
    return is_coordinate() ? FeatureNerfModel::Readout::Coordinate
           : is_hybrid()   ? FeatureNerfModel::Readout::Both
                           : FeatureNerfModel::Readout::Descriptor;
  }
  /// The hybrid's rows [N, C+3] of Readout::Both -> [v / |v|, w x̂]; other readouts as they are.
  at::Tensor hybrid_rows(const at::Tensor& rows) const {
    if (!is_hybrid()) return rows;
    const int64_t c = rows.size(1) - 3;
    const at::Tensor v = rows.narrow(1, 0, c);
    return at::cat({v / v.norm(2, 1, true).clamp_min(1e-12f),
                    rows.narrow(1, c, 3) * static_cast<float>(m_options.coordinate_weight)}, 1);
  }
  const FeatureNerfModel& model(const TbInstance& in, const std::string& source) {
    const std::string key = in.name + "/" + source;
    auto it = m_models.find(key);
    if (it == m_models.end()) {
      if (m_models.size() > 64) m_models.clear();  // bounded memory: encoded sources are per model
      auto m = std::make_unique<FeatureNerfModel>(m_network, source_view_scene(in.scene, source), in.frame,
                                                  Eigen::Vector3f::Ones(), 1);
      it = m_models.emplace(key, std::move(m)).first;
    }
    return *it->second;
  }
  static at::Tensor depth_of(const View& v) {
    if (!v.depth) fail_input(v.image_path, "depth_path", "view {} has no depth map", v.name);
    return image_to_tensor(*v.depth);
  }
  at::Tensor teacher_map(const TbInstance& in, const std::string& source) const {
    const View& v = *in.views.at(source);
    const at::Tensor depth = depth_of(v);
    if (m_dino) return featurenerf_dino_map(*m_dino, m_config, view_colours(v, Eigen::Vector3f::Ones()), depth.gt(0),
                                            m_config.teacher);
    const at::Tensor parts = at::where(depth.gt(0), tb_parts(v), at::zeros(depth.sizes(), at::kLong));
    return simulated_dino_map(parts, canonical_points_from_depth(v.camera, depth, in.frame),
                              simulated_teacher_key(in.name), simulated_teacher_key(v.name), m_config.simulated,
                              view_colours(v, Eigen::Vector3f::Ones()));
  }

  const TransferBenchOptions& m_options;
  FeatureNerfConfig m_config;
  FeatureNerfNetwork m_network;
  std::map<std::string, std::unique_ptr<FeatureNerfModel>> m_models;
  std::unique_ptr<foundation::DinoModel> m_dino;  ///< a dino:PATH teacher
  double m_render_seconds = 0;
  int64_t m_renders = 0;
};

struct TbScores {
  PckAccumulator pck;
  std::map<std::string, PckAccumulator> per_keypoint;  ///< the same, keypoint by keypoint (which ones fail)
  std::vector<double> mious;
  int64_t snapped = 0;  ///< source keypoints read at the nearest foreground pixel (theirs was background)
  int64_t mirror_eligible = 0, mirror_swapped = 0;  ///< left/right swaps (run_transfer_benchmark's comment)
  explicit TbScores(std::vector<double> thresholds) : pck(std::move(thresholds)) {}
  /// The radius of a mirror swap: the second PCK threshold (5 px at 128^2, 0.05 object units).
  double mirror_radius() const { return pck.thresholds().at(1); }
  void add_keypoint(const std::string& name, double distance) {
    pck.add(distance);
    per_keypoint.try_emplace(name, pck.thresholds()).first->second.add(distance);
  }
  /// A keypoint whose twin is visible in the target: `apart` = the distance between the true position and the
  /// twin's, `to_twin` = the transferred position's distance to the twin (both in the thresholds' units).
  void add_mirror(double apart, double to_twin) {
    if (apart < 2 * mirror_radius()) return;  // too close to tell a swap from a near miss
    ++mirror_eligible;
    if (to_twin <= mirror_radius()) ++mirror_swapped;
  }
  nlohmann::json json() const {
    double sum = 0;
    for (double m : mious) sum += m;
    nlohmann::json by_name = nlohmann::json::object();
    for (const auto& [name, acc] : per_keypoint) by_name[name] = {{"keypoints", acc.count()}, {"pck", acc.values()}};
    return {{"pairs", static_cast<int64_t>(mious.size())},
            {"keypoints", pck.count()},
            {"keypoints_snapped", snapped},
            {"pck_thresholds", pck.thresholds()},
            {"pck", pck.values()},
            {"pck_per_keypoint", by_name},
            {"mirror_swaps",
             {{"radius", mirror_radius()},
              {"eligible", mirror_eligible},
              {"swapped", mirror_swapped},
              {"rate", mirror_eligible > 0 ? static_cast<double>(mirror_swapped) / static_cast<double>(mirror_eligible)
                                           : 0.0}}},
            {"part_miou", mious.empty() ? 0.0 : sum / static_cast<double>(mious.size())},
            {"part_miou_per_pair", mious}};
  }
};

Eigen::Vector3f tb_colour(size_t k) {
  static const float palette[][3] = {{0.90f, 0.10f, 0.10f}, {0.10f, 0.60f, 0.95f}, {0.10f, 0.80f, 0.20f},
                                     {0.95f, 0.75f, 0.05f}, {0.70f, 0.20f, 0.90f}, {0.05f, 0.85f, 0.85f},
                                     {0.95f, 0.45f, 0.05f}, {0.50f, 0.35f, 0.15f}, {0.95f, 0.40f, 0.70f},
                                     {0.40f, 0.40f, 0.40f}, {0.55f, 0.75f, 0.15f}, {0.15f, 0.25f, 0.60f}};
  const auto& c = palette[k % 12];
  return {c[0], c[1], c[2]};
}

void tb_dot(Image& im, int x0, double x, double y, const Eigen::Vector3f& colour, bool hollow) {
  const int cx = static_cast<int>(std::lround(x)), cy = static_cast<int>(std::lround(y));
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) {
      if (hollow && std::abs(dx) < 2 && std::abs(dy) < 2) continue;
      const int px = cx + dx, py = cy + dy;
      if (px < 0 || py < 0 || px >= im.width / 3 || py >= im.height) continue;
      for (int c = 0; c < 3; ++c) im.at(x0 + px, py, c) = colour[c];
    }
}

void tb_blit(Image& dst, int x0, int y0, const Image& src) {
  for (int y = 0; y < src.height; ++y)
    for (int x = 0; x < src.width; ++x)
      for (int c = 0; c < 3; ++c) dst.at(x0 + x, y0 + y, c) = src.at(x, y, std::min(c, src.channels - 1));
}

/// One 2D pair: source (features, parts, keypoints) -> target. Returns the target's transferred part map [H,W].
at::Tensor tb_score_2d(const at::Tensor& src_map, const at::Tensor& src_parts,
                       const std::map<std::string, TbKeypoint>& src_kp, const at::Tensor& tgt_map,
                       const at::Tensor& tgt_parts, const std::map<std::string, TbKeypoint>& tgt_kp,
                       const TbFeatures& features, TbScores& scores,
                       std::vector<std::pair<std::string, Eigen::Vector2d>>* predicted) {
  const int64_t h = tgt_parts.size(0), w = tgt_parts.size(1), sw = src_parts.size(1);
  const at::Tensor sfg = at::nonzero(src_parts.reshape({-1}).gt(0)).view({-1});
  const at::Tensor tfg = at::nonzero(tgt_parts.reshape({-1}).gt(0)).view({-1});
  at::Tensor transferred = at::zeros({h * w}, at::kLong);
  if (sfg.size(0) == 0 || tfg.size(0) == 0) return transferred.view({h, w});
  const at::Tensor sf = src_map.index_select(0, sfg), tf = tgt_map.index_select(0, tfg);
  const auto [index, sim] = features.nearest(tf, sf);
  transferred.index_copy_(0, tfg, src_parts.reshape({-1}).index_select(0, sfg).index_select(0, index));
  transferred = transferred.view({h, w});
  const double miou = pair_part_miou(transferred, tgt_parts, present_parts(src_parts));
  if (miou >= 0) scores.mious.push_back(miou);
  const double scale = 128.0 / static_cast<double>(w);
  for (const auto& [name, s] : src_kp) {
    const auto t = tgt_kp.find(name);
    if (!s.visible || t == tgt_kp.end() || !t->second.visible) continue;
    const int64_t sx = std::clamp<int64_t>(std::lround(s.x), 0, sw - 1);
    const int64_t sy = std::clamp<int64_t>(std::lround(s.y), 0, src_parts.size(0) - 1);
    int64_t at_pixel = sy * sw + sx;
    if (src_parts.reshape({-1})[at_pixel].item<int64_t>() == 0) {
      // A visible keypoint lies on the object, but a tip or convex corner often rounds to a background pixel (about
      // half of the chairs' keypoints at 128^2), where the teacher's map is zero (as the authors' DINO maps) and the
      // oracle has no depth: every descriptor is read at the nearest foreground pixel of the source instead.
      const at::Tensor dx = sfg.remainder(sw) - sx, dy = sfg.div(sw, "floor") - sy;
      at_pixel = sfg[(dx * dx + dy * dy).argmin()].item<int64_t>();
      ++scores.snapped;
    }
    const at::Tensor q = src_map.select(0, at_pixel).unsqueeze(0);
    const auto [ki, ks] = features.nearest(q, tf);
    const int64_t p = tfg[ki[0].item<int64_t>()].item<int64_t>();
    const double px = static_cast<double>(p % w), py = static_cast<double>(p / w);
    scores.add_keypoint(name, std::hypot(px - t->second.x, py - t->second.y) * scale);
    const auto twin = tgt_kp.find(keypoint_mirror_name(name));
    if (twin != tgt_kp.end() && twin->second.visible)
      scores.add_mirror(std::hypot(twin->second.x - t->second.x, twin->second.y - t->second.y) * scale,
                        std::hypot(px - twin->second.x, py - twin->second.y) * scale);
    if (predicted) predicted->push_back({name, Eigen::Vector2d(px, py)});
  }
  return transferred;
}

void tb_picture(const fs::path& path, const View& src, const at::Tensor& src_parts,
                const std::map<std::string, TbKeypoint>& src_kp, const View& tgt, const at::Tensor& tgt_parts,
                const std::map<std::string, TbKeypoint>& tgt_kp, const at::Tensor& transferred,
                const std::vector<std::pair<std::string, Eigen::Vector2d>>& predicted,
                const std::vector<std::string>& names) {
  const int w = src.rgb.width, h = src.rgb.height;
  Image im(3 * w, 2 * h, 3, 1.0f);
  tb_blit(im, 0, 0, src.rgb);
  tb_blit(im, w, 0, tgt.rgb);
  tb_blit(im, 2 * w, 0, tgt.rgb);
  tb_blit(im, 0, h, colorize_labels(src_parts));
  tb_blit(im, w, h, colorize_labels(transferred));
  tb_blit(im, 2 * w, h, colorize_labels(tgt_parts));
  const auto colour_of = [&](const std::string& name) {
    return tb_colour(static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin()));
  };
  for (const auto& [name, k] : src_kp)
    if (k.visible) tb_dot(im, 0, k.x, k.y, colour_of(name), false);
  for (const auto& [name, xy] : predicted) tb_dot(im, w, xy.x(), xy.y(), colour_of(name), false);
  for (const auto& [name, k] : tgt_kp)
    if (k.visible) tb_dot(im, 2 * w, k.x, k.y, colour_of(name), true);
  // Twice the size (nearest), so 128^2 views stay legible.
  Image big(2 * im.width, 2 * im.height, 3);
  for (int y = 0; y < big.height; ++y)
    for (int x = 0; x < big.width; ++x)
      for (int c = 0; c < 3; ++c) big.at(x, y, c) = im.at(x / 2, y / 2, c);
  write_png(path, big);
}

}  // namespace

std::string keypoint_mirror_name(const std::string& name) {
  if (name.rfind("left_", 0) == 0) return "right_" + name.substr(5);
  if (name.rfind("right_", 0) == 0) return "left_" + name.substr(6);
  return "";
}

nlohmann::json run_transfer_benchmark(const TransferBenchOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const JsonNode category = JsonNode::parse_file(o.data / "category.json");
  std::vector<std::string> names;
  const JsonNode kn = category.at("keypoints");
  for (size_t i = 0; i < kn.size(); ++i) names.push_back(kn.at(i).as_string());
  const JsonNode inst = category.at("instances");
  std::vector<TbInstance> instances;
  const ModelFile model_header = o.model.empty() ? ModelFile{} : read_model_file(o.model, /*weights=*/false);
  {
    std::unique_ptr<ProgressBar> bar;
    if (o.show_progress) bar = std::make_unique<ProgressBar>("load instances", static_cast<int64_t>(inst.size()), "obj");
    for (size_t i = 0; i < inst.size(); ++i) {
      instances.push_back(tb_load_instance(o.data / inst.at(i).as_string(), model_header, o.key_backdrop));
      if (bar) bar->update(static_cast<int64_t>(i + 1));
    }
    if (bar) bar->finish();
  }
  if (instances.size() < 2) fail_input(o.data, "instances", "eval-transfer needs at least two instances");
  TbFeatures features(o);
  if (!o.out.empty()) fs::create_directories(o.out);
  SplitMix64 rng(splitmix64_finalize(o.seed ^ 0x7A5F3E1Bull));
  const auto other_instance = [&](int a) {
    int b = rng.index(static_cast<int>(instances.size()) - 1);
    return b >= a ? b + 1 : b;
  };
  nlohmann::json result = {{"model", fs::absolute(o.model).lexically_normal().string()},
                           {"data", fs::absolute(o.data).lexically_normal().string()},
                           {"category", category.string_or("category", "")},
                           {"features", o.features == "teacher"     ? "teacher (" + features.config().teacher + ", 2D)"
                                        : o.features == "canonical" ? "canonical (ground-truth coordinates, oracle)"
                                        : o.features == "coordinate" ? "coordinate (the model's regressed x̂)"
                                        : o.features == "hybrid"
                                            ? fmt::format("hybrid ({} with x̂ weighted {})", features.config().descriptor,
                                                          o.coordinate_weight)
                                                                    : "model (" + features.config().descriptor + ")"}};
  if (o.key_backdrop) result["key_backdrop"] = true;
  for (const std::string& setting : o.settings) {
    if (setting != "same-camera" && setting != "diff-camera" && setting != "novel-view" && setting != "3d")
      fail_usage("eval-transfer: unknown setting '{}' (same-camera, diff-camera, novel-view, 3d)", setting);
    if (setting == "novel-view" && features.is_teacher()) {
      result[setting] = "n/a: a 2D teacher renders no novel views";
      continue;
    }
    const bool three_d = setting == "3d";
    TbScores scores(three_d ? std::vector<double>{0.025, 0.05, 0.075, 0.1} : std::vector<double>{2.5, 5.0, 7.5, 10.0});
    std::unique_ptr<ProgressBar> bar;
    if (o.show_progress) bar = std::make_unique<ProgressBar>("eval " + setting, o.pairs, "pair");
    for (int pair = 0; pair < o.pairs; ++pair) {
      const int a = rng.index(static_cast<int>(instances.size()));
      const TbInstance& A = instances[static_cast<size_t>(a)];
      const TbInstance& B = setting == "novel-view" ? A : instances[static_cast<size_t>(other_instance(a))];
      const std::string va = A.train[static_cast<size_t>(rng.index(static_cast<int>(A.train.size())))];
      std::string vb = va;  // same camera
      if (setting == "diff-camera" || three_d)
        while (vb == va) vb = B.train[static_cast<size_t>(rng.index(static_cast<int>(B.train.size())))];
      if (three_d) {
        const at::Tensor sl = A.point_labels, tl = B.point_labels;
        const at::Tensor sfg = at::nonzero(sl.gt(0)).view({-1});
        const at::Tensor sf = features.point_features(A, va, A.points.index_select(0, sfg));
        const at::Tensor tf = features.point_features(B, vb, B.points);
        const auto [index, sim] = features.nearest(tf, sf);
        const at::Tensor pred = sl.index_select(0, sfg).index_select(0, index);
        const double miou = pair_part_miou(pred, tl, present_parts(sl));
        if (miou >= 0) scores.mious.push_back(miou);
        std::vector<std::string> shared;
        std::vector<float> xyz;
        for (const auto& [name, p] : A.keypoints3d)
          if (B.keypoints3d.count(name)) {
            shared.push_back(name);
            for (int k = 0; k < 3; ++k) xyz.push_back(static_cast<float>(p[k]));
          }
        if (!shared.empty()) {
          const at::Tensor q = features.point_features(A, va, at::tensor(xyz).view({-1, 3}));
          const auto [ki, ks] = features.nearest(q, tf);
          for (size_t i = 0; i < shared.size(); ++i) {
            const int64_t n = ki[static_cast<int64_t>(i)].item<int64_t>();
            const Eigen::Vector3d predicted(B.points[n][0].item<double>(), B.points[n][1].item<double>(),
                                            B.points[n][2].item<double>());
            const Eigen::Vector3d& truth = B.keypoints3d.at(shared[i]);
            scores.add_keypoint(shared[i], (predicted - truth).norm());
            const auto twin = B.keypoints3d.find(keypoint_mirror_name(shared[i]));
            if (twin != B.keypoints3d.end())
              scores.add_mirror((twin->second - truth).norm(), (predicted - twin->second).norm());
          }
        }
      } else {
        std::string vt = vb;  // the target camera
        if (setting == "novel-view") vt = A.test[static_cast<size_t>(rng.index(static_cast<int>(A.test.size())))];
        const View& sv = *A.views.at(va);
        const View& tv = *B.views.at(vt);
        const at::Tensor sp = tb_parts(sv), tp = tb_parts(tv);
        const at::Tensor sm = features.view_map(A, va, va), tm = features.view_map(B, vb, vt);
        std::vector<std::pair<std::string, Eigen::Vector2d>> predicted;
        const auto keypoints_of = [](const TbInstance& in, const std::string& view) {
          const auto it = in.keypoints2d.find(view);
          if (it == in.keypoints2d.end())
            fail_input(in.scene->root / "keypoints.json", "views", "no keypoints of view {}", view);
          return it->second;
        };
        const auto skp = keypoints_of(A, va);
        const auto tkp = keypoints_of(B, vt);
        const at::Tensor transferred = tb_score_2d(sm, sp, skp, tm, tp, tkp, features, scores, &predicted);
        if (!o.out.empty() && pair < o.pictures)
          tb_picture(o.out / fmt::format("{}_{}.png", setting, pair), sv, sp, skp, tv, tp, tkp, transferred,
                     predicted, names);
      }
      if (bar) bar->update(pair + 1);
    }
    if (bar) bar->finish();
    result[setting] = scores.json();
  }
  result["render_seconds_per_view"] = features.render_seconds();
  result["renders"] = features.renders();
  result["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.out.empty()) write_file_atomic(o.out / "metrics.json", result.dump(2) + "\n");
  return result;
}

}  // namespace semfield
