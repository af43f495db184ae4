// AP at an IoU threshold for instance maps (instance_ap.h).
#include "semfield/pipeline/instance_ap.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/data/scene.h"
#include "semfield/models/semantic_source.h"
#include "semfield/teachers/label_teacher.h"

namespace semfield {

void InstanceAp::add_view(const at::Tensor& predicted, const at::Tensor& confidence, const at::Tensor& truth) {
  SEMFIELD_ASSERT(predicted.sizes() == truth.sizes() && confidence.sizes() == truth.sizes(),
                  "instance AP: predicted, confidence and truth maps differ in size");
  const at::Tensor pred = predicted.reshape({-1}).to(at::kLong), gt = truth.reshape({-1}).to(at::kLong);
  const at::Tensor conf = confidence.reshape({-1}).to(at::kFloat);
  const at::Tensor labelled = gt.ge(0);
  const at::Tensor pred_ids = std::get<0>(at::_unique(pred.masked_select(pred.ge(0))));
  const at::Tensor gt_ids = std::get<0>(at::_unique(gt.masked_select(labelled)));
  const int64_t np = pred_ids.numel(), ng = gt_ids.numel();
  m_true += ng;
  const int64_t view = m_views++;
  const size_t first = m_instances.size();
  if (ng > 0) {
    const at::Tensor ids = gt_ids.contiguous();
    const at::Tensor counts = gt.unsqueeze(0).eq(gt_ids.unsqueeze(1)).sum(1).contiguous();
    for (int64_t j = 0; j < ng; ++j)
      m_instances.push_back({view, ids.data_ptr<int64_t>()[j], counts.data_ptr<int64_t>()[j], 0.0, false});
  }
  if (np == 0) return;
  // Masks over the labelled pixels (unlabelled pixels count for neither side).
  const at::Tensor p_masks = pred.unsqueeze(0).eq(pred_ids.unsqueeze(1)).logical_and(labelled.unsqueeze(0)).to(at::kFloat);
  const at::Tensor g_masks = gt.unsqueeze(0).eq(gt_ids.unsqueeze(1)).to(at::kFloat);
  const at::Tensor inter = at::matmul(p_masks, g_masks.t());  // [P,G]
  const at::Tensor iou = inter / (p_masks.sum(1, true) + g_masks.sum(1).unsqueeze(0) - inter).clamp_min(1.0f);
  const at::Tensor all_masks = pred.unsqueeze(0).eq(pred_ids.unsqueeze(1)).to(at::kFloat);
  const at::Tensor score = at::matmul(all_masks, conf) / all_masks.sum(1).clamp_min(1.0f);  // [P]
  std::vector<int64_t> order(static_cast<size_t>(np));
  for (int64_t i = 0; i < np; ++i) order[static_cast<size_t>(i)] = i;
  const at::Tensor s = score.contiguous(), io = iou.contiguous();
  const float* sp = s.data_ptr<float>();
  const float* ip = io.data_ptr<float>();
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sp[a] > sp[b]; });
  std::vector<char> matched(static_cast<size_t>(ng), 0);
  for (int64_t i : order) {
    int64_t best = -1;
    float best_iou = 0;
    for (int64_t j = 0; j < ng; ++j)
      if (!matched[static_cast<size_t>(j)] && ip[i * ng + j] > best_iou) {
        best_iou = ip[i * ng + j];
        best = j;
      }
    const bool tp = best >= 0 && best_iou >= m_threshold;
    if (tp) matched[static_cast<size_t>(best)] = 1;
    m_predictions.push_back({sp[i], tp});
  }
  for (int64_t j = 0; j < ng; ++j) {
    TrueInstance& t = m_instances[first + static_cast<size_t>(j)];
    t.matched = matched[static_cast<size_t>(j)] != 0;
    for (int64_t i = 0; i < np; ++i) t.best_iou = std::max(t.best_iou, static_cast<double>(ip[i * ng + j]));
  }
}

void InstanceAp::add_logits(const at::Tensor& logits, const at::Tensor& truth) {
  const auto [confidence, ids] = at::softmax(logits.to(at::kFloat), 0).max(0);
  add_view(ids, confidence, truth);
}

double InstanceAp::ap() const {
  if (m_true == 0) return 0.0;
  std::vector<Prediction> p = m_predictions;
  std::stable_sort(p.begin(), p.end(), [](const Prediction& a, const Prediction& b) { return a.score > b.score; });
  std::vector<double> precision, recall;
  int64_t tp = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    tp += p[i].true_positive ? 1 : 0;
    precision.push_back(static_cast<double>(tp) / static_cast<double>(i + 1));
    recall.push_back(static_cast<double>(tp) / static_cast<double>(m_true));
  }
  for (size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
  double ap = 0, last_recall = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    ap += (recall[i] - last_recall) * precision[i];
    last_recall = recall[i];
  }
  return ap;
}

InstanceAp score_instance_head(const SemanticSource& source, const LabelTeacher& truth,
                               const std::vector<const View*>& views, double iou_threshold) {
  InstanceAp ap(iou_threshold);
  for (const View* v : views) ap.add_logits(source.render_instances(v->camera), truth.label_ids(*v));
  return ap;
}

}  // namespace semfield
