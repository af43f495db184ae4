// Feature/label field evaluation.
#include "semfield/pipeline/feature_evaluator.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/progress.h"
#include "semfield/data/labels.h"
#include "semfield/io/image_torch.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/teachers/label_teacher.h"

namespace semfield {

namespace {

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

}  // namespace

nlohmann::json FeatureEvalResult::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  if (feature_mse) out["feature_mse"] = *feature_mse;
  if (miou) out["miou"] = *miou;
  if (accuracy) out["accuracy"] = *accuracy;
  if (miou) out["spurious_classes"] = spurious_classes;
  if (!per_class.empty()) {
    nlohmann::json classes = nlohmann::json::array();
    for (const auto& c : per_class)
      classes.push_back({{"id", c.id}, {"iou", c.iou}, {"pixels", c.pixels}, {"predicted", c.predicted}});
    out["per_class"] = classes;
  }
  if (confusion.defined()) {  // truth (rows) x predicted (columns), pixel counts
    const at::Tensor c = confusion.contiguous();
    const int64_t k = c.size(0);
    const int64_t* p = c.data_ptr<int64_t>();
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t i = 0; i < k; ++i) rows.push_back(std::vector<int64_t>(p + i * k, p + (i + 1) * k));
    out["confusion"] = rows;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& v : views)
    list.push_back({{"name", v.name},
                    {"feature_mse", optional_json(v.feature_mse)},
                    {"miou", optional_json(v.miou)},
                    {"accuracy", optional_json(v.accuracy)},
                    {"render_seconds", v.render_seconds}});
  out["views"] = list;
  return out;
}

LabelScores::LabelScores(int64_t num_classes) : m_confusion(at::zeros({num_classes, num_classes}, at::kLong)) {}

void LabelScores::add(const at::Tensor& predicted, const at::Tensor& truth) {
  const int64_t k = m_confusion.size(0);
  const at::Tensor t = truth.reshape({-1}).to(at::kLong), p = predicted.reshape({-1}).to(at::kLong);
  if (t.numel() != p.numel()) fail_usage("label scores: prediction and truth sizes differ");
  // Truth ids beyond the field's classes count as labelled but always wrong (class k-1 would be unfair).
  const at::Tensor valid = t.ge(0).logical_and(t.lt(k)).logical_and(p.ge(0)).logical_and(p.lt(k));
  const at::Tensor index = t.masked_select(valid) * k + p.masked_select(valid);
  m_confusion.view({-1}).add_(at::bincount(index, {}, k * k));
}

std::optional<double> LabelScores::miou() const {
  const at::Tensor c = m_confusion.to(at::kDouble);
  const at::Tensor inter = c.diagonal();
  const at::Tensor uni = c.sum(0) + c.sum(1) - inter;
  const at::Tensor present = c.sum(1).gt(0);
  if (!present.any().item<bool>()) return std::nullopt;
  return (inter.masked_select(present) / uni.masked_select(present)).mean().item<double>();
}

std::vector<int64_t> LabelScores::spurious_classes() const {
  const at::Tensor spurious = at::nonzero(m_confusion.sum(0).gt(0).logical_and(m_confusion.sum(1).eq(0))).reshape({-1});
  const int64_t* p = spurious.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + spurious.numel());
}

std::vector<LabelScores::ClassIou> LabelScores::per_class() const {
  const at::Tensor truth = m_confusion.sum(1), predicted = m_confusion.sum(0), inter = m_confusion.diagonal();
  std::vector<ClassIou> out;
  for (int64_t k = 0; k < m_confusion.size(0); ++k) {
    const int64_t t = truth[k].item<int64_t>(), p = predicted[k].item<int64_t>(), i = inter[k].item<int64_t>();
    if (t == 0) continue;
    out.push_back({k, static_cast<double>(i) / static_cast<double>(t + p - i), t, p});
  }
  return out;
}

std::optional<double> LabelScores::accuracy() const {
  const double total = static_cast<double>(m_confusion.sum().item<int64_t>());
  if (total == 0) return std::nullopt;
  return static_cast<double>(m_confusion.diagonal().sum().item<int64_t>()) / total;
}

