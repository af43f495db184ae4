// Instance segmentation scored as DM-NeRF and GP-NeRF report it: average precision at an IoU threshold (AP^0.75).
// Predicted instances are the ids of a predicted id map, each scored by the mean confidence of its pixels; every id
// >= 0 of a ground-truth map is a true instance (-1: unlabelled, ignored). Over all views of a scene, predictions in
// descending score each match the unmatched true instance of their view with the highest IoU if it reaches the
// threshold (true positive), else count as false positives; AP is the area under the precision-recall curve with
// precision made monotone (all-point interpolation, PASCAL VOC 2010+).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

class InstanceAp {
 public:
  explicit InstanceAp(double iou_threshold = 0.75) : m_threshold(iou_threshold) {}
  /// predicted ids [H,W] (int64; < 0: no prediction), their per-pixel confidence [H,W], ground-truth ids [H,W].
  void add_view(const at::Tensor& predicted, const at::Tensor& confidence, const at::Tensor& truth);
  /// The same from per-pixel logits [K,H,W] of K instances (or classes used as instances): the arg-max is the
  /// predicted id, its softmax probability the confidence.
  void add_logits(const at::Tensor& logits, const at::Tensor& truth);
  /// AP over the views added; 0 with no true instance.
  double ap() const;
  int64_t true_instances() const { return m_true; }
  int64_t predictions() const { return static_cast<int64_t>(m_predictions.size()); }

  /// One true instance of one view, as the matching left it: what a report of the missed instances lists.
  struct TrueInstance {
    int64_t view;      ///< the view's index, in the order views were added
    int64_t id;        ///< its ground-truth id
    int64_t pixels;    ///< its labelled pixels
    double best_iou;   ///< the highest IoU any prediction of its view reaches with it (matched or not)
    bool matched;      ///< a prediction took it as a true positive
  };
  /// Every true instance added, in the order of views and ids.
  const std::vector<TrueInstance>& true_instance_list() const { return m_instances; }

 private:
  struct Prediction {
    double score;
    bool true_positive;
  };
  double m_threshold;
  int64_t m_true = 0;
  int64_t m_views = 0;
  std::vector<Prediction> m_predictions;
  std::vector<TrueInstance> m_instances;
};

class SemanticSource;
class LabelTeacher;
struct View;
/// A source's instance head (SemanticSource::render_instances, one view at a time) scored over `views` against the
/// ground-truth instance ids of `truth` (a labels:instance teacher): what `eval --gt instance` and apply's measure of a
/// fine-tuned head report.
InstanceAp score_instance_head(const SemanticSource& source, const LabelTeacher& truth,
                               const std::vector<const View*>& views, double iou_threshold = 0.75);

}  // namespace semfield
