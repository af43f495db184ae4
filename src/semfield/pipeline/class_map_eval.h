// Scores of open-vocabulary class maps by the 3D-OVS protocol: per view and per class the IoU of the predicted and
// ground-truth masks, the mean over every (view, class) pair where the class is predicted or present (mIoU over
// classes and views), and pixel accuracy. Ground-truth pixels without a class (0: nothing hit) are left out.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace semfield {

struct ClassMapScore {
  double miou = 0;                  ///< mean IoU over (view, class) pairs
  double accuracy = 0;              ///< fraction of labelled pixels given their class
  int64_t pairs = 0, views = 0;
  std::vector<double> class_iou;    ///< per class 1..K (index k-1): mean over the views where it counts; -1 if none
  nlohmann::json to_json() const;
};

class ClassMapScorer {
 public:
  explicit ClassMapScorer(int64_t n_classes);
  /// predicted and truth [H,W] integer maps of the same size: 0 = nothing, k = class k (1..K); predictions outside
  /// 1..K count as wrong. Returns the view's own mIoU (NaN when it has no pair).
  double add(const at::Tensor& predicted, const at::Tensor& truth);
  ClassMapScore result() const;

 private:
  int64_t m_classes;
  double m_iou_sum = 0;
  int64_t m_pairs = 0, m_views = 0, m_correct = 0, m_labelled = 0;
  std::vector<double> m_class_sum;
  std::vector<int64_t> m_class_count;
};

}  // namespace semfield