namespace {

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

std::optional<ClassMatch> ClassMatch::by_name(const std::vector<std::string>& model,
                                              const std::map<int, std::string>& truth,
                                              const std::set<int64_t>& present) {
  if (model.empty() || truth.empty()) return std::nullopt;
  ClassMatch m;
  // Names meet by class_name_key (case, surrounding space and separators ignored).
  std::map<std::string, std::vector<int64_t>> model_id;  // name key -> the model's ids of that name (any number)
  for (size_t k = 0; k < model.size(); ++k) model_id[class_name_key(model[k])].push_back(static_cast<int64_t>(k));
  m.predicted_to_truth = at::full({static_cast<int64_t>(model.size())}, -1, at::kLong);
  int64_t largest = 0;
  for (const auto& [id, name] : truth)
    if (id >= 0 && id <= kMaxTruthId) largest = std::max<int64_t>(largest, id);
  for (const int64_t id : present)
    if (id >= 0 && id <= kMaxTruthId) largest = std::max(largest, id);
  m.truth_to_scored = at::full({largest + 1}, -1, at::kLong);
  auto* to_scored = m.truth_to_scored.data_ptr<int64_t>();
  std::map<std::string, int64_t> scored;             // name key -> scored class
  std::map<int64_t, std::vector<int>> ids_of_scored;  // scored class -> its truth ids
  for (const auto& [id, name] : truth) {
    if (id < 0 || id > kMaxTruthId) continue;
    const std::string key = class_name_key(name);
    const auto known = model_id.find(key);
    if (known == model_id.end()) continue;
    auto it = scored.find(key);
    if (it == scored.end()) {
      it = scored.emplace(key, static_cast<int64_t>(m.names.size())).first;
      m.names.push_back(name);
      m.truth_ids.push_back(id);
      for (const int64_t k : known->second) m.predicted_to_truth[k] = it->second;
    }
    to_scored[id] = it->second;
    ids_of_scored[it->second].push_back(id);
  }
  for (const auto& [c, ids] : ids_of_scored)
    if (ids.size() > 1)
      m.merged.push_back(fmt::format("{} (ids {})", trimmed(m.names[static_cast<size_t>(c)]), fmt::join(ids, ", ")));
  std::set<std::string> model_names;
  for (const std::string& name : model) model_names.insert(class_name_key(name));
  for (size_t k = 0; k < model.size(); ++k)
    if (m.predicted_to_truth[static_cast<int64_t>(k)].item<int64_t>() < 0) m.unknown.push_back(model[k]);
  for (const int64_t id : present) {
    if (id < 0) continue;
    const auto named = truth.find(static_cast<int>(id));
    if (id > kMaxTruthId)
      m.left_out.push_back(fmt::format("id {} (above {})", id, kMaxTruthId));
    else if (named == truth.end())
      m.left_out.push_back(fmt::format("id {} (not in labels.json)", id));
    else if (model_names.count(class_name_key(named->second)) == 0 &&
             std::find(m.left_out.begin(), m.left_out.end(), named->second) == m.left_out.end())
      m.left_out.push_back(named->second);
  }
  return m;
}

std::pair<at::Tensor, at::Tensor> ClassMatch::apply(const at::Tensor& predicted, const at::Tensor& truth) const {
  const int64_t k_model = predicted_to_truth.size(0), k_truth = truth_classes(), n_ids = truth_to_scored.size(0);
  const at::Tensor p = predicted.to(at::kLong), t = truth.to(at::kLong);
  const at::Tensor p_valid = p.ge(0).logical_and(p.lt(k_model));
  at::Tensor mapped = predicted_to_truth.index_select(0, at::where(p_valid, p, at::zeros_like(p)).reshape({-1}))
                          .reshape(p.sizes());
  mapped = at::where(p_valid.logical_and(mapped.ge(0)), mapped, at::full_like(mapped, k_truth));
  const at::Tensor t_valid = t.ge(0).logical_and(t.lt(n_ids));
  const at::Tensor scored =
      truth_to_scored.index_select(0, at::where(t_valid, t, at::zeros_like(t)).reshape({-1})).reshape(t.sizes());
  return {mapped, at::where(t_valid, scored, at::full_like(t, -1))};
}

nlohmann::json ClassMatch::to_json() const {
  return {{"matched_by", "name"},
          {"classes_left_out", left_out},
          {"classes_unknown", unknown},
          {"classes_merged", merged}};
}

namespace {

// Classes matched by id (no names on one side): the scores' confusion matrix is K x K, so ids in the thousands (another
// tool's 16-bit maps without a labels.json) are refused with what to do rather than allocating gigabytes.
int64_t id_matched_classes(int64_t k) {
  constexpr int64_t kMaxIdMatched = 4096;
  if (k > kMaxIdMatched)
    fail_usage("label scores: class ids up to {} with no names to match them by (the scene's labels.json, the model's "
               "classes): matching by id is supported up to {} classes; give the scene a labels.json naming its "
               "classes", k - 1, kMaxIdMatched);
  return k;
}

}  // namespace

PointLabelScores evaluate_point_labels(const SemanticSource& source, const Teacher& truth,
                                       const std::vector<const View*>& views, int stride, const ClassMatch* match) {
  const auto* labels = dynamic_cast<const LabelTeacher*>(&truth);
  if (labels == nullptr || !source.has_classes()) fail_usage("3D label scores need a label source and label truth");
  if (stride < 1) fail_usage("3D label scores: stride must be >= 1");
  PointLabelScores out;
  LabelScores scores(match != nullptr ? match->truth_classes() + 1
                                      : id_matched_classes(std::max(source.channels().front(), labels->num_classes())));
  for (const View* view : views) {
    const at::Tensor ids = labels->label_ids(*view);
    if (!view->depth || !ids.defined()) continue;
    const Image& depth = *view->depth;
    if (ids.size(0) != depth.height || ids.size(1) != depth.width) continue;  // maps at another resolution
    const Eigen::Vector3d forward = view->camera.forward();
    std::vector<float> points;
    std::vector<int64_t> truth_ids;
    const int64_t* id = ids.contiguous().data_ptr<int64_t>();
    for (int y = stride / 2; y < depth.height; y += stride)
      for (int x = stride / 2; x < depth.width; x += stride) {
        const float z = depth.at(x, y);
        const int64_t t = id[static_cast<int64_t>(y) * depth.width + x];
        if (!(z > 0) || t < 0) continue;
        const Ray ray = view->camera.pixel_to_ray(x + 0.5, y + 0.5);
        const Eigen::Vector3d p = ray.origin + ray.direction * (z / ray.direction.dot(forward));
        for (int c = 0; c < 3; ++c) points.push_back(static_cast<float>(p[c]));
        truth_ids.push_back(t);
      }
    if (truth_ids.empty()) continue;
    const auto n = static_cast<int64_t>(truth_ids.size());
    at::Tensor predicted = source.point_outputs(at::from_blob(points.data(), {n, 3}, at::kFloat).clone()).front().argmax(1);
    at::Tensor t = at::from_blob(truth_ids.data(), {n}, at::kLong).clone();
    if (match != nullptr) std::tie(predicted, t) = match->apply(predicted, t);
    scores.add(predicted, t);
    out.points += n;
  }
  out.miou = scores.miou();
  out.accuracy = scores.accuracy();
  out.spurious_classes = scores.spurious_classes();
  return out;
}

nlohmann::json PointLabelScores::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  if (!miou) return out;
  out["miou_3d"] = *miou;
  out["accuracy_3d"] = accuracy.value_or(0);
  out["points_3d"] = points;
  out["spurious_classes_3d"] = spurious_classes;
  return out;
}

