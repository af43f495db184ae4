// The segmenter for label fields: a click selects the class the field renders at the clicked pixel, so the mask
// in every view is that class's region (for instance labels, the clicked object). A source with instances of its own
// (GP-NeRF's instance head) selects the clicked instance instead: one object, not every object of its class.
#pragma once

#include <set>

#include "semfield/segment/segmenter.h"

namespace semfield {

/// Classes chosen by prompts on class ids [H,W] int64: the classes under the positive clicks that hit a surface
/// (opacity >= min_opacity: a click on empty space selects nothing) minus those under the negative clicks; a box
/// without clicks adds the most frequent class among the box's opaque pixels (ties: the smallest id).
std::set<int64_t> prompted_classes(const at::Tensor& ids, const at::Tensor& opacity, const Prompts& prompts,
                                   double min_opacity = 0.5);
/// bool [H,W]: pixels whose id is in `classes`.
at::Tensor class_mask(const at::Tensor& ids, const std::set<int64_t>& classes);

class LabelSegmenter final : public Segmenter {
 public:
  /// `source` (one with classes: a label field) must outlive the segmenter; UsageError for one without. With
  /// `instances` false a source with instances is segmented by class too (`--method class`).
  explicit LabelSegmenter(const SemanticSource& source, bool instances = true);

  /// "label-class", or "label-instance" for a source with instances (SemanticSource::has_instances).
  std::string method() const override { return m_instances ? "label-instance" : "label-class"; }
  /// maps = class ids [1,H,W] (as float) of the arg-max of the rendered logits; with instances, [2,H,W]: the class
  /// ids and the instance slots (arg-max of the instance logits, same pass).
  SegmentView prepare(const Camera& camera, const std::string& name) const override;
  /// The prompted classes' (instances': their slot's pixels of the clicked class) region, restricted to the box when
  /// one is given.
  at::Tensor segment(const SegmentView& view, const Prompts& prompts) override;
  /// Classes: the remembered classes' region (a class id is the same in every view: no clicks needed). Instances: the
  /// remembered (class, slot) pairs' region (a fine-tuned head keeps an object's slot from view to view); where they
  /// are absent, the pairs of the selected classes under the re-projected clicks, else the one covering most of the
  /// 3D selection's opaque pixels (`seed`).
  at::Tensor follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const override;

  /// The ids selected by the last segment(): classes, or for a source with instances (class, slot) pairs as
  /// class * 256 + slot.
  const std::set<int64_t>& selected_ids() const { return m_selected; }

 private:
  const SemanticSource& m_source;
  bool m_instances = false;
  std::set<int64_t> m_selected;
};

}  // namespace semfield
