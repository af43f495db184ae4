// Evaluation of a distilled field on posed views: feature MSE against the teacher's maps (feature fields),
// mIoU and pixel accuracy against the views' label maps (label fields).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/models/semantic_source.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

struct FeatureViewMetrics {
  std::string name;
  std::optional<double> feature_mse, miou, accuracy;
  double render_seconds = 0;
};

/// Mean IoU and accuracy of predicted ids against truth ids (both [H,W] int64; truth -1 = ignored) accumulated
/// over several maps: add() each pair, then read.
class LabelScores {
 public:
  explicit LabelScores(int64_t num_classes);
  void add(const at::Tensor& predicted, const at::Tensor& truth);
  /// Mean IoU over the classes the truth has (Semantic-NeRF's convention). A class predicted but absent from the
  /// truth is not averaged in (its IoU would be 0 whatever its count: at the true surfaces of a 3D evaluation,
  /// 2 points of 20,000 labelled "void" took a fifth off the mean); its pixels still count against the classes
  /// they belong to, and spurious_classes() names it. nullopt before any labelled pixel.
  std::optional<double> miou() const;
  std::optional<double> accuracy() const;
  /// Classes predicted somewhere but absent from the truth, ascending.
  std::vector<int64_t> spurious_classes() const;
  /// One class of the truth: its IoU, its labelled pixels and the pixels predicted as it.
  struct ClassIou {
    int64_t id = 0;
    double iou = 0;
    int64_t pixels = 0, predicted = 0;
  };
  /// Every class the truth has, ascending (the classes miou() averages).
  std::vector<ClassIou> per_class() const;
  /// [K,K] int64 pixel counts, truth x predicted.
  const at::Tensor& confusion() const { return m_confusion; }

 private:
  at::Tensor m_confusion;  // [K,K] int64, truth x predicted
};

struct FeatureEvalResult {
  std::optional<double> feature_mse;  ///< mean over views the teacher has maps for
  std::optional<double> miou;         ///< over all evaluated pixels (the classes the truth has: LabelScores)
  std::optional<double> accuracy;     ///< labelled pixels predicted correctly
  std::vector<int64_t> spurious_classes;  ///< predicted but absent from the truth (LabelScores::spurious_classes)
  std::vector<LabelScores::ClassIou> per_class;  ///< LabelScores::per_class over all evaluated pixels
  at::Tensor confusion;                          ///< LabelScores::confusion over all evaluated pixels
  std::vector<FeatureViewMetrics> views;
  nlohmann::json to_json() const;
};

/// How a model's class ids map onto a ground truth's when both name their classes (labels.json): classes are the same
/// when their names are. Truth pixels of classes the model does not know are left out of the scores; predictions of
/// classes the truth does not know count as errors. Scores are kept over the scored classes only (the names both
/// know, in the order of their first truth id), whatever the truth's ids: another tool's 16-bit ids cost nothing.
struct ClassMatch {
  /// The largest truth id a map may hold and be scored (16-bit maps); larger ids are left out, reported by id.
  static constexpr int64_t kMaxTruthId = 65535;
  at::Tensor predicted_to_truth;  ///< [K_model] int64: the scored class of each model class, -1 when the truth lacks it
  at::Tensor truth_to_scored;     ///< [max truth id + 1] int64: the scored class of each truth id, -1 when left out
  std::vector<std::string> names;  ///< per scored class: the truth's name (its spelling at its first id)
  std::vector<int64_t> truth_ids;  ///< per scored class: its first truth id (several ids may share a name: merged)
  /// Truth classes of `present` the model does not know (their pixels: not scored): their names, or "id N (not in
  /// labels.json)" for ids without a name.
  std::vector<std::string> left_out;
  std::vector<std::string> unknown;   ///< names of model classes the truth does not know (predicting them: an error)
  /// Names that several truth ids share (their pixels are scored as one class), as "name (ids a, b)".
  std::vector<std::string> merged;
  /// nullopt unless both sides name classes. `truth` maps ids to names (labels.json). `present`: the truth ids that
  /// occur in the evaluated maps (what left_out reports).
  static std::optional<ClassMatch> by_name(const std::vector<std::string>& model, const std::map<int, std::string>& truth,
                                           const std::set<int64_t>& present);
  /// (predicted, truth) ids in the scored classes: unknown predictions become truth_classes (a class of its own that
  /// the truth never has), truth pixels of unknown classes -1 (ignored). LabelScores over truth_classes + 1 classes.
  std::pair<at::Tensor, at::Tensor> apply(const at::Tensor& predicted, const at::Tensor& truth) const;
  int64_t truth_classes() const { return static_cast<int64_t>(names.size()); }
  /// {"matched_by": "name", "classes_left_out": [...], "classes_unknown": [...], "classes_merged": [...]}
  nlohmann::json to_json() const;
};

/// Renders each view at the teacher's map resolution and compares (views without teacher maps or label
/// maps are skipped for that metric). Feature MSE is per element in the teacher's units. Writes
/// <name>_<field>.png pictures (PCA or label colours) into render_dir when it is non-empty.
FeatureEvalResult evaluate_features(const SemanticSource& source, const Teacher& teacher,
                                    const std::vector<const View*>& views, const Eigen::Vector3f& background,
                                    const std::filesystem::path& render_dir = {}, const std::string& field_name = "",
                                    bool show_progress = true, const ClassMatch* match = nullptr);

/// 3D semantic segmentation: the source's labels (point_outputs arg-max) at points on the true surfaces, the pixels
/// of each view with a ground-truth depth (View::depth) and label (`truth`'s label_ids) unprojected, every
/// `stride`-th pixel in each direction, scored against those labels. nullopt scores when no view has both.
struct PointLabelScores {
  std::optional<double> miou, accuracy;
  std::vector<int64_t> spurious_classes;  ///< predicted at some point but absent from the truth
  int64_t points = 0;
  /// {"miou_3d", "accuracy_3d", "points_3d", "spurious_classes_3d"} (empty without a labelled point).
  nlohmann::json to_json() const;
};
PointLabelScores evaluate_point_labels(const SemanticSource& source, const Teacher& truth,
                                       const std::vector<const View*>& views, int stride = 2,
                                       const ClassMatch* match = nullptr);

/// An RGB view composited over `background` as the [H,W,3] tensor teachers take; a view loaded without pixels is
/// decoded from its file (at its load downscale).
at::Tensor teacher_image(const View& view, const Eigen::Vector3f& background);

}  // namespace semfield
