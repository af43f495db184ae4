// 3D-OVS-style scoring of class maps.
#include "semfield/pipeline/class_map_eval.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"

namespace semfield {

nlohmann::json ClassMapScore::to_json() const {
  return {{"miou", miou}, {"accuracy", accuracy}, {"pairs", pairs}, {"views", views}, {"class_iou", class_iou}};
}

ClassMapScorer::ClassMapScorer(int64_t n_classes)
    : m_classes(n_classes), m_class_sum(static_cast<size_t>(n_classes), 0.0),
      m_class_count(static_cast<size_t>(n_classes), 0) {
  if (n_classes < 1) fail_usage("class map scoring needs at least one class");
}

double ClassMapScorer::add(const at::Tensor& predicted, const at::Tensor& truth) {
  if (predicted.sizes() != truth.sizes() || predicted.dim() != 2)
    fail_usage("class map scoring: prediction {} and truth {} must be [H,W] of one size", describe_tensor(predicted),
               describe_tensor(truth));
  const at::Tensor gt = truth.to(at::kLong).reshape({-1});
  const at::Tensor labelled = gt.gt(0);
  const at::Tensor p = predicted.to(at::kLong).reshape({-1}).masked_select(labelled);
  const at::Tensor g = gt.masked_select(labelled);
  // Confusion over 0..K (predictions outside the classes collapse to 0, which is never right).
  const at::Tensor pc = at::where(p.ge(1).logical_and(p.le(m_classes)), p, at::zeros_like(p));
  const at::Tensor conf = at::bincount(g * (m_classes + 1) + pc, {}, (m_classes + 1) * (m_classes + 1))
                              .reshape({m_classes + 1, m_classes + 1});
  const auto c = conf.accessor<int64_t, 2>();
  double sum = 0;
  int64_t pairs = 0;
  for (int64_t k = 1; k <= m_classes; ++k) {
    int64_t tp = c[k][k], gt_k = 0, pred_k = 0;
    for (int64_t j = 0; j <= m_classes; ++j) gt_k += c[k][j], pred_k += c[j][k];
    const int64_t uni = gt_k + pred_k - tp;
    if (uni == 0) continue;
    const double iou = static_cast<double>(tp) / static_cast<double>(uni);
    sum += iou;
    ++pairs;
    m_class_sum[k - 1] += iou;
    ++m_class_count[k - 1];
    m_correct += tp;
  }
  m_labelled += g.numel();
  m_iou_sum += sum;
  m_pairs += pairs;
  ++m_views;
  return pairs > 0 ? sum / static_cast<double>(pairs) : std::numeric_limits<double>::quiet_NaN();
}

ClassMapScore ClassMapScorer::result() const {
  ClassMapScore s;
  s.pairs = m_pairs;
  s.views = m_views;
  s.miou = m_pairs > 0 ? m_iou_sum / static_cast<double>(m_pairs) : 0;
  s.accuracy = m_labelled > 0 ? static_cast<double>(m_correct) / static_cast<double>(m_labelled) : 0;
  for (size_t k = 0; k < m_class_sum.size(); ++k)
    s.class_iou.push_back(m_class_count[k] > 0 ? m_class_sum[k] / static_cast<double>(m_class_count[k]) : -1.0);
  return s;
}

}  // namespace semfield