at::Tensor teacher_image(const View& view, const Eigen::Vector3f& background) {
  Image decoded;
  if (view.rgb.empty()) {
    // Loaded without pixels (distill decodes each training view only for its teacher pass).
    LoadOptions load;
    load.downscale = view.downscale;
    load.key_backdrop = view.key_backdrop;
    decoded = load_view_colour(view, load);
  }
  const Image rgb = composite_over(view.rgb.empty() ? decoded : view.rgb, background);
  if (rgb.channels != 3) fail_input(view.image_path, "", "expected an RGB or RGBA image, found {} channels", rgb.channels);
  return image_to_tensor(rgb);
}

FeatureEvalResult evaluate_features(const SemanticSource& source, const Teacher& teacher,
                                    const std::vector<const View*>& views, const Eigen::Vector3f& background,
                                    const std::filesystem::path& render_dir, const std::string& field_name,
                                    bool show_progress, const ClassMatch* match) {
  FeatureEvalResult result;
  const auto* label_teacher = dynamic_cast<const LabelTeacher*>(&teacher);
  const bool labels = source.has_classes();
  // Truth ids beyond the source's classes (a field that never saw a class) are scored, as misses.
  const int64_t num_classes =
      !labels            ? 0
      : match != nullptr ? match->truth_classes() + 1
                         : id_matched_classes(std::max(source.channels().front(),
                                                       label_teacher != nullptr ? label_teacher->num_classes() : 0));
  LabelScores total(std::max<int64_t>(num_classes, 1));
  double mse_sum = 0;
  int mse_views = 0;
  std::optional<FeaturePca> pca;
  ProgressBar bar("eval " + field_name, static_cast<int64_t>(views.size()), "view");
  for (size_t i = 0; i < views.size(); ++i) {
    const View& view = *views[i];
    FeatureViewMetrics metrics;
    metrics.name = view.name;
    const std::string picture = view.name + (field_name.empty() ? "" : "_" + field_name) + ".png";
    if (labels) {
      const at::Tensor truth = label_teacher != nullptr ? label_teacher->label_ids(view) : at::Tensor();
      const int64_t h = truth.defined() ? truth.size(0) : view.camera.intrinsics.height;
      const int64_t w = truth.defined() ? truth.size(1) : view.camera.intrinsics.width;
      const RenderedFeatures rendered = render_features(source, camera_for_map(view.camera, h, w));
      metrics.render_seconds = rendered.seconds;
      const at::Tensor predicted = rendered.maps.front().argmax(0);
      if (truth.defined()) {
        const auto [p, t] = match != nullptr ? match->apply(predicted, truth) : std::make_pair(predicted, truth);
        LabelScores one(num_classes);
        one.add(p, t);
        total.add(p, t);
        metrics.miou = one.miou();
        metrics.accuracy = one.accuracy();
      }
      if (!render_dir.empty()) write_png(render_dir / picture, colorize_labels(predicted));
    } else {
      const bool has_maps = teacher.covers(view);
      std::vector<at::Tensor> targets;
      if (has_maps) targets = teacher.compute({teacher_image(view, background), &view});
      const auto sizes = teacher.map_sizes(view.camera.intrinsics.height, view.camera.intrinsics.width);
      const RenderedFeatures rendered =
          render_features(source, camera_for_map(view.camera, sizes.front().first, sizes.front().second));
      metrics.render_seconds = rendered.seconds;
      if (has_maps) {
        double sum = 0;
        int64_t count = 0;
        for (size_t s = 0; s < targets.size(); ++s) {
          const at::Tensor pred = s == 0 ? rendered.maps[0]
                                         : render_features(source, camera_for_map(view.camera, targets[s].size(1),
                                                                                 targets[s].size(2)))
                                               .maps[s];
          sum += at::mse_loss(pred, targets[s], at::Reduction::Sum).item<double>();
          count += targets[s].numel();
        }
        metrics.feature_mse = sum / static_cast<double>(std::max<int64_t>(count, 1));
        mse_sum += *metrics.feature_mse;
        ++mse_views;
      }
      if (!render_dir.empty()) {
        if (!pca) pca.emplace(rendered.maps.front());
        write_png(render_dir / picture, pca->apply(rendered.maps.front()));
      }
    }
    result.views.push_back(metrics);
    if (show_progress) bar.update(static_cast<int64_t>(i) + 1);
  }
  if (show_progress) bar.finish();
  if (mse_views > 0) result.feature_mse = mse_sum / mse_views;
  if (labels) {
    result.miou = total.miou();
    result.accuracy = total.accuracy();
    result.spurious_classes = total.spurious_classes();
    result.per_class = total.per_class();
    result.confusion = total.confusion().clone();
  }
  return result;
}

}  // namespace semfield
